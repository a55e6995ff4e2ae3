"""Figures of the effectiveness review."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from crm_lib.fmt import N_, _, ci_label
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _thousands


def kpi_trends(hist: pd.DataFrame, targets: dict, names: list[str], ncols: int = 3) -> Figure:
    """Small multiples of KPI history (``evaluation.history``) with CI bands and target lines.

    Each band is the interval the period's pack recorded, at that pack's own level (``ci_level``
    in its facts), so no single level is printed here."""
    names = [n for n in names if n in set(hist["name"])]
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = _new(nrows, ncols, figsize=(3.4 * ncols, 2.3 * nrows), squeeze=False)
    with plt.rc_context(STYLE):
        for ax in axes.flat[len(names):]:
            ax.set_visible(False)
        for ax, name in zip(axes.flat, names):
            g = hist[hist["name"] == name].sort_values("period")
            x = list(range(len(g)))
            ax.plot(x, g["value"], marker="o", color=PALETTE[0])
            if g["ci_lower"].notna().any():
                ax.fill_between(x, g["ci_lower"].astype(float), g["ci_upper"].astype(float), color=PALETTE[1],
                                alpha=0.25, linewidth=0)
            if name in targets:
                ax.axhline(targets[name]["target"], color=PALETTE[4], linestyle="--", linewidth=1, label=_("target"))
            ax.set_xticks(x)
            ax.set_xticklabels(g["period"], rotation=45, ha="right", fontsize=7)
            ax.set_title(_(str(name).replace("_", " ")), fontsize=9)   # the KPI's name (crm_lib.i18n.kpi_label)
            ax.tick_params(axis="y", labelsize=7)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    return _done(fig)


def uplift_forest(camps: pd.DataFrame, title: str = N_("Campaign response uplift (treatment - control)"),
                  alpha: float = 0.05) -> Figure:
    """Forest plot of campaign uplifts with CIs (``evaluation.evaluate_campaigns``), planted/planned marks;
    the legend states the intervals' level (pass the run's ``alpha``)."""
    c = camps[camps["evaluable"] == True]  # noqa: E712
    fig, ax = _new(figsize=(7.5, 0.55 * max(len(c), 1) + 1.2))
    with plt.rc_context(STYLE):
        y = list(range(len(c)))[::-1]
        u, lo, hi = (c[k].to_numpy(float) for k in ("uplift", "uplift_ci_lower", "uplift_ci_upper"))
        ax.errorbar(100 * u, y, xerr=[100 * (u - lo), 100 * (hi - u)],
                    fmt="o", color=PALETTE[0], capsize=3,
                    label=_("uplift, {ci_label}").format(ci_label=ci_label(alpha)))
        if c["planned_uplift"].notna().any():
            ax.scatter(100 * c["planned_uplift"].to_numpy(float), y, marker="|", s=200, color=PALETTE[4],
                       label=_("planned"))
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(y)
        ax.set_yticklabels(c.index)
        ax.set_xlabel(_("percentage points"))
        ax.set_title(_(title) if title else title)
        ax.legend(loc="lower right", fontsize=8)
    return _done(fig)


def its_plot(curve: pd.DataFrame, start, title: str, ylabel: str = "") -> Figure:
    """Interrupted time series: observed, fitted and the no-action counterfactual (``evaluation.its_curve``)."""
    fig, ax = _new()
    with plt.rc_context(STYLE):
        ax.plot(curve["month"], curve["value"], "o", markersize=3, color=PALETTE[2], label=_("observed (monthly)"))
        ax.plot(curve["month"], curve["fitted"], color=PALETTE[0], label=_("segmented fit"))
        post = curve["month"] >= pd.Timestamp(start)
        ax.plot(curve.loc[post, "month"], curve.loc[post, "counterfactual"], "--", color=PALETTE[4],
                label=_("without the action (projected)"))
        ax.axvline(pd.Timestamp(start), color="grey", linestyle=":", linewidth=1)
        ax.set_title(_(title) if title else title)
        ax.set_ylabel(_(ylabel) if ylabel else ylabel)
        ax.legend(fontsize=8)
    return _done(fig)

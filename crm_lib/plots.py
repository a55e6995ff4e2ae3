"""Figures in one house style. Plots take finished frames and never compute.

Each function returns a matplotlib ``Figure`` (already closed from pyplot, so a
notebook shows it exactly once, as the cell's result).
"""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

PALETTE = ["#1f4e79", "#2e86c1", "#85c1e9", "#d4ac0d", "#ca6f1e", "#7d3c98", "#148f77", "#922b21"]
STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE), "legend.frameon": False,
}


def _new(nrows=1, ncols=1, figsize=(7.5, 3.6), **kw):
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(nrows, ncols, figsize=figsize, **kw)
    return fig, ax


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def _thousands(x, _pos=None):
    for unit, div in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.3g}"


def tier_bars(tiers: pd.DataFrame, title: str = "Customers and AUM by value tier") -> Figure:
    """Two panels: customers per tier and share of AUM per tier (from ``customers_by_tier``)."""
    fig, (a, b) = _new(1, 2, figsize=(9, 3.4))
    with plt.rc_context(STYLE):
        labels = tiers["tier"].str.replace("_", " ")
        colors = [PALETTE[0] if t == "individual" else PALETTE[4] for t in tiers["customer_type"]]
        a.barh(labels, tiers["customers"], color=colors)
        a.invert_yaxis()
        a.set_title("Active customers")
        a.xaxis.set_major_formatter(FuncFormatter(_thousands))
        b.barh(labels, tiers["aum_share"] * 100, color=colors)
        b.invert_yaxis()
        b.set_title("Share of AUM (%)")
        b.set_yticklabels([])
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def active_trend(monthly: pd.DataFrame, period_start=None, period_end=None,
                 title: str = "Active customers at month-end") -> Figure:
    """Lines of active customers by type (from ``monthly_active``); the period shaded."""
    fig, ax = _new()
    with plt.rc_context(STYLE):
        for i, (ctype, g) in enumerate(monthly.groupby("customer_type")):
            ax.plot(g["month"], g["active"], label=ctype, color=PALETTE[0] if ctype == "individual" else PALETTE[4])
        if period_start is not None:
            ax.axvspan(pd.Timestamp(period_start), pd.Timestamp(period_end), color=PALETTE[3], alpha=0.2,
                       label="this period")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_title(title)
        ax.legend(loc="upper left")
    return _done(fig)


def kpi_small_multiples(trends: pd.DataFrame, ncols: int = 3, title: str = "") -> Figure:
    """One small panel per KPI: value by period with its interval when recorded.

    ``trends`` has ``name``, ``period``, ``value`` and optional ``ci_lower``, ``ci_upper``, ``unit``.
    """
    names = list(dict.fromkeys(trends["name"]))
    nrows = max(1, -(-len(names) // ncols))
    fig, axes = _new(nrows, ncols, figsize=(3.2 * ncols, 2.2 * nrows), squeeze=False)
    with plt.rc_context(STYLE):
        for ax in axes.flat[len(names):]:
            ax.set_visible(False)
        for ax, name in zip(axes.flat, names):
            g = trends[trends["name"] == name].sort_values("period")
            x = range(len(g))
            ax.plot(list(x), g["value"], marker="o", color=PALETTE[0])
            if {"ci_lower", "ci_upper"} <= set(g.columns) and g["ci_lower"].notna().any():
                ax.fill_between(list(x), g["ci_lower"].astype(float), g["ci_upper"].astype(float),
                                color=PALETTE[1], alpha=0.25, linewidth=0)
            ax.set_xticks(list(x))
            ax.set_xticklabels(g["period"], rotation=45, ha="right", fontsize=7)
            unit = g["unit"].iloc[0] if "unit" in g.columns else ""
            ax.set_title(f"{name.replace('_', ' ')}" + (f" ({unit})" if unit else ""), fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        if title:
            fig.suptitle(title, fontweight="bold")
    return _done(fig)


# --------------------------------------------------------------------------- effectiveness review

def kpi_trends(hist: pd.DataFrame, targets: dict, names: list[str], ncols: int = 3) -> Figure:
    """Small multiples of KPI history (``evaluation.history``) with CI bands and target lines."""
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
                ax.axhline(targets[name]["target"], color=PALETTE[4], linestyle="--", linewidth=1, label="target")
            ax.set_xticks(x)
            ax.set_xticklabels(g["period"], rotation=45, ha="right", fontsize=7)
            ax.set_title(name.replace("_", " "), fontsize=9)
            ax.tick_params(axis="y", labelsize=7)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    return _done(fig)


def uplift_forest(camps: pd.DataFrame, title: str = "Campaign response uplift (treatment - control)") -> Figure:
    """Forest plot of campaign uplifts with CIs (``evaluation.evaluate_campaigns``), planted/planned marks."""
    c = camps[camps["evaluable"] == True]  # noqa: E712
    fig, ax = _new(figsize=(7.5, 0.55 * max(len(c), 1) + 1.2))
    with plt.rc_context(STYLE):
        y = list(range(len(c)))[::-1]
        u, lo, hi = (c[k].to_numpy(float) for k in ("uplift", "uplift_ci_lower", "uplift_ci_upper"))
        ax.errorbar(100 * u, y, xerr=[100 * (u - lo), 100 * (hi - u)],
                    fmt="o", color=PALETTE[0], capsize=3, label="uplift, 95% CI")
        if c["planned_uplift"].notna().any():
            ax.scatter(100 * c["planned_uplift"].to_numpy(float), y, marker="|", s=200, color=PALETTE[4], label="planned")
        ax.axvline(0, color="grey", linewidth=1)
        ax.set_yticks(y)
        ax.set_yticklabels(c.index)
        ax.set_xlabel("percentage points")
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8)
    return _done(fig)


def its_plot(curve: pd.DataFrame, start, title: str, ylabel: str = "") -> Figure:
    """Interrupted time series: observed, fitted and the no-action counterfactual (``evaluation.its_curve``)."""
    fig, ax = _new()
    with plt.rc_context(STYLE):
        ax.plot(curve["month"], curve["value"], "o", markersize=3, color=PALETTE[2], label="observed (monthly)")
        ax.plot(curve["month"], curve["fitted"], color=PALETTE[0], label="segmented fit")
        post = curve["month"] >= pd.Timestamp(start)
        ax.plot(curve.loc[post, "month"], curve.loc[post, "counterfactual"], "--", color=PALETTE[4],
                label="without the action (projected)")
        ax.axvline(pd.Timestamp(start), color="grey", linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return _done(fig)

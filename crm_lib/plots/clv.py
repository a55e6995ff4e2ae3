"""Figures of customer lifetime value (from ``crm_lib.clv`` results; nothing is computed here)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from crm_lib.fmt import N_, _, ci_label
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _thousands

CAC_TITLE = N_("CLV:CAC by acquisition channel")


def _group(group: str, g) -> str:
    from crm_lib.clv.narrative import group_value   # when drawn: importing crm_lib.plots does not load the analyses

    return str(group_value(group, g)).replace("_", " ")


def group_name(group: str) -> str:
    from crm_lib.clv.narrative import group_name as f

    return f(group)


def clv_by_tier(customers: pd.DataFrame, medians: pd.DataFrame, alpha: float = 0.05, group: str = "tier",
                currency: str = "") -> Figure:
    """CLV distribution by tier (box plot, log scale, positive values) and the median with its interval.

    ``customers``: ``RelationshipCLV.customers``; ``medians``: ``RelationshipCLV.aggregate("median", group)``.
    """
    fig, (a1, a2) = _new(1, 2, figsize=(9.5, 3.8))
    with plt.rc_context(STYLE):
        order = list(medians.sort_values("value").index)
        data = [np.clip(customers.loc[customers[group] == g, "clv"].to_numpy(float), 1, None) for g in order]
        labels = [f"{_group(group, g)}\n(n = {int(medians.loc[g, 'n']):,})" for g in order]
        a1.boxplot(data, orientation="horizontal", showfliers=False, whis=(5, 95))
        a1.set_yticks(range(1, len(order) + 1))
        a1.set_yticklabels(labels, fontsize=8)
        a1.set_xscale("log")
        a1.set_xlabel(_("CLV per customer {currency} (log; whiskers 5th-95th percentile)").format(currency=currency))
        a1.set_title(_("Distribution"), loc="left")
        y = np.arange(len(order))
        v = medians.loc[order]
        a2.errorbar(v["value"], y, xerr=[v["value"] - v["lower"], v["upper"] - v["value"]], fmt="o",
                    color=PALETTE[0], capsize=3)
        a2.set_yticks(y)
        a2.set_yticklabels([_group(group, g) for g in order], fontsize=8)
        a2.set_xscale("log")
        a2.xaxis.set_major_formatter(FuncFormatter(_thousands))
        a2.set_xlabel(_("median CLV {currency} ({ci})").format(currency=currency, ci=ci_label(alpha)))
        a2.set_title(_("Median"), loc="left")
        fig.suptitle(_("Relationship CLV by {group}").format(group=group_name(group)), x=0.01, ha="left",
                     fontweight="bold")
    return _done(fig)


def lorenz_curve(curve: pd.DataFrame, gini: pd.Series, top10: pd.Series, alpha: float = 0.05) -> Figure:
    """Lorenz curve of CLV (``relationship.lorenz``) with the Gini coefficient and top-10% share in the legend."""
    fig, ax = _new(figsize=(5.2, 4.2))
    with plt.rc_context(STYLE):
        ax.plot(curve["customer_share"] * 100, curve["value_share"] * 100, color=PALETTE[0], linewidth=2,
                label=_("CLV: Gini {gini} ({ci} {lower}-{upper})").format(
                    gini=f"{gini['value']:.3f}", ci=ci_label(alpha), lower=f"{gini['lower']:.3f}",
                    upper=f"{gini['upper']:.3f}"))
        ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=1, label=_("equal value"))
        ax.axvline(90, color=PALETTE[4], linewidth=0.8)
        ax.text(89, 5, _("top 10% hold {share}").format(share=f"{100 * top10['value']:.1f}%"), ha="right", fontsize=8,
                color=PALETTE[4])
        ax.set_xlabel(_("% of customers (lowest value first)"))
        ax.set_ylabel(_("% of total CLV"))
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title(_("Value concentration"), loc="left")
    return _done(fig)


def clv_cac_forest(ratios: pd.DataFrame, alpha: float = 0.05, title: str = CAC_TITLE) -> Figure:
    """CLV:CAC with intervals per group (``RelationshipCLV.aggregate("clv_cac", ...)``), log axis, 1 = break-even."""
    r = ratios.dropna(subset=["value"]).sort_values("value")
    fig, ax = _new(figsize=(7.5, 0.45 * len(r) + 1.4))
    with plt.rc_context(STYLE):
        y = np.arange(len(r))
        ax.errorbar(r["value"], y, xerr=[r["value"] - r["lower"], r["upper"] - r["value"]], fmt="o",
                    color=PALETTE[0], capsize=3)
        ax.axvline(1, color=PALETTE[7], linewidth=1, label=_("1: value = acquisition cost"))
        ax.axvline(3, color="grey", linestyle="--", linewidth=0.8, label=_("3: common rule of thumb"))
        ax.set_xscale("log")
        ax.set_yticks(y)
        ax.set_yticklabels([f"{str(g).replace('_', ' ')} (n = {int(n):,})" for g, n in zip(r.index, r["n"])],
                           fontsize=8)
        ax.set_xlabel(_("CLV / acquisition cost (log scale; {ci})").format(ci=ci_label(alpha)))
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(_(title) if title == CAC_TITLE else title, loc="left")
    return _done(fig)


#: tracking units (plural, as the caller names them) and the singular the title uses
_UNITS = {"weeks": N_("week"), "days": N_("day"), "months": N_("month")}


def conditional_expectation_plot(table: pd.DataFrame) -> Figure:
    """Mean hold-out transactions by calibration frequency: actual vs model (``validation.conditional_expectations``)."""
    fig, ax = _new(figsize=(7.0, 3.6))
    with plt.rc_context(STYLE):
        x = np.arange(len(table))
        ax.plot(x, table["actual"], marker="o", color=PALETTE[0], label=_("actual"))
        ax.plot(x, table["expected"], marker="s", linestyle="--", color=PALETTE[4], label=_("BG/NBD expected"))
        ax.set_xticks(x)
        ax.set_xticklabels([f"{f}\n(n = {int(n):,})" for f, n in zip(table.index, table["n"])], fontsize=7)
        ax.set_xlabel(_("transactions in the calibration period"))
        ax.set_ylabel(_("mean transactions in the hold-out"))
        ax.legend(fontsize=8)
        ax.set_title(_("Conditional expectations: hold-out by calibration frequency"), loc="left")
    return _done(fig)


def tracking_plot(track: pd.DataFrame, unit: str = "weeks") -> Figure:
    """Cumulative repeat transactions, actual vs expected, calibration and hold-out (``validation.tracking``)."""
    fig, ax = _new(figsize=(7.5, 3.6))
    with plt.rc_context(STYLE):
        ax.plot(track["period_end"], track["actual"], color=PALETTE[0], label=_("actual"))
        ax.plot(track["period_end"], track["expected"], color=PALETTE[4], linestyle="--", label=_("model expected"))
        cal = track.loc[track["calibration"], "period_end"]
        if len(cal) and len(cal) < len(track):
            ax.axvline(cal.max(), color="grey", linewidth=0.8)
            ax.text(cal.max(), ax.get_ylim()[1] * 0.05, " " + _("hold-out"), fontsize=8, color="grey")
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_ylabel(_("cumulative transactions"))
        ax.legend(fontsize=8)
        ax.set_title(_("Tracking: cumulative transactions by {unit}").format(
            unit=_(_UNITS[unit]) if unit in _UNITS else unit[:-1]), loc="left")
    return _done(fig)

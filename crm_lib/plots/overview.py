"""Figures of the data overview and the reports index."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from crm_lib.fmt import N_, _
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _thousands

# The contract's customer types and the KPI registry's units, translated where a figure shows them.
CUSTOMER_TYPES = (N_("individual"), N_("corporate"))
UNITS = (N_("ARI"), N_("clusters"), N_("complaints"), N_("currency"), N_("customers"), N_("days"),
         N_("hazard ratio"), N_("index"), N_("per 1,000"), N_("points"), N_("problems"), N_("products"),
         N_("proportion"), N_("ratio"), N_("score"), N_("years"))


def _t(text) -> str:
    """``text`` in the run's language when the catalogue holds it (a title, a unit, a customer type)."""
    return _(text) if isinstance(text, str) and text else text


def tier_bars(tiers: pd.DataFrame, title: str = N_("Customers and AUM by value tier")) -> Figure:
    """Two panels: customers per tier and share of AUM per tier (from ``customers_by_tier``)."""
    fig, (a, b) = _new(1, 2, figsize=(9, 3.4))
    with plt.rc_context(STYLE):
        labels = tiers["tier"].str.replace("_", " ")
        colors = [PALETTE[0] if t == "individual" else PALETTE[4] for t in tiers["customer_type"]]
        a.barh(labels, tiers["customers"], color=colors)
        a.invert_yaxis()
        a.set_title(_("Active customers"))
        a.xaxis.set_major_formatter(FuncFormatter(_thousands))
        b.barh(labels, tiers["aum_share"] * 100, color=colors)
        b.invert_yaxis()
        b.set_title(_("Share of AUM (%)"))
        b.set_yticklabels([])
        fig.suptitle(_t(title), fontweight="bold")
    return _done(fig)


def value_bars(value: pd.DataFrame, alpha: float = 0.05,
               title: str = N_("Where the margin comes from, by value tier")) -> Figure:
    """Two panels from ``crm_lib.overview.value_by_tier``: share of customers against share of annual margin per
    tier, and the mean annual margin per customer with its t interval at ``alpha`` (log-free: margins can be
    negative)."""
    from crm_lib import fmt

    v = value[value["tier"] != "all"]
    fig, (a, b) = _new(1, 2, figsize=(9, 3.4))
    with plt.rc_context(STYLE):
        labels = v["tier"].str.replace("_", " ")
        y = range(len(v))
        share = v["customers"] / v["customers"].sum()
        a.barh([i - 0.2 for i in y], share * 100, height=0.4, color=PALETTE[2], label=_("customers"))
        a.barh([i + 0.2 for i in y], v["margin_share"].fillna(0) * 100, height=0.4, color=PALETTE[0],
               label=_("annual margin"))
        a.set_yticks(list(y))
        a.set_yticklabels(labels)
        a.invert_yaxis()
        a.set_title(_("Share (%)"))
        a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
        colors = [PALETTE[0] if t == "individual" else PALETTE[4] for t in v["customer_type"]]
        err = [(v["mean_annual_margin"] - v["mean_lower"]).fillna(0), (v["mean_upper"] - v["mean_annual_margin"]).fillna(0)]
        b.barh(list(y), v["mean_annual_margin"], xerr=err, color=colors, capsize=3)
        b.axvline(0, color="grey", linewidth=0.8)
        b.set_yticks(list(y))
        b.set_yticklabels([])
        b.invert_yaxis()
        b.set_xscale("symlog", linthresh=100)
        b.set_title(_("Mean annual margin per customer ({ci_label})").format(ci_label=fmt.ci_label(alpha)))
        fig.suptitle(_t(title), fontweight="bold")
    return _done(fig)


def active_trend(monthly: pd.DataFrame, period_start=None, period_end=None,
                 title: str = N_("Active customers at month-end")) -> Figure:
    """Lines of active customers by type (from ``monthly_active``); the period shaded."""
    fig, ax = _new()
    with plt.rc_context(STYLE):
        for i, (ctype, g) in enumerate(monthly.groupby("customer_type")):
            ax.plot(g["month"], g["active"], label=_t(ctype), color=PALETTE[0] if ctype == "individual" else PALETTE[4])
        if period_start is not None:
            ax.axvspan(pd.Timestamp(period_start), pd.Timestamp(period_end), color=PALETTE[3], alpha=0.2,
                       label=_("this period"))
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_title(_t(title))
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
            kpi = _(str(name).replace("_", " "))   # the KPI's name as the catalogue holds it (crm_lib.i18n.kpi_label)
            ax.set_title(_("{kpi} ({unit})").format(kpi=kpi, unit=_t(unit)) if unit else kpi, fontsize=8)
            ax.tick_params(axis="y", labelsize=7)
            ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        if title:
            fig.suptitle(_t(title), fontweight="bold")
    return _done(fig)

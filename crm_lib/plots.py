"""Figures in one house style. Plots take finished frames and never compute.

Each function returns a matplotlib ``Figure`` (already closed from pyplot, so a
notebook shows it exactly once, as the cell's result).
"""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
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


# --------------------------------------------------------------------------- satisfaction and complaints

def _flag_colors(status, color):
    """Filled ``color`` where a figure is reportable, hollow grey where it is flagged (small n)."""
    ok = [s == "ok" for s in status]
    return ["white" if not o else color for o in ok], [color if o else "#9e9e9e" for o in ok]


def score_intervals(table: pd.DataFrame, value: str, lower: str, upper: str, label: str = "segment",
                    panel: str = "dimension", title: str = "", xlabel: str = "", percent: bool = False,
                    reference: float | None = None, hide_flagged: bool = False) -> Figure:
    """Dot-and-interval chart per segment, one panel per dimension (from ``segment_scores``).

    Segments whose ``status`` is not ``ok`` (small n, no responses) are drawn hollow and grey,
    or left out with ``hide_flagged`` (for dimensions with many small segments, e.g. branches);
    ``reference`` (e.g. the overall score) is a dashed line.
    """
    if hide_flagged and "status" in table.columns:
        hidden = int((table["status"] != "ok").sum())
        table = table[table["status"] == "ok"]
        if not len(table):
            fig, ax = _new(figsize=(7.5, 1.2))
            with plt.rc_context(STYLE):
                ax.axis("off")
                ax.text(0.5, 0.5, f"{title}: no segment reaches the reporting threshold ({hidden} flagged)",
                        ha="center", va="center", fontsize=10)
            return _done(fig)
        title = f"{title} ({hidden} segments below the threshold not shown)" if hidden else title
    groups = list(dict.fromkeys(table[panel])) if panel in table.columns else [""]
    sizes = [max(1, int((table[panel] == g).sum())) if panel in table.columns else len(table) for g in groups]
    fig, axes = _new(len(groups), 1, figsize=(7.5, 0.9 + 0.26 * sum(sizes) + 0.35 * len(groups)), squeeze=False,
                     gridspec_kw={"height_ratios": sizes}, sharex=True)
    k = 100 if percent else 1
    with plt.rc_context(STYLE):
        for ax, g in zip(axes[:, 0], groups):
            t = table[table[panel] == g] if panel in table.columns else table
            y = list(range(len(t)))[::-1]
            face, edge = _flag_colors(t["status"] if "status" in t.columns else ["ok"] * len(t), PALETTE[0])
            v, lo, hi = (t[c].astype(float).to_numpy() * k for c in (value, lower, upper))
            ax.hlines(y, lo, hi, colors=edge, linewidth=2)
            ax.scatter(v, y, s=36, facecolors=face, edgecolors=edge, zorder=3)
            labels = [f"{str(s).replace('_', ' ')}  (n={int(m):,})" for s, m in zip(t[label], t.get("n", [0] * len(t)))]
            ax.set_yticks(y)
            ax.set_yticklabels(labels, fontsize=8)
            ax.set_ylim(-0.7, len(t) - 0.3)
            if reference is not None:
                ax.axvline(reference * k, color=PALETTE[4], linestyle="--", linewidth=1)
            ax.set_title(str(g), loc="left", fontsize=9)
            ax.grid(axis="y", visible=False)
        axes[-1, 0].set_xlabel(xlabel)
        if title:
            fig.suptitle(title, fontweight="bold")
    return _done(fig)


def score_trend_panels(trend: pd.DataFrame, index_trend: pd.DataFrame | None = None, period_label: str | None = None,
                       title: str = "CSAT, NPS and satisfaction index by period") -> Figure:
    """CSAT top-2-box (%), NPS and (optionally) the index per period with interval bands.

    ``trend`` from ``score_trend``, ``index_trend`` from ``report.index_trend``; flagged
    periods are hollow points; the reported period is shaded.
    """
    panels = [("csat_top2box", "csat_top2box_lower", "csat_top2box_upper", "CSAT satisfied (%)", 100, trend),
              ("nps", "nps_lower", "nps_upper", "NPS (points)", 1, trend)]
    if index_trend is not None:
        panels.append(("index", "ci_lower", "ci_upper", "Satisfaction index (0-100)", 1, index_trend))
    fig, axes = _new(1, len(panels), figsize=(3.4 * len(panels), 3.2), squeeze=False)
    with plt.rc_context(STYLE):
        for ax, (v, lo, hi, name, k, t) in zip(axes[0], panels):
            x = list(range(len(t)))
            ax.fill_between(x, t[lo].astype(float) * k, t[hi].astype(float) * k, color=PALETTE[1], alpha=0.25,
                            linewidth=0)
            ax.plot(x, t[v].astype(float) * k, color=PALETTE[0])
            face, edge = _flag_colors(t["status"], PALETTE[0])
            ax.scatter(x, t[v].astype(float) * k, s=22, facecolors=face, edgecolors=edge, zorder=3)
            if period_label is not None and period_label in list(t["period"]):
                i = list(t["period"]).index(period_label)
                ax.axvspan(i - 0.4, i + 0.4, color=PALETTE[3], alpha=0.2)
            ax.set_xticks(x)
            ax.set_xticklabels(t["period"], rotation=45, ha="right", fontsize=7)
            ax.set_title(name, fontsize=9)
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def driver_importance(importance: pd.DataFrame, title: str = "Key drivers: share of explained variance") -> Figure:
    """Relative weights and LMG shares (%) per driver with bootstrap intervals, beside standardised betas.

    ``importance`` is ``KeyDriverAnalysis.importance_``.
    """
    t = importance.sort_values("rw_share")
    fig, (a, b) = _new(1, 2, figsize=(9, 0.9 + 0.45 * len(t)), gridspec_kw={"width_ratios": [3, 2]})
    with plt.rc_context(STYLE):
        labels = [str(i).replace("attr_", "").replace("_", " ") for i in t.index]
        y = np.arange(len(t))
        for off, col, color, name in ((0.18, "rw_share", PALETTE[0], "relative weight"),
                                      (-0.18, "lmg_share", PALETTE[2], "LMG / Shapley")):
            v = t[col].to_numpy() * 100
            err = np.vstack([v - t[f"{col}_lower"].to_numpy() * 100, t[f"{col}_upper"].to_numpy() * 100 - v])
            a.barh(y + off, v, height=0.34, color=color, label=name, xerr=np.nan_to_num(err), ecolor="#555555",
                   capsize=2)
        a.set_yticks(y)
        a.set_yticklabels(labels)
        a.set_xlabel("% of R²")
        a.legend(loc="lower right", fontsize=8)
        a.set_title("Share of explained variance", fontsize=9)
        v = t["beta_std"].to_numpy()
        err = np.vstack([v - t["beta_std_lower"].to_numpy(), t["beta_std_upper"].to_numpy() - v])
        b.barh(y, v, height=0.5, color=PALETTE[3], xerr=np.nan_to_num(err), ecolor="#555555", capsize=2)
        b.set_yticks(y)
        b.set_yticklabels([])
        b.axvline(0, color="black", linewidth=0.8)
        b.set_title("Standardised OLS coefficient", fontsize=9)
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def driver_matrix(matrix: pd.DataFrame, title: str = "Driver matrix: importance x performance") -> Figure:
    """Importance (share of R², %) against performance (0-100) per driver, quadrants marked.

    ``matrix`` is ``KeyDriverAnalysis.driver_matrix()``.
    """
    colors = {"concentrate here": PALETTE[7], "keep up the good work": PALETTE[6], "low priority": "#9e9e9e",
              "possible overkill": PALETTE[3]}
    fig, ax = _new(figsize=(7, 4.6))
    with plt.rc_context(STYLE):
        x, y = matrix["performance"].to_numpy(), matrix["importance"].to_numpy() * 100
        err = np.vstack([y - matrix["importance_lower"].to_numpy() * 100,
                         matrix["importance_upper"].to_numpy() * 100 - y])
        for q, c in colors.items():
            m = (matrix["quadrant"] == q).to_numpy()
            if m.any():
                ax.errorbar(x[m], y[m], yerr=np.nan_to_num(err[:, m]), fmt="o", color=c, markersize=8, capsize=3,
                            label=q)
        for xi, yi, name in zip(x, y, matrix.index):
            ax.annotate(str(name).replace("attr_", "").replace("_", " "), (xi, yi), textcoords="offset points",
                        xytext=(7, 5), fontsize=9)
        ax.axvline(np.nanmean(x), color="grey", linestyle="--", linewidth=1)
        ax.axhline(100 / len(matrix), color="grey", linestyle="--", linewidth=1)
        pad = max(5.0, (np.nanmax(x) - np.nanmin(x)) * 0.25)
        ax.set_xlim(np.nanmin(x) - pad, np.nanmax(x) + pad)
        ax.set_xlabel("Performance: mean rating on 0-100 (1 = 0, 5 = 100)")
        ax.set_ylabel("Importance: % of explained variance")
        ax.legend(fontsize=8, loc="best")
        ax.set_title(title)
    return _done(fig)


def pareto(volumes: pd.DataFrame, label: str = "segment", count: str = "complaints",
           title: str = "Complaints by category (Pareto)") -> Figure:
    """Bars of ``count`` by ``label``, largest first, with the cumulative share (%) on a second axis."""
    t = volumes.sort_values(count, ascending=False)
    fig, ax = _new(figsize=(7.5, 3.6))
    with plt.rc_context(STYLE):
        labels = [str(s).replace("_", " ") for s in t[label]]
        ax.bar(labels, t[count], color=PALETTE[0])
        ax.set_ylabel(count)
        ax.tick_params(axis="x", rotation=30)
        for tick in ax.get_xticklabels():
            tick.set_ha("right")
        ax2 = ax.twinx()
        total = t[count].sum()
        cum = t[count].cumsum() / total * 100 if total else t[count] * 0
        ax2.plot(labels, cum, color=PALETTE[4], marker="o")
        ax2.axhline(80, color=PALETTE[4], linestyle=":", linewidth=1)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel("cumulative %")
        ax2.grid(False)
        ax2.spines["right"].set_visible(True)
        ax.set_title(title)
    return _done(fig)


def km_resolution(curves: pd.DataFrame, sla_days: dict | None = None, order: list | None = None,
                  title: str = "Time to resolution (Kaplan-Meier)", max_days: float | None = None) -> Figure:
    """Share of complaints resolved by day t, per group, with pointwise bands and the SLA of each group.

    ``curves`` is ``ResolutionTime.curves_``; open complaints are censored, not dropped.
    """
    groups = order or list(dict.fromkeys(curves["group"]))
    colors = [PALETTE[1], PALETTE[6], PALETTE[4], PALETTE[5], PALETTE[3], PALETTE[7]]
    fig, ax = _new(figsize=(7.5, 3.8))
    with plt.rc_context(STYLE):
        others = [g for g in groups if g != "all"]
        for g in groups:
            t = curves[curves["group"] == g]
            if not len(t):
                continue
            color = "black" if g == "all" else colors[others.index(g) % len(colors)]
            ax.step(t["days"], t["resolved_share"] * 100, where="post", color=color, label=str(g),
                    linewidth=1.2 if g == "all" else 1.8, linestyle="--" if g == "all" else "-")
            ax.fill_between(t["days"], t["lower"] * 100, t["upper"] * 100, step="post", color=color, alpha=0.12,
                            linewidth=0)
            if sla_days and g in sla_days:
                ax.axvline(float(sla_days[g]), color=color, linestyle=":", linewidth=1.2)
                ax.annotate(f"SLA {g} {sla_days[g]:g}d", (float(sla_days[g]), 3), rotation=90, fontsize=7,
                            color=color, xytext=(3, 0), textcoords="offset points")
        if max_days:
            ax.set_xlim(0, max_days)
        ax.set_ylim(0, 101)
        ax.set_xlabel("days since the complaint was opened")
        ax.set_ylabel("% resolved")
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(title)
    return _done(fig)


def control_chart(chart: pd.DataFrame, title: str, ylabel: str = "", percent: bool = False) -> Figure:
    """A p- or u-chart: monthly value, centre line, 3-sigma limits; signals in red (from ``control_limits``)."""
    fig, ax = _new(figsize=(7.5, 3.4))
    k = 100 if percent else 1
    with plt.rc_context(STYLE):
        x = list(range(len(chart)))
        ax.plot(x, chart["value"] * k, color=PALETTE[0], marker="o", markersize=4, label="month")
        ax.step(x, chart["ucl"] * k, where="mid", color="grey", linestyle="--", linewidth=1, label="3-sigma limits")
        ax.step(x, chart["lcl"] * k, where="mid", color="grey", linestyle="--", linewidth=1)
        ax.plot(x, chart["center"] * k, color=PALETTE[4], linewidth=1, label="centre line")
        sig = (chart["signal"] != "").to_numpy()
        if sig.any():
            ax.scatter(np.array(x)[sig], chart["value"].to_numpy()[sig] * k, color=PALETTE[7], s=50, zorder=4,
                       label="signal")
        ax.set_xticks(x[::max(1, len(x) // 12)])
        ax.set_xticklabels([str(m) for m in chart["month"]][::max(1, len(x) // 12)], rotation=45, ha="right",
                           fontsize=7)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4)
        ax.set_title(title, loc="left")
    return _done(fig)


# --------------------------------------------------------------------------- churn (crm_lib.churn)

from matplotlib.ticker import FixedLocator, NullFormatter  # noqa: E402  (churn section, appended)

def churn_curves(curves: pd.DataFrame, title: str = "Share of customers still with the bank",
                 xlabel: str = "years since onboarding", ylabel: str = "% still a customer", ylim_low=None,
                 order: list | None = None) -> Figure:
    """Kaplan-Meier retention curves with CI bands by group (from ``churn.km_curves``)."""
    fig, ax = _new(figsize=(7.5, 3.8))
    if curves is None or curves.empty:
        ax.text(0.5, 0.5, "no data to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title, loc="left")
        return _done(fig)
    with plt.rc_context(STYLE):
        groups = order or list(dict.fromkeys(curves["group"]))
        for i, g in enumerate(groups):
            c = curves[curves["group"] == g]
            if c.empty:
                continue
            col = PALETTE[i % len(PALETTE)]
            ax.step(c["time"], c["survival"] * 100, where="post", color=col, linewidth=1.6,
                    label=f"{str(g).replace('_', ' ')} (n = {int(c['n'].iloc[0]):,})")
            ax.fill_between(c["time"], c["lower"] * 100, c["upper"] * 100, step="post", color=col, alpha=0.15,
                            linewidth=0)
        lo = ylim_low if ylim_low is not None else max(0.0, float(curves["lower"].min()) * 100 - 5)
        ax.set_ylim(lo, 100.5)
        ax.set_xlim(left=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, loc="lower left", ncol=2 if len(groups) > 4 else 1)
        ax.set_title(title, loc="left")
    return _done(fig)


def hazard_ratio_forest(summary: pd.DataFrame, title: str = "Hazard ratios of churn (95% CI)",
                        label: str = "label") -> Figure:
    """Forest plot of hazard ratios on a log axis (from ``ChurnCox.summary_``); right of 1 = churns sooner."""
    s = summary.iloc[::-1]
    fig, ax = _new(figsize=(7.5, 0.45 * len(s) + 1.2))
    with plt.rc_context(STYLE):
        y = list(range(len(s)))
        sig = ((s["hr_lower"] > 1) | (s["hr_upper"] < 1)).to_numpy()
        cols = [PALETTE[7] if (g and h > 1) else PALETTE[6] if g else "grey" for g, h in zip(sig, s["hr"])]
        ax.hlines(y, s["hr_lower"], s["hr_upper"], color=cols, linewidth=2)
        ax.scatter(s["hr"], y, color=cols, zorder=3, s=25)
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")
        labels = s[label] + (" (per " + s["per"] + ")" if "per" in s.columns else "")
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel("hazard ratio (log scale): > 1 churns sooner, < 1 stays longer")
        lo, hi = ax.get_xlim()
        ticks = [v for v in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 10, 20)
                 if lo <= v <= hi]
        if len(ticks) > 8:                               # every other tick, keeping 1
            k = ticks.index(1) if 1 in ticks else 0
            ticks = [v for i, v in enumerate(ticks) if (i - k) % 2 == 0]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, loc="left")
    return _done(fig)


def ph_residuals_plot(curves: pd.DataFrame, ncols: int = 3, title: str = "Proportional-hazards check") -> Figure:
    """Scaled Schoenfeld residuals and their smooth over tenure, one panel per covariate (``ph_residual_curves``)."""
    covs = list(dict.fromkeys(curves["covariate"]))
    nrows = max(1, -(-len(covs) // ncols))
    fig, axes = _new(nrows, ncols, figsize=(3.0 * ncols, 2.3 * nrows), squeeze=False)
    with plt.rc_context(STYLE):
        for ax in axes.flat[len(covs):]:
            ax.set_visible(False)
        for ax, c in zip(axes.flat, covs):
            d = curves[curves["covariate"] == c].sort_values("time")
            ax.scatter(d["time"], d["residual"], s=3, color=PALETTE[2], alpha=0.4, linewidth=0)
            ax.plot(d["time"], d["smooth"], color=PALETTE[0], linewidth=1.8, label="smoothed log HR")
            ax.axhline(d["coef"].iloc[0], color=PALETTE[4], linestyle="--", linewidth=1, label="Cox (constant)")
            lo, hi = np.nanpercentile(d["residual"], [2, 98])
            span = max(hi - lo, 1e-6)
            ax.set_ylim(lo - 0.1 * span, hi + 0.1 * span)
            ax.set_title(str(d["label"].iloc[0])[:38], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("years since onboarding", fontsize=7)
        axes.flat[0].legend(fontsize=6, loc="upper right")
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def calibration_plot(cal: pd.DataFrame, title: str = "Calibration: predicted vs observed churn") -> Figure:
    """Predicted vs observed churn by decile, one panel per horizon, model and baseline (``Validation.calibration``)."""
    hs = sorted(cal["horizon_months"].unique())
    fig, axes = _new(1, len(hs), figsize=(3.8 * len(hs), 3.6), squeeze=False)
    names = {"cox": ("Cox (landmark)", PALETTE[0], "o"), "baseline": ("Kaplan-Meier baseline", PALETTE[4], "s")}
    with plt.rc_context(STYLE):
        for ax, h in zip(axes.flat, hs):
            top = 0.0
            for m, (lab, col, mk) in names.items():
                d = cal[(cal["horizon_months"] == h) & (cal["model"] == m)]
                if d.empty:
                    continue
                err = [(d["observed"] - d["lower"]).clip(lower=0) * 100, (d["upper"] - d["observed"]).clip(lower=0) * 100]
                ax.errorbar(d["predicted"] * 100, d["observed"] * 100, yerr=err, fmt=mk, color=col, markersize=4,
                            capsize=2, linewidth=1, label=lab)
                top = max(top, float(d["predicted"].max()), float(d["upper"].max()))
            ax.plot([0, top * 100], [0, top * 100], color="grey", linestyle="--", linewidth=0.8)
            ax.set_xlabel("predicted churn (%)")
            ax.set_ylabel("observed churn (%)")
            ax.set_title(f"within {h} months", fontsize=9)
        axes.flat[0].legend(fontsize=7, loc="upper left")
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def validation_metrics_plot(metrics: pd.DataFrame, title: str = "Out-of-time validation") -> Figure:
    """Time-dependent AUC and Brier score by horizon, model vs baseline, with CIs (``Validation.metrics``)."""
    fig, axes = _new(1, 2, figsize=(8.5, 3.2))
    names = {"cox": ("Cox (landmark)", PALETTE[0]), "baseline": ("Kaplan-Meier baseline", PALETTE[4])}
    with plt.rc_context(STYLE):
        for ax, metric, lab in zip(axes, ("td_auc", "brier"), ("time-dependent AUC (higher is better)",
                                                             "Brier score (lower is better)")):
            d = metrics[metrics["metric"] == metric]
            hs = sorted(d["horizon_months"].unique())
            for k, (m, (name, col)) in enumerate(names.items()):
                e = d[d["model"] == m].set_index("horizon_months").loc[hs]
                x = [i + (k - 0.5) * 0.3 for i in range(len(hs))]
                ax.bar(x, e["value"], width=0.3, color=col, label=name)
                ax.errorbar(x, e["value"], yerr=[e["value"] - e["lower"], e["upper"] - e["value"]], fmt="none",
                            color="black", capsize=3, linewidth=1)
            ax.set_xticks(range(len(hs)))
            ax.set_xticklabels([f"{h} months" for h in hs])
            ax.set_title(lab, fontsize=9)
            if metric == "td_auc":
                ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
                ax.set_ylim(0, 1)
        axes[0].legend(fontsize=7, loc="lower left")
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def gains_chart(gains: pd.DataFrame, top_share: float | None = None,
                title: str = "Cumulative gains of the early-warning ranking") -> Figure:
    """Share of churners captured vs share of customers targeted, highest risk first (``Validation.gains``)."""
    fig, ax = _new(figsize=(5.5, 3.8))
    with plt.rc_context(STYLE):
        for i, (h, g) in enumerate(gains.groupby("horizon_months")):
            ax.plot([0, *(g["share_targeted"] * 100)], [0, *(g["share_of_churners"] * 100)], marker="o", markersize=3,
                    color=PALETTE[i], label=f"churn within {h} months")
        ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=0.8, label="random list")
        if top_share:
            ax.axvline(top_share * 100, color=PALETTE[3], linewidth=1, label=f"list cut-off ({top_share:.0%})")
        ax.set_xlabel("% of customers targeted (highest predicted risk first)")
        ax.set_ylabel("% of churners captured")
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(title, loc="left")
    return _done(fig)


def cumulative_incidence_plot(cif: pd.DataFrame, title: str = "Leaving the bank, by exit cause") -> Figure:
    """Aalen-Johansen cumulative incidence per cause with CI bands (``churn.cumulative_incidence``)."""
    fig, ax = _new(figsize=(7.0, 3.6))
    with plt.rc_context(STYLE):
        for i, (c, g) in enumerate(cif.groupby("cause", sort=False)):
            col = PALETTE[[7, 1, 4, 5][i % 4]]
            ax.step(g["time"], g["incidence"] * 100, where="post", color=col, label=str(c).replace("_", " "))
            ax.fill_between(g["time"], g["lower"] * 100, g["upper"] * 100, step="post", color=col, alpha=0.15,
                            linewidth=0)
        ax.set_xlabel("years since onboarding")
        ax.set_ylabel("% who left by this cause")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title(title, loc="left")
    return _done(fig)


def risk_distribution(scores: pd.DataFrame, cutoff: float, horizon_months: int,
                      title: str = "Predicted churn probability of active customers") -> Figure:
    """Histogram of predicted churn probabilities (log count axis) with the list cut-off (``churn.score``)."""
    fig, ax = _new(figsize=(7.0, 3.2))
    with plt.rc_context(STYLE):
        p = scores["churn_probability"] * 100
        ax.hist(p, bins=50, color=PALETTE[1])
        ax.axvline(cutoff * 100, color=PALETTE[7], linewidth=1.5, label=f"list cut-off {cutoff:.1%}")
        ax.set_yscale("log")
        ax.set_xlabel(f"predicted probability of churning within {horizon_months} months (%)")
        ax.set_ylabel("customers (log scale)")
        ax.legend(fontsize=8)
        ax.set_title(title, loc="left")
    return _done(fig)


# --------------------------------------------------------------------------- segmentation and tiering

def _state_label(s) -> str:
    return str(s).replace("_", " ")


def rfm_heatmap(grid: pd.DataFrame, title: str = "RFM grid: share of customers (value share)") -> Figure:
    """R (rows, 5 = most recent on top) x F (columns) grid from ``rfm_grid``.

    Colour and the large number: share of customers in the cell; the small number: the cell's
    share of window transaction value; segment names label the cells.
    """
    bins = int(max(grid["r_score"].max(), grid["f_score"].max()))
    share = grid.pivot(index="r_score", columns="f_score", values="share").reindex(
        index=range(bins, 0, -1), columns=range(1, bins + 1)).fillna(0.0)
    value = grid.pivot(index="r_score", columns="f_score", values="value_share").reindex_like(share)
    seg = grid.pivot(index="r_score", columns="f_score", values="segment").reindex_like(share)
    fig, ax = _new(figsize=(7.5, 5.2))
    with plt.rc_context(STYLE):
        im = ax.imshow(share.to_numpy() * 100, cmap="Blues", aspect="auto")
        for i in range(bins):
            for j in range(bins):
                v = share.iat[i, j] * 100
                color = "white" if v > share.to_numpy().max() * 60 else "#1b2631"
                ax.text(j, i - 0.22, f"{v:.1f}%", ha="center", va="center", fontsize=9, color=color,
                        fontweight="bold")
                vs = value.iat[i, j]
                ax.text(j, i + 0.05, f"value {vs * 100:.1f}%" if pd.notna(vs) else "", ha="center",
                        va="center", fontsize=7, color=color)
                s = seg.iat[i, j]
                ax.text(j, i + 0.3, _state_label(s) if isinstance(s, str) else "", ha="center", va="center",
                        fontsize=6.5, color=color, style="italic")
        ax.set_xticks(range(bins))
        ax.set_xticklabels([str(f) for f in range(1, bins + 1)])
        ax.set_yticks(range(bins))
        ax.set_yticklabels([str(r) for r in range(bins, 0, -1)])
        ax.set_xlabel("F score (5 = most frequent)")
        ax.set_ylabel("R score (5 = most recent)")
        ax.grid(False)
        fig.colorbar(im, ax=ax, label="% of customers", shrink=0.8)
        ax.set_title(title, loc="left")
    return _done(fig)


def cluster_selection(selection: pd.DataFrame, min_stability: float | None = None,
                      min_silhouette: float | None = None, title: str = "Choosing the number of clusters") -> Figure:
    """Three panels by k (from ``CustomerClusters.selection_``): stability with its bootstrap
    interval, silhouette, and BIC / ICL; the gates dashed, the chosen k marked."""
    fig, axes = _new(1, 3, figsize=(10, 3.2))
    k = selection["k"].to_numpy()
    chosen = int(selection.loc[selection["chosen"], "k"].iloc[0])
    with plt.rc_context(STYLE):
        a, b, c = axes
        st = selection["stability"].to_numpy()
        err = np.vstack([st - selection["stability_lower"].to_numpy(), selection["stability_upper"].to_numpy() - st])
        a.errorbar(k, st, yerr=np.nan_to_num(err), fmt="o-", color=PALETTE[0], capsize=3)
        if min_stability is not None:
            a.axhline(min_stability, color=PALETTE[4], linestyle="--", linewidth=1, label="gate (lower bound)")
            a.legend(loc="lower left", fontsize=7)
        a.set_title("Stability: bootstrap ARI (95% interval)", fontsize=9)
        a.set_ylim(min(0, np.nanmin(selection["stability_lower"])) - 0.02, 1.02)
        b.plot(k, selection["silhouette"], "o-", color=PALETTE[1])
        if min_silhouette is not None:
            b.axhline(min_silhouette, color=PALETTE[4], linestyle="--", linewidth=1, label="gate")
            b.legend(loc="lower left", fontsize=7)
        b.set_title("Silhouette (higher = better separated)", fontsize=9)
        c.plot(k, selection["bic"], "o-", color=PALETTE[5], label="BIC")
        if "icl" in selection:
            c.plot(k, selection["icl"], "s--", color=PALETTE[6], label="ICL (BIC + entropy)")
        c.legend(fontsize=7)
        c.set_title("Information criteria (lower = better)", fontsize=9)
        c.yaxis.set_major_formatter(FuncFormatter(_thousands))
        for ax in axes:
            ax.axvline(chosen, color=PALETTE[3], linewidth=6, alpha=0.35, zorder=0)
            ax.set_xticks(k)
            ax.set_xlabel("k (clusters)")
        fig.suptitle(f"{title}: k = {chosen} (shaded)", fontweight="bold")
    return _done(fig)


def zscore_heatmap(zmeans: pd.DataFrame, row_labels: dict | None = None,
                   title: str = "Cluster profiles: standardised means") -> Figure:
    """Segments x features in standard deviations from the average customer (``standardised_means``)."""
    z = zmeans
    fig, ax = _new(figsize=(max(6.5, 0.9 * z.shape[1] + 3), 0.55 * z.shape[0] + 1.6))
    with plt.rc_context(STYLE):
        lim = max(1.0, float(np.nanmax(np.abs(z.to_numpy()))))
        im = ax.imshow(z.to_numpy(dtype=float), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                v = z.iat[i, j]
                ax.text(j, i, "" if pd.isna(v) else f"{v:+.1f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(v) > lim * 0.6 else "#1b2631")
        ax.set_xticks(range(z.shape[1]))
        ax.set_xticklabels([_state_label(c).replace("log ", "") for c in z.columns], rotation=30, ha="right")
        ax.set_yticks(range(z.shape[0]))
        ax.set_yticklabels([f"{i}: {row_labels[i]}" if row_labels and i in row_labels else str(i) for i in z.index],
                           fontsize=8)
        ax.grid(False)
        fig.colorbar(im, ax=ax, label="standard deviations from the mean", shrink=0.8)
        ax.set_title(title, loc="left")
    return _done(fig)


def lifecycle_funnel(summary: pd.DataFrame, title: str = "Lifecycle stages at the period end") -> Figure:
    """Customers per lifecycle stage (from ``lifecycle_summary``), in lifecycle order."""
    colors = {"onboarding": PALETTE[2], "growing": PALETTE[1], "mature": PALETTE[0], "at_risk": PALETTE[7],
              "dormant": PALETTE[3], "closed": "#9e9e9e"}
    fig, ax = _new(figsize=(7.5, 2.9))
    with plt.rc_context(STYLE):
        labels = [_state_label(s) for s in summary.index]
        ax.barh(labels, summary["customers"], color=[colors.get(s, PALETTE[0]) for s in summary.index])
        ax.invert_yaxis()
        for i, (cnt, sh) in enumerate(zip(summary["customers"], summary["share"])):
            ax.text(cnt, i, f"  {int(cnt):,} ({sh * 100:.1f}%)", va="center", fontsize=8)
        ax.set_xlim(0, summary["customers"].max() * 1.25)
        ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.set_xlabel("customers")
        ax.set_title(title, loc="left")
    return _done(fig)


def transition_heatmap(matrix: pd.DataFrame, title: str = "Transitions: row shares") -> Figure:
    """Row shares (%) of a ``transition_matrix`` with their interval [lower-upper] and counts."""
    rows = list(dict.fromkeys(matrix["from_state"]))
    cols = list(dict.fromkeys(matrix["to_state"]))
    sh = matrix.pivot(index="from_state", columns="to_state", values="row_share").reindex(index=rows, columns=cols)
    cnt = matrix.pivot(index="from_state", columns="to_state", values="count").reindex(index=rows, columns=cols)
    lo = matrix.pivot(index="from_state", columns="to_state", values="ci_lower").reindex(index=rows, columns=cols)
    hi = matrix.pivot(index="from_state", columns="to_state", values="ci_upper").reindex(index=rows, columns=cols)
    tot = matrix.groupby("from_state", sort=False)["row_total"].first().reindex(rows)
    fig, ax = _new(figsize=(1.35 * len(cols) + 3, 0.75 * len(rows) + 1.6))
    with plt.rc_context(STYLE):
        im = ax.imshow(sh.to_numpy(dtype=float) * 100, cmap="Blues", vmin=0, vmax=100, aspect="auto")
        for i in range(len(rows)):
            for j in range(len(cols)):
                v = sh.iat[i, j]
                txt = "" if pd.isna(v) else f"{v * 100:.1f}%\n[{lo.iat[i, j] * 100:.1f}-{hi.iat[i, j] * 100:.1f}]" \
                    f"\n({int(cnt.iat[i, j]):,})"
                ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                        color="white" if (v or 0) > 0.6 else "#1b2631")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels([_state_label(c) for c in cols], rotation=20, ha="right")
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{_state_label(r)} (n={int(t):,})" for r, t in zip(rows, tot)])
        ax.set_xlabel("to (period end)")
        ax.set_ylabel("from (previous period end)")
        ax.grid(False)
        ax.set_title(title, loc="left")
    return _done(fig)


def migration_flow(matrix: pd.DataFrame, title: str = "Where customers went", skip_same: bool = False,
                   include_new: bool = True) -> Figure:
    """Sankey-style flow between two dates from a ``transition_matrix`` (band width = customers).

    Left: states at the start (and ``new``); right: states at the end (and ``closed``).
    With ``skip_same`` the customers who stayed are left out so that the movers are visible;
    ``include_new=False`` leaves out the customers onboarded in between.
    """
    from matplotlib.patches import Rectangle

    m = matrix[matrix["count"] > 0]
    if skip_same:
        m = m[m["from_state"] != m["to_state"]]
    if not include_new:
        m = m[m["from_state"] != "new"]
        matrix = matrix[matrix["from_state"] != "new"]
    left = list(dict.fromkeys(matrix["from_state"]))
    right = list(dict.fromkeys(matrix["to_state"]))
    fig, ax = _new(figsize=(8, 4.6) if len(m) else (8, 0.8))
    with plt.rc_context(STYLE):
        ax.axis("off")
        if not len(m):
            ax.text(0, 0.5, f"{title}: no customers moved", ha="left", va="center", fontsize=10)
            return _done(fig)
        total = m["count"].sum()
        gap = 0.02 * total
        lsize = m.groupby("from_state")["count"].sum().reindex(left).fillna(0)
        rsize = m.groupby("to_state")["count"].sum().reindex(right).fillna(0)
        colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(dict.fromkeys(left + right))}
        colors["closed"], colors["new"] = "#9e9e9e", "#5d6d7e"

        def stack(sizes):
            pos, y = {}, 0.0
            for s, v in sizes.items():
                if v > 0:
                    pos[s] = y
                    y += v + gap
            return pos

        lpos, rpos = stack(lsize), stack(rsize)
        lcur, rcur = dict(lpos), dict(rpos)
        t = np.linspace(0, 1, 50)
        smooth = 3 * t ** 2 - 2 * t ** 3
        for r in m.sort_values(["from_state", "to_state"], key=lambda s: s.map(
                {v: i for i, v in enumerate(left + right)})).itertuples():
            y0, y1, h = lcur[r.from_state], rcur[r.to_state], r.count
            lcur[r.from_state] += h
            rcur[r.to_state] += h
            lo = y0 + (y1 - y0) * smooth
            ax.fill_between(0.1 + 0.8 * t, lo, lo + h, color=colors[r.from_state], alpha=0.45, linewidth=0)
        for side, pos, sizes, x, ha in (("l", lpos, lsize, 0.1, "right"), ("r", rpos, rsize, 0.9, "left")):
            for s, y in pos.items():
                ax.add_patch(Rectangle((x - 0.01, y), 0.02, sizes[s], color=colors[s]))
                ax.text(x + (-0.02 if ha == "right" else 0.02), y + sizes[s] / 2,
                        f"{_state_label(s)}  {int(sizes[s]):,}", ha=ha, va="center", fontsize=8)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(max(max(lcur.values()), max(rcur.values())) + gap, -gap)
        ax.set_title(title + (" (customers who stayed not shown)" if skip_same else ""), loc="left")
    return _done(fig)

"""Figures of satisfaction, complaints and SLA."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crm_lib import fmt
from crm_lib.fmt import N_, _
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _titled

# Titles and axis labels the notebooks pass in: shown through ``_`` (any other text is shown as given).
_PASSED_IN = (N_("NPS by segment"), N_("CSAT by segment"), N_("NPS by branch"), N_("NPS (points)"),
              N_("CSAT satisfied (%)"), N_("Key drivers of CSAT"), N_("Complaints per 1,000 customers (u-chart)"),
              N_("SLA compliance (p-chart)"), N_("per 1,000 customers"), N_("% met"), N_("complaints"))
# The library's dimension names (``satisfaction.report.DIMENSION_LABELS``) and groups, as panel titles and legends.
_LIBRARY_LABELS = (N_("all"),)


def _period(label) -> str:
    """A period as plain text: as given in English, ``2026年第3季度`` in Chinese."""
    return str(label) if fmt.get_locale() == "en" else fmt.period(label)


def _flag_colors(status, color):
    """Filled ``color`` where a figure is reportable, hollow grey where it is flagged (small n)."""
    ok = [s == "ok" for s in status]
    return ["white" if not o else color for o in ok], [color if o else "#9e9e9e" for o in ok]


def score_intervals(table: pd.DataFrame, value: str, lower: str, upper: str, label: str = "segment",
                    panel: str = "dimension", title: str = "", xlabel: str = "", percent: bool = False,
                    reference: float | None = None, hide_flagged: bool = False, alpha: float | None = None) -> Figure:
    """Dot-and-interval chart per segment, one panel per dimension (from ``segment_scores``);
    with ``alpha`` the title states the intervals' level.

    Segments whose ``status`` is not ``ok`` (small n, no responses) are drawn hollow and grey,
    or left out with ``hide_flagged`` (for dimensions with many small segments, e.g. branches);
    ``reference`` (e.g. the overall score) is a dashed line.
    """
    title = _titled(_(title), alpha) if title else title
    if hide_flagged and "status" in table.columns:
        hidden = int((table["status"] != "ok").sum())
        table = table[table["status"] == "ok"]
        if not len(table):
            fig, ax = _new(figsize=(7.5, 1.2))
            with plt.rc_context(STYLE):
                ax.axis("off")
                ax.text(0.5, 0.5, _("{title}: no segment reaches the reporting threshold ({count} flagged)").format(
                    title=title, count=hidden),
                        ha="center", va="center", fontsize=10)
            return _done(fig)
        title = _("{title} ({count} segments below the threshold not shown)").format(title=title, count=hidden) \
            if hidden else title
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
            ax.set_title(_(str(g)) if panel == "dimension" else str(g), loc="left", fontsize=9)
            ax.grid(axis="y", visible=False)
        axes[-1, 0].set_xlabel(_(xlabel) if xlabel else xlabel)
        if title:
            fig.suptitle(title, fontweight="bold")
    return _done(fig)


def score_trend_panels(trend: pd.DataFrame, index_trend: pd.DataFrame | None = None, period_label: str | None = None,
                       title: str = N_("CSAT, NPS and satisfaction index by period"),
                       alpha: float | None = None) -> Figure:
    """CSAT top-2-box (%), NPS and (optionally) the index per period with interval bands.

    ``trend`` from ``score_trend``, ``index_trend`` from ``report.index_trend``; flagged
    periods are hollow points; the reported period is shaded. With ``alpha`` the title states
    the bands' level.
    """
    title = _titled(_(title), alpha, _("bands"))
    panels = [("csat_top2box", "csat_top2box_lower", "csat_top2box_upper", _("CSAT satisfied (%)"), 100, trend),
              ("nps", "nps_lower", "nps_upper", _("NPS (points)"), 1, trend)]
    if index_trend is not None:
        panels.append(("index", "ci_lower", "ci_upper", _("Satisfaction index (0-100)"), 1, index_trend))
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
            ax.set_xticklabels([_period(x) for x in t["period"]], rotation=45, ha="right", fontsize=7)
            ax.set_title(name, fontsize=9)
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def driver_importance(importance: pd.DataFrame, title: str = N_("Key drivers: share of explained variance"),
                      alpha: float | None = None) -> Figure:
    """Relative weights and LMG shares (%) per driver with bootstrap intervals, beside standardised betas.

    ``importance`` is ``KeyDriverAnalysis.importance_``; with ``alpha`` the title states the bars' level.
    """
    title = _titled(_(title), alpha, _("bars"))
    t = importance.sort_values("rw_share")
    fig, (a, b) = _new(1, 2, figsize=(9, 0.9 + 0.45 * len(t)), gridspec_kw={"width_ratios": [3, 2]})
    with plt.rc_context(STYLE):
        labels = [str(i).replace("attr_", "").replace("_", " ") for i in t.index]
        y = np.arange(len(t))
        for off, col, color, name in ((0.18, "rw_share", PALETTE[0], _("relative weight")),
                                      (-0.18, "lmg_share", PALETTE[2], _("LMG / Shapley"))):
            v = t[col].to_numpy() * 100
            err = np.vstack([v - t[f"{col}_lower"].to_numpy() * 100, t[f"{col}_upper"].to_numpy() * 100 - v])
            a.barh(y + off, v, height=0.34, color=color, label=name, xerr=np.nan_to_num(err), ecolor="#555555",
                   capsize=2)
        a.set_yticks(y)
        a.set_yticklabels(labels)
        a.set_xlabel(_("% of R²"))
        a.legend(loc="lower right", fontsize=8)
        a.set_title(_("Share of explained variance"), fontsize=9)
        v = t["beta_std"].to_numpy()
        err = np.vstack([v - t["beta_std_lower"].to_numpy(), t["beta_std_upper"].to_numpy() - v])
        b.barh(y, v, height=0.5, color=PALETTE[3], xerr=np.nan_to_num(err), ecolor="#555555", capsize=2)
        b.set_yticks(y)
        b.set_yticklabels([])
        b.axvline(0, color="black", linewidth=0.8)
        b.set_title(_("Standardised OLS coefficient"), fontsize=9)
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def driver_matrix(matrix: pd.DataFrame, title: str = N_("Driver matrix: importance x performance")) -> Figure:
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
                            label=_(q))
        for xi, yi, name in zip(x, y, matrix.index):
            ax.annotate(str(name).replace("attr_", "").replace("_", " "), (xi, yi), textcoords="offset points",
                        xytext=(7, 5), fontsize=9)
        ax.axvline(np.nanmean(x), color="grey", linestyle="--", linewidth=1)
        ax.axhline(100 / len(matrix), color="grey", linestyle="--", linewidth=1)
        pad = max(5.0, (np.nanmax(x) - np.nanmin(x)) * 0.25)
        ax.set_xlim(np.nanmin(x) - pad, np.nanmax(x) + pad)
        ax.set_xlabel(_("Performance: mean rating on 0-100 (1 = 0, 5 = 100)"))
        ax.set_ylabel(_("Importance: % of explained variance"))
        ax.legend(fontsize=8, loc="best")
        ax.set_title(_(title))
    return _done(fig)


def pareto(volumes: pd.DataFrame, label: str = "segment", count: str = "complaints",
           title: str | None = None, period_label: str | None = None) -> Figure:
    """Bars of ``count`` by ``label``, largest first, with the cumulative share (%) on a second axis.

    The title is ``title`` (translated when it is one of the library's), else "Complaints by
    category, <period>" with ``period_label``, else "Complaints by category (Pareto)".
    """
    if title is None:
        title = (_("Complaints by category, {period}").format(period=_period(period_label)) if period_label
                 else _("Complaints by category (Pareto)"))
    else:
        title = _(title)
    t = volumes.sort_values(count, ascending=False)
    fig, ax = _new(figsize=(7.5, 3.6))
    with plt.rc_context(STYLE):
        labels = [str(s).replace("_", " ") for s in t[label]]
        ax.bar(labels, t[count], color=PALETTE[0])
        ax.set_ylabel(_(count))
        ax.tick_params(axis="x", rotation=30)
        for tick in ax.get_xticklabels():
            tick.set_ha("right")
        ax2 = ax.twinx()
        total = t[count].sum()
        cum = t[count].cumsum() / total * 100 if total else t[count] * 0
        ax2.plot(labels, cum, color=PALETTE[4], marker="o")
        ax2.axhline(80, color=PALETTE[4], linestyle=":", linewidth=1)
        ax2.set_ylim(0, 105)
        ax2.set_ylabel(_("cumulative %"))
        ax2.grid(False)
        ax2.spines["right"].set_visible(True)
        ax.set_title(title)
    return _done(fig)


def km_resolution(curves: pd.DataFrame, sla_days: dict | None = None, order: list | None = None,
                  title: str | None = None, max_days: float | None = None,
                  alpha: float | None = None, period_label: str | None = None) -> Figure:
    """Share of complaints resolved by day t, per group, with pointwise bands and the SLA of each group.

    ``curves`` is ``ResolutionTime.curves_``; open complaints are censored, not dropped. With
    ``alpha`` the title states the bands' level. The title is ``title`` (translated when it is one
    of the library's), else "Time to resolution, complaints opened in <period>" with
    ``period_label``, else "Time to resolution (Kaplan-Meier)".
    """
    if title is None:
        title = (_("Time to resolution, complaints opened in {period}").format(period=_period(period_label))
                 if period_label else _("Time to resolution (Kaplan-Meier)"))
    else:
        title = _(title)
    title = _titled(title, alpha, _("bands"))
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
            ax.step(t["days"], t["resolved_share"] * 100, where="post", color=color,
                    label=_("all") if g == "all" else str(g),
                    linewidth=1.2 if g == "all" else 1.8, linestyle="--" if g == "all" else "-")
            ax.fill_between(t["days"], t["lower"] * 100, t["upper"] * 100, step="post", color=color, alpha=0.12,
                            linewidth=0)
            if sla_days and g in sla_days:
                ax.axvline(float(sla_days[g]), color=color, linestyle=":", linewidth=1.2)
                ax.annotate(_("SLA {group} {days}d").format(group=g, days=f"{sla_days[g]:g}"),
                            (float(sla_days[g]), 3), rotation=90, fontsize=7,
                            color=color, xytext=(3, 0), textcoords="offset points")
        if max_days:
            ax.set_xlim(0, max_days)
        ax.set_ylim(0, 101)
        ax.set_xlabel(_("days since the complaint was opened"))
        ax.set_ylabel(_("% resolved"))
        ax.legend(fontsize=8, loc="lower right")
        ax.set_title(title)
    return _done(fig)


def control_chart(chart: pd.DataFrame, title: str, ylabel: str = "", percent: bool = False) -> Figure:
    """A p- or u-chart: monthly value, centre line, 3-sigma limits; signals in red (from ``control_limits``)."""
    fig, ax = _new(figsize=(7.5, 3.4))
    k = 100 if percent else 1
    with plt.rc_context(STYLE):
        x = list(range(len(chart)))
        ax.plot(x, chart["value"] * k, color=PALETTE[0], marker="o", markersize=4, label=_("month"))
        ax.step(x, chart["ucl"] * k, where="mid", color="grey", linestyle="--", linewidth=1,
                label=_("3-sigma limits"))
        ax.step(x, chart["lcl"] * k, where="mid", color="grey", linestyle="--", linewidth=1)
        ax.plot(x, chart["center"] * k, color=PALETTE[4], linewidth=1, label=_("centre line"))
        sig = (chart["signal"] != "").to_numpy()
        if sig.any():
            ax.scatter(np.array(x)[sig], chart["value"].to_numpy()[sig] * k, color=PALETTE[7], s=50, zorder=4,
                       label=_("signal"))
        ax.set_xticks(x[::max(1, len(x) // 12)])
        ax.set_xticklabels([_period(m) for m in chart["month"]][::max(1, len(x) // 12)], rotation=45, ha="right",
                           fontsize=7)
        ax.set_ylabel(_(ylabel) if ylabel else ylabel)
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=4)
        ax.set_title(_(title) if title else title, loc="left")
    return _done(fig)

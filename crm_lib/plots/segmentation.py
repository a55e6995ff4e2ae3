"""Figures of segmentation and tiering."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from crm_lib.fmt import N_, _, level_pct
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _thousands

# The segmentation's vocabulary (stage, customer-type, RFM and cluster names in the run's language),
# imported when a figure is drawn: importing crm_lib.plots does not load the analyses.


def stage_label(s) -> str:
    from crm_lib.segmentation.lifecycle import stage_label as f

    return f(s)


def cluster_name_label(name) -> str:
    from crm_lib.segmentation.derived import cluster_name_label as f

    return f(name)


def feature_label(name) -> str:
    from crm_lib.segmentation.derived import feature_label as f

    return f(name)


def rfm_label(segment) -> str:
    from crm_lib.segmentation.narrative import rfm_label as f

    return f(segment)


def customer_type_label(ct) -> str:
    from crm_lib.segmentation.narrative import customer_type_label as f

    return f(ct)


RFM_TITLE = N_("RFM grid: share of customers (value share)")
SELECTION_TITLE = N_("Choosing the number of clusters")
ZSCORE_TITLE = N_("Cluster profiles: standardised means")
LIFECYCLE_TITLE = N_("Lifecycle stages at the period end")
TRANSITION_TITLE = N_("Transitions: row shares")
FLOW_TITLE = N_("Where customers went")
#: a title 10_segmentation passes as is: translated when it is given
LIFECYCLE_TRANSITION_TITLE = N_("Lifecycle stage: previous period end to this period end")


def _state_label(s) -> str:
    """A tier (from parameters: as it is), a lifecycle stage or ``new``/``closed`` (translated), as words."""
    return stage_label(s)


def _title(title: str) -> str:
    """A title given by the caller: the default titles are translated (a caller's own title is its own)."""
    return _(title) if title in (RFM_TITLE, SELECTION_TITLE, ZSCORE_TITLE, LIFECYCLE_TITLE, TRANSITION_TITLE,
                                 FLOW_TITLE, LIFECYCLE_TRANSITION_TITLE) else title


def _ctype(customer_type) -> str:
    return customer_type_label(customer_type)


def _cap(customer_type) -> str:
    return customer_type_label(customer_type).capitalize()


def rfm_heatmap(grid: pd.DataFrame, title: str = RFM_TITLE, customer_type: str | None = None) -> Figure:
    """R (rows, 5 = most recent on top) x F (columns) grid from ``rfm_grid``.

    With ``customer_type`` (and the default title) the title names it, in the run's language.

    Colour and the large number: share of customers in the cell; the small number: the cell's
    share of window transaction value; segment names label the cells.
    """
    if customer_type is not None and title == RFM_TITLE:
        title = _("RFM grid, {customer_type} customers: share of customers (value share)").format(
            customer_type=_ctype(customer_type))
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
                ax.text(j, i + 0.05, _("value {share}").format(share=f"{vs * 100:.1f}%") if pd.notna(vs) else "",
                        ha="center",
                        va="center", fontsize=7, color=color)
                s = seg.iat[i, j]
                ax.text(j, i + 0.3, rfm_label(s) if isinstance(s, str) else "", ha="center", va="center",
                        fontsize=6.5, color=color, style="italic")
        ax.set_xticks(range(bins))
        ax.set_xticklabels([str(f) for f in range(1, bins + 1)])
        ax.set_yticks(range(bins))
        ax.set_yticklabels([str(r) for r in range(bins, 0, -1)])
        ax.set_xlabel(_("F score (5 = most frequent)"))
        ax.set_ylabel(_("R score (5 = most recent)"))
        ax.grid(False)
        fig.colorbar(im, ax=ax, label=_("% of customers"), shrink=0.8)
        ax.set_title(_title(title), loc="left")
    return _done(fig)


def cluster_selection(selection: pd.DataFrame, min_stability: float | None = None,
                      min_silhouette: float | None = None, title: str = SELECTION_TITLE,
                      customer_type: str | None = None) -> Figure:
    """Three panels by k (from ``CustomerClusters.selection_``): stability with its bootstrap
    interval, silhouette, and BIC / ICL; the gates dashed, the chosen k marked. With
    ``customer_type`` (and the default title) the title names it, in the run's language."""
    if customer_type is not None and title == SELECTION_TITLE:
        title = _("Choosing k for {customer_type} customers").format(customer_type=_ctype(customer_type))
    fig, axes = _new(1, 3, figsize=(10, 3.2))
    k = selection["k"].to_numpy()
    chosen = int(selection.loc[selection["chosen"], "k"].iloc[0])
    with plt.rc_context(STYLE):
        a, b, c = axes
        st = selection["stability"].to_numpy()
        err = np.vstack([st - selection["stability_lower"].to_numpy(), selection["stability_upper"].to_numpy() - st])
        a.errorbar(k, st, yerr=np.nan_to_num(err), fmt="o-", color=PALETTE[0], capsize=3)
        if min_stability is not None:
            a.axhline(min_stability, color=PALETTE[4], linestyle="--", linewidth=1, label=_("gate (lower bound)"))
            a.legend(loc="lower left", fontsize=7)
        from crm_lib.segmentation.clusters import STABILITY_LEVEL   # when drawn (plots load no analysis on import)

        a.set_title(_("Stability: bootstrap ARI\n({level} interval, fixed by design: the gate reads it)").format(
            level=level_pct(1 - STABILITY_LEVEL)), fontsize=9)
        a.set_ylim(min(0, np.nanmin(selection["stability_lower"])) - 0.02, 1.02)
        b.plot(k, selection["silhouette"], "o-", color=PALETTE[1])
        if min_silhouette is not None:
            b.axhline(min_silhouette, color=PALETTE[4], linestyle="--", linewidth=1, label=_("gate"))
            b.legend(loc="lower left", fontsize=7)
        b.set_title(_("Silhouette (higher = better separated)"), fontsize=9)
        c.plot(k, selection["bic"], "o-", color=PALETTE[5], label="BIC")
        if "icl" in selection:
            c.plot(k, selection["icl"], "s--", color=PALETTE[6], label=_("ICL (BIC + entropy)"))
        c.legend(fontsize=7)
        c.set_title(_("Information criteria (lower = better)"), fontsize=9)
        c.yaxis.set_major_formatter(FuncFormatter(_thousands))
        for ax in axes:
            ax.axvline(chosen, color=PALETTE[3], linewidth=6, alpha=0.35, zorder=0)
            ax.set_xticks(k)
            ax.set_xlabel(_("k (clusters)"))
        fig.suptitle(_("{title}: k = {k} (shaded)").format(title=_title(title), k=chosen), fontweight="bold")
    return _done(fig)


def zscore_heatmap(zmeans: pd.DataFrame, row_labels: dict | None = None,
                   title: str = ZSCORE_TITLE, customer_type: str | None = None) -> Figure:
    """Segments x features in standard deviations from the average customer (``standardised_means``).

    With ``customer_type`` (and the default title) the title names it, in the run's language."""
    if customer_type is not None and title == ZSCORE_TITLE:
        title = _("{customer_type} clusters: standardised means").format(customer_type=_cap(customer_type))
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
        ax.set_xticklabels([feature_label(c) for c in z.columns], rotation=30, ha="right")
        ax.set_yticks(range(z.shape[0]))
        ax.set_yticklabels([f"{i}: {cluster_name_label(row_labels[i])}" if row_labels and i in row_labels else str(i)
                            for i in z.index],
                           fontsize=8)
        ax.grid(False)
        fig.colorbar(im, ax=ax, label=_("standard deviations from the mean"), shrink=0.8)
        ax.set_title(_title(title), loc="left")
    return _done(fig)


def lifecycle_funnel(summary: pd.DataFrame, title: str = LIFECYCLE_TITLE) -> Figure:
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
        ax.set_xlabel(_("customers"))
        ax.set_title(_title(title), loc="left")
    return _done(fig)


def transition_heatmap(matrix: pd.DataFrame, title: str = TRANSITION_TITLE, customer_type: str | None = None) -> Figure:
    """Row shares (%) of a ``transition_matrix`` with their interval [lower-upper] and counts.

    With ``customer_type`` (and the default title) the title is that type's value tiers, in the run's language."""
    if customer_type is not None and title == TRANSITION_TITLE:
        title = _("{customer_type} value tiers: previous period end to this period end").format(
            customer_type=_cap(customer_type))
    rows = list(dict.fromkeys(matrix["from_state"]))
    cols = list(dict.fromkeys(matrix["to_state"]))
    sh = matrix.pivot(index="from_state", columns="to_state", values="row_share").reindex(index=rows, columns=cols)
    cnt = matrix.pivot(index="from_state", columns="to_state", values="count").reindex(index=rows, columns=cols)
    lo = matrix.pivot(index="from_state", columns="to_state", values="ci_lower").reindex(index=rows, columns=cols)
    hi = matrix.pivot(index="from_state", columns="to_state", values="ci_upper").reindex(index=rows, columns=cols)
    tot = matrix.groupby("from_state", sort=False)["row_total"].first().reindex(rows)
    fig, ax = _new(figsize=(1.35 * len(cols) + 3, 0.75 * len(rows) + 1.6))
    with plt.rc_context(STYLE):
        ax.imshow(sh.to_numpy(dtype=float) * 100, cmap="Blues", vmin=0, vmax=100, aspect="auto")
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
        ax.set_xlabel(_("to (period end)"))
        ax.set_ylabel(_("from (previous period end)"))
        ax.grid(False)
        ax.set_title(_title(title), loc="left")
    return _done(fig)


def migration_flow(matrix: pd.DataFrame, title: str = FLOW_TITLE, skip_same: bool = False,
                   include_new: bool = True, customer_type: str | None = None) -> Figure:
    """Sankey-style flow between two dates from a ``transition_matrix`` (band width = customers).

    Left: states at the start (and ``new``); right: states at the end (and ``closed``).
    With ``skip_same`` the customers who stayed are left out so that the movers are visible;
    ``include_new=False`` leaves out the customers onboarded in between. With ``customer_type`` (and
    the default title) the title is where that type's movers went, in the run's language.
    """
    if customer_type is not None and title == FLOW_TITLE:
        title = _("{customer_type} customers: where the movers went").format(customer_type=_cap(customer_type))
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
            ax.text(0, 0.5, _("{title}: no customers moved").format(title=_title(title)), ha="left", va="center",
                    fontsize=10)
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
        ax.set_title(_("{title} (customers who stayed not shown)").format(title=_title(title)) if skip_same
                     else _title(title), loc="left")
    return _done(fig)

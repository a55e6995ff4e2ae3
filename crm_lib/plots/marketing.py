"""Figures of precision marketing (notebook 50_next_best_product). Plots take finished frames."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crm_lib.fmt import N_, _
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _titled


# the scorers' names (marketing.models), as the legend shows them
SCORER_WORDS = {"logistic": N_("logistic"), "hgb": N_("hgb"), "popularity baseline": N_("popularity baseline")}


def auc_by_product(quality: pd.DataFrame, alpha: float | None = None,
                   title: str = N_("Out-of-time AUC by product and model")) -> Figure:
    """AUC with its interval per product (rows) and scorer (colours), from ``marketing.evaluate``; 0.5 = chance."""
    title = _titled(_(title), alpha)
    q = quality.dropna(subset=["auc"])
    prods = list(dict.fromkeys(q["product"]))
    scorers = list(dict.fromkeys(q["scorer"]))
    fig, ax = _new(figsize=(7.5, 0.5 * max(len(prods), 1) + 1.4))
    with plt.rc_context(STYLE):
        if q.empty:
            ax.text(0.5, 0.5, _("no product could be evaluated"), ha="center", va="center", transform=ax.transAxes)
        for j, s in enumerate(scorers):
            d = q[q["scorer"] == s].set_index("product").reindex(prods)
            y = np.arange(len(prods)) + (j - (len(scorers) - 1) / 2) * 0.22
            ax.hlines(y, d["auc_lower"], d["auc_upper"], color=PALETTE[j], linewidth=2)
            ax.scatter(d["auc"], y, color=PALETTE[j], s=22, zorder=3, label=_(SCORER_WORDS[s]) if s in SCORER_WORDS else s)
        ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
        ax.set_yticks(range(len(prods)))
        ax.set_yticklabels([p.replace("_", " ") for p in prods])
        ax.invert_yaxis()
        ax.set_xlabel(_("AUC (0.5 = chance, 1 = perfect ranking)"))
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / max(len(prods), 1)),
                  ncol=max(len(scorers), 1))
        ax.set_title(title, loc="left")
    return _done(fig)


def lift_by_decile_plot(lifts: pd.DataFrame, title: str = N_("Lift by score decile (logistic model, test window)")) -> Figure:
    """Lift (adoption rate in the decile / overall rate) per decile (1 = top scores), one line per product."""
    title = _(title)
    fig, ax = _new(figsize=(7.5, 3.6))
    with plt.rc_context(STYLE):
        for i, p in enumerate(lifts.columns):
            ax.plot(lifts.index, lifts[p], marker="o", markersize=3, color=PALETTE[i % len(PALETTE)],
                    label=str(p).replace("_", " "))
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xticks(range(1, 11))
        ax.set_xlabel(_("score decile (1 = highest propensity)"))
        ax.set_ylabel(_("lift"))
        if len(lifts.columns):
            ax.legend(fontsize=7, ncol=2)
        ax.set_title(title, loc="left")
    return _done(fig)


def calibration_by_product(cal: pd.DataFrame, alpha: float | None = None,
                           title: str = N_("Calibration: predicted vs observed adoption")) -> Figure:
    """Observed adoption (with its interval) against mean predicted probability per decile, per product."""
    title = _titled(_(title), alpha)
    fig, ax = _new(figsize=(7.5, 4.0))
    with plt.rc_context(STYLE):
        top = 0.0
        for i, (p, d) in enumerate(cal.groupby("product", sort=False) if len(cal) else []):
            col = PALETTE[i % len(PALETTE)]
            # Wilson bounds can sit a rounding error beyond the rate (0/n): never a negative bar length
            yerr = [(d["observed"] - d["observed_lower"]).clip(lower=0), (d["observed_upper"] - d["observed"]).clip(lower=0)]
            ax.errorbar(d["predicted"], d["observed"], yerr=yerr,
                        fmt="o", markersize=3, color=col, elinewidth=0.8, label=str(p).replace("_", " "))
            top = max(top, float(d["predicted"].max()), float(d["observed"].max()))
        top = top * 1.1 or 1.0
        ax.plot([0, top], [0, top], color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel(_("mean predicted probability"))
        ax.set_ylabel(_("observed adoption rate"))
        if len(cal):
            ax.legend(fontsize=7, ncol=2)
        ax.set_title(title, loc="left")
    return _done(fig)


def exclusion_funnel(exclusions: pd.DataFrame, labels: dict | None = None,
                     title: str = N_("From active customers to the list")) -> Figure:
    """Customers remaining after each step (from ``TargetList.exclusions``), with the number removed.

    ``labels`` names the bar after each step (``{step: "with marketing consent", ...}``; English
    messages of the catalogue, translated here).
    """
    title = _(title)
    labels = labels or {}
    e = exclusions
    start = int(e["customers"].iloc[0] + e["remaining"].iloc[0]) if len(e) else 0
    names = [_("active customers")] + [_(labels[s]) if s in labels else _("after {step}").format(step=s)
                                       for s in e["step"]]
    vals = [start] + e["remaining"].astype(int).tolist()
    fig, ax = _new(figsize=(7.5, 0.45 * len(vals) + 1.2))
    with plt.rc_context(STYLE):
        y = np.arange(len(vals))
        ax.barh(y, vals, color=PALETTE[1])
        for i, v in enumerate(vals):
            removed = "" if i == 0 else f"  (-{int(e['customers'].iloc[i - 1]):,})"
            ax.text(v, i, f" {v:,}{removed}", va="center", fontsize=8)
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.set_xlabel(_("customers"))
        ax.set_xlim(0, max(vals + [1]) * 1.3)
        ax.set_title(title, loc="left")
    return _done(fig)

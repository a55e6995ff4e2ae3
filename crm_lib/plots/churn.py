"""Figures of survival-based churn.

Titles, axis labels, legends and annotations are in the run's language (``crm_lib.fmt._``, issue #16): a title
passed in is translated when the catalogue holds it (the notebooks' titles are marked in ``NOTEBOOK_TEXTS``).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from crm_lib.fmt import N_, _
from crm_lib.plots._style import PALETTE, STYLE, _done, _new, _titled

# Titles and axis labels the churn notebooks (20_churn, 21_early_warning) pass in: marked here for the catalogue,
# translated by the function that draws them.
NOTEBOOK_TEXTS = (N_("Retention by value tier at entry"), N_("Retention by segment"),
                  N_("Retention by acquisition channel"), N_("Retention by onboarding year"),
                  N_("Retention after the campaign contact, by arm"), N_("years since contact"),
                  N_("Hazard ratios of the early-warning model"))
_MODELS = {"cox": N_("Cox (landmark)"), "baseline": N_("Kaplan-Meier baseline")}


def _model(name: str) -> str:
    return _(_MODELS[name])


def _cause(value) -> str:
    from crm_lib.churn.narrative import cause_words

    return cause_words(value)


def churn_curves(curves: pd.DataFrame, title: str = N_("Share of customers still with the bank"),
                 xlabel: str = N_("years since onboarding"), ylabel: str = N_("% still a customer"), ylim_low=None,
                 order: list | None = None, alpha: float | None = None) -> Figure:
    """Kaplan-Meier retention curves with CI bands by group (from ``churn.km_curves``);
    with ``alpha`` the title states the bands' level."""
    title = _titled(_(title), alpha, _("bands"))
    fig, ax = _new(figsize=(7.5, 3.8))
    if curves is None or curves.empty:
        ax.text(0.5, 0.5, _("no data to plot"), ha="center", va="center", transform=ax.transAxes)
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
        ax.set_xlabel(_(xlabel))
        ax.set_ylabel(_(ylabel))
        ax.legend(fontsize=7, loc="lower left", ncol=2 if len(groups) > 4 else 1)
        ax.set_title(title, loc="left")
    return _done(fig)


def hazard_ratio_forest(summary: pd.DataFrame, title: str = N_("Hazard ratios of churn"),
                        label: str = "label", alpha: float = 0.05) -> Figure:
    """Forest plot of hazard ratios on a log axis (from ``ChurnCox.summary_``); right of 1 = churns sooner.

    The title ends with the intervals' level, ``(95% CI)`` at ``alpha`` 0.05: pass the model's alpha.
    """
    title = _titled(_(title), alpha)
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
        words = _covariate_words()
        labels = ([_("{covariate} (per {unit})").format(covariate=words(c), unit=words(u)) for c, u in zip(s[label], s["per"])]
                  if "per" in s.columns else [words(c) for c in s[label]])
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_xlabel(_("hazard ratio (log scale): > 1 churns sooner, < 1 stays longer"))
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


def ph_residuals_plot(curves: pd.DataFrame, ncols: int = 3, title: str = N_("Proportional-hazards check")) -> Figure:
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
            ax.plot(d["time"], d["smooth"], color=PALETTE[0], linewidth=1.8, label=_("smoothed log HR"))
            ax.axhline(d["coef"].iloc[0], color=PALETTE[4], linestyle="--", linewidth=1, label=_("Cox (constant)"))
            lo, hi = np.nanpercentile(d["residual"], [2, 98])
            span = max(hi - lo, 1e-6)
            ax.set_ylim(lo - 0.1 * span, hi + 0.1 * span)
            ax.set_title(str(_covariate_words()(d["label"].iloc[0]))[:38], fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_xlabel(_("years since onboarding"), fontsize=7)
        axes.flat[0].legend(fontsize=6, loc="upper right")
        fig.suptitle(_(title), fontweight="bold")
    return _done(fig)


def calibration_plot(cal: pd.DataFrame, title: str = N_("Calibration: predicted vs observed churn"),
                     alpha: float | None = None) -> Figure:
    """Predicted vs observed churn by decile, one panel per horizon, model and baseline (``Validation.calibration``);
    with ``alpha`` the title states the error bars' level."""
    title = _titled(_(title), alpha, _("bars"))
    hs = sorted(cal["horizon_months"].unique())
    fig, axes = _new(1, len(hs), figsize=(3.8 * len(hs), 3.6), squeeze=False)
    names = {m: (_model(m), col, mk) for m, col, mk in (("cox", PALETTE[0], "o"), ("baseline", PALETTE[4], "s"))}
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
            ax.set_xlabel(_("predicted churn (%)"))
            ax.set_ylabel(_("observed churn (%)"))
            ax.set_title(_("within {months} months").format(months=h), fontsize=9)
        axes.flat[0].legend(fontsize=7, loc="upper left")
        fig.suptitle(title, fontweight="bold")
    return _done(fig)


def validation_metrics_plot(metrics: pd.DataFrame, title: str = N_("Out-of-time validation")) -> Figure:
    """Time-dependent AUC and Brier score by horizon, model vs baseline, with CIs (``Validation.metrics``)."""
    fig, axes = _new(1, 2, figsize=(8.5, 3.2))
    names = {m: (_model(m), col) for m, col in (("cox", PALETTE[0]), ("baseline", PALETTE[4]))}
    with plt.rc_context(STYLE):
        for ax, metric, lab in zip(axes, ("td_auc", "brier"), (_("time-dependent AUC (higher is better)"),
                                                             _("Brier score (lower is better)"))):
            d = metrics[metrics["metric"] == metric]
            hs = sorted(d["horizon_months"].unique())
            for k, (m, (name, col)) in enumerate(names.items()):
                e = d[d["model"] == m].set_index("horizon_months").loc[hs]
                x = [i + (k - 0.5) * 0.3 for i in range(len(hs))]
                ax.bar(x, e["value"], width=0.3, color=col, label=name)
                ax.errorbar(x, e["value"], yerr=[e["value"] - e["lower"], e["upper"] - e["value"]], fmt="none",
                            color="black", capsize=3, linewidth=1)
            ax.set_xticks(range(len(hs)))
            ax.set_xticklabels([_("{months} months").format(months=h) for h in hs])
            ax.set_title(lab, fontsize=9)
            if metric == "td_auc":
                ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
                ax.set_ylim(0, 1)
        axes[0].legend(fontsize=7, loc="lower left")
        fig.suptitle(_(title), fontweight="bold")
    return _done(fig)


def gains_chart(gains: pd.DataFrame, top_share: float | None = None,
                title: str = N_("Cumulative gains of the early-warning ranking")) -> Figure:
    """Share of churners captured vs share of customers targeted, highest risk first (``Validation.gains``)."""
    fig, ax = _new(figsize=(5.5, 3.8))
    with plt.rc_context(STYLE):
        for i, (h, g) in enumerate(gains.groupby("horizon_months")):
            ax.plot([0, *(g["share_targeted"] * 100)], [0, *(g["share_of_churners"] * 100)], marker="o", markersize=3,
                    color=PALETTE[i], label=_("churn within {months} months").format(months=h))
        ax.plot([0, 100], [0, 100], color="grey", linestyle="--", linewidth=0.8, label=_("random list"))
        if top_share:
            ax.axvline(top_share * 100, color=PALETTE[3], linewidth=1,
                       label=_("list cut-off ({share})").format(share=f"{top_share:.0%}"))
        ax.set_xlabel(_("% of customers targeted (highest predicted risk first)"))
        ax.set_ylabel(_("% of churners captured"))
        ax.legend(fontsize=7, loc="lower right")
        ax.set_title(_(title), loc="left")
    return _done(fig)


def cumulative_incidence_plot(cif: pd.DataFrame, title: str = N_("Leaving the bank, by exit cause"),
                              alpha: float | None = None) -> Figure:
    """Aalen-Johansen cumulative incidence per cause with CI bands (``churn.cumulative_incidence``);
    with ``alpha`` the title states the bands' level."""
    title = _titled(_(title), alpha, _("bands"))
    fig, ax = _new(figsize=(7.0, 3.6))
    with plt.rc_context(STYLE):
        for i, (c, g) in enumerate(cif.groupby("cause", sort=False)):
            col = PALETTE[[7, 1, 4, 5][i % 4]]
            ax.step(g["time"], g["incidence"] * 100, where="post", color=col, label=_cause(c))
            ax.fill_between(g["time"], g["lower"] * 100, g["upper"] * 100, step="post", color=col, alpha=0.15,
                            linewidth=0)
        ax.set_xlabel(_("years since onboarding"))
        ax.set_ylabel(_("% who left by this cause"))
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_title(title, loc="left")
    return _done(fig)


def risk_distribution(scores: pd.DataFrame, cutoff: float, horizon_months: int,
                      title: str = N_("Predicted churn probability of active customers")) -> Figure:
    """Histogram of predicted churn probabilities (log count axis) with the list cut-off (``churn.score``)."""
    fig, ax = _new(figsize=(7.0, 3.2))
    with plt.rc_context(STYLE):
        p = scores["churn_probability"] * 100
        ax.hist(p, bins=50, color=PALETTE[1])
        ax.axvline(cutoff * 100, color=PALETTE[7], linewidth=1.5,
                   label=_("list cut-off {cutoff}").format(cutoff=f"{cutoff:.1%}"))
        ax.set_yscale("log")
        ax.set_xlabel(_("predicted probability of churning within {months} months (%)").format(months=horizon_months))
        ax.set_ylabel(_("customers (log scale)"))
        ax.legend(fontsize=8)
        ax.set_title(_(title), loc="left")
    return _done(fig)


def _covariate_words():
    """``crm_lib.churn.covariates.display`` (imported when a figure is drawn: plots load no analysis code)."""
    from crm_lib.churn.covariates import display

    return display

"""Sentences and display tables for the churn notebooks (``20_churn``, ``21_early_warning``).

Every sentence states its numbers with their interval (or p-value), n and definition; display tables are
rounded, with intervals as text, so nothing shows in scientific notation. The numbers come from
``crm_lib.churn.report`` (the facts recorded from the same results), never computed here a second way.

Every sentence, header and library-defined word is marked for translation (``crm_lib.fmt._``, issue #16);
values from data or parameters (tiers, channels, closure reasons, campaign ids) are shown as they are.
"""

from __future__ import annotations

import dataclasses
import re
from functools import reduce
from pathlib import Path

import numpy as np
import pandas as pd

from crm_lib import fmt
from crm_lib.churn import covariates as cv
from crm_lib.churn.report import WarningResults, at_risk, clv_available, warning_results
from crm_lib.churn.warning import RANKED_BY_PROBABILITY_INSTEAD
from crm_lib.data.sample import localised_notes
from crm_lib.fmt import N_, _, ci_label, esc, money, pct, pct_ci, ratio_ci
from crm_lib.fmt import integer as n
from crm_lib.fmt import p_value as fmt_p

# Words other churn modules put into results that reach a page (translated where shown, ``_words``).
# Exit causes the library itself names (crm_lib.churn.frame); closure reasons are the bank's data.
_CAUSES = {"closure": N_("closure"), "dormancy": N_("dormancy"), "other": N_("other"), "censored": N_("censored")}
# The one group a retention summary names itself (crm_lib.churn.describe) and its estimators.
_GROUPS = {"all customers": N_("all customers")}
_ESTIMATORS = {"Fleming-Harrington (KM reached 0)": N_("Fleming-Harrington (KM reached 0)")}
# The groupings the 20_churn notebook compares with the log-rank test (its ``what`` argument).
_GROUPINGS = {"value-tier": N_("value-tier"), "segment": N_("segment"), "acquisition-channel": N_("acquisition-channel"),
              "cohort": N_("cohort")}
# Parametric (AFT) model names (crm_lib.churn.aft): as a table row and inside a sentence.
_AFT_ROWS = {"weibull": N_("Weibull"), "loglogistic": N_("Log-logistic"), "lognormal": N_("Lognormal")}
_AFT_WORDS = {"weibull": N_("weibull"), "loglogistic": N_("log-logistic"), "lognormal": N_("lognormal")}
_RANKINGS = {"cox": N_("Cox (landmark)"), "baseline": N_("Kaplan-Meier baseline")}
_METRICS = {"c_index": N_("Harrell's C-index (higher is better)"), "uno_c": N_("Uno's C-index (higher is better)"),
            "td_auc": N_("time-dependent AUC (higher is better)"),
            "brier": N_("Brier score (lower is better)"), "ibs": N_("integrated Brier score (lower is better)")}
_NO_CLV = N_("the list carries no CLV")        # crm_lib.churn.report's reason when the list has no CLV


def _words(value, words: dict) -> str:
    """``value`` in the run's language when it is one of the library's ``words``, else as it is."""
    return _(words[value]) if isinstance(value, str) and value in words else value


def cause_words(value) -> str:
    """An exit cause as plain words (figures, table labels): the library's own causes (``closure``, ``dormancy``,
    ``other``, ``censored``) in the run's language, the data's closure reasons as they are (``_`` as spaces)."""
    return _(_CAUSES[value]) if isinstance(value, str) and value in _CAUSES else str(value).replace("_", " ")


def _cause(value) -> str:
    """An exit cause as words, escaped, for a sentence."""
    return esc(cause_words(value)) if isinstance(value, str) and value in _CAUSES else fmt.label(value)


def _and(items: list[str]) -> str:
    return reduce(lambda a, b: _("{first} and {second}").format(first=a, second=b), items) if items else ""


def _years(v) -> str:
    return _("not reached") if not np.isfinite(v) else f"{v:.1f}"


def _d(x) -> str:
    """A date in a sentence: ``30 Sep 2026`` (``2026年9月30日`` in Chinese)."""
    if fmt.get_locale() == "en":
        return pd.Timestamp(x).strftime("%d %b %Y")
    return fmt.date(x)


def _month(x) -> str:
    """A month in a sentence: ``Sep 2026`` (``2026年9月`` in Chinese)."""
    if fmt.get_locale() == "en":
        return pd.Timestamp(x).strftime("%b %Y")
    return fmt.period(pd.Timestamp(x).strftime("%Y-%m"))


def definition_md(settings) -> str:
    d = settings.definition
    safe = dataclasses.replace(   # parameter values shown as text, never as markup
        d, event_reasons=None if d.event_reasons is None else tuple(fmt.label(r) for r in d.event_reasons),
        censor_treated_kinds=tuple(esc(k) for k in d.censor_treated_kinds))
    return safe.describe(localised=True) + " " + _(
        "Time is **tenure** (years since onboarding). Customers onboarded before the data window are counted only "
        "from the day the window opens (*left truncation*): every estimate below uses their delayed entry, so "
        "long-tenure survivors are not over-represented.")


def frame_md(frame: pd.DataFrame, start, end) -> str:
    trunc = int((frame["entry"] > 0).sum())
    comp = frame.loc[(frame["event"] == 0) & (frame["cause"] != "censored"), "cause"].value_counts()
    comp_txt = ", ".join(_("{count} {cause}").format(count=n(v), cause=_cause(k)) for k, v in comp.items()) or _("none")
    return _("**{customers}** customers were at risk at some time between {start} and {end}; **{churned}** churned. "
             "{late} were onboarded before the window and enter late; {censored} were censored when a retention "
             "campaign treated them; competing exits (censored for churn, analysed below): {exits}.").format(
        customers=n(len(frame)), start=_d(start), end=_d(end), churned=n(frame["event"].sum()), late=n(trunc),
        censored=n(frame["censored_at_contact"].sum()), exits=comp_txt)


def headline_md(pc: pd.Series, ret: pd.DataFrame, val, camp: pd.Series | None, period, alpha: float = 0.05) -> str:
    r = ret.iloc[0]
    lines = [
        _("- **Churn in {period}:** of {at_risk} customers at risk on {start}, {churned} churned by {end}: "
          "**{rate}** (Wilson). Counting newcomers too, {churns} churns in {customer_years} customer-years: "
          "{hazard} a year ({ci} {hazard_interval}, exact Poisson).").format(
            period=fmt.period(period.label), at_risk=n(pc["at_risk_start"]), start=_d(period.start),
            churned=n(pc["churned_of_start"]), end=_d(period.end),
            rate=pct_ci(pc["churn_rate"], pc["churn_rate_lower"], pc["churn_rate_upper"], alpha, 2),
            churns=n(pc["churned"]), customer_years=f"{pc['customer_years']:,.0f}", hazard=pct(pc["hazard_per_year"], 1),
            ci=ci_label(alpha), hazard_interval=fmt.interval(pc["hazard_lower"], pc["hazard_upper"], pct)),
    ]
    ms = [c[len("retention_"):-1] for c in ret.columns if c.startswith("retention_") and c.endswith("m")]
    parts = [_("**{retention}** after {months} months").format(
        retention=pct_ci(r[f"retention_{m}m"], r[f"retention_{m}m_lower"], r[f"retention_{m}m_upper"], alpha), months=m)
        for m in ms]
    med = (_("not reached: more than half of customers are still with the bank at the longest tenure observed")
           if not np.isfinite(r["median_years"]) else
           _("**{years} years** ({ci} {lower}-{upper})").format(
               years=f"{r['median_years']:.1f}", ci=ci_label(alpha), lower=_years(r["median_lower"]),
               upper=_years(r["median_upper"])))
    lines.append(_("- **Retention since onboarding:** {retention} (Kaplan-Meier with delayed entry, n = {customers}, "
                   "{churns} churns). Median tenure: {median}.").format(
        retention=_and(parts), customers=n(r["n"]), churns=n(r["events"]), median=med))
    if val is not None:
        c = val.metrics.set_index(["metric", "horizon_months", "model"])
        H = val.horizons_months[-1]
        cm, cb = c.loc[("c_index", H, "cox")], c.loc[("c_index", H, "baseline")]
        im, ib = c.loc[("ibs", H, "cox")], c.loc[("ibs", H, "baseline")]
        lines.append(_(
            "- **Who will churn:** on customers at risk on {test_start} (n = {customers}, {churns} churns in the next "
            "{months} months, not used for fitting), the dynamic Cox model ranks churners with C-index **{c_index}** "
            "({ci}) against {c_index_baseline} for the Kaplan-Meier baseline; integrated Brier score {ibs} "
            "({ibs_lower}-{ibs_upper}) against {ibs_baseline} (lower is better).").format(
            test_start=_d(val.test_start), customers=n(val.n_test), churns=n(val.test_events), months=H,
            c_index=ratio_ci(cm["value"], cm["lower"], cm["upper"], 3), ci=ci_label(alpha),
            c_index_baseline=ratio_ci(cb["value"], cb["lower"], cb["upper"], 3), ibs=f"{im['value']:.4f}",
            ibs_lower=f"{im['lower']:.4f}", ibs_upper=f"{im['upper']:.4f}", ibs_baseline=f"{ib['value']:.4f}"))
    if camp is not None and camp.get("status") == "ok":
        lines.append(_(
            "- **Retention campaign {campaign}:** treated customers churned at **{hr}** times the rate of the "
            "randomised control (hazard ratio, {ci}; p {p}; {treated} treated, {control} control).").format(
            campaign=esc(camp["campaign_id"]), hr=ratio_ci(camp["hr"], camp["hr_lower"], camp["hr_upper"]),
            ci=ci_label(alpha), p=fmt_p(camp["p"]), treated=n(camp["n_treated"]), control=n(camp["n_control"])))
    return "\n".join(lines)


def retention_display(ret: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Retention summary as a reviewer reads it: counts, median tenure and retention as text with CIs."""
    groups = [_words(g, _GROUPS) for g in ret["group"].astype(str)]
    out = pd.DataFrame({_("customers"): [n(v) for v in ret["n"]], _("churns"): [n(v) for v in ret["events"]]},
                       index=pd.Index(pd.Series(groups, dtype=object).str.replace("_", " "), name=_("group")))
    out[_("median tenure, years ({ci})").format(ci=ci_label(alpha))] = [
        (_("not reached (> {lower})").format(lower=f"{lo:.1f}") if np.isfinite(lo) else _("not reached"))
        if not np.isfinite(m) else f"{m:.1f} ({_years(lo)}-{_years(hi)})"
        for m, lo, hi in zip(ret["median_years"], ret["median_lower"], ret["median_upper"])]
    for c in [c for c in ret.columns if c.startswith("retention_") and c.endswith("m")]:
        m = c[len("retention_"):-1]
        out[_("retained {months}m ({ci})").format(months=m, ci=ci_label(alpha))] = [
            _("not observed") if not np.isfinite(v) else f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"
            for v, lo, hi in zip(ret[c], ret[f"{c}_lower"], ret[f"{c}_upper"])]
    if "estimator" in ret and (ret["estimator"] != "Kaplan-Meier").any():
        out[_("estimator")] = [_words(e, _ESTIMATORS) for e in ret["estimator"]]
    return out


def logrank_md(overall: pd.Series, pairs: pd.DataFrame, what: str, alpha: float = 0.05) -> str:
    sig = pairs[pairs["significant"]]
    s = _("Log-rank test across {groups} {grouping} groups (delayed entry): chi-square {statistic} on {df} df, "
          "**p {p}** (n = {customers}).").format(
        groups=int(overall["groups"]), grouping=esc(_words(what, _GROUPINGS)), statistic=f"{overall['statistic']:.1f}",
        df=int(overall["df"]), p=fmt_p(overall["p"]), customers=n(overall["n"])) + " "
    if len(sig):
        s += _("{differ} of {pairs} pairs differ after Holm adjustment: {list}.").format(
            differ=len(sig), pairs=len(pairs),
            list="; ".join(_("{group_a} vs {group_b} (p {p})").format(group_a=fmt.label(a), group_b=fmt.label(b),
                                                                      p=fmt_p(p))
                           for a, b, p in sig[["group_a", "group_b", "p_holm"]].head(5).itertuples(index=False)))
    else:
        s += _("No pair differs at the {significance} significance level after Holm adjustment for {comparisons} "
               "comparisons.").format(significance=fmt.significance(alpha), comparisons=len(pairs))
    return s


def hr_display(summary: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Hazard ratios as text: covariate, per what step, HR (CI), p."""
    return pd.DataFrame({_("per"): [cv.display(u) for u in summary["per"]],
                         _("hazard ratio ({ci})").format(ci=ci_label(alpha)): [
                             ratio_ci(h, lo, hi) for h, lo, hi in summary[["hr", "hr_lower", "hr_upper"]].to_numpy()],
                         "p": [fmt_p(p) for p in summary["p"]]},
                        index=pd.Index([cv.display(x) for x in summary["label"]], name=_("covariate")))


def model_md(model, frame_start, frame_end) -> str:
    s = _("Cox proportional-hazards model on the {customers} customers at risk on {start}, followed to {end} "
          "({churns} churns); covariates as they stood on {start}, so nothing measured after follow-up began enters "
          "the model. Fitted by {engine}; training C-index {c_index}.").format(
        customers=n(model.n_), start=_d(frame_start), end=_d(frame_end), churns=n(model.n_events_),
        engine=model.engine_, c_index=f"{model.concordance_:.3f}")
    return s + _notes(model)


def _notes(model) -> str:
    if not getattr(model, "notes_", None):
        return ""
    notes = localised_notes(model.notes_, getattr(model, "sample_", None))
    return " " + _("**Notes:** {notes}.").format(notes="; ".join(esc(x) for x in notes))


_PH_ACTIONS = [(re.compile(r"stratified \((\d+) levels\)"), N_("stratified ({levels} levels)")),
               (re.compile(r"stratified \((\d+) quantile groups\)"), N_("stratified ({groups} quantile groups)"))]


def _ph_action(action) -> str:
    """``crm_lib.churn.ph``'s action words in the run's language."""
    if action == "none":
        return _("none")
    for pattern, words in _PH_ACTIONS:
        if isinstance(action, str) and (m := pattern.fullmatch(action)):
            return _(words).format(levels=m[1], groups=m[1])
    return action


def ph_display(ph: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({_("chi-square (1 df)"): ph["statistic"].round(2).to_numpy(),
                         "p": [fmt_p(p) for p in ph["p"]],
                         _("proportional hazards"): np.where(ph["ph_holds"], _("holds"), _("rejected")),
                         _("effect over tenure"): np.where(ph["ph_holds"], "-", np.where(ph["slope"] > 0, _("grows"),
                                                                                          _("fades"))),
                         _("action"): [_ph_action(a) for a in ph["action"]]},
                        index=pd.Index([cv.display(x) for x in ph["label"]], name=_("covariate")))


def ph_md(ph: pd.DataFrame, stratified, alpha: float = 0.05) -> str:
    bad = ph[~ph["ph_holds"]]
    if bad.empty:
        return _("The Schoenfeld-residual test (Grambsch & Therneau 1994, time as 1 - Kaplan-Meier) does not reject "
                 "proportional hazards for any covariate at the {significance} level: the hazard ratios above hold "
                 "at every tenure.").format(significance=fmt.significance(alpha))
    items = ", ".join(
        (_("{covariate} (p {p}, effect grows with tenure)") if r.slope > 0 else
         _("{covariate} (p {p}, effect fades with tenure)")).format(covariate=esc(r.label), p=fmt_p(r.p))
        for r in bad.itertuples())
    s = _("Proportional hazards is rejected at the {significance} level for **{count}** covariate(s): {covariates}. "
          "Their hazard ratio is an average over tenure.").format(
        significance=fmt.significance(alpha), count=len(bad), covariates=items) + " "
    if stratified is not None:
        s += _("As a fallback the model is refitted **stratified** on the worst offender(s), each stratum with its "
               "own baseline hazard, so the remaining hazard ratios below do not rely on that assumption.")
    return s


def stratified_display(stratified, alpha: float = 0.05):
    """Hazard ratios of the stratified fallback, or a sentence saying none was needed."""
    from IPython.display import Markdown

    if stratified is None:
        return Markdown(_("No stratified refit was needed."))
    from crm_lib.churn.covariates import label

    strata = ", ".join(label(s.replace("stratum_", ""), stratified.window_days) for s in
                       ([stratified.strata] if isinstance(stratified.strata, str) else stratified.strata))
    out = hr_display(stratified.summary_, alpha)
    out.index.name = _("covariate (fallback: stratified on {strata})").format(strata=strata)
    return out


def aft_display(table: pd.DataFrame) -> pd.DataFrame:
    ok = table[table["status"] == "ok"]
    out = pd.DataFrame({_("log-likelihood"): ok["log_likelihood"].round(1).to_numpy(),
                        _("parameters"): ok["n_params"].to_numpy(), "AIC": ok["aic"].round(1).to_numpy(),
                        _("delta AIC"): ok["delta_aic"].round(1).to_numpy(),
                        _("Akaike weight"): ok["akaike_weight"].round(3).to_numpy(),
                        _("shape (CI)"): [ratio_ci(v, lo, hi, 3) for v, lo, hi in
                                          ok[["shape", "shape_lower", "shape_upper"]].to_numpy()],
                        _("C-index"): ok["concordance"].round(3).to_numpy()})
    names = [_words(m, _AFT_ROWS) if m in _AFT_ROWS else str(m).capitalize() for m in ok["model"]]
    out.index = pd.Index(names, name=_("model"), dtype=object)
    return out


def aft_md(table: pd.DataFrame) -> str:
    ok = table[table["status"] == "ok"].sort_values("aic")
    failed = table[table["status"] != "ok"]
    s = ""
    if len(ok):
        b = ok.iloc[0]
        s = _("By AIC the **{model}** model fits best (Akaike weight {weight}).").format(
            model=_words(b["model"], _AFT_WORDS),
            weight=f"{b['akaike_weight']:.2f}")
        w = ok[ok["model"] == "weibull"]
        if len(w):
            w = w.iloc[0]
            shape = ratio_ci(w["shape"], w["shape_lower"], w["shape_upper"], 2)
            if w["shape_lower"] > 1:
                trend = _("The Weibull shape is {shape}: the hazard of churning rises with tenure (shape > 1: rises).")
            elif w["shape_upper"] < 1:
                trend = _("The Weibull shape is {shape}: the hazard of churning falls with tenure (shape > 1: rises).")
            else:
                trend = _("The Weibull shape is {shape}: the hazard of churning is flat with tenure (shape > 1: "
                          "rises).")
            s += " " + trend.format(shape=shape)
    if len(failed):
        s += " " + _("Not fitted: {models}.").format(
            models="; ".join(f"{esc(r.model)} ({esc(r.status)})" for r in failed.itertuples()))
    if table.attrs.get("model_sample") is not None:
        s += " " + _("**Notes:** {notes}.").format(notes=esc(table.attrs["model_sample"].text(localised=True)))
    return s


def competing_md(inc: pd.DataFrame, frame: pd.DataFrame, years: int = 5, alpha: float = 0.05) -> str:
    exits = frame.loc[frame["cause"] != "censored", "cause"].value_counts()
    at = inc[inc["years"] == inc["years"].max()]
    parts = [f"{_cause(r.cause)} {pct_ci(r.incidence, r.lower, r.upper, alpha)}" for r in at.itertuples()]
    return _("Exits by cause: {exits}. By {years} years of tenure the probability of having left is {incidence} "
             "(Aalen-Johansen cumulative incidence with delayed entry; the causes add up to the probability of "
             "leaving, which 1 - Kaplan-Meier of one cause would overstate). The cause-specific hazard ratios show "
             "which customer traits drive each kind of exit.").format(
        exits=", ".join(_("{count} {cause}").format(count=n(v), cause=_cause(k)) for k, v in exits.items()),
        years=int(at["years"].iloc[0]) if len(at) else years, incidence="; ".join(parts))


def incidence_display(inc: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    wide = inc.assign(text=[f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})" for v, lo, hi in
                            inc[["incidence", "lower", "upper"]].to_numpy()])
    out = wide.pivot(index="cause", columns="years", values="text")
    # two messages rather than ngettext: tests/test_i18n.py reads a plural msgid as a message of its own
    out.columns = [(_("by {years} year of tenure ({ci})") if y <= 1 else _("by {years} years of tenure ({ci})")).format(
        years=y, ci=ci_label(alpha)) for y in out.columns]
    out.index = pd.Index([cause_words(c) for c in out.index], name=_("cause"))
    out.columns.name = None
    return out


def cause_display(cs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    cs = cs.assign(text=[ratio_ci(h, lo, hi) for h, lo, hi in cs[["hr", "hr_lower", "hr_upper"]].to_numpy()],
                   label=[cv.display(x) for x in cs["label"]])
    out = cs.pivot(index="label", columns="cause", values="text")
    order = list(dict.fromkeys(cs["label"]))
    out = out.loc[order]
    ev = cs.groupby("cause")["events"].first()
    out.columns = [_("{cause}: HR ({ci}), {exits} exits").format(
        cause=cause_words(c), ci=ci_label(alpha), exits=n(ev[c]))
        for c in out.columns]
    out.index.name = _("covariate")
    return out


def cause_md(cs: pd.DataFrame) -> str:
    s = _("Cause-specific Cox models (each exit cause an event, the other causes censored), same cohort and "
          "covariates as the churn model above.")
    if cs.attrs.get("notes"):
        notes = localised_notes(cs.attrs["notes"], cs.attrs.get("model_sample"))
        s += " " + _("**Notes:** {notes}.").format(notes="; ".join(esc(x) for x in notes))
    return s


def campaign_md(camp: pd.Series, months: int = 12, alpha: float = 0.05) -> str:
    if camp.get("status") != "ok":
        return _("**Retention campaign:** nothing to estimate: {reason}.").format(reason=esc(camp.get("status")))
    hr = ratio_ci(camp["hr"], camp["hr_lower"], camp["hr_upper"])
    arm = {a: pct_ci(camp[f"churn_{months}m_{a}"], camp[f"churn_{months}m_{a}_lower"], camp[f"churn_{months}m_{a}_upper"],
                     alpha) for a in ("treated", "control")}
    return _("**{campaign}** randomised {contacted} contacted customers into treatment ({treated}) and control "
             "({control}); both arms are followed from their contact date. Churn hazard ratio, treated vs control: "
             "**{hr}** ({ci}) (Wald p {p}, log-rank p {logrank_p}; {churns_treated} and {churns_control} churns). "
             "Within {months} months of contact {churn_treated} of treated and {churn_control} of control customers "
             "churned (Kaplan-Meier).").format(
        campaign=esc(camp["campaign_id"]), contacted=n(camp["n_treated"] + camp["n_control"]),
        treated=n(camp["n_treated"]), control=n(camp["n_control"]), hr=hr, ci=ci_label(alpha), p=fmt_p(camp["p"]),
        logrank_p=fmt_p(camp["logrank_p"]), churns_treated=n(camp["events_treated"]),
        churns_control=n(camp["events_control"]), months=months, churn_treated=arm["treated"],
        churn_control=arm["control"])


def metrics_display(val) -> pd.DataFrame:
    """Validation metrics, one row per metric and horizon: value (interval at the validation's 1 - alpha) per model."""
    m = val.metrics.copy()
    level = _("{level} CI").format(level=f"{100 * (1 - getattr(val, 'alpha', 0.05)):g}%")
    digits = m["metric"].map({"brier": 4, "ibs": 4}).fillna(3).astype(int)
    m["text"] = [_("{value} ({lower} to {upper})").format(value=f"{v:.{k}f}", lower=f"{lo:.{k}f}", upper=f"{hi:.{k}f}")
                 for k, v, lo, hi in zip(digits, m["value"], m["lower"], m["upper"])]
    out = m.pivot_table(index=["metric", "horizon_months"], columns="model", values="text", aggfunc="first",
                        sort=False).reset_index()
    rank = {k: i for i, k in enumerate(dict.fromkeys(m["metric"]))}          # metrics as listed, horizons ascending
    out = out.sort_values(["metric", "horizon_months"], key=lambda c: c.map(rank) if c.name == "metric" else c,
                          kind="stable")
    out["metric"] = [_(_METRICS[k]) if k in _METRICS else np.nan for k in out["metric"]]
    cols = {"cox": _("Cox (landmark) ({ci})").format(ci=level),
            "baseline": _("Kaplan-Meier baseline ({ci})").format(ci=level),
            "difference": _("difference, Cox - baseline ({ci})").format(ci=level)}
    horizon = _("horizon (months)")
    out = out.rename(columns={"horizon_months": horizon, **cols})
    out.columns.name = None
    return out.set_index("metric").rename_axis(_("metric"))[[horizon, *cols.values()]]


def validation_md(val) -> str:
    alpha = getattr(val, "alpha", 0.05)
    lms = ", ".join(_month(x) for x in val.train_landmarks)
    H = val.horizons_months[-1]
    s = _("**Out-of-time design.** The model was fitted on {snapshots} customer-snapshots ({customers} customers) at "
          "landmarks {landmarks}, each followed for {months} months -- all before {test_start}. It is tested on the "
          "{tested} customers at risk on {test_start}, followed to {as_of} ({churns} churns). The baseline is "
          "Kaplan-Meier on tenure from the same training landmarks (no covariates). Intervals ({ci}): C-indices by "
          "infinitesimal jackknife (Uno's with its censoring weights held fixed); AUC and Brier scores by a paired "
          "percentile bootstrap of the test customers ({replicates} replicates).").format(
        snapshots=n(val.n_train_rows), customers=n(val.n_train_customers), landmarks=lms, months=H,
        test_start=_d(val.test_start), tested=n(val.n_test), as_of=_d(val.as_of), churns=n(val.test_events),
        ci=_("{level} CI").format(level=f"{100 * (1 - alpha):g}%"), replicates=val.n_boot)
    if val.notes:
        notes = localised_notes(val.notes, getattr(val.model, "sample_", None))
        s += " " + _("Notes: {notes}.").format(notes="; ".join(esc(x) for x in notes))
    s += "\n\n" + _(
        "**How censored customers count.** Follow-up is counted in whole days from {test_start}. At each horizon, a "
        "customer who churned by then is a *case*, weighted by one over the chance of not having been censored before "
        "churning, 1/G(T-); a customer still with the bank at the horizon -- including one whose follow-up ends on "
        "that very date -- is a *control*, weighted 1/G(t-); a customer censored earlier (a competing exit or a "
        "retention contact) counts only through these weights. G, the censoring distribution, is the Kaplan-Meier "
        "estimate on the test window, with churns counted before censorings on the same day. Harrell's C is the "
        "share of comparable pairs (one customer churned before the other left) that the score orders correctly; it "
        "depends on how much follow-up is censored. Uno's C weights each pair by 1/G(T-)^2 so that it does not (Uno "
        "et al. 2011), counting churns before {months} months. Both rank customers by the predicted churn "
        "probability at {months} months.").format(test_start=_d(val.test_start), months=H)
    return s


def precision_display(val, alpha: float | None = None) -> pd.DataFrame:
    """How the top of the ranking performed out of time; intervals at ``alpha`` (default: the validation's)."""
    if alpha is None:
        alpha = getattr(val, "alpha", None) or getattr(getattr(val, "model", None), "alpha", 0.05)
    p = val.precision
    not_estimable = _("not estimable")
    return pd.DataFrame({
        _("horizon (months)"): p["horizon_months"].to_numpy(), _("customers listed"): p["n_flagged"].to_numpy(),
        _("churned within horizon ({ci})").format(ci=ci_label(alpha)): [
            f"{pct(v)} ({fmt.interval(lo, hi, pct, not_estimable)})" for v, lo, hi in
            p[["precision", "precision_lower", "precision_upper"]].to_numpy()],
        _("base rate"): [pct(v) for v in p["base_rate"]], _("lift"): p["lift"].round(1).to_numpy(),
        _("share of churners caught"): [pct(v) for v in p["recall"]]},
        index=pd.Index([_(_RANKINGS[m]) if m in _RANKINGS else np.nan for m in p["model"]], name=_("ranking")))


def landmark_md(model, horizon_months: int) -> str:
    s = _("The score comes from a **landmark Cox model** (van Houwelingen 2007): snapshots of every active customer "
          "at each landmark, with covariates as they stood that day (assets and their 3-month change, days since the "
          "last transaction, recent complaints, products closed, earlier retention treatment), each followed for "
          "{months} months. {snapshots} customer-snapshots, {churns} churns; customers appear at several landmarks, so "
          "intervals are cluster-robust by customer (Lin & Wei 1989). Fitted by {engine}.").format(
        months=horizon_months, snapshots=n(model.n_), churns=n(model.n_events_), engine=model.engine_)
    return s + _notes(model)


def warning_md(wl, val, alpha: float = 0.05, res: WarningResults | None = None) -> str:
    """The early-warning headline, from ``res`` (``report.warning_results(wl, val, alpha)`` when not given):
    the same numbers the facts record."""
    res = res or warning_results(wl, val, alpha)
    t = wl.table
    ep = res.precision
    exp_n, exp_lo, exp_hi = res.expected_churners
    lvl = fmt.level_pct(alpha)
    rank_by = getattr(wl, "rank_by", "churn_probability")
    if rank_by == "churn_probability":
        the_list = _("- **The list:** the {listed} active customers ({share} of {scored}) with the highest predicted "
                     "probability of churning within **{months} months** of {as_of}; lowest probability on the list "
                     "{cutoff}.")
    else:
        the_list = _("- **The list:** the {listed} active customers ({share} of {scored}) with the largest value at "
                     "risk (CLV x probability of churning) within **{months} months** of {as_of}; lowest probability "
                     "on the list {cutoff}.")
    a, a_lo, a_hi = res.aum_at_risk
    precision = _(
        "- **Expected precision:** when the same ranking was applied out of time (customers at risk on {test_start}), "
        "**{precision}** of the listed customers churned within {months} months, {lift} times the base rate of "
        "{base_rate}; the list caught {recall} of all churners.").format(
        test_start=_d(val.test_start),
        precision=pct_ci(ep["precision"], ep["precision_lower"], ep["precision_upper"], alpha),
        months=wl.horizon_months, lift=f"{ep['lift']:.1f}", base_rate=pct(ep["base_rate"]), recall=pct(ep["recall"]))
    if rank_by != "churn_probability":
        precision += " " + _("This is the precision of the probability ranking; this list is ranked by value at risk, "
                             "so expect fewer churners on it.")
    lines = [
        the_list.format(listed=n(len(t)), share=pct(wl.top_share, 0), scored=n(wl.n_scored), months=wl.horizon_months,
                        as_of=_d(wl.as_of), cutoff=pct(wl.cutoff_probability, 1)),
        precision,
        _("- **At stake:** the model expects {expected} of the listed customers to churn ({level} prediction interval "
          "{lower}-{upper}).").format(expected=f"{exp_n:,.0f}", level=lvl, lower=f"{exp_lo:,.0f}",
                                      upper=f"{exp_hi:,.0f}"),
    ]
    if res.clv_at_risk is not None:
        v, lo, hi = res.clv_at_risk
        neg = res.n_negative_clv
        value = _(
            "- **Value at risk:** **{value}** of relationship CLV ({level} prediction interval {interval}; n = {listed} "
            "listed customers): the sum over the list of each customer's CLV (the discounted margin they bring if "
            "retained) times their probability of churning within {months} months. CLV assumptions: {assumptions}. "
            "The interval covers which of the listed customers churn, assuming independent customers and a calibrated "
            "model (percentile interval of simulated churn outcomes); it does not cover the uncertainty of the CLV "
            "itself (the survival model's coefficients, the margin rates, future balances) or of the "
            "probabilities.").format(
            value=money(v), level=lvl, interval=fmt.interval(lo, hi, money), listed=n(len(t)),
            months=wl.horizon_months, assumptions=esc(wl.clv_assumptions or "parameters/clv.yaml"))
        if neg:
            value += " " + _("{negative} listed customer(s) have a negative CLV (their margin does not cover their "
                             "cost to serve); they count with their negative value.").format(negative=n(neg))
        lines.append(value)
        if np.isfinite(getattr(wl, "clv_at_risk_scored", np.nan)):
            lines.append(_("- **Across all {scored} active customers:** {expected} expected churners, {clv} of CLV and "
                           "{assets} of assets at risk (point predictions).").format(
                scored=n(wl.n_scored), expected=f"{wl.expected_churners_scored:,.0f}",
                clv=money(wl.clv_at_risk_scored), assets=money(wl.value_at_risk_scored)))
    else:
        why = res.clv_missing
        why = why if len(why) <= 300 else why[:300].rsplit(" ", 1)[0] + " ..."
        why = _(_NO_CLV) if why == _NO_CLV else why
        if why.endswith(RANKED_BY_PROBABILITY_INSTEAD):       # the part of the reason the list itself adds
            why = esc(why.removesuffix(RANKED_BY_PROBABILITY_INSTEAD)) + _(RANKED_BY_PROBABILITY_INSTEAD)
        else:
            why = esc(why)
        lines.append(_("- **Value at risk:** not estimable, because the relationship CLV could not be computed "
                       "({reason}); the assets at risk below stand in for it.").format(reason=why))
        lines.append(_("- **Across all {scored} active customers:** {expected} expected churners, {assets} of assets "
                       "at risk (point predictions).").format(
            scored=n(wl.n_scored), expected=f"{wl.expected_churners_scored:,.0f}", assets=money(wl.value_at_risk_scored)))
    lines.append(_(
        "- **Assets at risk:** **{value}** of assets (AUM x probability; {level} prediction interval {lower}-{upper}, "
        "assuming independent customers and a calibrated model; n = {listed}): balances that would leave, not the "
        "bank's value from them.").format(value=money(a), level=lvl, lower=money(a_lo), upper=money(a_hi),
                                          listed=n(len(t))))
    return "\n".join(lines + _drift_check(t, ep, wl))


def _drift_check(t: pd.DataFrame, ep: pd.Series, wl) -> list[str]:
    """Warn when the list's mean predicted probability falls outside the validated precision interval."""
    mp = float(t["churn_probability"].mean())
    if ep["precision_lower"] <= mp <= ep["precision_upper"]:
        return [_("- **Consistency:** the mean predicted probability on the list ({mean}) lies inside the precision "
                  "interval observed out of time: the probabilities can be read at face value.").format(mean=pct(mp))]
    if mp < ep["precision_lower"]:
        check = _("- **Check before use:** the mean predicted probability on the list ({mean}) is below the precision "
                  "observed out of time ({lower}-{upper}). Behaviour at {as_of} differs from the validation window "
                  "(e.g. fewer customers visibly winding down), so read the probabilities as a ranking and plan on the "
                  "validated precision.")
    else:
        check = _("- **Check before use:** the mean predicted probability on the list ({mean}) is above the precision "
                  "observed out of time ({lower}-{upper}). Behaviour at {as_of} differs from the validation window "
                  "(e.g. fewer customers visibly winding down), so read the probabilities as a ranking and plan on the "
                  "validated precision.")
    return [check.format(mean=pct(mp), lower=pct(ep["precision_lower"]), upper=pct(ep["precision_upper"]),
                         as_of=_d(wl.as_of))]


def list_display(wl, rows: int = 20) -> pd.DataFrame:
    """The top of the list: probability, CLV and value at risk (CLV x probability), assets and assets at risk."""
    t = wl.table.head(rows)
    has = clv_available(wl)
    not_estimable = _("not estimable")
    cur = lambda col: [money(v) for v in t[col]] if has else [not_estimable] * len(t)   # noqa: E731
    return pd.DataFrame({_("customer (pseudonym)"): t["customer_id"].to_numpy(),
                         _("churn probability"): [pct(v) for v in t["churn_probability"]],
                         "CLV": cur("clv"), _("value at risk (CLV x probability)"): cur("clv_at_risk"),
                         _("assets"): [money(v) for v in t["aum"]],
                         _("assets at risk"): [money(v) for v in t["value_at_risk"]],
                         _("tier"): t["tier"].str.replace("_", " ").to_numpy(),
                         _("tenure (years)"): t["tenure_years"].round(1).to_numpy(),
                         _("reason 1"): t["reason_1"].to_numpy(), _("reason 2"): t["reason_2"].to_numpy(),
                         _("reason 3"): t["reason_3"].to_numpy()},
                        index=pd.Index(t["rank"].to_numpy(), name=_("rank")))


def list_by_tier(wl, alpha: float = 0.05) -> pd.DataFrame:
    """The list by tier: customers, mean probability, value at risk (CLV x probability) with its prediction
    interval at ``alpha``, assets and assets at risk; ordered by value at risk (assets at risk without CLV)."""
    t = wl.table
    has = clv_available(wl)
    rows = []
    for tier, g in t.groupby("tier"):
        r = {"tier": tier, "customers": len(g), "p": g["churn_probability"].mean(), "assets": g["aum"].sum(),
             "aum_risk": g["value_at_risk"].sum()}
        if has:
            r["clv"], r["lo"], r["hi"] = at_risk(g, "clv", alpha)
        rows.append(r)
    g = pd.DataFrame(rows).sort_values("clv" if has else "aum_risk", ascending=False)
    out = pd.DataFrame({_("customers"): [n(v) for v in g["customers"]],
                        _("mean churn probability"): [pct(v) for v in g["p"]]},
                       index=pd.Index(g["tier"].str.replace("_", " "), name=_("tier")))
    out[_("value at risk, CLV x probability ({level} prediction interval)").format(level=fmt.level_pct(alpha))] = (
        [f"{money(v)} ({fmt.interval(lo, hi, money)})" for v, lo, hi in g[["clv", "lo", "hi"]].to_numpy()] if has
        else _("not estimable"))
    out[_("assets")] = [money(v) for v in g["assets"]]
    out[_("assets at risk")] = [money(v) for v in g["aum_risk"]]
    return out


def export_md(paths: list[Path], wl) -> str:
    return _("The full list ({rows} rows: pseudonymous customer ID, probability, assets, assets at risk (column "
             "value_at_risk), CLV, value at risk (column clv_at_risk), tier, tenure and three reasons; no names or "
             "contact details) is exported as {csv} and {parquet} in {folder}. Contact details are looked up by the "
             "CRM team from the pseudonym under their own access rights.").format(
        rows=n(len(wl.table)), csv=fmt.code(paths[0].name), parquet=fmt.code(paths[1].name),
        folder=fmt.code(paths[0].parent))

"""Sentences and display tables for the churn notebooks (``20_churn``, ``21_early_warning``).

Every sentence states its numbers with their interval (or p-value), n and definition; display tables are
rounded, with intervals as text, so nothing shows in scientific notation. The numbers come from
``crm_lib.churn.report`` (the facts recorded from the same results), never computed here a second way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from crm_lib import fmt
from crm_lib.churn.report import WarningResults, at_risk, clv_available, warning_results
from crm_lib.fmt import ci_label, esc, money, pct, pct_ci, ratio_ci
from crm_lib.fmt import integer as n
from crm_lib.fmt import p_value as fmt_p


def _years(v) -> str:
    return "not reached" if not np.isfinite(v) else f"{v:.1f}"


def _d(x) -> str:
    return pd.Timestamp(x).strftime("%d %b %Y")


def definition_md(settings) -> str:
    d = settings.definition
    safe = dataclasses.replace(   # parameter values shown as text, never as markup
        d, event_reasons=None if d.event_reasons is None else tuple(fmt.label(r) for r in d.event_reasons),
        censor_treated_kinds=tuple(esc(k) for k in d.censor_treated_kinds))
    return (f"{safe.describe()} Time is **tenure** (years since onboarding). Customers onboarded "
            "before the data window are counted only from the day the window opens (*left truncation*): every "
            "estimate below uses their delayed entry, so long-tenure survivors are not over-represented.")


def frame_md(frame: pd.DataFrame, start, end) -> str:
    trunc = int((frame["entry"] > 0).sum())
    comp = frame.loc[(frame["event"] == 0) & (frame["cause"] != "censored"), "cause"].value_counts()
    comp_txt = ", ".join(f"{n(v)} {fmt.label(k)}" for k, v in comp.items()) or "none"
    return (f"**{n(len(frame))}** customers were at risk at some time between {_d(start)} and {_d(end)}; "
            f"**{n(frame['event'].sum())}** churned. {n(trunc)} were onboarded before the window and enter late; "
            f"{n(frame['censored_at_contact'].sum())} were censored when a retention campaign treated them; competing "
            f"exits (censored for churn, analysed below): {comp_txt}.")


def headline_md(pc: pd.Series, ret: pd.DataFrame, val, camp: pd.Series | None, period, alpha: float = 0.05) -> str:
    r = ret.iloc[0]
    lines = [
        f"- **Churn in {period.label}:** of {n(pc['at_risk_start'])} customers at risk on {_d(period.start)}, "
        f"{n(pc['churned_of_start'])} churned by {_d(period.end)}: "
        f"**{pct_ci(pc['churn_rate'], pc['churn_rate_lower'], pc['churn_rate_upper'], alpha, 2)}** (Wilson). "
        f"Counting newcomers too, {n(pc['churned'])} churns in {pc['customer_years']:,.0f} customer-years: "
        f"{pct(pc['hazard_per_year'], 1)} a year ({ci_label(alpha)} {fmt.interval(pc['hazard_lower'], pc['hazard_upper'], pct)}, "
        "exact Poisson).",
    ]
    ms = [c[len("retention_"):-1] for c in ret.columns if c.startswith("retention_") and c.endswith("m")]
    parts = [f"**{pct_ci(r[f'retention_{m}m'], r[f'retention_{m}m_lower'], r[f'retention_{m}m_upper'], alpha)}** after "
             f"{m} months" for m in ms]
    med = ("not reached: more than half of customers are still with the bank at the longest tenure observed"
           if not np.isfinite(r["median_years"]) else
           f"**{r['median_years']:.1f} years** ({ci_label(alpha)} {_years(r['median_lower'])}-{_years(r['median_upper'])})")
    lines.append(f"- **Retention since onboarding:** {' and '.join(parts)} (Kaplan-Meier with delayed entry, "
                 f"n = {n(r['n'])}, {n(r['events'])} churns). Median tenure: {med}.")
    if val is not None:
        c = val.metrics.set_index(["metric", "horizon_months", "model"])
        H = val.horizons_months[-1]
        cm, cb = c.loc[("c_index", H, "cox")], c.loc[("c_index", H, "baseline")]
        im, ib = c.loc[("ibs", H, "cox")], c.loc[("ibs", H, "baseline")]
        lines.append(
            f"- **Who will churn:** on customers at risk on {_d(val.test_start)} (n = {n(val.n_test)}, "
            f"{n(val.test_events)} churns in the next {H} months, not used for fitting), the dynamic Cox model ranks "
            f"churners with C-index **{ratio_ci(cm['value'], cm['lower'], cm['upper'], 3)}** ({ci_label(alpha)}) against "
            f"{ratio_ci(cb['value'], cb['lower'], cb['upper'], 3)} for the Kaplan-Meier baseline; integrated Brier "
            f"score {im['value']:.4f} ({im['lower']:.4f}-{im['upper']:.4f}) against {ib['value']:.4f} (lower is better).")
    if camp is not None and camp.get("status") == "ok":
        lines.append(f"- **Retention campaign {esc(camp['campaign_id'])}:** treated customers churned at "
                     f"**{ratio_ci(camp['hr'], camp['hr_lower'], camp['hr_upper'])}** times the rate of the randomised "
                     f"control (hazard ratio, {ci_label(alpha)}; p {fmt_p(camp['p'])}; {n(camp['n_treated'])} treated, "
                     f"{n(camp['n_control'])} control).")
    return "\n".join(lines)


def retention_display(ret: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Retention summary as a reviewer reads it: counts, median tenure and retention as text with CIs."""
    out = pd.DataFrame({"customers": [n(v) for v in ret["n"]], "churns": [n(v) for v in ret["events"]]},
                       index=pd.Index(ret["group"].astype(str).str.replace("_", " "), name="group"))
    out[f"median tenure, years ({ci_label(alpha)})"] = [
        "not reached" + (f" (> {lo:.1f})" if np.isfinite(lo) else "") if not np.isfinite(m)
        else f"{m:.1f} ({_years(lo)}-{_years(hi)})"
        for m, lo, hi in zip(ret["median_years"], ret["median_lower"], ret["median_upper"])]
    for c in [c for c in ret.columns if c.startswith("retention_") and c.endswith("m")]:
        m = c[len("retention_"):]
        out[f"retained {m} ({ci_label(alpha)})"] = [
            "not observed" if not np.isfinite(v) else f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"
            for v, lo, hi in zip(ret[c], ret[f"{c}_lower"], ret[f"{c}_upper"])]
    if "estimator" in ret and (ret["estimator"] != "Kaplan-Meier").any():
        out["estimator"] = ret["estimator"].to_numpy()
    return out


def logrank_md(overall: pd.Series, pairs: pd.DataFrame, what: str, alpha: float = 0.05) -> str:
    sig = pairs[pairs["significant"]]
    s = (f"Log-rank test across {int(overall['groups'])} {esc(what)} groups (delayed entry): chi-square "
         f"{overall['statistic']:.1f} on {int(overall['df'])} df, **p {fmt_p(overall['p'])}** (n = {n(overall['n'])}). ")
    if len(sig):
        s += (f"{len(sig)} of {len(pairs)} pairs differ after Holm adjustment: "
              + "; ".join(f"{fmt.label(a)} vs {fmt.label(b)} (p {fmt_p(p)})"
                          for a, b, p in sig[["group_a", "group_b", "p_holm"]].head(5).itertuples(index=False)) + ".")
    else:
        s += (f"No pair differs at the {fmt.significance(alpha)} significance level after Holm adjustment for "
              f"{len(pairs)} comparisons.")
    return s


def hr_display(summary: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Hazard ratios as text: covariate, per what step, HR (CI), p."""
    return pd.DataFrame({"per": summary["per"].to_numpy(),
                         f"hazard ratio ({ci_label(alpha)})": [ratio_ci(h, lo, hi) for h, lo, hi in
                                                              summary[["hr", "hr_lower", "hr_upper"]].to_numpy()],
                         "p": [fmt_p(p) for p in summary["p"]]},
                        index=pd.Index(summary["label"].to_numpy(), name="covariate"))


def model_md(model, frame_start, frame_end) -> str:
    s = (f"Cox proportional-hazards model on the {n(model.n_)} customers at risk on {_d(frame_start)}, followed to "
         f"{_d(frame_end)} ({n(model.n_events_)} churns); covariates as they stood on {_d(frame_start)}, so nothing "
         f"measured after follow-up began enters the model. Fitted by {model.engine_}; training C-index "
         f"{model.concordance_:.3f}.")
    return s + _notes(model)


def _notes(model) -> str:
    return (" **Notes:** " + "; ".join(esc(x) for x in model.notes_) + ".") if getattr(model, "notes_", None) else ""


def ph_display(ph: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"chi-square (1 df)": ph["statistic"].round(2).to_numpy(),
                         "p": [fmt_p(p) for p in ph["p"]],
                         "proportional hazards": np.where(ph["ph_holds"], "holds", "rejected"),
                         "effect over tenure": np.where(ph["ph_holds"], "-", np.where(ph["slope"] > 0, "grows",
                                                                                          "fades")),
                         "action": ph["action"].to_numpy()}, index=pd.Index(ph["label"].to_numpy(), name="covariate"))


def ph_md(ph: pd.DataFrame, stratified, alpha: float = 0.05) -> str:
    bad = ph[~ph["ph_holds"]]
    if bad.empty:
        return (f"The Schoenfeld-residual test (Grambsch & Therneau 1994, time as 1 - Kaplan-Meier) does not reject "
                f"proportional hazards for any covariate at the {fmt.significance(alpha)} level: the hazard ratios above hold at "
                "every tenure.")
    s = (f"Proportional hazards is rejected at the {fmt.significance(alpha)} level for **{len(bad)}** covariate(s): "
         + ", ".join(f"{esc(r.label)} (p {fmt_p(r.p)}, effect {'grows' if r.slope > 0 else 'fades'} with tenure)"
                     for r in bad.itertuples()) + ". Their hazard ratio is an average over tenure. ")
    if stratified is not None:
        s += ("As a fallback the model is refitted **stratified** on the worst offender(s), each stratum with its own "
              "baseline hazard, so the remaining hazard ratios below do not rely on that assumption.")
    return s


def stratified_display(stratified, alpha: float = 0.05):
    """Hazard ratios of the stratified fallback, or a sentence saying none was needed."""
    from IPython.display import Markdown

    if stratified is None:
        return Markdown("No stratified refit was needed.")
    from crm_lib.churn.covariates import label

    strata = ", ".join(label(s.replace("stratum_", ""), stratified.window_days) for s in
                       ([stratified.strata] if isinstance(stratified.strata, str) else stratified.strata))
    out = hr_display(stratified.summary_, alpha)
    out.index.name = f"covariate (fallback: stratified on {strata})"
    return out


def aft_display(table: pd.DataFrame) -> pd.DataFrame:
    ok = table[table["status"] == "ok"]
    out = pd.DataFrame({"log-likelihood": ok["log_likelihood"].round(1).to_numpy(),
                        "parameters": ok["n_params"].to_numpy(), "AIC": ok["aic"].round(1).to_numpy(),
                        "delta AIC": ok["delta_aic"].round(1).to_numpy(),
                        "Akaike weight": ok["akaike_weight"].round(3).to_numpy(),
                        "shape (CI)": [ratio_ci(v, lo, hi, 3) for v, lo, hi in
                                       ok[["shape", "shape_lower", "shape_upper"]].to_numpy()],
                        "C-index": ok["concordance"].round(3).to_numpy()})
    out.index = pd.Index(ok["model"].str.replace("loglogistic", "log-logistic").str.capitalize(), name="model")
    return out


def aft_md(table: pd.DataFrame) -> str:
    ok = table[table["status"] == "ok"].sort_values("aic")
    failed = table[table["status"] != "ok"]
    s = ""
    if len(ok):
        b = ok.iloc[0]
        s = (f"By AIC the **{b['model'].replace('loglogistic', 'log-logistic')}** model fits best "
             f"(Akaike weight {b['akaike_weight']:.2f}).")
        w = ok[ok["model"] == "weibull"]
        if len(w):
            w = w.iloc[0]
            trend = "rises" if w["shape_lower"] > 1 else "falls" if w["shape_upper"] < 1 else "is flat"
            s += (f" The Weibull shape is {ratio_ci(w['shape'], w['shape_lower'], w['shape_upper'], 2)}: the hazard of "
                  f"churning {trend} with tenure (shape > 1: rises).")
    if len(failed):
        s += " Not fitted: " + "; ".join(f"{esc(r.model)} ({esc(r.status)})" for r in failed.itertuples()) + "."
    return s


def competing_md(inc: pd.DataFrame, frame: pd.DataFrame, years: int = 5, alpha: float = 0.05) -> str:
    exits = frame.loc[frame["cause"] != "censored", "cause"].value_counts()
    at = inc[inc["years"] == inc["years"].max()]
    parts = [f"{fmt.label(r.cause)} {pct_ci(r.incidence, r.lower, r.upper, alpha)}" for r in at.itertuples()]
    return ("Exits by cause: " + ", ".join(f"{n(v)} {fmt.label(k)}" for k, v in exits.items()) + ". "
            f"By {int(at['years'].iloc[0]) if len(at) else years} years of tenure the probability of having left is "
            + "; ".join(parts) + " (Aalen-Johansen cumulative incidence with delayed entry; the causes add up to the "
            "probability of leaving, which 1 - Kaplan-Meier of one cause would overstate). The cause-specific hazard "
            "ratios show which customer traits drive each kind of exit.")


def incidence_display(inc: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    wide = inc.assign(text=[f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})" for v, lo, hi in
                            inc[["incidence", "lower", "upper"]].to_numpy()])
    out = wide.pivot(index="cause", columns="years", values="text")
    out.columns = [f"by {y} year{'s' if y > 1 else ''} of tenure ({ci_label(alpha)})" for y in out.columns]
    out.index = out.index.str.replace("_", " ")
    out.columns.name = None
    return out


def cause_display(cs: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    cs = cs.assign(text=[ratio_ci(h, lo, hi) for h, lo, hi in cs[["hr", "hr_lower", "hr_upper"]].to_numpy()])
    out = cs.pivot(index="label", columns="cause", values="text")
    order = list(dict.fromkeys(cs["label"]))
    out = out.loc[order]
    ev = cs.groupby("cause")["events"].first()
    out.columns = [f"{c.replace('_', ' ')}: HR ({ci_label(alpha)}), {n(ev[c])} exits" for c in out.columns]
    out.index.name = "covariate"
    return out


def cause_md(cs: pd.DataFrame) -> str:
    s = ("Cause-specific Cox models (each exit cause an event, the other causes censored), same cohort and covariates "
         "as the churn model above.")
    if cs.attrs.get("notes"):
        s += " **Notes:** " + "; ".join(esc(x) for x in cs.attrs["notes"]) + "."
    return s


def campaign_md(camp: pd.Series, months: int = 12, alpha: float = 0.05) -> str:
    if camp.get("status") != "ok":
        return f"**Retention campaign:** nothing to estimate: {esc(camp.get('status'))}."
    hr = ratio_ci(camp["hr"], camp["hr_lower"], camp["hr_upper"])
    arm = {a: pct_ci(camp[f"churn_{months}m_{a}"], camp[f"churn_{months}m_{a}_lower"], camp[f"churn_{months}m_{a}_upper"],
                     alpha) for a in ("treated", "control")}
    return (f"**{esc(camp['campaign_id'])}** randomised {n(camp['n_treated'] + camp['n_control'])} contacted customers "
            f"into treatment ({n(camp['n_treated'])}) and control ({n(camp['n_control'])}); both arms are followed from "
            f"their contact date. Churn hazard ratio, treated vs control: **{hr}** ({ci_label(alpha)}) "
            f"(Wald p {fmt_p(camp['p'])}, log-rank p {fmt_p(camp['logrank_p'])}; {n(camp['events_treated'])} and "
            f"{n(camp['events_control'])} churns). Within {months} months of contact {arm['treated']} of treated and "
            f"{arm['control']} of control customers churned (Kaplan-Meier).")


def metrics_display(val) -> pd.DataFrame:
    """Validation metrics, one row per metric and horizon: value (interval at the validation's 1 - alpha) per model."""
    m = val.metrics.copy()
    level = f"{100 * (1 - getattr(val, 'alpha', 0.05)):g}% CI"
    names = {"c_index": "Harrell's C-index (higher is better)", "uno_c": "Uno's C-index (higher is better)",
             "td_auc": "time-dependent AUC (higher is better)",
             "brier": "Brier score (lower is better)", "ibs": "integrated Brier score (lower is better)"}
    digits = m["metric"].map({"brier": 4, "ibs": 4}).fillna(3).astype(int)
    m["text"] = [f"{v:.{k}f} ({lo:.{k}f} to {hi:.{k}f})" for k, v, lo, hi in
                 zip(digits, m["value"], m["lower"], m["upper"])]
    out = m.pivot_table(index=["metric", "horizon_months"], columns="model", values="text", aggfunc="first",
                        sort=False).reset_index()
    rank = {k: i for i, k in enumerate(dict.fromkeys(m["metric"]))}          # metrics as listed, horizons ascending
    out = out.sort_values(["metric", "horizon_months"], key=lambda c: c.map(rank) if c.name == "metric" else c,
                          kind="stable")
    out["metric"] = out["metric"].map(names)
    cols = {"cox": f"Cox (landmark) ({level})", "baseline": f"Kaplan-Meier baseline ({level})",
            "difference": f"difference, Cox - baseline ({level})"}
    out = out.rename(columns={"horizon_months": "horizon (months)", **cols})
    out.columns.name = None
    return out.set_index("metric")[["horizon (months)", *cols.values()]]


def validation_md(val) -> str:
    alpha = getattr(val, "alpha", 0.05)
    lms = ", ".join(pd.Timestamp(x).strftime("%b %Y") for x in val.train_landmarks)
    s = (f"**Out-of-time design.** The model was fitted on {n(val.n_train_rows)} customer-snapshots "
         f"({n(val.n_train_customers)} customers) at landmarks {lms}, each followed for {val.horizons_months[-1]} months "
         f"-- all before {_d(val.test_start)}. It is tested on the {n(val.n_test)} customers at risk on "
         f"{_d(val.test_start)}, followed to {_d(val.as_of)} ({n(val.test_events)} churns). The baseline is Kaplan-Meier "
         f"on tenure from the same training landmarks (no covariates). Intervals ({100 * (1 - alpha):g}% CI): C-indices "
         "by infinitesimal jackknife (Uno's with its censoring weights held fixed); AUC and Brier scores by a paired "
         f"percentile bootstrap of the test customers ({val.n_boot} replicates).")
    if val.notes:
        s += " Notes: " + "; ".join(val.notes) + "."
    s += (f"\n\n**How censored customers count.** Follow-up is counted in whole days from {_d(val.test_start)}. At each "
          "horizon, a customer who churned by then is a *case*, weighted by one over the chance of not having been "
          "censored before churning, 1/G(T-); a customer still with the bank at the horizon -- including one whose "
          "follow-up ends on that very date -- is a *control*, weighted 1/G(t-); a customer censored earlier (a "
          "competing exit or a retention contact) counts only through these weights. G, the censoring distribution, is "
          "the Kaplan-Meier estimate on the test window, with churns counted before censorings on the same day. "
          "Harrell's C is the share of comparable pairs (one customer churned before the other left) that the score "
          "orders correctly; it depends on how much follow-up is censored. Uno's C weights each pair by 1/G(T-)^2 so "
          f"that it does not (Uno et al. 2011), counting churns before {val.horizons_months[-1]} months. Both rank "
          f"customers by the predicted churn probability at {val.horizons_months[-1]} months.")
    return s


def precision_display(val, alpha: float | None = None) -> pd.DataFrame:
    """How the top of the ranking performed out of time; intervals at ``alpha`` (default: the validation's)."""
    if alpha is None:
        alpha = getattr(val, "alpha", None) or getattr(getattr(val, "model", None), "alpha", 0.05)
    p = val.precision
    return pd.DataFrame({
        "horizon (months)": p["horizon_months"].to_numpy(), "customers listed": p["n_flagged"].to_numpy(),
        f"churned within horizon ({ci_label(alpha)})": [
            f"{pct(v)} ({fmt.interval(lo, hi, pct, 'not estimable')})" for v, lo, hi in
                                        p[["precision", "precision_lower", "precision_upper"]].to_numpy()],
        "base rate": [pct(v) for v in p["base_rate"]], "lift": p["lift"].round(1).to_numpy(),
        "share of churners caught": [pct(v) for v in p["recall"]]},
        index=pd.Index(p["model"].map({"cox": "Cox (landmark)", "baseline": "Kaplan-Meier baseline"}), name="ranking"))


def landmark_md(model, horizon_months: int) -> str:
    s = (f"The score comes from a **landmark Cox model** (van Houwelingen 2007): snapshots of every active customer "
         f"at each landmark, with covariates as they stood that day (assets and their 3-month change, days since the "
         f"last transaction, recent complaints, products closed, earlier retention treatment), each followed for "
         f"{horizon_months} months. {n(model.n_)} customer-snapshots, {n(model.n_events_)} churns; customers appear "
         f"at several landmarks, so intervals are cluster-robust by customer (Lin & Wei 1989). Fitted by "
         f"{model.engine_}.")
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
    ranked = ("highest predicted probability of churning" if rank_by == "churn_probability" else
              "largest value at risk (CLV x probability of churning)")
    a, a_lo, a_hi = res.aum_at_risk
    lines = [
        f"- **The list:** the {n(len(t))} active customers ({pct(wl.top_share, 0)} of {n(wl.n_scored)}) with the "
        f"{ranked} within **{wl.horizon_months} months** of {_d(wl.as_of)}; lowest probability on the list "
        f"{pct(wl.cutoff_probability, 1)}.",
        f"- **Expected precision:** when the same ranking was applied out of time (customers at risk on "
        f"{_d(val.test_start)}), **{pct_ci(ep['precision'], ep['precision_lower'], ep['precision_upper'], alpha)}** of "
        f"the listed customers churned within {wl.horizon_months} months, {ep['lift']:.1f} times the base rate of "
        f"{pct(ep['base_rate'])}; the list caught {pct(ep['recall'])} of all churners."
        + ("" if rank_by == "churn_probability" else
           " This is the precision of the probability ranking; this list is ranked by value at risk, so expect fewer "
           "churners on it."),
        f"- **At stake:** the model expects {exp_n:,.0f} of the listed customers to churn ({lvl} prediction "
        f"interval {exp_lo:,.0f}-{exp_hi:,.0f}).",
    ]
    if res.clv_at_risk is not None:
        v, lo, hi = res.clv_at_risk
        neg = res.n_negative_clv
        lines.append(
            f"- **Value at risk:** **{money(v)}** of relationship CLV ({lvl} prediction interval "
            f"{fmt.interval(lo, hi, money)}; n = {n(len(t))} listed customers): the sum over the list of each customer's CLV "
            "(the discounted margin they bring if retained) times their probability of churning within "
            f"{wl.horizon_months} months. CLV assumptions: {esc(wl.clv_assumptions or 'parameters/clv.yaml')}. "
            "The interval covers which of the listed customers churn, assuming independent customers and a "
            "calibrated model (percentile interval of simulated churn outcomes); it does not cover the uncertainty "
            "of the CLV itself (the survival model's "
            "coefficients, the margin rates, future balances) or of the probabilities."
            + (f" {n(neg)} listed customer(s) have a negative CLV (their margin does not cover their cost to serve); "
               "they count with their negative value." if neg else ""))
        if np.isfinite(getattr(wl, "clv_at_risk_scored", np.nan)):
            lines.append(f"- **Across all {n(wl.n_scored)} active customers:** {wl.expected_churners_scored:,.0f} "
                         f"expected churners, {money(wl.clv_at_risk_scored)} of CLV and "
                         f"{money(wl.value_at_risk_scored)} of assets at risk (point predictions).")
    else:
        why = res.clv_missing
        why = why if len(why) <= 300 else why[:300].rsplit(" ", 1)[0] + " ..."
        lines.append(f"- **Value at risk:** not estimable, because the relationship CLV could not be computed "
                     f"({esc(why)}); the assets at risk below stand in for it.")
        lines.append(f"- **Across all {n(wl.n_scored)} active customers:** {wl.expected_churners_scored:,.0f} expected "
                     f"churners, {money(wl.value_at_risk_scored)} of assets at risk (point predictions).")
    lines.append(
        f"- **Assets at risk:** **{money(a)}** of assets (AUM x probability; {lvl} prediction interval {money(a_lo)}-"
        f"{money(a_hi)}, assuming independent customers and a calibrated model; n = {n(len(t))}): balances that would "
        "leave, not the bank's value from them.")
    return "\n".join(lines + _drift_check(t, ep, wl))


def _drift_check(t: pd.DataFrame, ep: pd.Series, wl) -> list[str]:
    """Warn when the list's mean predicted probability falls outside the validated precision interval."""
    mp = float(t["churn_probability"].mean())
    if ep["precision_lower"] <= mp <= ep["precision_upper"]:
        return [f"- **Consistency:** the mean predicted probability on the list ({pct(mp)}) lies inside the precision "
                "interval observed out of time: the probabilities can be read at face value."]
    side = "below" if mp < ep["precision_lower"] else "above"
    return [f"- **Check before use:** the mean predicted probability on the list ({pct(mp)}) is {side} the precision "
            f"observed out of time ({pct(ep['precision_lower'])}-{pct(ep['precision_upper'])}). Behaviour at "
            f"{_d(wl.as_of)} differs from the validation window (e.g. fewer customers visibly winding down), so read "
            "the probabilities as a ranking and plan on the validated precision."]


def list_display(wl, rows: int = 20) -> pd.DataFrame:
    """The top of the list: probability, CLV and value at risk (CLV x probability), assets and assets at risk."""
    t = wl.table.head(rows)
    has = clv_available(wl)
    cur = lambda col: [money(v) for v in t[col]] if has else ["not estimable"] * len(t)   # noqa: E731
    return pd.DataFrame({"customer (pseudonym)": t["customer_id"].to_numpy(),
                         "churn probability": [pct(v) for v in t["churn_probability"]],
                         "CLV": cur("clv"), "value at risk (CLV x probability)": cur("clv_at_risk"),
                         "assets": [money(v) for v in t["aum"]],
                         "assets at risk": [money(v) for v in t["value_at_risk"]],
                         "tier": t["tier"].str.replace("_", " ").to_numpy(),
                         "tenure (years)": t["tenure_years"].round(1).to_numpy(), "reason 1": t["reason_1"].to_numpy(),
                         "reason 2": t["reason_2"].to_numpy(), "reason 3": t["reason_3"].to_numpy()},
                        index=pd.Index(t["rank"].to_numpy(), name="rank"))


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
    out = pd.DataFrame({"customers": [n(v) for v in g["customers"]],
                        "mean churn probability": [pct(v) for v in g["p"]]},
                       index=pd.Index(g["tier"].str.replace("_", " "), name="tier"))
    out[f"value at risk, CLV x probability ({fmt.level_pct(alpha)} prediction interval)"] = (
        [f"{money(v)} ({fmt.interval(lo, hi, money)})" for v, lo, hi in g[["clv", "lo", "hi"]].to_numpy()] if has
        else "not estimable")
    out["assets"] = [money(v) for v in g["assets"]]
    out["assets at risk"] = [money(v) for v in g["aum_risk"]]
    return out


def export_md(paths: list[Path], wl) -> str:
    return (f"The full list ({n(len(wl.table))} rows: pseudonymous customer ID, probability, assets, assets at risk "
            f"(column value_at_risk), CLV, value at risk (column clv_at_risk), tier, tenure and three reasons; no names "
            f"or contact details) is exported as {fmt.code(paths[0].name)} and "
            f"{fmt.code(paths[1].name)} in {fmt.code(paths[0].parent)}. Contact details are looked up by the CRM team from the "
            "pseudonym under their own access rights.")

"""What the satisfaction and complaints notebooks need, one call per section, and their facts.

``load_satisfaction`` / ``load_complaints`` read the warehouse once for a period
(pseudonymised at the SQL boundary, segments joined from the feature table as of the
period end) and return bundles; the other functions turn bundles into the tables the
notebooks show; ``record_*_facts`` store the headline numbers with their uncertainty.

Parameters read (with defaults when absent): ``alpha``, ``min_n``, ``seed``,
``window_days`` (driver window), ``sla_days`` ({severity: days}, default
``DEFAULT_SLA_DAYS``), ``satisfaction_weights`` ({attr: weight} for the index, default
estimated), ``trend_periods`` (default 8 quarters / 24 months), ``n_boot`` (default 400).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crm_lib.data.store import Warehouse
from crm_lib.fmt import N_
from crm_lib.features import feature_table
from crm_lib.periods import Period
from crm_lib.satisfaction import charts
from crm_lib.satisfaction import complaints as C
from crm_lib.satisfaction import index as I
from crm_lib.satisfaction import scores as S
from crm_lib.satisfaction.churn_link import complainant_churn
from crm_lib.satisfaction._checks import combine_problems
from crm_lib.satisfaction.drivers import KeyDriverAnalysis
from crm_lib.satisfaction.load import complaint_frame, survey_frame

logger = logging.getLogger(__name__)

SEGMENT_DIMENSIONS = ("tier", "touchpoint", "acquisition_channel", "branch_id")
# Values of the ``dimension`` column (kept in English: notebooks select rows by them); pages show them
# through ``_`` (``tables``, ``narrative.segment_summary``, ``plots.score_intervals``).
DIMENSION_LABELS = {"tier": N_("value tier"), "touchpoint": N_("touchpoint"),
                    "acquisition_channel": N_("acquisition channel"), "branch_id": N_("branch"),
                    "customer_type": N_("customer type"), "category": N_("category"), "channel": N_("channel"),
                    "severity": N_("severity"), "region": N_("region")}


def _opt(params: dict, name: str, default):
    v = params.get(name)
    return default if v is None else v


def _features(wh: Warehouse, period: Period, params: dict) -> pd.DataFrame:
    return feature_table(wh, period.end, window_days=params.get("window_days", 365),
                         aum_months=params.get("aum_months", 3), tier_thresholds=params.get("tiers"))


def _periods_back(period: Period, k: int) -> Period:
    return period.shift(-(k - 1))


# --------------------------------------------------------------------------- satisfaction

@dataclass
class SatisfactionData:
    """Surveys of the period, of the trend window and of the driver window, with the features."""

    period: Period
    features: pd.DataFrame
    surveys: pd.DataFrame          # responses dated in the period, with segments and ``weight``
    history: pd.DataFrame          # responses over the trend window (``trend_periods`` periods)
    drivers: pd.DataFrame          # responses over the driver window (``window_days`` to the period end)
    problems: pd.DataFrame
    cells: pd.DataFrame            # post-stratification cells of the period
    driver_start: object = None
    params: dict = field(default_factory=dict)


def load_satisfaction(wh: Warehouse, period: Period, params: dict) -> SatisfactionData:
    """Read the surveys needed for one satisfaction report (one query, the window is the widest)."""
    k = int(_opt(params, "trend_periods", 8 if period.kind == "quarter" else 24 if period.kind == "month" else 4))
    first = _periods_back(period, k)
    window = int(params.get("window_days", 365))
    driver_start = (pd.Timestamp(period.end) - pd.Timedelta(days=window - 1)).date()
    start = min(pd.Timestamp(first.start), pd.Timestamp(driver_start)).date()
    features = _features(wh, period, params)
    allsv, problems = survey_frame(wh, start, period.end, features=features)
    date = pd.to_datetime(allsv["survey_date"])
    surveys = allsv[(date >= pd.Timestamp(period.start)) & (date <= pd.Timestamp(period.end))].copy()
    history = allsv[date >= pd.Timestamp(first.start)]
    drivers = allsv[date >= pd.Timestamp(driver_start)]
    population = features[features["is_active"]]
    if len(surveys):
        surveys["weight"], cells = S.poststrat_weights(surveys, population)
    else:
        surveys["weight"], cells = np.nan, pd.DataFrame()
    return SatisfactionData(period, features, surveys, history, drivers, problems, cells, driver_start, params)


def headline_scores(data: SatisfactionData) -> pd.DataFrame:
    """CSAT and NPS of the period as answered and weighted to the customer base (rows ``as answered``, ``weighted``)."""
    p = data.params
    alpha, min_n = p.get("alpha", 0.05), p.get("min_n", 30)
    raw = S.score_table(data.surveys, alpha=alpha, min_n=min_n)
    rows = [raw.rename(index={"all": "as answered"})]
    if data.surveys["weight"].notna().any():
        w = S.score_table(data.surveys[data.surveys["weight"].notna()], weight="weight", alpha=alpha, min_n=min_n)
        rows.append(w.rename(index={"all": "weighted to customer base"}))
    out = pd.concat(rows)
    out.index.name = "estimate"
    return out


def index_scores(data: SatisfactionData) -> tuple[pd.DataFrame, pd.Series]:
    """The satisfaction index of the period and the attribute weights it used.

    Weights come from ``satisfaction_weights`` in the parameters (t interval), else they
    are estimated on the driver window, so that every period of the trend uses the same
    weights, and the interval is a bootstrap that resamples the period's responses and
    re-estimates the weights on resamples of the window.
    """
    p = data.params
    given = p.get("satisfaction_weights")
    common = {"alpha": p.get("alpha", 0.05), "min_n": p.get("min_n", 30)}
    if given:
        weights = pd.Series(given, dtype=float, name="weight")
        weights = weights / weights.sum()
        idx = I.satisfaction_index(data.surveys, weights=weights, **common)
        source = "parameters"
    else:
        weights = I.index_weights(data.drivers)
        idx = I.satisfaction_index(data.surveys, weights=None, weights_from=data.drivers,
                                   n_boot=int(_opt(p, "n_boot", 400)), random_state=p.get("seed"), **common)
        source = "estimated on the driver window"
    weights.attrs["source"] = source
    return idx, weights


FREQ = {"month": "M", "quarter": "Q", "year": "Y"}


def score_history(data: SatisfactionData) -> pd.DataFrame:
    """``score_trend`` over the trend window, by the report's period kind."""
    return S.score_trend(data.history, freq=FREQ[data.period.kind], alpha=data.params.get("alpha", 0.05),
                         min_n=data.params.get("min_n", 30))


def index_trend(data: SatisfactionData, weights: pd.Series | None = None) -> pd.DataFrame:
    """The index per period of the trend window with fixed weights (default those of ``index_scores``).

    Fixed weights make periods comparable; the interval is the t interval of the mean index.
    """
    if weights is None:
        _, weights = index_scores(data)
    freq = FREQ[data.period.kind]
    h = data.history
    per = pd.to_datetime(h["survey_date"]).dt.to_period(freq)
    levels = pd.period_range(per.min(), data.period.end, freq=freq) if len(h) else []
    frame = h.assign(period=pd.Categorical(per, categories=levels))
    t = I.satisfaction_index(frame, weights=weights, by="period", alpha=data.params.get("alpha", 0.05),
                             min_n=data.params.get("min_n", 30))
    t.index = pd.Index([str(x) for x in t.index], name="period")
    return t.reset_index()


def segment_scores(data: SatisfactionData, dimensions=SEGMENT_DIMENSIONS) -> pd.DataFrame:
    """CSAT and NPS by each segment dimension, stacked: ``dimension``, ``segment`` + ``score_table`` columns.

    Every level seen in the trend window is listed, so a segment without responses this
    period shows with n = 0 rather than disappearing.
    """
    p = data.params
    out = []
    for d in dimensions:
        if d not in data.surveys.columns:
            continue
        levels = sorted(map(str, data.history[d].dropna().unique()))
        sv = data.surveys.assign(**{d: data.surveys[d].astype("string")})
        t = S.score_table(sv[sv[d].notna()], by=d, alpha=p.get("alpha", 0.05), min_n=p.get("min_n", 30),
                          categories={d: levels})
        out.append(t.reset_index().rename(columns={d: "segment"}).assign(dimension=DIMENSION_LABELS.get(d, d)))
    t = pd.concat(out, ignore_index=True)
    return t[["dimension", "segment", *[c for c in t.columns if c not in ("dimension", "segment")]]]


def key_drivers(data: SatisfactionData, outcome: str = "csat") -> KeyDriverAnalysis:
    """Key-driver analysis of ``outcome`` on the driver window."""
    p = data.params
    return KeyDriverAnalysis(outcome=outcome, n_boot=int(_opt(p, "n_boot", 400)), alpha=p.get("alpha", 0.05),
                             random_state=p.get("seed")).fit(data.drivers)


def record_satisfaction_facts(facts, data: SatisfactionData, headline: pd.DataFrame, index: pd.DataFrame,
                              kda: KeyDriverAnalysis | None = None) -> None:
    """Record the satisfaction notebook's facts (names are the KPI names of ``crm_lib.kpis``)."""
    alpha = data.params.get("alpha", 0.05)
    level = 1 - alpha
    h = headline.loc["as answered"]
    ok = h["status"] == S.STATUS_OK
    note = "" if ok else f" (flagged: n below min_n={data.params.get('min_n', 30)})"
    flag = {"small_n": not ok}
    facts.record("survey_responses", int(h["n"]), "responses", "survey responses dated in the period",
                 n=int(h["n"]), uncertainty="census count: no sampling error")
    facts.record("csat_top2box", h["csat_top2box"], "proportion",
                 "share of survey responses in the period with CSAT 4 or 5 (of 5)" + note, n=int(h["n_csat"]),
                 ci=(h["csat_top2box_lower"], h["csat_top2box_upper"]), ci_level=level,
                 uncertainty="Wilson score interval", headline=True, **flag)
    facts.record("csat_mean", h["csat_mean"], "score (1-5)", "mean CSAT answer in the period" + note,
                 n=int(h["n_csat"]), ci=(h["csat_mean_lower"], h["csat_mean_upper"]), ci_level=level,
                 uncertainty="t interval", **flag)
    facts.record("nps", h["nps"], "points (-100 to 100)",
                 "Net Promoter Score: % promoters (9-10) minus % detractors (0-6) of the period's responses" + note,
                 n=int(h["n_nps"]), ci=(h["nps_lower"], h["nps_upper"]), ci_level=level,
                 uncertainty="normal interval with the multinomial variance (Rocks 2016)", headline=True, **flag)
    if "weighted to customer base" in headline.index:
        w = headline.loc["weighted to customer base"]
        facts.record("csat_top2box_weighted", w["csat_top2box"], "proportion",
                     "CSAT top-2-box post-stratified to active customers by customer type and tier",
                     n=int(w["n_csat"]), ci=(w["csat_top2box_lower"], w["csat_top2box_upper"]), ci_level=level,
                     uncertainty="Wilson interval on the effective sample size (linearisation)")
        facts.record("nps_weighted", w["nps"], "points (-100 to 100)",
                     "NPS post-stratified to active customers by customer type and tier", n=int(w["n_nps"]),
                     ci=(w["nps_lower"], w["nps_upper"]), ci_level=level,
                     uncertainty="normal interval, linearisation variance")
    i = index.loc["all"]
    facts.record("satisfaction_index", i["index"], "index points (0-100)",
                 "weighted mean of attribute ratings rescaled to 0-100 (0: all rated 1, 100: all rated 5)" + note,
                 n=int(i["n"]), ci=(i["ci_lower"], i["ci_upper"]), ci_level=level,
                 uncertainty="percentile bootstrap (weights re-estimated)" if not data.params.get(
                     "satisfaction_weights") else "t interval (weights from parameters)", headline=True,
                 small_n=bool(i["status"] != S.STATUS_OK))
    if kda is not None:
        facts.record("drivers_r2", kda.r2_, "proportion",
                     f"share of variance of {kda.outcome_} explained by the attribute ratings (driver window)",
                     n=kda.n_, ci=(kda.r2_lower_, kda.r2_upper_), ci_level=level, uncertainty="percentile bootstrap")
        for a, r in kda.importance_.iterrows():
            facts.record(f"driver_share_{a}", r["rw_share"], "proportion",
                         f"Johnson relative weight of {a} as a share of R^2 of {kda.outcome_} (driver window)",
                         n=kda.n_, ci=(r["rw_share_lower"], r["rw_share_upper"]), ci_level=level,
                         uncertainty="percentile bootstrap", driver=a)


# --------------------------------------------------------------------------- complaints

@dataclass
class ComplaintData:
    """Complaints of the period and of the chart/churn windows, with features and exposure."""

    period: Period
    features: pd.DataFrame
    complaints: pd.DataFrame       # opened in the period
    history: pd.DataFrame          # opened from the chart start (and the SLA/churn look-backs) to the period end
    customers: pd.DataFrame        # customers on book in the period
    problems: pd.DataFrame
    sla_days: dict
    chart_start: object = None
    params: dict = field(default_factory=dict)


def load_complaints(wh: Warehouse, period: Period, params: dict) -> ComplaintData:
    """Read the complaints needed for one complaints report, as known at the period end."""
    sla = {str(k): float(v) for k, v in (params.get("sla_days") or C.DEFAULT_SLA_DAYS).items()}
    months = int(_opt(params, "trend_periods", 24))
    chart_start = (pd.Timestamp(period.end).to_period("M") - (months - 1)).start_time
    churn_start = pd.Timestamp(period.end) - pd.Timedelta(days=2 * 365)
    start = min(chart_start - pd.Timedelta(days=max(sla.values())), churn_start,
                pd.Timestamp(period.start) - pd.Timedelta(days=max(sla.values())))
    features = _features(wh, period, params)
    hist, problems = complaint_frame(wh, start.date(), period.end, as_of=period.end, features=features)
    cur = C.in_window(hist, period.start, period.end)
    return ComplaintData(period, features, cur, hist, C.exposure(features, period.start, period.end),
                         combine_problems(problems), sla, chart_start.date(), params)


def complaint_breakdowns(data: ComplaintData, dimensions=("category", "channel", "severity", "tier")) -> pd.DataFrame:
    """``complaint_volumes`` by each dimension, stacked (``dimension``, ``segment``, ...), plus an ``all`` row."""
    p = data.params
    common = {"alpha": p.get("alpha", 0.05), "min_n": p.get("min_n", 30)}
    out = [C.complaint_volumes(data.complaints, data.customers, by=None, **common).reset_index(names="segment")
           .assign(dimension="all")]
    for d in dimensions:
        levels = sorted(map(str, data.history[d].dropna().unique())) if d in data.history.columns else []
        t = C.complaint_volumes(data.complaints, data.customers, by=d, categories=levels, **common)
        out.append(t.reset_index(names="segment").assign(dimension=DIMENSION_LABELS.get(d, d)))
    t = pd.concat(out, ignore_index=True)
    return t[["dimension", "segment", *[c for c in t.columns if c not in ("dimension", "segment")]]]


def resolution_times(data: ComplaintData) -> C.ResolutionTime:
    """Kaplan-Meier resolution time of the period's complaints by severity, censored at the period end."""
    p = data.params
    return C.ResolutionTime(by="severity", alpha=p.get("alpha", 0.05), sla_days=data.sla_days,
                            min_n=p.get("min_n", 30)).fit(data.complaints, data.period.end)


def sla_table(data: ComplaintData) -> pd.DataFrame:
    p = data.params
    return C.sla_compliance(data.history, data.sla_days, data.period.start, data.period.end, as_of=data.period.end,
                            alpha=p.get("alpha", 0.05), min_n=p.get("min_n", 30))


def breaches(data: ComplaintData) -> pd.DataFrame:
    return C.sla_breaches(data.history, data.sla_days, data.period.start, data.period.end, as_of=data.period.end)


def rate_chart(data: ComplaintData) -> pd.DataFrame:
    return charts.complaint_rate_chart(data.history, data.features, data.chart_start, data.period.end)


def compliance_chart(data: ComplaintData) -> pd.DataFrame:
    return charts.sla_chart(data.history, data.sla_days, data.chart_start, data.period.end, as_of=data.period.end)


def churn_link(data: ComplaintData) -> pd.Series:
    """Complainants' churn hazard vs others over the 12 months to the period end."""
    return complainant_churn(data.features, data.history, data.period.end, alpha=data.params.get("alpha", 0.05))


def record_complaint_facts(facts, data: ComplaintData, volumes: pd.DataFrame, repeat: pd.Series,
                           rt: C.ResolutionTime, sla: pd.DataFrame, breach: pd.DataFrame,
                           churn: pd.Series | None = None) -> None:
    """Record the complaints notebook's facts (names are the KPI names of ``crm_lib.kpis``)."""
    alpha = data.params.get("alpha", 0.05)
    level = 1 - alpha
    a = volumes[volumes["dimension"] == "all"].iloc[0]
    census = "census count: no sampling error"
    facts.record("complaints_opened", int(a["complaints"]), "complaints", "complaints opened in the period",
                 n=int(a["complaints"]), uncertainty=census, headline=True)
    facts.record("complaint_rate", a["rate_per_1000"], "per 1,000 customers",
                 "complaints opened in the period per 1,000 customers on book in the period",
                 n=int(a["customers"]), ci=(a["rate_lower"], a["rate_upper"]), ci_level=level,
                 uncertainty="exact Poisson interval, quasi-Poisson dispersion", headline=True)
    facts.record("escalation_rate", a["escalation_rate"], "proportion", "share of the period's complaints escalated",
                 n=int(a["complaints"]), ci=(a["escalation_lower"], a["escalation_upper"]), ci_level=level,
                 uncertainty="Wilson score interval", small_n=bool(a["status"] != C.STATUS_OK))
    facts.record("repeat_complainant_share", repeat["repeat_share"], "proportion",
                 "share of the period's complainants with 2 or more complaints in the period",
                 n=int(repeat["complainants"]), ci=(repeat["ci_lower"], repeat["ci_upper"]), ci_level=level,
                 uncertainty="Wilson score interval")
    s = rt.summary_.loc["all"]
    facts.record("median_resolution_days", s["median_days"], "days",
                 "median days from complaint opened to resolved (Kaplan-Meier; complaints opened in the period, "
                 "open ones censored at the period end)", n=int(s["n"]),
                 ci=(s["median_lower"], s["median_upper"]), ci_level=level,
                 uncertainty="Kaplan-Meier median CI (Brookmeyer-Crowley, log-log bands)", headline=True,
                 small_n=bool(s["status"] != C.STATUS_OK))
    al = sla.loc["all"]
    facts.record("sla_compliance", al["compliance"], "proportion",
                 "share of complaints due in the period (opened + SLA days by severity) resolved by the due date",
                 n=int(al["due"]), ci=(al["ci_lower"], al["ci_upper"]), ci_level=level,
                 uncertainty="Wilson score interval", headline=True, small_n=bool(al["status"] != C.STATUS_OK))
    facts.record("sla_breaches", int(len(breach)), "complaints",
                 "complaints due in the period and missed, plus complaints open and overdue at the period end",
                 n=int(len(breach)), uncertainty=census)
    if churn is not None and np.isfinite(churn.get("hazard_ratio", np.nan)):
        facts.record("complainant_churn_hr", churn["hazard_ratio"], "hazard ratio",
                     "closure hazard of customers who complained in the prior 12 months vs others, next 12 months",
                     n=int(churn["customers"]), ci=(churn["hr_lower"], churn["hr_upper"]), ci_level=level,
                     p_value=churn["p_value"], uncertainty="Cox model CI; p-value from the log-rank test")

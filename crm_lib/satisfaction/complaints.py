"""Complaints: volumes and rates, repeat complainants, escalation, resolution time and SLA.

Resolution time is treated as survival: a complaint still open at the as-of date is
*censored* there (we know it took at least that long), not dropped. Dropping open
complaints keeps only the quick ones and biases the median down; the Kaplan-Meier
estimator (Kaplan & Meier 1958) uses them correctly.

Conventions: ``as_of`` is a day; everything up to the end of that day is known, a
``resolved_at`` after it is treated as still open. Durations are in days (float).
SLA targets are days from opening to resolution by severity (``DEFAULT_SLA_DAYS`` unless
given). Rates are per 1,000 customers on book in the period.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from statsmodels.stats.rates import confint_poisson

from crm_lib import fmt
from crm_lib.errors import DataContractError, NotEstimable
from crm_lib.fmt import N_, _
from crm_lib.satisfaction import _stats
from crm_lib.satisfaction._checks import clean_complaints, require_columns

logger = logging.getLogger(__name__)


def require_complaints(complaints: pd.DataFrame, period_label: str, what: str = N_("time to resolution")) -> None:
    """Raise ``NotEstimable`` when no complaint was opened in the period (a figure needs one).

    Counts and rates stay defined with no complaints (a rate of 0 with its exact upper
    bound); curves and medians do not. The reason is shown on the page, in the run's language.
    """
    if not len(complaints):
        period = str(period_label) if fmt.get_locale() == "en" else fmt.period(period_label)
        raise NotEstimable(fmt.tr("no complaints were opened in {period}, so there is no {what} to estimate",
                                  period=fmt.Text(period, str(period_label)), what=fmt.Text(_(what), what)),
                           fmt.tr("it is estimable once the period has complaints; the complaint rate above is 0 "
                                  "with its exact upper bound"))

DEFAULT_SLA_DAYS = {"low": 5, "medium": 15, "high": 30}
PER = 1000
STATUS_OK, STATUS_SMALL, STATUS_NONE = "ok", "small n", "no complaints"


def _day_end(d) -> pd.Timestamp:
    """The first instant after day ``d``."""
    return pd.Timestamp(d).normalize() + pd.Timedelta(days=1)


def _validated(complaints: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    require_columns(complaints, "complaints", ["complaint_id", "opened_at", "resolved_at", "severity", *extra])
    clean, _ = clean_complaints(complaints, strict=True)
    return clean


def _finite(v: float) -> float:
    return v if np.isfinite(v) else np.nan


def in_window(complaints: pd.DataFrame, start, end, column: str = "opened_at") -> pd.DataFrame:
    """Complaints whose ``column`` falls on a day from ``start`` to ``end`` (inclusive)."""
    require_columns(complaints, "complaints", [column])
    t = pd.to_datetime(complaints[column])
    return complaints[(t >= pd.Timestamp(start)) & (t < _day_end(end))]


def durations(complaints: pd.DataFrame, as_of) -> pd.DataFrame:
    """Days from opening to resolution, censored at the end of ``as_of``.

    Returns
    -------
    DataFrame
        Same index: ``duration_days`` (float days: to resolution, or to the end of
        ``as_of`` while open) and ``resolved`` (bool: resolved by then).

    Raises
    ------
    DataContractError
        A complaint opened after ``as_of`` (rule 'opened_at <= as_of'), or the rules of
        ``clean_complaints``.
    """
    c = _validated(complaints)
    end = _day_end(as_of)
    late = c["opened_at"] >= end
    if late.any():
        ex = c.loc[late, ["complaint_id", "opened_at"]].head(3).to_string(index=False)
        raise DataContractError(f"complaints.opened_at: {int(late.sum())} row(s) break rule "
                                f"'opened_at <= as_of ({pd.Timestamp(as_of).date()})', e.g.\n{ex}")
    resolved = c["resolved_at"].notna() & (c["resolved_at"] < end)
    stop = c["resolved_at"].where(resolved, end)
    return pd.DataFrame({"duration_days": (stop - c["opened_at"]).dt.total_seconds() / 86400,
                         "resolved": resolved.to_numpy()}, index=c.index)


# --------------------------------------------------------------------------- volumes and rates

def exposure(features: pd.DataFrame, start, end) -> pd.DataFrame:
    """Customers on book at any time from ``start`` to ``end`` (rows of the feature table).

    ``features`` is the feature table as of ``end`` (its ``closed_date`` is null while open).
    """
    require_columns(features, "features", ["customer_id", "onboard_date", "closed_date"])
    on = pd.to_datetime(features["onboard_date"]) <= pd.Timestamp(end)
    closed = pd.to_datetime(features["closed_date"])
    return features[on & (closed.isna() | (closed >= pd.Timestamp(start)))]


def _dispersion(complaints: pd.DataFrame, customers: pd.DataFrame) -> float:
    """Quasi-Poisson dispersion of complaints per customer (>= 1): variance / mean of counts."""
    n_cust = len(customers)
    if n_cust < 2 or not len(complaints):
        return 1.0
    counts = complaints.groupby("customer_id").size()
    counts = counts[counts.index.isin(customers["customer_id"])]
    s1, s2 = counts.sum(), (counts.astype(float) ** 2).sum()
    mean = s1 / n_cust
    var = (s2 - n_cust * mean ** 2) / (n_cust - 1)
    return float(max(1.0, var / mean)) if mean > 0 else 1.0


def complaint_volumes(complaints: pd.DataFrame, customers: pd.DataFrame, by: str | None = "category",
                      alpha: float = 0.05, min_n: int = 30, categories: Sequence | None = None) -> pd.DataFrame:
    """Complaints, rate per 1,000 customers and escalation per group.

    Parameters
    ----------
    complaints : DataFrame
        Complaints of the period: ``complaint_id``, ``customer_id``, ``escalated`` and ``by``.
    customers : DataFrame
        Customers on book in the period (``exposure``), one row each. When ``by`` is one of
        their columns (a customer attribute such as ``tier``) each group's rate uses its own
        customers; otherwise (``category``, ``channel``, ``severity``) all customers.
    by : str or None
        Grouping column; ``None`` gives one row ``all``.
    categories : sequence, optional
        Levels that must appear even with no complaints.

    Returns
    -------
    DataFrame
        Indexed by ``by``: ``complaints``, ``share`` (of all complaints, 0-1),
        ``customers``, ``complainants``, ``rate_per_1000`` (complaints per 1,000 customers)
        with ``rate_lower``/``rate_upper`` (exact Poisson interval widened by the
        quasi-Poisson dispersion of complaints per customer), ``escalated``,
        ``rate_status`` (``small n`` when fewer than ``min_n`` customers: the rate's n is the
        customers), ``escalated``, ``escalation_rate`` (0-1) with ``escalation_lower``/``_upper``
        (Wilson), ``small_n`` (fewer than ``min_n`` complaints: shares of complaints such as
        the escalation rate are flagged), ``status``, ``dispersion`` (the quasi-Poisson factor
        phi >= 1 applied to the rate intervals).

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution. Biometrika 28, 437-442.
    McCullagh, P. & Nelder, J. A. (1989). Generalized Linear Models, 2nd ed., ch. 6 (quasi-Poisson).
    """
    keys = [by] if by else []
    require_columns(complaints, "complaints", ["complaint_id", "customer_id", "escalated", *keys])
    require_columns(customers, "customers", ["customer_id"])
    c = complaints.assign(_g=complaints[by] if by else "all", _esc=complaints["escalated"].astype(float))
    g = c.groupby("_g", observed=True, dropna=False)
    out = pd.DataFrame({"complaints": g.size(), "complainants": g["customer_id"].nunique(),
                        "escalated": g["_esc"].sum()})
    levels = list(dict.fromkeys([*(categories or []), *out.index])) if by else ["all"]
    out = out.reindex(levels).fillna(0)
    out.index.name = by
    if by and by in customers.columns:
        out["customers"] = customers.groupby(by, observed=True, dropna=False).size().reindex(out.index).fillna(0)
    else:
        out["customers"] = len(customers)
    out = out.astype({"complaints": "int64", "complainants": "int64", "escalated": "int64", "customers": "int64"})
    phi = _dispersion(complaints, customers)
    total = out["complaints"].sum()
    out["share"] = out["complaints"] / total if total else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate_per_1000"] = np.where(out["customers"] > 0, out["complaints"] / out["customers"] * PER, np.nan)
    lo, hi = np.full(len(out), np.nan), np.full(len(out), np.nan)
    ok = (out["customers"] > 0).to_numpy()
    if ok.any():
        cnt = out["complaints"].to_numpy(dtype=float)[ok] / phi
        expo = out["customers"].to_numpy(dtype=float)[ok] / phi
        lo[ok], hi[ok] = confint_poisson(cnt, expo, method="exact-c", alpha=alpha)
    out["rate_lower"], out["rate_upper"] = lo * PER, hi * PER
    out["escalation_rate"] = out["escalated"] / out["complaints"].where(out["complaints"] > 0)
    out["escalation_lower"], out["escalation_upper"] = _stats.wilson(out["escalated"], out["complaints"], alpha)
    out["small_n"] = out["complaints"] < min_n
    out["status"] = np.where(out["complaints"] == 0, STATUS_NONE, np.where(out["small_n"], STATUS_SMALL, STATUS_OK))
    out["rate_status"] = np.where(out["customers"] < min_n, STATUS_SMALL, STATUS_OK)
    out["dispersion"] = phi
    cols = ["complaints", "share", "customers", "complainants", "rate_per_1000", "rate_lower", "rate_upper",
            "rate_status", "escalated", "escalation_rate", "escalation_lower", "escalation_upper", "small_n", "status",
            "dispersion"]
    return out[cols]


def repeat_complainants(complaints: pd.DataFrame, min_complaints: int = 2, alpha: float = 0.05) -> pd.Series:
    """How many complainants complained at least ``min_complaints`` times in the frame.

    Returns
    -------
    Series
        ``complainants``, ``repeat_complainants``, ``repeat_share`` (0-1) with
        ``ci_lower``/``ci_upper`` (Wilson), ``complaints``, ``repeat_complaint_share``
        (share of complaints made by repeat complainants, 0-1).
    """
    require_columns(complaints, "complaints", ["customer_id"])
    per = complaints.groupby("customer_id").size()
    rep = per[per >= min_complaints]
    n = len(per)
    lo, hi = _stats.wilson([len(rep)], [n], alpha)
    return pd.Series({"complainants": n, "repeat_complainants": len(rep),
                      "repeat_share": len(rep) / n if n else np.nan, "ci_lower": lo[0], "ci_upper": hi[0],
                      "complaints": int(per.sum()),
                      "repeat_complaint_share": rep.sum() / per.sum() if n else np.nan})


# --------------------------------------------------------------------------- resolution time

class ResolutionTime:
    """Kaplan-Meier time to resolution, overall and by group, open complaints censored.

    Parameters
    ----------
    by : str or None
        Grouping column (e.g. ``severity``); an ``all`` row is always added.
    alpha : float
        1 - confidence level (pointwise intervals: exponential Greenwood, lifelines).
    sla_days : mapping, optional
        SLA days per level of ``by`` (or one number for all): adds the KM share resolved
        within the SLA.
    min_n : int
        Groups with fewer complaints are flagged ``small n``.

    Attributes
    ----------
    summary_ : DataFrame
        Per group (and ``all``): ``n``, ``resolved``, ``open`` (censored), ``median_days``
        with ``median_lower``/``median_upper`` (days; NaN when not reached: fewer than
        half resolved, or the interval never closes), ``naive_median_days`` (median of
        resolved complaints only: biased low, for comparison), ``max_follow_up_days``,
        ``sla_days``, ``within_sla`` (KM share resolved within the SLA, 0-1) with
        ``within_sla_lower``/``_upper`` (NaN when follow-up is shorter than the SLA),
        ``small_n``, ``status``.
    curves_ : DataFrame
        ``group``, ``days``, ``resolved_share`` (1 - S(t)), ``lower``, ``upper``.
    fitters_ : dict
        Group -> fitted ``lifelines.KaplanMeierFitter``.

    References
    ----------
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete
    observations. JASA 53, 457-481. Brookmeyer, R. & Crowley, J. (1982). A confidence
    interval for the median survival time. Biometrics 38, 29-41.
    """

    def __init__(self, by: str | None = "severity", alpha: float = 0.05,
                 sla_days: Mapping[str, float] | float | None = None, min_n: int = 30):
        self.by = by
        self.alpha = alpha
        self.sla_days = sla_days
        self.min_n = min_n

    def fit(self, complaints: pd.DataFrame, as_of) -> "ResolutionTime":
        """Fit from complaints (``complaint_id``, ``opened_at``, ``resolved_at``, ``severity``, ``by``).

        No complaints (a quarter without any) is not an error: ``summary_`` then has one
        ``all`` row with ``n`` 0, no estimates and status ``no complaints``, and ``curves_``
        is empty (``require_complaints`` guards the figure).
        """
        keys = [self.by] if self.by else []
        c = _validated(complaints, keys)
        if not len(c):  # a quarter without complaints: nothing to estimate, said in the summary, not raised
            logger.info("no complaints: resolution time has no estimate")
            self.summary_ = pd.DataFrame([{
                "group": "all", "n": 0, "resolved": 0, "open": 0, "median_days": np.nan, "median_lower": np.nan,
                "median_upper": np.nan, "naive_median_days": np.nan, "max_follow_up_days": np.nan,
                "sla_days": np.nan, "within_sla": np.nan, "within_sla_lower": np.nan, "within_sla_upper": np.nan,
                "small_n": True, "status": STATUS_NONE}]).set_index("group")
            self.curves_ = pd.DataFrame(columns=["group", "days", "resolved_share", "lower", "upper"])
            self.fitters_ = {}
            self.as_of_ = pd.Timestamp(as_of)
            return self
        d = durations(c, as_of)
        groups = [("all", np.ones(len(c), dtype=bool))]
        if self.by:
            groups += [(lvl, (c[self.by] == lvl).to_numpy()) for lvl in pd.unique(c[self.by].dropna())]
        rows, curves, self.fitters_ = [], [], {}
        for name, mask in groups:
            t, e = d["duration_days"].to_numpy()[mask], d["resolved"].to_numpy()[mask]
            kmf = KaplanMeierFitter(alpha=self.alpha).fit(t, e, label=str(name))
            self.fitters_[name] = kmf
            rows.append(self._summary_row(name, kmf, t, e))
            ci = kmf.confidence_interval_
            curves.append(pd.DataFrame({"group": name, "days": kmf.survival_function_.index,
                                        "resolved_share": 1 - kmf.survival_function_.iloc[:, 0].to_numpy(),
                                        "lower": 1 - ci.iloc[:, 1].to_numpy(), "upper": 1 - ci.iloc[:, 0].to_numpy()}))
        s = pd.DataFrame(rows).set_index("group")
        order = ["all"] + [g for g in (list(self.sla_days) if isinstance(self.sla_days, Mapping) else [])
                           if g in s.index] + [g for g in s.index if g != "all"]
        self.summary_ = s.loc[list(dict.fromkeys(order))]
        self.curves_ = pd.concat(curves, ignore_index=True)
        self.as_of_ = pd.Timestamp(as_of)
        return self

    def _sla_for(self, name) -> float:
        if self.sla_days is None:
            return np.nan
        if isinstance(self.sla_days, Mapping):
            return float(self.sla_days.get(name, np.nan))
        return float(self.sla_days)

    def _summary_row(self, name, kmf: KaplanMeierFitter, t: np.ndarray, e: np.ndarray) -> dict:
        med = float(kmf.median_survival_time_)
        ci = median_survival_times(kmf.confidence_interval_)
        lo, hi = (float(v) for v in ci.iloc[0])
        sla = self._sla_for(name)
        within = within_lo = within_hi = np.nan
        if np.isfinite(sla) and self._defined_at(kmf, sla):
            within, within_lo, within_hi = self._resolved_by(kmf, sla)
        n = len(t)
        return {"group": name, "n": n, "resolved": int(e.sum()), "open": int(n - e.sum()),
                "median_days": _finite(med), "median_lower": _finite(lo), "median_upper": _finite(hi),
                "naive_median_days": float(np.median(t[e])) if e.any() else np.nan,
                "max_follow_up_days": float(t.max()) if n else np.nan, "sla_days": sla, "within_sla": within,
                "within_sla_lower": within_lo, "within_sla_upper": within_hi, "small_n": n < self.min_n,
                "status": STATUS_SMALL if n < self.min_n else STATUS_OK}

    @staticmethod
    def _defined_at(kmf: KaplanMeierFitter, days: float) -> bool:
        """KM is informative at ``days`` when follow-up reaches it or nothing was censored before it.

        A curve that drops to 0 because its last complaint at risk was resolved is not used
        when earlier complaints were censored: that tail rests on one complaint (and its
        Greenwood interval collapses to a point).
        """
        t, e = np.asarray(kmf.durations), np.asarray(kmf.event_observed).astype(bool)
        return bool(len(t)) and (t.max() >= days or not (~e & (t < days)).any())

    @staticmethod
    def _resolved_by(kmf: KaplanMeierFitter, days: float) -> tuple[float, float, float]:
        s = float(kmf.survival_function_at_times(days).iloc[0])
        ci = kmf.confidence_interval_
        row = ci[ci.index <= days].iloc[-1]
        return 1 - s, 1 - float(row.iloc[1]), 1 - float(row.iloc[0])

    def resolved_by(self, days: float) -> pd.DataFrame:
        """KM share resolved within ``days`` per group, with its pointwise interval.

        Returns
        -------
        DataFrame
            Indexed by group: ``days``, ``resolved_share``, ``lower``, ``upper`` (0-1); NaN
            where the follow-up is shorter than ``days``.
        """
        if not hasattr(self, "fitters_"):
            raise RuntimeError("ResolutionTime is not fitted yet: call fit(complaints, as_of) first")
        rows = {}
        for name, kmf in self.fitters_.items():
            v = self._resolved_by(kmf, days) if self._defined_at(kmf, days) else (np.nan, np.nan, np.nan)
            rows[name] = {"days": days, "resolved_share": v[0], "lower": v[1], "upper": v[2]}
        return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------- SLA

def _due(c: pd.DataFrame, sla_days: Mapping[str, float]) -> pd.Series:
    days = c["severity"].map({k: float(v) for k, v in sla_days.items()})
    return c["opened_at"] + pd.to_timedelta(days, unit="D")


def _sla_outcomes(complaints: pd.DataFrame, sla_days: Mapping[str, float], as_of) -> pd.DataFrame:
    """Per complaint with an SLA that fell due by the end of ``as_of``: severity, due time, met, open."""
    c = _validated(complaints)
    known = _day_end(as_of)
    unknown = ~c["severity"].isin(list(sla_days))
    if unknown.any():
        logger.warning("SLA: %d complaint(s) with a severity without SLA (%s) left out",
                       int(unknown.sum()), sorted(map(str, c.loc[unknown, "severity"].unique()))[:5])
    c = c[~unknown]
    due = _due(c, sla_days)
    c, due = c[due < known], due[due < known]
    res = c["resolved_at"].where(c["resolved_at"] < known)
    return pd.DataFrame({"severity": c["severity"], "due": due, "met": res.notna() & (res <= due),
                         "open": res.isna()})


def _compliance_table(o: pd.DataFrame, sla_days: Mapping[str, float], alpha: float, min_n: int) -> pd.DataFrame:
    g = o.groupby("severity", observed=True)
    out = pd.DataFrame({"due": g.size(), "met": g["met"].sum(), "still_open": g["open"].sum()})
    out = out.reindex(list(sla_days)).fillna(0)
    out.loc["all"] = out.sum()
    out = out.astype("int64")
    out.insert(0, "sla_days", [float(sla_days[s]) for s in sla_days] + [np.nan])
    out["breached"] = out["due"] - out["met"]
    out["compliance"] = out["met"] / out["due"].where(out["due"] > 0)
    out["ci_lower"], out["ci_upper"] = _stats.wilson(out["met"], out["due"], alpha)
    out["small_n"] = out["due"] < min_n
    out["status"] = np.where(out["due"] == 0, STATUS_NONE, np.where(out["small_n"], STATUS_SMALL, STATUS_OK))
    out.index.name = "severity"
    return out[["sla_days", "due", "met", "breached", "still_open", "compliance", "ci_lower", "ci_upper",
                "small_n", "status"]]


def sla_compliance(complaints: pd.DataFrame, sla_days: Mapping[str, float], start, end, as_of=None,
                   alpha: float = 0.05, min_n: int = 30) -> pd.DataFrame:
    """Share of complaints resolved by their SLA due date, among those due in the period.

    A complaint is *due* at ``opened_at + sla_days[severity]``; the cohort is every
    complaint due from ``start`` to ``end`` (and by ``as_of``, default ``end``), so each
    one's outcome is known: met (resolved by the due time) or breached (resolved later or
    still open). Complaints opened before ``start`` count when they fall due in the period,
    so pass complaints opened up to the longest SLA before ``start``.

    Returns
    -------
    DataFrame
        Indexed by ``severity`` (SLA order) plus ``all``: ``sla_days``, ``due``, ``met``,
        ``breached``, ``still_open`` (breached and open at ``as_of``), ``compliance``
        (0-1) with ``ci_lower``/``ci_upper`` (Wilson), ``small_n``, ``status``.
        Severities without an SLA are counted in the log and left out.
    """
    o = _sla_outcomes(complaints, sla_days, as_of or end)
    o = o[(o["due"] >= pd.Timestamp(start)) & (o["due"] < _day_end(end))]
    return _compliance_table(o, sla_days, alpha, min_n)


def sla_breaches(complaints: pd.DataFrame, sla_days: Mapping[str, float], start, end, as_of=None) -> pd.DataFrame:
    """The complaints that breached their SLA: due in the period and missed, or open and overdue.

    Identifiers are the complaint reference and the customer *pseudonym* only.

    Returns
    -------
    DataFrame
        ``complaint_id``, ``customer_id`` (pseudonym), ``severity``, ``category``,
        ``channel``, ``escalated``, ``opened``, ``due`` (dates), ``resolved`` (date or NaT),
        ``status`` (``resolved late`` / ``open, overdue``), ``days_over`` (days past due at
        resolution or at the end of ``as_of``), worst first.
    """
    c = _validated(complaints, ["customer_id"])
    as_of = pd.Timestamp(as_of or end)
    known = _day_end(as_of)
    c = c[c["severity"].isin(list(sla_days))]
    due = _due(c, sla_days)
    res = c["resolved_at"].where(c["resolved_at"] < known)
    late_in_period = (due >= pd.Timestamp(start)) & (due < _day_end(end)) & res.notna() & (res > due)
    open_overdue = res.isna() & (due < known)
    keep = late_in_period | open_overdue
    c, due, res = c[keep], due[keep], res[keep]
    stop = res.fillna(known)
    out = pd.DataFrame({
        "complaint_id": c["complaint_id"], "customer_id": c["customer_id"], "severity": c["severity"],
        "category": c.get("category"), "channel": c.get("channel"), "escalated": c.get("escalated"),
        "opened": c["opened_at"].dt.date, "due": due.dt.date, "resolved": res.dt.date,
        "status": np.where(res.isna(), "open, overdue", "resolved late"),
        "days_over": ((stop - due).dt.total_seconds() / 86400).round(1)})
    return out.sort_values("days_over", ascending=False).reset_index(drop=True)

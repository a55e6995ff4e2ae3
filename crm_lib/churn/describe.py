"""Kaplan-Meier curves, retention and median tenure with CIs, log-rank tests, churn rate in a period.

Every estimator passes the frame's entry column on (left truncation): customers onboarded
before the data window only count in risk sets from the tenure at which they were seen.
Columns are named by ``duration_col``, ``event_col`` and ``entry_col`` (lifelines' names,
defaults ``duration``, ``event``, ``entry``), and ``time_unit`` states the unit of durations,
steps, horizons and results (``attrs["time_unit"]`` on every result).
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from crm_lib.churn._survival import (SINGULAR, SUFFIX, YEAR_DAYS, check_frame, entry_column, one_month, per_year,
                                     require_columns, with_unit)
from crm_lib.errors import DataContractError, NotEstimable

logger = logging.getLogger(__name__)


def _survival_data(frame: pd.DataFrame, by: str | None, duration_col: str, event_col: str, entry_col: str | None,
                   time_unit: str, table: str = "frame") -> pd.DataFrame:
    """The frame's survival columns under their canonical names (``duration``, ``event``, ``entry``), checked.

    A new frame with the input's index: the input is never modified, and user columns that
    happen to be called ``duration`` or ``entry`` cannot collide with the ones named by the arguments.
    """
    per_year(time_unit)
    entry = entry_column(frame, entry_col, table)
    check_frame(frame, duration_col, event_col, entry, table, time_unit)
    out = pd.DataFrame({"duration": frame[duration_col].to_numpy(float), "event": frame[event_col].to_numpy(int)},
                       index=frame.index)
    if entry:
        out["entry"] = frame[entry].to_numpy(float)
    if by is not None:
        if by not in frame.columns:
            raise DataContractError(f"{table}.{by}: column missing (rule 'the group column named by by={by!r} is "
                                    f"present'); available: {', '.join(map(str, frame.columns[:20]))}")
        out[_BY] = frame[by].to_numpy()
    return out


_BY = "__group__"


def _groups(frame: pd.DataFrame, by: str | None, min_n: int):
    """(label, rows) per group of the canonical frame's ``_BY`` column, largest first; and the groups left out."""
    if by is None:
        return [("all customers", frame)], []
    out, small = [], []
    for g, sub in sorted(frame.groupby(frame[_BY].astype(str), observed=True), key=lambda kv: -len(kv[1])):
        (out if len(sub) >= min_n else small).append((g, sub))
    if small:
        logger.info("groups of %s below %d customers left out: %s", by, min_n, [g for g, _ in small])
    return out, [g for g, _ in small]


def _km(sub: pd.DataFrame, alpha: float):
    """Kaplan-Meier with delayed entry; Fleming-Harrington (exp of Nelson-Aalen) when KM collapses.

    With left truncation a tiny early risk set can take the product-limit estimate to 0
    (one churn among the one customer at risk); lifelines then refuses. The
    Fleming-Harrington estimator ``exp(-Nelson-Aalen)`` stays positive there and is
    asymptotically equal; the fallback is logged and flagged in ``estimator``.
    """
    from lifelines import BreslowFlemingHarringtonFitter, KaplanMeierFitter
    from lifelines.exceptions import StatError

    entry = sub["entry"] if "entry" in sub.columns else None
    try:
        km = KaplanMeierFitter(alpha=alpha).fit(sub["duration"], sub["event"], entry=entry)
        km.estimator_name_ = "Kaplan-Meier"
    except StatError:
        km = BreslowFlemingHarringtonFitter(alpha=alpha).fit(sub["duration"], sub["event"], entry=entry)
        km.estimator_name_ = "Fleming-Harrington (KM reached 0)"
        logger.info("Kaplan-Meier collapsed on a tiny early risk set (n=%d): Fleming-Harrington used", len(sub))
    return km


def _at(km, t):
    """KM estimate and CI (right-continuous steps) at times ``t``."""
    sf = km.survival_function_.iloc[:, 0]
    ci = km.confidence_interval_
    idx = np.searchsorted(sf.index.to_numpy(float), np.asarray(t, float), side="right") - 1
    idx = np.clip(idx, 0, None)
    return sf.to_numpy()[idx], ci.iloc[:, 0].to_numpy()[idx], ci.iloc[:, 1].to_numpy()[idx]


def _at_risk(sub: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    d = np.sort(sub["duration"].to_numpy(float))
    a = np.sort(sub["entry"].to_numpy(float)) if "entry" in sub.columns else np.zeros(len(d))
    # at risk at t: entry < t <= duration (at t = 0: everyone who entered at 0)
    return (len(d) - np.searchsorted(d, t, "left")) - (len(a) - np.searchsorted(a, t, "left")) + \
        np.where(t == 0, (a == 0).sum(), 0)


def km_curves(frame: pd.DataFrame, by: str | None = None, step: float | None = None, alpha: float = 0.05,
              min_n: int = 30, min_at_risk: int = 20, from_onboarding: bool = False, *,
              step_years: float | None = None, duration_col: str = "duration", event_col: str = "event",
              entry_col: str | None = "entry", time_unit: str = "years") -> pd.DataFrame:
    """Kaplan-Meier retention curves (tenure scale) with pointwise CIs, overall or by group.

    Parameters
    ----------
    frame : DataFrame
        A survival frame: one row per customer with ``duration_col``, ``event_col`` and,
        optionally, ``entry_col`` (delayed entry), all in ``time_unit``.
    by : str, optional
        Group column (e.g. ``tier_at_entry``, ``customer_type``, ``acquisition_channel``, ``cohort``).
    step : float, optional
        Grid spacing of the returned curve in ``time_unit`` (default one month: 1/12 year,
        1 month, 365.25/12 days).
    alpha : float
        1 - pointwise confidence level.
    min_n : int
        Groups with fewer customers are left out (logged).
    min_at_risk : int
        A curve stops where fewer customers are at risk (its tail is noise).
    from_onboarding : bool
        Keep only customers observed from onboarding (entry 0): curves of acquisition
        cohorts then all start at tenure 0.
    step_years : float, keyword only
        The grid spacing in years instead of ``step`` (converted to ``time_unit``).
    duration_col, event_col, entry_col : str
        Column names, lifelines' vocabulary. ``entry_col="entry"`` is used when present;
        another name must exist; ``None`` ignores delayed entry.
    time_unit : {"years", "months", "weeks", "days"}
        Unit of the durations, of ``step`` and of the ``time`` column.

    Returns
    -------
    DataFrame with ``group``, ``n`` (customers in the group), ``time`` (tenure since onboarding,
    in ``time_unit``), ``survival`` (share still a customer, 0-1), ``lower``, ``upper`` (log-log
    Greenwood CI, lifelines' default), ``at_risk`` (customers at risk at that tenure);
    ``attrs["time_unit"]`` holds the unit for plots.

    References
    ----------
    Kaplan, E.L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *JASA* 53, 457-481. Kalbfleisch & Prentice (2002), *The Statistical Analysis of Failure
    Time Data*, 2nd ed., sec. 1.3 (delayed entry) and 1.4 (log-log intervals).
    """
    data = _survival_data(frame, by, duration_col, event_col, entry_col, time_unit)
    if step is None:
        step = one_month(time_unit) if step_years is None else step_years * per_year(time_unit)
    elif step_years is not None:
        raise ValueError("km_curves: give step (in time_unit) or step_years, not both")
    if not step > 0:
        raise ValueError(f"step={step!r}: must be > 0 ({time_unit})")
    if from_onboarding and "entry" in data.columns:
        data = data[data["entry"] == 0]
    rows = []
    for g, sub in _groups(data, by, min_n)[0]:
        km = _km(sub, alpha)
        t = np.arange(0, sub["duration"].max() + step / 2, step)
        n = _at_risk(sub, t)
        keep = n >= min_at_risk
        if not keep.any():
            continue
        t = t[: np.flatnonzero(keep)[-1] + 1]
        s, lo, hi = _at(km, t)
        rows.append(pd.DataFrame({"group": g, "n": len(sub), "time": t, "survival": s, "lower": lo, "upper": hi,
                                  "at_risk": n[: len(t)]}))
    if not rows:
        raise NotEstimable(f"no group with at least {min_n} customers and {min_at_risk} at risk",
                           f"a curve needs a group of at least {min_n} customers")
    return with_unit(pd.concat(rows, ignore_index=True), time_unit)


def retention_summary(frame: pd.DataFrame, by: str | None = None, months=(12, 24), alpha: float = 0.05,
                      min_n: int = 30, *, times=None, duration_col: str = "duration", event_col: str = "event",
                      entry_col: str | None = "entry", time_unit: str = "years") -> pd.DataFrame:
    """Median tenure and retention at fixed tenures, with CIs, overall or by group.

    Parameters
    ----------
    months : sequence of int
        Tenures in months at which retention is reported (columns ``retention_<m>m``), whatever
        ``time_unit`` is; used when ``times`` is None.
    times : sequence of float, keyword only
        Tenures in ``time_unit`` instead (columns ``retention_<t><u>``, u = y, m, w or d).
    duration_col, event_col, entry_col, time_unit
        As in ``km_curves``.

    Returns
    -------
    DataFrame with ``group``, ``n`` (customers), ``events`` (churns), ``estimator`` (Kaplan-Meier,
    or Fleming-Harrington where KM collapsed on a tiny early risk set), ``median_<time_unit>``
    (``median_years`` by default; Kaplan-Meier median tenure; ``inf`` when more than half never
    churn within the observed tenures), ``median_lower``, ``median_upper`` (from the log-log band,
    Brookmeyer & Crowley 1982, same unit), and per tenure: ``retention_<m>m`` (share of customers
    still with the bank m months after onboarding, 0-1), ``retention_<m>m_lower``/``_upper``.
    ``attrs["time_unit"]`` holds the unit.

    References
    ----------
    Brookmeyer, R. & Crowley, J. (1982). A confidence interval for the median survival time.
    *Biometrics* 38, 29-41.
    """
    import warnings

    from lifelines.utils import median_survival_times

    data = _survival_data(frame, by, duration_col, event_col, entry_col, time_unit)
    if times is None:
        horizons = [(f"retention_{m}m", m / 12 * per_year(time_unit)) for m in months]
    else:
        horizons = [(f"retention_{t:g}{SUFFIX[time_unit]}", float(t)) for t in np.atleast_1d(times)]
    rows = []
    for g, sub in _groups(data, by, min_n)[0]:
        km = _km(sub, alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # lifelines' ApproximationWarning on the Fleming-Harrington median
            med = float(km.median_survival_time_)
        med_ci = median_survival_times(km.confidence_interval_)
        r = {"group": g, "n": len(sub), "events": int(sub["event"].sum()), "estimator": km.estimator_name_,
             f"median_{time_unit}": med,
             "median_lower": float(med_ci.iloc[0, 0]), "median_upper": float(med_ci.iloc[0, 1])}
        for name, t in horizons:
            s, lo, hi = _at(km, [t])
            r[name], r[f"{name}_lower"], r[f"{name}_upper"] = s[0], lo[0], hi[0]
        rows.append(r)
    return with_unit(pd.DataFrame(rows), time_unit)


def logrank(frame: pd.DataFrame, by: str, min_n: int = 30, alpha: float = 0.05, *, duration_col: str = "duration",
            event_col: str = "event", entry_col: str | None = "entry",
            time_unit: str = "years") -> tuple[pd.Series, pd.DataFrame]:
    """Log-rank tests with delayed entry: every group at once, and every pair (Holm-adjusted).

    ``duration_col``, ``event_col``, ``entry_col`` and ``time_unit`` as in ``km_curves``; the
    test uses only the order of the times, so its result does not depend on the unit.

    Returns
    -------
    overall : Series ``statistic`` (chi-square), ``df``, ``p``, ``groups``, ``n``.
    pairs : DataFrame ``group_a``, ``group_b``, ``statistic``, ``p``, ``p_holm`` (Holm 1979
        family-wise adjustment over the pairs), ``significant`` (p_holm < alpha).

    References
    ----------
    Mantel, N. (1966). Evaluation of survival data and two new rank order statistics arising in
    its consideration. *Cancer Chemotherapy Reports* 50(3), 163-170. Holm, S. (1979). A simple
    sequentially rejective multiple test procedure. *Scand. J. Statistics* 6, 65-70.
    """
    from statsmodels.duration.survfunc import survdiff

    data = _survival_data(frame, by, duration_col, event_col, entry_col, time_unit)
    groups, _ = _groups(data, by, min_n)
    if len(groups) < 2:
        sizes = frame[by].astype(str).value_counts()
        raise NotEstimable(f"frame.{by}: fewer than two groups with at least {min_n} customers (rule 'a test needs "
                           f"two groups'; found {', '.join(f'{g}: {n:,}' for g, n in sizes.items()) or 'none'})",
                           f"the test between groups needs a second {by.replace('_', ' ')} group of at least "
                           f"{min_n} customers; the curves of the groups found are still shown")
    sub = pd.concat([s for _, s in groups])
    if int(sub["event"].sum()) == 0:
        raise NotEstimable(f"frame.{event_col}: no churn events in any {by} group (rule 'at least one event'): "
                           "the groups cannot be compared",
                           "the test needs at least one churn event; the Kaplan-Meier curves are still shown")

    def _test(d):
        stat, p = survdiff(d["duration"].to_numpy(float), d["event"].to_numpy(int), d[_BY].astype(str).to_numpy(),
                           entry=d["entry"].to_numpy(float) if "entry" in d.columns else None)
        return float(stat), float(p)

    try:
        stat, p = _test(sub)
    except np.linalg.LinAlgError:  # singular (O - E) variance: the events give no contrast between the groups
        raise NotEstimable(f"frame.{by}: the log-rank variance matrix is singular ({int(sub['event'].sum())} "
                           f"churn event(s) in {len(groups)} groups give no contrast between them)",
                           "the test needs churn events in at least two groups while both are at risk") from None
    overall = pd.Series({"statistic": stat, "df": len(groups) - 1, "p": p, "groups": len(groups), "n": len(sub)})
    rows = []
    for (ga, a), (gb, b) in itertools.combinations(groups, 2):
        d = pd.concat([a, b])
        if int(d["event"].sum()) == 0:
            rows.append({"group_a": ga, "group_b": gb, "statistic": 0.0, "p": 1.0})
            continue
        try:
            s, pp = _test(d)
        except np.linalg.LinAlgError:  # no contrast between the pair: as a pair without events
            s, pp = 0.0, 1.0
        rows.append({"group_a": ga, "group_b": gb, "statistic": s, "p": pp})
    pairs = pd.DataFrame(rows)
    pairs["p_holm"] = multipletests(pairs["p"], method="holm")[1]
    pairs["significant"] = pairs["p_holm"] < alpha
    return with_unit(overall, time_unit), with_unit(pairs, time_unit)


def period_churn(frame: pd.DataFrame, start, end, alpha: float = 0.05, *, event_col: str = "event",
                 entry_date_col: str = "entry_date", exit_date_col: str = "exit_date",
                 time_unit: str = "years") -> pd.Series:
    """Churn in a period under the frame's churn definition.

    Parameters
    ----------
    event_col : str
        0/1 churn column.
    entry_date_col, exit_date_col : str
        Calendar dates at which the customer entered observation and left it (churn or censoring).
    time_unit : {"years", "months", "weeks", "days"}
        Unit of the exposure and of the hazard (``customer_years`` / ``hazard_per_year`` by default,
        ``customer_months`` / ``hazard_per_month`` for months, ...).

    Returns
    -------
    Series with ``at_risk_start`` (customers at risk on ``start``), ``churned_of_start`` (of
    them, churned by ``end``), ``churn_rate`` (proportion, Wilson CI ``churn_rate_lower`` /
    ``_upper``), ``churned`` (all churn events dated in the period, new customers included),
    ``customer_<time_unit>`` (time at risk in the period), ``hazard_per_<unit>`` (churned /
    exposure, exact Poisson CI ``hazard_lower`` / ``_upper``); ``attrs["time_unit"]``.
    """
    require_columns(frame, "frame", event_col=event_col, entry_date_col=entry_date_col, exit_date_col=exit_date_col)
    per = per_year(time_unit)
    entry, exit_ = frame[entry_date_col], frame[exit_date_col]
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    at0 = (entry < s) & (exit_ >= s)
    in_p = (exit_ >= s) & (exit_ <= e) & frame[event_col].eq(1)
    n0, c0 = int(at0.sum()), int((at0 & in_p).sum())
    lo, hi = proportion_confint(c0, n0, alpha=alpha, method="wilson") if n0 else (np.nan, np.nan)
    t0 = entry.where(entry > s, s)
    t1 = exit_.where(exit_ < e + pd.Timedelta(days=1), e + pd.Timedelta(days=1))
    py = float(((t1 - t0) / pd.Timedelta(days=1)).clip(lower=0).sum() / YEAR_DAYS) * per
    c = int(in_p.sum())
    h_lo = stats.chi2.ppf(alpha / 2, 2 * c) / 2 / py if c else 0.0
    h_hi = stats.chi2.ppf(1 - alpha / 2, 2 * c + 2) / 2 / py if py else np.nan
    unit = SINGULAR[time_unit]
    out = pd.Series({"at_risk_start": n0, "churned_of_start": c0, "churn_rate": c0 / n0 if n0 else np.nan,
                     "churn_rate_lower": lo, "churn_rate_upper": hi, "churned": c, f"customer_{time_unit}": py,
                     f"hazard_per_{unit}": c / py if py else np.nan, "hazard_lower": h_lo, "hazard_upper": h_hi})
    return with_unit(out, time_unit)

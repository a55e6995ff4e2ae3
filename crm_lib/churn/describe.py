"""Kaplan-Meier curves, retention and median tenure with CIs, log-rank tests, churn rate in a period.

Every estimator passes the frame's ``entry`` on (left truncation): customers onboarded
before the data window only count in risk sets from the tenure at which they were seen.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from crm_lib.churn.cox import check_frame
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)


def _groups(frame: pd.DataFrame, by: str | None, min_n: int):
    if by is None:
        return [("all customers", frame)], []
    if by not in frame.columns:
        raise DataContractError(f"frame.{by}: column missing (rule 'group column present'); "
                                f"available: {', '.join(map(str, frame.columns[:20]))}")
    out, small = [], []
    for g, sub in sorted(frame.groupby(frame[by].astype(str), observed=True), key=lambda kv: -len(kv[1])):
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


def km_curves(frame: pd.DataFrame, by: str | None = None, step_years: float = 1 / 12, alpha: float = 0.05,
              min_n: int = 30, min_at_risk: int = 20, from_onboarding: bool = False) -> pd.DataFrame:
    """Kaplan-Meier retention curves (tenure scale) with pointwise CIs, overall or by group.

    Parameters
    ----------
    frame : DataFrame
        A survival frame (``duration``, ``event``, ``entry`` in years).
    by : str, optional
        Group column (e.g. ``tier_at_entry``, ``customer_type``, ``acquisition_channel``, ``cohort``).
    step_years : float
        Grid spacing of the returned curve (default one month).
    alpha : float
        1 - pointwise confidence level.
    min_n : int
        Groups with fewer customers are left out (logged).
    min_at_risk : int
        A curve stops where fewer customers are at risk (its tail is noise).
    from_onboarding : bool
        Keep only customers observed from onboarding (``entry == 0``): curves of acquisition
        cohorts then all start at tenure 0.

    Returns
    -------
    DataFrame with ``group``, ``n`` (customers in the group), ``time`` (years since onboarding),
    ``survival`` (share still a customer, 0-1), ``lower``, ``upper`` (log-log Greenwood CI,
    lifelines' default), ``at_risk`` (customers at risk at that tenure).

    References
    ----------
    Kaplan, E.L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *JASA* 53, 457-481. Kalbfleisch & Prentice (2002), *The Statistical Analysis of Failure
    Time Data*, 2nd ed., sec. 1.3 (delayed entry) and 1.4 (log-log intervals).
    """
    check_frame(frame, entry_col="entry" if "entry" in frame.columns else None)
    if from_onboarding:
        frame = frame[frame["entry"] == 0]
    rows = []
    for g, sub in _groups(frame, by, min_n)[0]:
        km = _km(sub, alpha)
        t = np.arange(0, sub["duration"].max() + step_years / 2, step_years)
        n = _at_risk(sub, t)
        keep = n >= min_at_risk
        if not keep.any():
            continue
        t = t[: np.flatnonzero(keep)[-1] + 1]
        s, lo, hi = _at(km, t)
        rows.append(pd.DataFrame({"group": g, "n": len(sub), "time": t, "survival": s, "lower": lo, "upper": hi,
                                  "at_risk": n[: len(t)]}))
    if not rows:
        raise DataContractError(f"frame: no group with at least {min_n} customers and {min_at_risk} at risk")
    return pd.concat(rows, ignore_index=True)


def retention_summary(frame: pd.DataFrame, by: str | None = None, months=(12, 24), alpha: float = 0.05,
                      min_n: int = 30) -> pd.DataFrame:
    """Median tenure and retention at fixed tenures, with CIs, overall or by group.

    Returns
    -------
    DataFrame with ``group``, ``n`` (customers), ``events`` (churns), ``estimator`` (Kaplan-Meier,
    or Fleming-Harrington where KM collapsed on a tiny early risk set), ``median_years``
    (Kaplan-Meier median tenure; ``inf`` when more than half never churn within the
    observed tenures), ``median_lower``, ``median_upper`` (from the log-log band,
    Brookmeyer & Crowley 1982), and for each month m: ``retention_<m>m`` (share of customers
    still with the bank m months after onboarding, 0-1), ``retention_<m>m_lower``/``_upper``.

    References
    ----------
    Brookmeyer, R. & Crowley, J. (1982). A confidence interval for the median survival time.
    *Biometrics* 38, 29-41.
    """
    import warnings

    from lifelines.utils import median_survival_times

    check_frame(frame, entry_col="entry" if "entry" in frame.columns else None)
    rows = []
    for g, sub in _groups(frame, by, min_n)[0]:
        km = _km(sub, alpha)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # lifelines' ApproximationWarning on the Fleming-Harrington median
            med = float(km.median_survival_time_)
        med_ci = median_survival_times(km.confidence_interval_)
        r = {"group": g, "n": len(sub), "events": int(sub["event"].sum()), "estimator": km.estimator_name_,
             "median_years": med,
             "median_lower": float(med_ci.iloc[0, 0]), "median_upper": float(med_ci.iloc[0, 1])}
        for m in months:
            s, lo, hi = _at(km, [m / 12])
            r[f"retention_{m}m"], r[f"retention_{m}m_lower"], r[f"retention_{m}m_upper"] = s[0], lo[0], hi[0]
        rows.append(r)
    return pd.DataFrame(rows)


def logrank(frame: pd.DataFrame, by: str, min_n: int = 30, alpha: float = 0.05) -> tuple[pd.Series, pd.DataFrame]:
    """Log-rank tests with delayed entry: every group at once, and every pair (Holm-adjusted).

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

    check_frame(frame, entry_col="entry" if "entry" in frame.columns else None)
    groups, _ = _groups(frame, by, min_n)
    if len(groups) < 2:
        raise DataContractError(f"frame.{by}: fewer than two groups with at least {min_n} customers (rule 'a test "
                                "needs two groups')")
    sub = pd.concat([s for _, s in groups])
    if int(sub["event"].sum()) == 0:
        raise DataContractError(f"frame.event: no churn events in any {by} group (rule 'at least one event'): "
                                "the groups cannot be compared")

    def _test(d):
        stat, p = survdiff(d["duration"].to_numpy(float), d["event"].to_numpy(int), d[by].astype(str).to_numpy(),
                           entry=d["entry"].to_numpy(float) if "entry" in d.columns else None)
        return float(stat), float(p)

    stat, p = _test(sub)
    overall = pd.Series({"statistic": stat, "df": len(groups) - 1, "p": p, "groups": len(groups), "n": len(sub)})
    rows = []
    for (ga, a), (gb, b) in itertools.combinations(groups, 2):
        d = pd.concat([a, b])
        if int(d["event"].sum()) == 0:
            rows.append({"group_a": ga, "group_b": gb, "statistic": 0.0, "p": 1.0})
            continue
        s, pp = _test(d)
        rows.append({"group_a": ga, "group_b": gb, "statistic": s, "p": pp})
    pairs = pd.DataFrame(rows)
    pairs["p_holm"] = multipletests(pairs["p"], method="holm")[1]
    pairs["significant"] = pairs["p_holm"] < alpha
    return overall, pairs


def period_churn(frame: pd.DataFrame, start, end, alpha: float = 0.05) -> pd.Series:
    """Churn in a period under the frame's churn definition.

    Returns
    -------
    Series with ``at_risk_start`` (customers at risk on ``start``), ``churned_of_start`` (of
    them, churned by ``end``), ``churn_rate`` (proportion, Wilson CI ``churn_rate_lower`` /
    ``_upper``), ``churned`` (all churn events dated in the period, new customers included),
    ``customer_years`` (time at risk in the period), ``hazard_per_year`` (churned /
    customer_years, annualised, exact Poisson CI ``hazard_lower`` / ``_upper``).
    """
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    at0 = (frame["entry_date"] < s) & (frame["exit_date"] >= s)
    in_p = (frame["exit_date"] >= s) & (frame["exit_date"] <= e) & frame["event"].eq(1)
    n0, c0 = int(at0.sum()), int((at0 & in_p).sum())
    lo, hi = proportion_confint(c0, n0, alpha=alpha, method="wilson") if n0 else (np.nan, np.nan)
    t0 = frame["entry_date"].where(frame["entry_date"] > s, s)
    t1 = frame["exit_date"].where(frame["exit_date"] < e + pd.Timedelta(days=1), e + pd.Timedelta(days=1))
    py = float(((t1 - t0) / pd.Timedelta(days=1)).clip(lower=0).sum() / 365.25)
    c = int(in_p.sum())
    h_lo = stats.chi2.ppf(alpha / 2, 2 * c) / 2 / py if c else 0.0
    h_hi = stats.chi2.ppf(1 - alpha / 2, 2 * c + 2) / 2 / py if py else np.nan
    return pd.Series({"at_risk_start": n0, "churned_of_start": c0, "churn_rate": c0 / n0 if n0 else np.nan,
                      "churn_rate_lower": lo, "churn_rate_upper": hi, "churned": c, "customer_years": py,
                      "hazard_per_year": c / py if py else np.nan, "hazard_lower": h_lo, "hazard_upper": h_hi})

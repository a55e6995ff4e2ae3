"""Do customers who complained leave faster? Complainants' closure hazard against the others'."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.satisfaction._checks import require_columns
from crm_lib.satisfaction.complaints import in_window

logger = logging.getLogger(__name__)

def complainant_churn(features: pd.DataFrame, complaints: pd.DataFrame, as_of, follow_up_days: int = 365,
                      lookback_days: int = 365, alpha: float = 0.05) -> pd.Series:
    """Do customers who complained leave faster? Log-rank test and Cox hazard ratio.

    Cohort: customers on book at ``t0 = as_of - follow_up_days`` with at least
    ``lookback_days`` of tenure then. *Complainants* opened a complaint in the
    ``lookback_days`` before ``t0``. Each customer is followed from ``t0`` to closure or
    ``as_of`` (censored). The hazard ratio is complainants vs the others (unadjusted
    Cox model, Efron ties): above 1 means complainants close their relationship sooner.

    Parameters
    ----------
    features : DataFrame
        Feature table as of ``as_of``: ``customer_id`` (pseudonym), ``onboard_date``, ``closed_date``.
    complaints : DataFrame
        Complaints with the same pseudonyms, covering the look-back window.

    Returns
    -------
    Series
        ``t0``, ``customers``, ``complainants``, ``others``, ``closed_complainants``,
        ``closed_others``, ``churn_complainants``, ``churn_others`` (KM share closed by the
        end of follow-up, 0-1), ``hazard_ratio`` with ``hr_lower``/``hr_upper``,
        ``p_value`` (log-rank), ``follow_up_days``.

    References
    ----------
    Cox, D. R. (1972). Regression models and life-tables. JRSS B 34, 187-220.
    Peto, R. & Peto, J. (1972). Asymptotically efficient rank invariant test procedures. JRSS A 135, 185-207.
    """
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    require_columns(features, "features", ["customer_id", "onboard_date", "closed_date"])
    require_columns(complaints, "complaints", ["customer_id", "opened_at"])
    end = pd.Timestamp(as_of).normalize()
    t0 = end - pd.Timedelta(days=follow_up_days)
    onboard = pd.to_datetime(features["onboard_date"])
    closed = pd.to_datetime(features["closed_date"])
    cohort = (onboard <= t0 - pd.Timedelta(days=lookback_days)) & (closed.isna() | (closed > t0))
    f = features.loc[cohort, ["customer_id"]].assign(_closed=closed[cohort])
    recent = in_window(complaints, t0 - pd.Timedelta(days=lookback_days - 1), t0)
    f["complainant"] = f["customer_id"].isin(recent["customer_id"]).astype(int)
    event = f["_closed"].notna() & (f["_closed"] <= end)
    f["T"] = np.where(event, (f["_closed"] - t0).dt.days, follow_up_days).astype(float)
    f["E"] = event.astype(int)
    a, b = f[f["complainant"] == 1], f[f["complainant"] == 0]
    out = {"t0": t0.date(), "customers": len(f), "complainants": len(a), "others": len(b),
           "closed_complainants": int(a["E"].sum()), "closed_others": int(b["E"].sum()),
           "follow_up_days": follow_up_days}
    if len(a) < 2 or len(b) < 2 or f["E"].sum() == 0:
        logger.warning("complainant_churn: too few complainants, others or closures to compare")
        return pd.Series({**out, "churn_complainants": np.nan, "churn_others": np.nan, "hazard_ratio": np.nan,
                          "hr_lower": np.nan, "hr_upper": np.nan, "p_value": np.nan})
    # Everyone is followed to the same end, so the share closed is the KM estimate at follow-up.
    # Times are whole days: the Cox fit and the log-rank test run on (T, E, group) counts with
    # frequency weights, the same likelihood as one row per customer at a fraction of the cost.
    agg = f.groupby(["T", "E", "complainant"]).size().rename("w").reset_index()
    ga, gb = agg[agg["complainant"] == 1], agg[agg["complainant"] == 0]
    lr = logrank_test(ga["T"], gb["T"], ga["E"], gb["E"], weights_A=ga["w"], weights_B=gb["w"])
    cph = CoxPHFitter(alpha=alpha).fit(agg, "T", "E", weights_col="w")
    churn = {"complainants": a["E"].mean(), "others": b["E"].mean()}
    s = cph.summary.loc["complainant"]
    cols = [c for c in s.index if c.startswith("exp(coef) ")]
    return pd.Series({**out, "churn_complainants": churn["complainants"], "churn_others": churn["others"],
                      "hazard_ratio": float(s["exp(coef)"]), "hr_lower": float(s[cols[0]]),
                      "hr_upper": float(s[cols[1]]), "p_value": float(lr.p_value)})

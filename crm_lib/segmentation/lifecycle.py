"""Lifecycle stages as of a date, by rules in ``parameters/segmentation.yaml`` (``lifecycle``).

Each customer gets the first stage whose rule holds, in this order of precedence:

1. ``closed``: the relationship closed within ``closed_lookback_days`` before the date
   (earlier closures are former customers and are left out);
2. ``onboarding``: tenure of at most ``onboarding_days``;
3. ``at_risk``: AUM fell by ``at_risk_aum_change_3m`` or more over the last three
   month-ends, or ``at_risk_complaints_90d`` complaints in the last 90 days, or (once the
   churn model supplies a ``churn_score`` column and ``at_risk_churn_score`` is set) a
   churn score at least that;
4. ``dormant``: no everyday transaction in the last ``dormant_days`` (or none ever);
5. ``growing``: tenure of at most ``growing_tenure_days``, or AUM up by
   ``growing_aum_change_3m`` or more over three month-ends;
6. ``mature``: everyone else.

Prospects (people not yet customers) are not in the warehouse's customers table, so the
prospect stage is not reported.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError
from crm_lib.fmt import N_, _
from crm_lib.segmentation._validate import require_columns, require_rows, unique_ids

logger = logging.getLogger(__name__)

STAGES = ("onboarding", "growing", "mature", "at_risk", "dormant", "closed")   # display (lifecycle) order
#: stage names as pages show them (the migration states ``new`` and ``closed`` too), marked for the catalogue
STAGE_NAMES = {"onboarding": N_("onboarding"), "growing": N_("growing"), "mature": N_("mature"),
               "at_risk": N_("at risk"), "dormant": N_("dormant"), "closed": N_("closed"), "new": N_("new")}
NEEDS = ["customer_id", "customer_type", "is_active", "closed_date", "tenure_days", "onboard_date", "recency_days",
         "aum_change_3m", "complaints_90d"]


def stage_label(stage) -> str:
    """A lifecycle stage (or ``new``/``closed``) as words in the run's language; anything else as words."""
    if isinstance(stage, str) and stage in STAGE_NAMES:
        return _(STAGE_NAMES[stage])
    return str(stage).replace("_", " ")


def lifecycle_stages(features: pd.DataFrame, rules: dict, as_of=None) -> pd.DataFrame:
    """The lifecycle stage of each customer as of the feature table's date.

    Parameters
    ----------
    features : DataFrame
        The feature table (``NEEDS`` columns; ``churn_score`` optional).
    rules : dict
        ``load_settings()['lifecycle']`` (thresholds in days and proportions).
    as_of : date-like, optional
        The feature table's date; default derived from ``onboard_date + tenure_days``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``customer_type``, ``stage``, and the rule signals (bool):
        ``signal_onboarding``, ``signal_aum_outflow``, ``signal_complaints``,
        ``signal_churn_score``, ``signal_dormant``, ``signal_growing``; sorted by
        ``customer_id``. Customers closed before the lookback are not listed.

    Raises
    ------
    DataContractError
        Missing columns, no customers, negative tenure, or a churn-score rule without
        a ``churn_score`` column.
    """
    require_columns(features, NEEDS, why="lifecycle stages")
    require_rows(features, "no customers at the as-of date")
    unique_ids(features)
    if (features["tenure_days"] < 0).any():
        raise DataContractError("features.tenure_days: rule 'non-negative' is broken")
    d = pd.Timestamp(as_of) if as_of is not None else \
        (pd.to_datetime(features["onboard_date"]) + pd.to_timedelta(features["tenure_days"], unit="D")).max()
    closed_at = pd.to_datetime(features["closed_date"])
    active = features["is_active"].fillna(False).astype(bool).to_numpy()
    recent_close = (~active) & (closed_at >= d - pd.Timedelta(days=int(rules["closed_lookback_days"]))).to_numpy()
    keep = active | recent_close
    # only the columns the rules read (a copy of every column is ~5 GB at 10M customers)
    f = features.loc[keep, [c for c in ("customer_id", "customer_type", "tenure_days", "aum_change_3m",
                                         "complaints_90d", "recency_days", "churn_score") if c in features.columns]]
    closed = recent_close[keep]
    tenure = f["tenure_days"].to_numpy()
    chg = f["aum_change_3m"].to_numpy(dtype=float)
    sig = pd.DataFrame({"customer_id": f["customer_id"].to_numpy(), "customer_type": f["customer_type"].to_numpy()})
    sig["signal_onboarding"] = tenure <= int(rules["onboarding_days"])
    sig["signal_aum_outflow"] = np.nan_to_num(chg, nan=0.0) <= float(rules["at_risk_aum_change_3m"])
    sig["signal_complaints"] = f["complaints_90d"].to_numpy() >= int(rules["at_risk_complaints_90d"])
    if rules.get("at_risk_churn_score") is not None:
        if "churn_score" not in f:
            raise DataContractError("features: missing column ['churn_score'] (lifecycle.at_risk_churn_score is set: "
                                    "add the churn model's score, or set at_risk_churn_score: null)")
        sig["signal_churn_score"] = (f["churn_score"] >= float(rules["at_risk_churn_score"])).fillna(False).to_numpy()
    else:
        sig["signal_churn_score"] = False
    rec = f["recency_days"].to_numpy(dtype=float)
    sig["signal_dormant"] = np.isnan(rec) | (np.nan_to_num(rec, nan=0.0) > int(rules["dormant_days"]))
    sig["signal_growing"] = (tenure <= int(rules["growing_tenure_days"])) | \
        (np.nan_to_num(chg, nan=0.0) >= float(rules["growing_aum_change_3m"]))
    at_risk = sig["signal_aum_outflow"] | sig["signal_complaints"] | sig["signal_churn_score"]
    sig["stage"] = np.select(
        [closed, sig["signal_onboarding"], at_risk, sig["signal_dormant"], sig["signal_growing"]],
        ["closed", "onboarding", "at_risk", "dormant", "growing"], "mature")
    logger.info("lifecycle as of %s: %s", d.date(), sig["stage"].value_counts().to_dict())
    cols = ["customer_id", "customer_type", "stage", "signal_onboarding", "signal_aum_outflow", "signal_complaints",
            "signal_churn_score", "signal_dormant", "signal_growing"]
    return sig[cols].sort_values("customer_id").reset_index(drop=True)


def lifecycle_summary(stages: pd.DataFrame, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers (and AUM when ``features`` is given) per lifecycle stage, in lifecycle order.

    Returns
    -------
    DataFrame indexed by ``stage``: ``customers``, ``share`` (of listed customers, 0-1),
    and with ``features`` ``aum`` (sum of average AUM at the date, currency; closed
    customers hold none) and ``aum_share`` (0-1). Stages with no customers show 0.
    """
    require_columns(stages, ["customer_id", "stage"], table="lifecycle")
    out = pd.DataFrame({"customers": stages["stage"].value_counts().reindex(list(STAGES), fill_value=0)})
    out.index.name = "stage"
    out["share"] = out["customers"] / max(int(out["customers"].sum()), 1)
    if features is not None:
        aum = stages.merge(features[["customer_id", "aum_avg"]], on="customer_id", how="left")
        out["aum"] = aum.groupby("stage")["aum_avg"].sum().reindex(out.index, fill_value=0.0)
        out.loc["closed", "aum"] = 0.0
        out["aum_share"] = out["aum"] / out["aum"].sum() if out["aum"].sum() > 0 else np.nan
    return out

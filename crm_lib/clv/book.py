"""The bank's book valued as of a date: churn model, scoring frame, margins and relationship CLV in one call."""

from __future__ import annotations

import logging
import time

import pandas as pd

from crm_lib.churn import covariates as cv
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import cohort_frame, observation_start, snapshot
from crm_lib.margin import ClvSettings, warehouse_margin
from crm_lib.clv.relationship import RelationshipCLV, relationship_clv

logger = logging.getLogger(__name__)


def survival_model(wh, as_of, churn_settings, key: str | None = None, covariates=cv.EXPLANATORY) -> ChurnCox:
    """The Cox model CLV survival comes from: customers at risk on the observation start (the first
    month-end with a full behaviour window), covariates as of that day, followed to ``as_of`` -- the
    long-run model of ``20_churn``, unstratified so every customer shares one baseline hazard; fitted on a stratified
    sample above ``churn_settings.model_sample_customers`` customers, as there. Every customer is valued."""
    s = churn_settings
    start = observation_start(wh, s.window_days)
    frame = cohort_frame(wh, start, as_of, definition=s.definition, key=key, window_days=s.window_days,
                         aum_months=s.aum_months, tiers=s.tiers, sample=s.model_sample)
    return ChurnCox(covariates=covariates, penalizer=s.penalizer, alpha=s.alpha,
                    window_days=s.window_days).fit(frame, table="cohort frame")


def value_book(wh, as_of, churn_settings, clv_settings: ClvSettings | None = None, key: str | None = None,
               model: ChurnCox | None = None, seed: int | None = None) -> RelationshipCLV:
    """Relationship CLV of every customer active on ``as_of`` (pseudonymous identifiers).

    Fits ``survival_model`` unless ``model`` is given; scores ``crm_lib.churn.snapshot`` as of
    ``as_of``; margins from ``warehouse_margin``. Intervals at ``churn_settings.alpha``.
    """
    from crm_lib.data.privacy import pseudonym_key

    key = key or pseudonym_key()
    wh.need("balances")   # the margins; accounts (fees) and the survival model's feature table follow
    wh.need("accounts")
    s = churn_settings
    clv_settings = clv_settings or ClvSettings.load()
    as_of = pd.Timestamp(as_of).normalize()
    t = [time.perf_counter()]
    model = model or survival_model(wh, as_of, s, key)
    t.append(time.perf_counter())
    snap = snapshot(wh, as_of, s.definition, key, s.window_days, s.aum_months, s.tiers)
    snap = _with_lifecycle(snap, as_of)
    t.append(time.perf_counter())
    margin = warehouse_margin(wh, as_of, clv_settings, key, s.aum_months)
    t.append(time.perf_counter())
    res = relationship_clv(snap, margin, model, clv_settings, as_of, alpha=s.alpha,
                           seed=s.seed if seed is None else seed, by=("tier", "customer_type", "lifecycle"))
    t.append(time.perf_counter())
    res.model = model
    res.timings = {k: round(t[i + 1] - t[i], 2) for i, k in
                   enumerate(("survival_model", "snapshot", "margin", "relationship_clv"))}
    logger.info("value_book timings (s): %s", res.timings)
    return res


def _with_lifecycle(snap: pd.DataFrame, as_of) -> pd.DataFrame:
    """``snap`` with each customer's lifecycle stage (``crm_lib.segmentation``'s rules in
    ``parameters/segmentation.yaml``) as ``lifecycle``; unchanged when the rules cannot be applied."""
    from crm_lib.errors import ConfigError, DataContractError
    from crm_lib.segmentation.lifecycle import lifecycle_stages
    from crm_lib.segmentation.settings import load_settings

    try:
        st = lifecycle_stages(snap, load_settings()["lifecycle"], as_of=as_of)
    except (DataContractError, ConfigError, KeyError) as e:
        logger.info("relationship CLV: no lifecycle stages (%s)", str(e).splitlines()[0])
        return snap
    out = snap.copy()
    out["lifecycle"] = out["customer_id"].map(st.set_index("customer_id")["stage"]).fillna("unknown").to_numpy()
    return out

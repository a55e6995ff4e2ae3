"""The bank's book valued as of a date: churn model, scoring frame, margins and relationship CLV in one call."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from crm_lib.churn import covariates as cv
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.frame import SCORE_CHUNK, cohort_frame, keep_columns, observation_start, snapshot
from crm_lib.margin import ClvSettings, warehouse_margin
from crm_lib.clv.relationship import RelationshipCLV, relationship_clv

logger = logging.getLogger(__name__)

BY = ("tier", "customer_type", "lifecycle")        # the book's groupings


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
               model: ChurnCox | None = None, seed: int | None = None,
               chunk_customers: int | None = SCORE_CHUNK) -> RelationshipCLV:
    """Relationship CLV of every customer active on ``as_of`` (pseudonymous identifiers).

    Fits ``survival_model`` unless ``model`` is given; scores ``crm_lib.churn.snapshot`` as of
    ``as_of``, built in parts of about ``chunk_customers`` customers (``None``: one query), each with its
    lifecycle stages and cut to the columns the valuation reads; margins from ``warehouse_margin``.
    Intervals at ``churn_settings.alpha``.
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
    snap = snapshot(wh, as_of, s.definition, key, s.window_days, s.aum_months, s.tiers, chunk_customers=chunk_customers,
                    reduce=valued_columns(model.covariates_, as_of))
    if "lifecycle" in snap.columns:       # a part whose stages could not be set (parts are built alike, so rare)
        snap["lifecycle"] = snap["lifecycle"].fillna("unknown")
    t.append(time.perf_counter())
    margin = warehouse_margin(wh, as_of, clv_settings, key, s.aum_months)
    t.append(time.perf_counter())
    res = relationship_clv(snap, margin, model, clv_settings, as_of, alpha=s.alpha,
                           seed=s.seed if seed is None else seed, by=BY)
    t.append(time.perf_counter())
    res.model = model
    res.timings = {k: round(t[i + 1] - t[i], 2) for i, k in
                   enumerate(("survival_model", "snapshot", "margin", "relationship_clv"))}
    logger.info("value_book timings (s): %s", res.timings)
    return res


def valued_columns(covariates, as_of):
    """A snapshot ``reduce``: each part cut to what ``relationship_clv`` reads, with its customers' lifecycle
    stages (a customer's stage depends on their own features only, so parts give the stages one query gives)."""
    keep = keep_columns(["customer_id", "entry", "onboard_date", "acquisition_cost", *BY, "acquisition_channel",
                         *cv.frame_columns(covariates)])

    def reduce(part: pd.DataFrame) -> pd.DataFrame:
        stage = _lifecycle(part, as_of)
        out = keep(part)
        if stage is not None:
            out = out.assign(lifecycle=stage)
        return out
    return reduce


def _lifecycle(snap: pd.DataFrame, as_of) -> np.ndarray | None:
    """Each customer's lifecycle stage (``crm_lib.segmentation``'s rules in ``parameters/segmentation.yaml``), in
    ``snap``'s order; ``None`` when the rules cannot be applied (the book is then not grouped by stage)."""
    from crm_lib.errors import ConfigError, DataContractError
    from crm_lib.segmentation.lifecycle import lifecycle_stages
    from crm_lib.segmentation.settings import load_settings

    if snap.empty:
        return None
    try:
        st = lifecycle_stages(snap, load_settings()["lifecycle"], as_of=as_of)
    except (DataContractError, ConfigError, KeyError) as e:
        logger.info("relationship CLV: no lifecycle stages (%s)", str(e).splitlines()[0])
        return None
    return snap["customer_id"].map(st.set_index("customer_id")["stage"]).fillna("unknown").to_numpy()

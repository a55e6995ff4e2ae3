"""Survival frames from the warehouse: who was at risk, from when, until when, and why they left.

Time scale: **tenure in years** since onboarding (365.25 days a year). A customer enters
the risk set at ``entry`` (their tenure when observation of them starts: at onboarding, or
later when they were onboarded before the frame's start -- *left truncation*, or *delayed
entry*) and leaves it at ``duration`` (tenure at churn, at a competing exit, at a censoring
contact, or at the end of follow-up). A model that ignores ``entry`` over-represents
long-tenure survivors; every estimator here passes it on.

Three frames, one outcome engine (``_outcomes``: one DuckDB query, identifiers
pseudonymised in the query, nothing dated after the frame's end is read):

- ``survival_frame``: every customer at risk at some time in ``[start, end]``, with static
  attributes (type, age band, acquisition channel and cohort, tier at entry) -- for
  Kaplan-Meier curves, log-rank tests and competing exits.
- ``cohort_frame``: customers at risk on ``start``, followed to ``end`` (or a horizon), with
  the feature table *as of* ``start`` -- no covariate is measured after follow-up begins.
- ``landmark_frame``: cohort frames stacked at several landmark dates (dynamic prediction;
  a customer appears once per landmark, so fit with cluster-robust errors).

Columns common to all frames (units):
    customer_id (pseudonym), customer_type, age, age_band, acquisition_channel, region,
    onboard_date, entry_date, exit_date (dates), entry, duration (years since onboarding),
    event (1 = churned per the definition, else 0), cause ('censored', the churn cause -- a
    closure reason or 'dormancy' --, or a competing exit's closure reason),
    censored_at_contact (bool), treated_before (0/1: treated by a censoring campaign kind on
    or before ``entry_date``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.churn.settings import ChurnDefinition
from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.sample import PseudonymRange, SampleNote, check_cap, part_query, pseudonym_parts, sample_ids
from crm_lib.data.sqlsafe import lit, lits
from crm_lib.data.store import Warehouse, shared_text
from crm_lib.errors import DataContractError, NotEstimable
from crm_lib.features import feature_table
from crm_lib.paramfiles import default_tier_thresholds

logger = logging.getLogger(__name__)

YEAR_DAYS = 365.25
AGE_BANDS = ("under_30", "30_64", "65_plus", "corporate", "unknown")


# --------------------------------------------------------------------------- dates

def history_start(wh: Warehouse) -> pd.Timestamp:
    """First day of the first month with balances: where the data window begins.

    Before it the warehouse holds no balances or transactions, so customers onboarded
    earlier are observed from this day on (left truncation).
    """
    wh.need("balances")
    v = wh.con.execute("SELECT min(month) FROM balances").fetchall()[0][0]
    if v is None:
        raise DataContractError("balances.month: table is empty (rule 'at least one month of balances')")
    return pd.Timestamp(v).normalize().replace(day=1)


def observation_start(wh: Warehouse, window_days: int = 365) -> pd.Timestamp:
    """The first month-end with a full behaviour window of data before it.

    The earliest date at which every covariate of the feature table is measured over its
    whole window: the start of the longest leakage-free cohort.
    """
    d = history_start(wh) + pd.Timedelta(days=int(window_days))
    return d + pd.offsets.MonthEnd(0)


def add_months(d, months: int) -> pd.Timestamp:
    """``d`` moved by ``months`` calendar months; a month-end stays a month-end."""
    d = pd.Timestamp(d).normalize()
    out = d + pd.DateOffset(months=int(months))
    return out + pd.offsets.MonthEnd(0) if d.is_month_end else out


def years_between(a, b) -> np.ndarray:
    """(b - a) in years of 365.25 days, element-wise."""
    return np.asarray((pd.to_datetime(b) - pd.to_datetime(a)) / pd.Timedelta(days=1), dtype=float) / YEAR_DAYS


def _d(x) -> str:
    return pd.Timestamp(x).strftime("%Y-%m-%d")


# --------------------------------------------------------------------------- outcomes

def _outcomes_sql(wh: Warehouse, end: pd.Timestamp, definition: ChurnDefinition, key: str,
                  first_day: pd.Timestamp | None, only: str = "") -> str:
    cols = wh.columns("customers")
    nxt = _d(end + pd.Timedelta(days=1))
    e = _d(end)
    reason = "closed_reason" if "closed_reason" in cols else "CAST(NULL AS VARCHAR)"
    opt = {c: (c if c in cols else "CAST(NULL AS VARCHAR)") for c in ("acquisition_channel", "region")}
    if definition.event_reasons is None or "closed_reason" not in cols:
        is_event = "TRUE"
    else:
        # a closure with no recorded reason is a customer lost: it counts as churn
        is_event = f"(closed_reason IS NULL OR closed_reason IN ({lits(definition.event_reasons)}))"
    kinds = [k for k in definition.censor_treated_kinds or ()]
    if kinds and wh.has("campaigns") and wh.has("campaign_contacts"):
        treat = f"""tr AS (
  SELECT cc.customer_id, MIN(CAST(cc.contacted_at AS DATE)) AS treated_at
  FROM campaign_contacts cc JOIN campaigns k ON k.campaign_id = cc.campaign_id
  WHERE k.kind IN ({lits(kinds)}) AND cc."group" = 'treatment' AND cc.contacted_at < TIMESTAMP '{nxt} 00:00:00'
  GROUP BY 1)"""
    else:
        treat = "tr AS (SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS DATE) AS treated_at WHERE FALSE)"
    if definition.kind == "dormancy":
        n = int(definition.dormant_days)
        first_check = _d((first_day or pd.Timestamp("1900-01-01")) + pd.Timedelta(days=n))
        dorm = f"""bal AS (
  SELECT customer_id, CAST(month AS DATE) AS month, deposits + investments AS aum FROM balances
  WHERE month <= DATE '{e}' AND month >= DATE '{first_check}'),
tx AS (SELECT customer_id, ts FROM transactions WHERE ts < TIMESTAMP '{nxt} 00:00:00'),
j AS (
  SELECT b.customer_id, b.month, b.aum, t.ts AS last_ts
  FROM bal b ASOF LEFT JOIN tx t ON b.customer_id = t.customer_id AND b.month + INTERVAL 1 DAY > t.ts),
dorm AS (
  SELECT j.customer_id, MIN(j.month) AS dormant_at FROM j JOIN customers c0 ON c0.customer_id = j.customer_id
  WHERE j.aum < {float(definition.aum_floor)}
    AND (j.last_ts IS NULL OR j.last_ts < j.month + INTERVAL 1 DAY - INTERVAL {n} DAY)
    AND CAST(c0.onboard_date AS DATE) <= j.month - INTERVAL {n} DAY
  GROUP BY 1)"""
    else:
        dorm = "dorm AS (SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS DATE) AS dormant_at WHERE FALSE)"
    pid = pseudonym_sql("c.customer_id", key)
    return f"""
WITH c AS (
  SELECT customer_id, customer_type, age, {opt['acquisition_channel']} AS acquisition_channel,
    {opt['region']} AS region, CAST(onboard_date AS DATE) AS onboard_date,
    CASE WHEN closed_date <= DATE '{e}' THEN CAST(closed_date AS DATE) END AS closed_date,
    CASE WHEN closed_date <= DATE '{e}' THEN {reason} END AS closed_reason,
    CASE WHEN closed_date <= DATE '{e}' THEN {is_event} END AS closure_is_event
  FROM customers WHERE onboard_date <= DATE '{e}'{only}
),
{treat},
{dorm}
SELECT {pid} AS customer_id, c.customer_type, c.age, c.acquisition_channel, c.region, c.onboard_date,
  c.closed_date, c.closed_reason, c.closure_is_event, tr.treated_at, dorm.dormant_at
FROM c LEFT JOIN tr ON tr.customer_id = c.customer_id LEFT JOIN dorm ON dorm.customer_id = c.customer_id
ORDER BY 1
"""


def _outcomes(wh: Warehouse, end, definition: ChurnDefinition, key: str | None, part=None) -> pd.DataFrame:
    """Per customer onboarded by ``end``: churn date and cause, competing exit, censoring contact (of the customers
    of ``part``, a ``crm_lib.data.sample.PseudonymRange``, when given).

    Nothing dated after ``end`` is read. Raises ``DataContractError`` for a closure dated
    before onboarding (a negative duration).
    """
    wh.need("customers")
    definition = (definition or ChurnDefinition()).check()
    end = pd.Timestamp(end).normalize()
    first = history_start(wh) if (definition.kind == "dormancy") else None
    if definition.kind == "dormancy":
        wh.need("transactions")
    key = key or pseudonym_key()
    only = f" AND {part.where(key, dialect='duckdb')}" if part is not None else ""
    o = wh.sql(part_query(wh, lambda: _outcomes_sql(wh, end, definition, key, first, ""), part,
                          lambda: _outcomes_sql(wh, end, definition, key, first, only)))
    for c in ("onboard_date", "closed_date", "treated_at", "dormant_at"):
        o[c] = pd.to_datetime(o[c])
    bad = o[o["closed_date"] < o["onboard_date"]]
    if len(bad):
        raise DataContractError(
            f"customers.closed_date: {len(bad)} customer(s) break rule 'closed_date >= onboard_date' (a negative "
            "duration); fix the source, e.g.\n"
            f"{bad[['customer_id', 'onboard_date', 'closed_date']].head(3).to_string(index=False)}",
            problems=bad[["customer_id", "onboard_date", "closed_date"]].head(5).astype(str).to_dict("records"))
    ev = o["closure_is_event"].fillna(False).astype(bool)
    churn = o["closed_date"].where(ev)
    cause = o["closed_reason"].where(ev).fillna("closure")
    if definition.kind == "dormancy":
        dorm_first = o["dormant_at"].notna() & ~(churn <= o["dormant_at"])
        churn = churn.where(~dorm_first, o["dormant_at"])
        cause = cause.where(~dorm_first, "dormancy")
    o["churn_date"] = churn
    o["churn_cause"] = cause.where(churn.notna())
    o["other_date"] = o["closed_date"].where(~ev & o["closed_date"].notna())
    o["other_cause"] = o["closed_reason"].where(o["other_date"].notna()).fillna("other")
    o.loc[o["other_date"].isna(), "other_cause"] = None
    o["age_band"] = _age_band(o)
    return o.drop(columns=["closure_is_event"])


def _age_band(o: pd.DataFrame) -> pd.Series:
    age = pd.to_numeric(o["age"], errors="coerce").astype(float)
    code = np.select([o["customer_type"].eq("corporate").to_numpy(), (age < 30).to_numpy(), (age >= 65).to_numpy(),
                      age.notna().to_numpy()], [0, 1, 2, 3], 4)
    # five strings shared by every row (an array of text choices would make one Python string a row)
    return pd.Series(np.array(["corporate", "under_30", "65_plus", "30_64", "unknown"], dtype=object)[code],
                     index=o.index)


def _spells(o: pd.DataFrame, start, stop: pd.Timestamp, censor_contacts: bool = True) -> pd.DataFrame:
    """Entry, exit, event and cause of each customer followed from ``max(onboarding, start)`` to ``stop``.

    ``start`` is a date or a Series of dates aligned with ``o`` (one start per customer).
    """
    f = o.copy()
    f["entry_date"] = f["onboard_date"].where(f["onboard_date"] > start, start)
    treated = f["treated_at"]
    f["treated_before"] = (treated.notna() & (treated <= f["entry_date"])).astype(int)
    contact = treated.where(censor_contacts & treated.notna() & (treated > f["entry_date"]))
    cands = pd.DataFrame({"churn": f["churn_date"], "other": f["other_date"], "contact": contact,
                          "end": pd.Series(stop, index=f.index)})
    first = cands.min(axis=1)
    # ties: a churn on the contact day is a churn (the campaign came too late to act);
    # a contact strictly before the exit censors it
    is_churn = f["churn_date"].notna() & (f["churn_date"] <= first) & ~(contact < f["churn_date"])
    is_other = ~is_churn & f["other_date"].notna() & (f["other_date"] <= first) & ~(contact < f["other_date"])
    f["exit_date"] = first
    f["event"] = is_churn.astype(int)
    f["cause"] = np.where(is_churn, f["churn_cause"], np.where(is_other, f["other_cause"], shared_text("censored")))
    f["censored_at_contact"] = contact.notna() & (contact <= first) & ~is_churn & ~is_other
    f["entry"] = years_between(f["onboard_date"], f["entry_date"])
    f["duration"] = years_between(f["onboard_date"], f["exit_date"])
    return f[f["exit_date"] > f["entry_date"]]


_OUT = ["customer_id", "customer_type", "age", "age_band", "acquisition_channel", "region", "onboard_date",
        "entry_date", "exit_date", "entry", "duration", "event", "cause", "censored_at_contact", "treated_before"]


def survival_frame(wh: Warehouse, end, start=None, definition: ChurnDefinition | None = None,
                   key: str | None = None, tiers: dict | None = None) -> pd.DataFrame:
    """One row per customer at risk at some time in ``[start, end]``, with static attributes.

    Parameters
    ----------
    wh : Warehouse
    end : date-like
        End of follow-up (the as-of date); nothing dated later is read.
    start : date-like, optional
        Start of observation; default ``history_start(wh)``. Customers onboarded earlier
        enter at their tenure on ``start`` (left truncation).
    definition : ChurnDefinition, optional
        What counts as churn (default: voluntary closure).
    key : str, optional
        Pseudonymisation key (default from the environment).
    tiers : dict, optional
        Tier thresholds (``{customer_type: {tier: lower AUM bound}}``) for ``tier_at_entry``.

    Returns
    -------
    DataFrame
        The common columns (module docstring) plus ``cohort`` (onboarding year; ``before
        <year>`` for customers onboarded before ``start``), ``tier_at_entry`` (value tier by
        deposits + investments at the first month-end on or after ``entry_date``; 'unknown'
        when the customer left before one) and ``tier_entry`` (tenure at that month-end, years;
        analyse by tier with ``from_tier_date``, which starts follow-up there).

    Raises
    ------
    DataContractError
        Missing tables, closures before onboarding, or no customer at risk.
    """
    end = pd.Timestamp(end).normalize()
    start = history_start(wh) if start is None else pd.Timestamp(start).normalize()
    if start >= end:
        raise ValueError(f"survival_frame: start {start.date()} must be before end {end.date()}")
    definition = definition or ChurnDefinition()
    key = key or pseudonym_key()
    o = _outcomes(wh, end, definition, key)
    f = _spells(o, start, end, censor_contacts=bool(definition.censor_treated_kinds))
    if f.empty:
        raise DataContractError(f"customers: no customer at risk between {start.date()} and {end.date()} "
                                "(rule 'at least one customer onboarded by the end and not gone before the start')")
    # one string per label, shared by its customers (``astype(str)`` and ``where`` would make one a row)
    onboarded = (f["onboard_date"] >= start).to_numpy()
    cohort = np.empty(len(f), dtype=object)
    cohort[:] = f"before {start.year}"              # (np.full would make one string a row too)
    year = f["onboard_date"].dt.year[onboarded]
    cohort[onboarded] = year.map({y: str(y) for y in year.unique()}).to_numpy(dtype=object)
    f["cohort"] = cohort
    tier, month = _tier_at_entry(wh, f, start, end, key, tiers)
    measured = month.notna() & (month < f["exit_date"])
    f["tier_at_entry"] = np.where(measured, tier, shared_text("unknown"))
    f["tier_entry"] = np.where(measured, years_between(f["onboard_date"], month), np.nan)
    logger.info("survival frame %s..%s: %d customers, %d churn events", start.date(), end.date(), len(f),
                int(f["event"].sum()))
    return f[_OUT + ["cohort", "tier_at_entry", "tier_entry"]].reset_index(drop=True)


def from_tier_date(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame followed from the day each customer's tier was measured (for analyses by tier).

    The tier at entry is read at the first month-end on or after entry, so grouping customers
    by it and following them from entry would condition on surviving to that month-end (those
    who leave earlier have no tier). Here ``entry`` moves to ``tier_entry`` and customers
    without a measured tier are left out: the groups use nothing from after follow-up starts.
    """
    f = frame[frame["tier_entry"].notna()].copy()
    f["entry"] = np.maximum(f["entry"].to_numpy(), f["tier_entry"].to_numpy())
    return f[f["duration"] > f["entry"]]


def _tier_at_entry(wh, f, start, end, key, tiers) -> tuple[np.ndarray, pd.Series]:
    """Tier and date of the first month-end balance on or after each customer's entry."""
    if not wh.has("balances"):
        return np.broadcast_to(shared_text("unknown"), len(f)).copy(), pd.Series(pd.NaT, index=f.index)
    thresholds = tiers or default_tier_thresholds()   # the run's parameters/defaults.yaml, never the demo's
    cases = []
    for ctype, t in thresholds.items():
        for name, lo in sorted(t.items(), key=lambda kv: -kv[1]):
            cases.append(f"WHEN c.customer_type = {lit(ctype)} AND b.aum >= {float(lo)} THEN {lit(name)}")
    pid = pseudonym_sql("c.customer_id", key)
    q = f"""
    WITH b0 AS (
      SELECT b.customer_id, arg_min(b.deposits + b.investments, b.month) AS aum, min(b.month) AS month
      FROM balances b JOIN customers c ON c.customer_id = b.customer_id
      WHERE b.month >= greatest(CAST(c.onboard_date AS DATE), DATE '{_d(start)}') AND b.month <= DATE '{_d(end)}'
      GROUP BY 1)
    SELECT {pid} AS customer_id, CASE {' '.join(cases)} ELSE 'unknown' END AS tier, CAST(b.month AS DATE) AS month
    FROM b0 b JOIN customers c ON c.customer_id = b.customer_id"""
    t = wh.sql(q).set_index("customer_id")
    tier = f["customer_id"].map(t["tier"]).fillna("unknown").to_numpy()
    month = pd.to_datetime(f["customer_id"].map(t["month"]))
    return tier, month


def _extra_features(wh: Warehouse, as_of: pd.Timestamp, key: str,
                    only: SampleNote | PseudonymRange | None = None) -> pd.DataFrame:
    """Product changes in the 90 days up to ``as_of`` (accounts opened / closed), per pseudonym (of the customers
    of ``only`` alone, when given)."""
    if not wh.has("accounts"):
        return pd.DataFrame(columns=["customer_id", "products_closed_90d", "products_opened_90d"])
    d, d90 = _d(as_of), _d(as_of - pd.Timedelta(days=89))
    pid = pseudonym_sql("customer_id", key)

    def query(cond: str) -> str:
        return f"""
      SELECT {pid} AS customer_id,
        COUNT(CASE WHEN close_date >= DATE '{d90}' AND close_date <= DATE '{d}' THEN 1 END) AS products_closed_90d,
        COUNT(CASE WHEN open_date >= DATE '{d90}' AND open_date <= DATE '{d}' THEN 1 END) AS products_opened_90d
      FROM accounts WHERE open_date <= DATE '{d}'{cond} GROUP BY customer_id"""
    if only is None:
        return wh.sql(query(""))
    cond = f" AND customer_id IN (SELECT customer_id FROM customers WHERE {only.where(key, dialect='duckdb')})"
    return wh.sql(part_query(wh, lambda: query(""), only, lambda: query(cond)))


def _left_join_one(left: pd.DataFrame, right: pd.DataFrame, what: str) -> pd.DataFrame:
    """``left`` with ``right``'s columns alongside, matched on ``customer_id`` (one row each).

    ``merge(..., validate="one_to_one")`` does the same but sorts both key columns to check
    uniqueness: 8 s of a 25 s cohort frame at 1M customers. A hash lookup does it in well
    under a second.
    """
    rid, lid = pd.Index(right["customer_id"]), pd.Index(left["customer_id"])
    for name, ids in ((what, rid), ("survival frame", lid)):
        if not ids.is_unique:
            dup = ids[ids.duplicated()][:3].tolist()
            raise DataContractError(f"{name}: customer_id must be unique per row, repeated e.g. {dup}")
    # every left row found (the feature table covers every customer): a plain take by position, without
    # set_index's copy and reindex's consolidation (3 s -> 1 s per join at 1M); else reindex, NaN where missing
    pos = rid.get_indexer(lid)
    vals = right.drop(columns="customer_id")
    cols = vals.take(pos) if len(pos) and pos.min() >= 0 else vals.set_axis(rid).reindex(lid)
    cols.index = left.index
    return pd.concat([left, cols], axis=1, copy=False)


def _with_features(wh, f, as_of, key, window_days, aum_months, tiers,
                   only: SampleNote | PseudonymRange | None = None) -> pd.DataFrame:
    """``f`` with the feature table as of ``as_of`` and the product changes; computed in the warehouse for the
    customers of ``only`` alone (a model sample, or a part of the book) when given."""
    feats = feature_table(wh, as_of, window_days=window_days, aum_months=aum_months, tier_thresholds=tiers, key=key,
                          part=only)
    feats = feats.drop(columns=[c for c in ("customer_type", "age", "acquisition_channel", "region", "onboard_date",
                                            "closed_date") if c in feats.columns])
    out = _left_join_one(f, feats, "feature table")
    out = _left_join_one(out, _extra_features(wh, as_of, key, only), "accounts (product changes)")
    for c in ("products_closed_90d", "products_opened_90d"):
        out[c] = out[c].fillna(0).astype("int64")
    return out


def cohort_frame(wh: Warehouse, start, end=None, horizon_months: int | None = None,
                 definition: ChurnDefinition | None = None, key: str | None = None, window_days: int = 365,
                 aum_months: int = 3, tiers: dict | None = None, features: bool = True,
                 sample: int | None = None, part: PseudonymRange | None = None) -> pd.DataFrame:
    """Customers at risk on ``start``, followed to ``end`` or ``start + horizon_months``, with features as of ``start``.

    Parameters
    ----------
    start : date-like
        The observation start (cohort date). Every covariate is measured as of this day.
    end : date-like, optional
        End of follow-up; default ``start + horizon_months``. With both, the earlier wins.
    horizon_months : int, optional
        Follow-up length (administrative censoring at ``start + horizon_months``).
    definition, key, window_days, aum_months, tiers
        As in ``survival_frame`` and ``crm_lib.features.feature_table``.
    features : bool
        Merge the feature table as of ``start`` (and product changes over the 90 days to it).
    sample : int, optional
        At most this many customers, for a model's training frame: above it, a proportional stratified sample
        by customer type (``crm_lib.data.sample``), drawn before the features are merged; its ``SampleNote``
        is in ``frame.attrs["model_sample"]``. ``None`` keeps everyone.
    part : PseudonymRange, optional
        Only the customers whose pseudonyms lie in this range (``crm_lib.data.sample.pseudonym_parts``), queried
        for them alone: a book scored part by part. Not with ``sample``.

    Returns
    -------
    DataFrame
        The common columns; ``entry`` is the tenure on ``start``; ``time_since_start``
        (years) = ``duration - entry``; then the feature-table columns as of ``start``
        and ``products_closed_90d``, ``products_opened_90d``.
    """
    start = pd.Timestamp(start).normalize()
    definition = definition or ChurnDefinition()
    key = key or pseudonym_key()
    if part is not None and sample is not None:
        raise ValueError("cohort_frame: a part of the book (part=) or a model sample (sample=), not both")
    f, stop = _cohort_spells(wh, start, end, horizon_months, definition, key, part)
    ids, note = sample_ids(f, sample, table=f"cohort on {start.date()}")
    f = _cohort_features(wh, f, start, stop, key, window_days, aum_months, tiers, features, ids, note or part)
    if note:
        f.attrs["model_sample"] = note
        logger.info("cohort frame on %s: %s", start.date(), note.text())
    return f


def _cohort_spells(wh, start, end, horizon_months, definition, key, part=None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The customers at risk on ``start`` (of ``part``, when given) and their spells to the follow-up end."""
    if end is None and horizon_months is None:
        raise ValueError("cohort_frame: give end, horizon_months or both")
    stop = pd.Timestamp(end).normalize() if end is not None else add_months(start, horizon_months)
    if horizon_months is not None:
        stop = min(stop, add_months(start, horizon_months))
    if stop <= start:
        raise NotEstimable(f"cohort_frame: follow-up end {stop.date()} is not after the cohort start {start.date()} "
                           "(the first date with a full behaviour window of history)",
                           "more months of history before the period end make the cohort models estimable")
    o = _outcomes(wh, stop, definition, key, part)
    o = o[o["onboard_date"] <= start]
    f = _spells(o, start, stop, censor_contacts=bool(definition.censor_treated_kinds))
    if f.empty and part is None:
        raise DataContractError(f"customers: no customer at risk on {start.date()} (rule 'at least one customer "
                                "onboarded by the cohort date and not yet gone')")
    f = f[_OUT].reset_index(drop=True)
    f["time_since_start"] = f["duration"] - f["entry"]
    return f, stop


def _cohort_features(wh, f, start, stop, key, window_days, aum_months, tiers, features: bool,
                     ids: pd.Index | None, only: SampleNote | PseudonymRange | None) -> pd.DataFrame:
    if ids is not None:
        f = f[f["customer_id"].isin(ids)].reset_index(drop=True)
    if features:
        f = _with_features(wh, f, start, key, window_days, aum_months, tiers, only)
    logger.info("cohort frame %s..%s: %d customers, %d churn events", start.date(), stop.date(), len(f),
                int(f["event"].sum()))
    return f


# Customers scored per part (the validation's test window, the early-warning list, CLV): a part's frame of ~70 columns
# costs about 3 GB of driver memory per million customers at its peak, so a bank of 10M is scored in ten parts.
SCORE_CHUNK = 1_000_000


def score_parts(wh: Warehouse, on, chunk_customers: int | None = SCORE_CHUNK) -> list[PseudonymRange | None]:
    """The pseudonym ranges (``crm_lib.data.sample.pseudonym_parts``) a book of the customers onboarded by ``on`` is
    built and scored in, about ``chunk_customers`` each; ``[None]`` (everyone in one query) when they fit in one,
    or when ``chunk_customers`` is ``None``."""
    if chunk_customers is None:
        return [None]
    if int(chunk_customers) < 1:
        raise ValueError(f"chunk_customers = {chunk_customers!r} breaks rule 'at least 1 customer per part'")
    n = int(wh.sql(f"SELECT count(*) AS n FROM customers WHERE onboard_date <= DATE '{_d(on)}'")["n"].iloc[0])
    parts = pseudonym_parts(-(-n // int(chunk_customers)))
    return parts if len(parts) > 1 else [None]


def snapshot(wh: Warehouse, as_of, definition: ChurnDefinition | None = None, key: str | None = None,
             window_days: int = 365, aum_months: int = 3, tiers: dict | None = None,
             part: PseudonymRange | None = None, chunk_customers: int | None = None, reduce=None) -> pd.DataFrame:
    """Customers still at risk on ``as_of`` (not churned, not exited) with features as of that day: the scoring frame.

    Parameters
    ----------
    part : PseudonymRange, optional
        Only the customers whose pseudonyms lie in this range, queried for them alone.
    chunk_customers : int, optional
        Build the frame in parts of about this many customers (``score_parts``; ``SCORE_CHUNK`` is the
        scoring default), so the driver holds one part's ~70 columns at a time; ``None``: one query. Not with
        ``part``.
    reduce : callable, optional
        Applied to each part's frame (and to the whole frame when it is built in one query) before the parts
        are joined, e.g. ``keep_columns(...)``: what a scorer needs of each customer, so the book held is
        narrow. It must work row by row (no population statistics), so that parts give the frame one query
        gives.

    Returns
    -------
    DataFrame
        ``customer_id``, ``customer_type``, ``age``, ``age_band``, ``acquisition_channel``,
        ``region``, ``onboard_date``, ``closed_date`` (empty: nobody in it has closed by ``as_of``, and nothing
        later is read), ``entry`` (tenure on ``as_of``, years), ``treated_before``, then the feature-table
        columns and the product changes (no outcome columns); rows in pseudonym order (also when built in
        parts); ``reduce``'s columns when given.
    """
    as_of = pd.Timestamp(as_of).normalize()
    definition = definition or ChurnDefinition()
    key = key or pseudonym_key()
    if part is not None and chunk_customers is not None:
        raise ValueError("snapshot: a part of the book (part=) or parts of chunk_customers (chunk_customers=), "
                         "not both")
    parts = [part] if part is not None else score_parts(wh, as_of, chunk_customers)
    out = []
    with wh.kept_results():     # parts read one query per table (one part, None, is queried as it is)
        for p in parts:
            f = _snapshot_part(wh, as_of, definition, key, window_days, aum_months, tiers, p)
            out.append(reduce(f) if reduce is not None else f)
            del f
    if len(out) == 1:
        return out[0]
    logger.info("snapshot %s: %d customers built in %d parts", as_of.date(), sum(len(f) for f in out), len(out))
    return pd.concat(out, ignore_index=True)


def _snapshot_part(wh, as_of, definition, key, window_days, aum_months, tiers, part) -> pd.DataFrame:
    o = _outcomes(wh, as_of, definition, key, part)
    gone = (o["churn_date"] <= as_of) | (o["other_date"] <= as_of)
    o = o[(o["onboard_date"] < as_of) & ~gone].copy()
    o["entry"] = years_between(o["onboard_date"], pd.Series(as_of, index=o.index))
    o["treated_before"] = (o["treated_at"].notna() & (o["treated_at"] <= as_of)).astype(int)
    cols = ["customer_id", "customer_type", "age", "age_band", "acquisition_channel", "region", "onboard_date",
            "closed_date", "entry", "treated_before"]
    return _with_features(wh, o[cols].reset_index(drop=True), as_of, key, window_days, aum_months, tiers, part)


def keep_columns(columns):
    """A ``snapshot`` ``reduce``: the frame cut to those of ``columns`` it has, in that order (duplicates once)."""
    cols = list(dict.fromkeys(columns))

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[c for c in cols if c in frame.columns]]
    return cut


def landmark_dates(last, every_months: int = 3, n: int = 4) -> list[pd.Timestamp]:
    """``n`` landmark dates ``every_months`` apart, the latest on ``last``, oldest first."""
    return [add_months(last, -every_months * k) for k in range(int(n) - 1, -1, -1)]


def landmark_frame(wh: Warehouse, landmarks, horizon_months: int, definition: ChurnDefinition | None = None,
                   key: str | None = None, window_days: int = 365, aum_months: int = 3,
                   tiers: dict | None = None, sample: int | None = None) -> pd.DataFrame:
    """Cohort frames at each landmark date, each followed for ``horizon_months``, stacked.

    Covariates are as they stood at each landmark (current AUM and its change, recency,
    recent complaints, product changes), so a model fitted on this frame predicts from
    current behaviour (van Houwelingen 2007). A customer appears once per landmark at which
    they were at risk: fit with cluster-robust errors on ``customer_id``.

    ``sample`` (at most this many customers) draws one stratified sample of the customers at risk at any
    landmark (``crm_lib.data.sample``), so a kept customer has every landmark row; the note is in
    ``frame.attrs["model_sample"]``.

    Returns
    -------
    DataFrame
        ``cohort_frame`` columns plus ``landmark`` (date).

    References
    ----------
    van Houwelingen, H.C. (2007). Dynamic prediction by landmarking in event history
    analysis. *Scandinavian Journal of Statistics* 34(1), 70-85. doi:10.1111/j.1467-9469.2006.00529.x
    """
    definition = definition or ChurnDefinition()
    key = key or pseudonym_key()
    lms = [pd.Timestamp(lm).normalize() for lm in landmarks]
    cap = check_cap(sample)
    spells = [None] * len(lms)
    ids, note = None, None
    if cap is None:
        spells = [_cohort_spells(wh, lm, None, horizon_months, definition, key) for lm in lms]
    else:
        # Two passes, so that at most one landmark's spells of every customer are held at a time (at 10M customers
        # the four landmarks' spells held together were the run's peak): first the customers at risk at any
        # landmark with their type (a customer's first landmark counts, as in ``sample_ids``); then, once a sample
        # is drawn, each landmark's spells queried again for the sampled customers alone (``SampleNote.where``).
        # Within the cap the first pass's spells are kept and used, as before.
        people, drawing = None, False
        for i, lm in enumerate(lms):
            spell = _cohort_spells(wh, lm, None, horizon_months, definition, key)
            ids_types = spell[0][["customer_id", "customer_type"]]
            people = ids_types if people is None else \
                pd.concat([people, ids_types], ignore_index=True).drop_duplicates("customer_id")
            drawing = drawing or len(people) > cap
            spells[i] = None if drawing else spell
            del spell, ids_types
        if drawing:
            spells = [None] * len(lms)
        ids, note = sample_ids(people, cap, table="landmark frame")
        del people
    parts = []
    for i, lm in enumerate(lms):
        f, stop = spells[i] if spells[i] is not None else _cohort_spells(
            wh, lm, None, horizon_months, definition, key, part=note)
        f = _cohort_features(wh, f, lm, stop, key, window_days, aum_months, tiers, True, ids, note)
        spells[i] = None                      # a landmark's spells are freed once its features are joined
        f.insert(1, "landmark", lm)
        parts.append(f)
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {"model_sample": note} if note else {}
    logger.info("landmark frame: %d landmarks, %d rows, %d customers%s", len(parts), len(out),
                out["customer_id"].nunique(), f" ({note.text()})" if note else "")
    return out

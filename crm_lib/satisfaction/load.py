"""Survey and complaint frames from the warehouse, pseudonymised at the SQL boundary.

The customer identifier is replaced by its keyed pseudonym inside the query
(``crm_lib.data.privacy.pseudonym_sql``), so raw ids never reach pandas; segments
(tier, customer type, acquisition channel, branch, region) are joined from the feature
table, which carries the same pseudonyms. Rows breaking a rule are dropped and counted
(``clean_surveys`` / ``clean_complaints``); rows whose customer is unknown to the
feature table are kept with unknown segments and counted too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.store import Warehouse
from crm_lib.satisfaction._checks import (PROBLEM_COLUMNS, clean_complaints, clean_surveys, combine_problems)

logger = logging.getLogger(__name__)

SEGMENTS = ("customer_type", "tier", "acquisition_channel", "branch_id", "region")


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _join_segments(frame: pd.DataFrame, features: pd.DataFrame | None, table: str, key: str,
                   segments: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    if features is None:
        return frame, pd.DataFrame(columns=PROBLEM_COLUMNS)
    cols = [c for c in segments if c in features.columns]
    seg = features[["customer_id", *cols]].drop_duplicates("customer_id")
    out = frame.drop(columns=[c for c in cols if c in frame.columns]).merge(seg, on="customer_id", how="left",
                                                                              indicator=True)
    orphan = (out["_merge"] == "left_only").to_numpy()
    out = out.drop(columns="_merge")
    out.index = frame.index
    problems = pd.DataFrame(columns=PROBLEM_COLUMNS)
    if orphan.any():
        logger.warning("%s: %d row(s) whose customer is not in the feature table (segments unknown)",
                       table, int(orphan.sum()))
        problems = pd.DataFrame([{"table": table, "column": "customer_id", "rule": "customer in feature table",
                                  "rows": int(orphan.sum()), "action": "kept, segments unknown",
                                  "examples": out.loc[orphan, [key]].head(3).to_string(index=False)}])
    return out, problems


def survey_frame(wh: Warehouse, start, end, features: pd.DataFrame | None = None, key: str | None = None,
                 segments: Sequence[str] = SEGMENTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Survey responses dated ``start`` to ``end`` (inclusive), pseudonymised, with segments.

    Parameters
    ----------
    wh : Warehouse
    start, end : date-like
        First and last survey day.
    features : DataFrame, optional
        Feature table (``crm_lib.features.feature_table``) whose segment columns are joined.
    key : str, optional
        Pseudonymisation key (default from the environment, as the feature table uses).

    Returns
    -------
    surveys : DataFrame
        ``response_id``, ``customer_id`` (pseudonym), ``survey_date`` (timestamp),
        ``touchpoint``, ``csat`` (1-5), ``nps`` (0-10), ``attr_*`` (1-5; float, NaN = not
        answered) and the segment columns.
    problems : DataFrame
        Rows dropped or flagged, by table/column/rule (see ``clean_surveys``).
    """
    wh.need("surveys")
    have = wh.columns("surveys")
    pid = pseudonym_sql("customer_id", key or pseudonym_key())
    wanted = [c for c in ("response_id", "survey_date", "touchpoint", "csat", "nps") if c in have]
    wanted += [c for c in have if c.startswith("attr_")]
    s, e = pd.Timestamp(start).date(), (pd.Timestamp(end) + pd.Timedelta(days=1)).date()
    q = (f"SELECT {pid} AS customer_id, {', '.join(_q(c) for c in wanted)} FROM surveys "
         f"WHERE survey_date >= TIMESTAMP '{s} 00:00:00' AND survey_date < TIMESTAMP '{e} 00:00:00' "
         "ORDER BY survey_date, response_id")
    raw = wh.sql(q)
    clean, problems = clean_surveys(raw, strict=False)
    clean, orphans = _join_segments(clean, features, "surveys", "response_id", segments)
    logger.info("surveys %s to %s: %d responses (%d dropped)", start, end, len(clean), len(raw) - len(clean))
    return clean.reset_index(drop=True), combine_problems(problems, orphans)


def complaint_frame(wh: Warehouse, start, end, as_of=None, features: pd.DataFrame | None = None,
                    key: str | None = None, segments: Sequence[str] = SEGMENTS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Complaints opened ``start`` to ``end`` (inclusive), as known at the end of ``as_of``.

    A ``resolved_at`` after ``as_of`` (default ``end``) is set to null: the complaint was
    still open on that day, and will be censored there.

    Returns
    -------
    complaints : DataFrame
        ``complaint_id`` (pseudonym, ``C…``), ``customer_id`` (pseudonym), ``opened_at``, ``resolved_at``
        (timestamps; null while open), ``category``, ``channel``, ``severity``,
        ``escalated`` and the segment columns.
    problems : DataFrame
        Rows dropped or flagged (see ``clean_complaints``).
    """
    wh.need("complaints")
    have = wh.columns("complaints")
    as_of = pd.Timestamp(as_of or end)
    known = (as_of + pd.Timedelta(days=1)).date()
    pid = pseudonym_sql("customer_id", key or pseudonym_key())
    extra = [c for c in ("category", "channel", "severity", "escalated") if c in have]
    s, e = pd.Timestamp(start).date(), (pd.Timestamp(end) + pd.Timedelta(days=1)).date()
    # the complaint id maps 1:1 to a customer: pseudonymised too, never shown raw beside `customer_id`
    cid = pseudonym_sql("complaint_id", key or pseudonym_key(), prefix="C")
    q = (f"SELECT {cid} AS complaint_id, {pid} AS customer_id, opened_at, "
         f"CASE WHEN resolved_at < TIMESTAMP '{known} 00:00:00' THEN resolved_at END AS resolved_at, "
         f"{', '.join(_q(c) for c in extra)} FROM complaints "
         f"WHERE opened_at >= TIMESTAMP '{s} 00:00:00' AND opened_at < TIMESTAMP '{e} 00:00:00' "
         "ORDER BY opened_at, complaint_id")
    raw = wh.sql(q)
    clean, problems = clean_complaints(raw, strict=False)
    clean, orphans = _join_segments(clean, features, "complaints", "complaint_id", segments)
    logger.info("complaints opened %s to %s: %d (%d dropped)", start, end, len(clean), len(raw) - len(clean))
    return clean.reset_index(drop=True), combine_problems(problems, orphans)

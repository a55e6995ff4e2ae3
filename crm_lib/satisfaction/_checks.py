"""Door checks for survey and complaint frames: strict (raise) or lenient (drop, count, report).

Every rule is checked on the whole frame at once (vectorised). In lenient mode the
offending rows are dropped and *counted*: the returned problems table names the table,
column, rule, number of rows and up to three example rows, so nothing is dropped
silently. In strict mode the same problems raise one ``DataContractError``.
Example rows show the record's own key (``response_id`` / ``complaint_id``) and the
offending value, never a customer identifier.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)

PROBLEM_COLUMNS = ["table", "column", "rule", "rows", "action", "examples"]
SCORE_RANGES = {"csat": (1, 5), "nps": (0, 10)}
ATTRIBUTE_RANGE = (1, 5)
SURVEY_KEY = "response_id"
COMPLAINT_KEY = "complaint_id"


def require_columns(df: pd.DataFrame, table: str, columns) -> None:
    """Raise ``DataContractError`` naming the missing columns of ``table``."""
    if not isinstance(df, pd.DataFrame):
        raise DataContractError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataContractError(f"{table}: missing column(s) {missing} (rule 'required columns'); "
                                f"found {sorted(map(str, df.columns))[:20]}")


def attribute_columns(df: pd.DataFrame) -> list[str]:
    """The attribute-rating columns (``attr_*``) of a survey frame, in frame order."""
    return [c for c in df.columns if str(c).startswith("attr_")]


def _examples(df: pd.DataFrame, mask: np.ndarray, cols: list[str], k: int = 3) -> str:
    rows = df.loc[mask, [c for c in dict.fromkeys(cols) if c in df.columns]].head(k)
    return rows.to_string(index=False)


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame(columns=PROBLEM_COLUMNS).astype({"rows": "int64"})


def _report(table: str, df: pd.DataFrame, found: list, strict: bool, key: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Turn ``found`` [(column, rule, mask, action)] into a problems table or raise."""
    drop = np.zeros(len(df), dtype=bool)
    rows = []
    for column, rule, mask, action in found:
        mask = np.asarray(mask, dtype=bool)
        k = int(mask.sum())
        if not k:
            continue
        if action == "dropped":
            drop |= mask
        rows.append({"table": table, "column": column, "rule": rule, "rows": k, "action": action,
                     "examples": _examples(df, mask, [key, column])})
    problems = pd.DataFrame(rows, columns=PROBLEM_COLUMNS) if rows else empty_problems()
    bad = problems[problems["action"] == "dropped"]
    if strict and len(bad):
        parts = [f"{r.table}.{r.column}: {r.rows} row(s) break rule '{r.rule}', e.g.\n{r.examples}"
                 for r in bad.itertuples()]
        raise DataContractError("\n".join(parts) + "\n(clean_surveys / clean_complaints with strict=False "
                                "drops and counts such rows)", problems=bad.to_dict("records"))
    for r in problems.itertuples():
        logger.warning("%s.%s: %d row(s) break rule '%s' (%s)", r.table, r.column, r.rows, r.rule, r.action)
    return problems, drop


def _score_rules(df: pd.DataFrame, col: str, lo: int, hi: int) -> tuple[pd.Series, list]:
    raw = df[col]
    if pd.api.types.is_bool_dtype(raw):
        raw = raw.astype("float64")
    num = pd.to_numeric(raw, errors="coerce") if not pd.api.types.is_numeric_dtype(raw) else raw.astype("float64")
    non_numeric = raw.notna().to_numpy() & num.isna().to_numpy()
    v = num.to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(invalid="ignore"):
        out_of_range = ~np.isnan(v) & ((v < lo) | (v > hi) | (v != np.round(v)))
    return num.astype("float64"), [(col, "numeric", non_numeric, "dropped"),
                                   (col, f"integer {lo}-{hi}", out_of_range, "dropped")]


def clean_surveys(surveys: pd.DataFrame, strict: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a survey frame and drop (and count) rows that break a rule.

    Rules: ``response_id`` not null and unique (the first copy is kept); ``csat``
    integer 1-5, ``nps`` integer 0-10 and every ``attr_*`` rating integer 1-5, each
    numeric. A missing score is allowed (the question was not answered) and only
    leaves that response out of that score's n.

    Parameters
    ----------
    surveys : DataFrame
        ``response_id``; the scores ``csat``, ``nps`` and ``attr_*`` are checked when present.
    strict : bool
        Raise on the first broken rule instead of dropping rows.

    Returns
    -------
    clean : DataFrame
        A copy without the offending rows; score columns as float (NaN: not answered).
    problems : DataFrame
        ``table``, ``column``, ``rule``, ``rows`` (count), ``action``, ``examples``.

    Raises
    ------
    DataContractError
        On missing columns, or (``strict``) on any broken rule.
    """
    require_columns(surveys, "surveys", [SURVEY_KEY])
    scores = [c for c in SCORE_RANGES if c in surveys.columns]
    found = [(SURVEY_KEY, "not null", surveys[SURVEY_KEY].isna().to_numpy(), "dropped"),
             (SURVEY_KEY, "unique response_id",
              (surveys[SURVEY_KEY].duplicated(keep="first") & surveys[SURVEY_KEY].notna()).to_numpy(), "dropped")]
    converted = {}
    for col in scores + attribute_columns(surveys):
        lo, hi = SCORE_RANGES.get(col, ATTRIBUTE_RANGE)
        converted[col], rules = _score_rules(surveys, col, lo, hi)
        found += rules
    if "survey_date" in surveys.columns:
        found.append(("survey_date", "not null", surveys["survey_date"].isna().to_numpy(), "dropped"))
    problems, drop = _report("surveys", surveys, found, strict, SURVEY_KEY)
    out = surveys.assign(**converted).loc[~drop]
    if drop.any():
        logger.warning("surveys: %d of %d row(s) dropped", int(drop.sum()), len(surveys))
    return out, problems


def clean_complaints(complaints: pd.DataFrame, strict: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a complaint frame and drop (and count) rows that break a rule.

    Rules: ``complaint_id`` not null and unique (first copy kept); ``opened_at`` a
    timestamp, not null; ``resolved_at`` (null while open) a timestamp on or after
    ``opened_at``; ``severity`` not null.

    Returns
    -------
    clean : DataFrame
        A copy without the offending rows, timestamps as ``datetime64``.
    problems : DataFrame
        As for ``clean_surveys``.
    """
    require_columns(complaints, "complaints", [COMPLAINT_KEY, "opened_at", "severity"])
    found = [(COMPLAINT_KEY, "not null", complaints[COMPLAINT_KEY].isna().to_numpy(), "dropped"),
             (COMPLAINT_KEY, "unique complaint_id",
              (complaints[COMPLAINT_KEY].duplicated(keep="first") & complaints[COMPLAINT_KEY].notna()).to_numpy(),
              "dropped")]
    conv = {}
    for col in ("opened_at", "resolved_at"):
        if col not in complaints.columns:
            continue
        raw = complaints[col]
        ts = raw if pd.api.types.is_datetime64_any_dtype(raw) else pd.to_datetime(raw, errors="coerce")
        conv[col] = ts
        found.append((col, "timestamp", (raw.notna() & ts.isna()).to_numpy(), "dropped"))
    found.append(("opened_at", "not null", complaints["opened_at"].isna().to_numpy(), "dropped"))
    if "resolved_at" in conv:
        with np.errstate(invalid="ignore"):
            before = (conv["resolved_at"] < conv["opened_at"]).to_numpy()
        found.append(("resolved_at", "resolved_at >= opened_at", before, "dropped"))
    found.append(("severity", "not null", complaints["severity"].isna().to_numpy(), "dropped"))
    view = complaints.assign(**conv)
    problems, drop = _report("complaints", complaints, found, strict, COMPLAINT_KEY)
    out = view.loc[~drop]
    if drop.any():
        logger.warning("complaints: %d of %d row(s) dropped", int(drop.sum()), len(complaints))
    return out, problems


def combine_problems(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stack problems tables (empty ones skipped)."""
    tables = [t for t in tables if t is not None and len(t)]
    return pd.concat(tables, ignore_index=True) if tables else empty_problems()

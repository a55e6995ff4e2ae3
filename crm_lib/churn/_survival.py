"""Arguments shared by the survival API: column names (lifelines' vocabulary), time units, fitted-state checks.

Every describe, model, scoring and prediction function of ``crm_lib.churn`` takes
``duration_col`` (default ``"duration"``), ``event_col`` (``"event"``) and ``entry_col``
(``"entry"``), and a ``time_unit`` (``"years"``, ``"months"``, ``"weeks"`` or ``"days"``) in
which its durations, steps, horizons and results are stated. The default ``entry_col="entry"``
is optional, as it always was: a frame without an ``entry`` column has no delayed entry.
Any other name is required, and ``entry_col=None`` ignores the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError as _SkNotFittedError
from sklearn.utils.validation import check_is_fitted

from crm_lib.errors import DataContractError

YEAR_DAYS = 365.25   # as crm_lib.churn.frame.YEAR_DAYS (not imported: frame.py pulls in the warehouse)
#: units per year: a duration of 1 year is 12 months, 52.18 weeks, 365.25 days
TIME_UNITS = {"years": 1.0, "months": 12.0, "weeks": YEAR_DAYS / 7, "days": YEAR_DAYS}
#: short suffix of horizon column names (``retention_12m``, ``retention_2y``, ``retention_90d``)
SUFFIX = {"years": "y", "months": "m", "weeks": "w", "days": "d"}
SINGULAR = {"years": "year", "months": "month", "weeks": "week", "days": "day"}
DEFAULT_ENTRY = "entry"


def per_year(time_unit: str) -> float:
    """Units of ``time_unit`` in one year (raises ``ValueError`` naming the argument)."""
    try:
        return TIME_UNITS[time_unit]
    except (KeyError, TypeError):
        raise ValueError(f"time_unit={time_unit!r}: use one of {', '.join(TIME_UNITS)}") from None


def one_month(time_unit: str) -> float:
    """One month (a twelfth of a year) in ``time_unit``."""
    return per_year(time_unit) / 12


def require_columns(frame: pd.DataFrame, table: str = "frame", **columns: str | None) -> None:
    """Raise ``DataContractError`` naming the first missing column and the argument that sets it.

    ``columns`` maps argument name to column name, e.g. ``duration_col="months"``; ``None`` values are skipped.
    """
    for arg, col in columns.items():
        if col is not None and col not in frame.columns:
            have = ", ".join(map(str, frame.columns[:20])) + (" ..." if len(frame.columns) > 20 else "")
            raise DataContractError(f"{table}.{col}: column missing (rule 'the column named by {arg}={col!r} is "
                                    f"present'); pass {arg}='<your column>' (columns present: {have})")


def entry_column(frame: pd.DataFrame, entry_col: str | None, table: str = "frame") -> str | None:
    """The delayed-entry column to use: None when not wanted, or when the default ``entry`` is absent."""
    if entry_col is None or (entry_col == DEFAULT_ENTRY and entry_col not in frame.columns):
        return None
    require_columns(frame, table, entry_col=entry_col)
    return entry_col


def as_times(t) -> tuple[np.ndarray, bool]:
    """Requested times as a float array, and whether a single scalar was asked for."""
    scalar = np.ndim(t) == 0
    arr = np.atleast_1d(np.asarray(t, float))
    if arr.ndim != 1:
        raise ValueError(f"times: a number or a 1-d sequence of numbers, got shape {np.shape(t)}")
    return arr, scalar


def with_unit(df, time_unit: str):
    """Tag a result with its time unit (``df.attrs["time_unit"]``, read by plots and reports)."""
    df.attrs["time_unit"] = time_unit
    return df


def check_frame(frame: pd.DataFrame, duration_col: str = "duration", event_col: str = "event",
                entry_col: str | None = "entry", table: str = "frame", time_unit: str = "years") -> None:
    """Raise ``DataContractError`` unless durations, events and entries are usable.

    Rules: columns present (a missing one is named with the argument that sets it); duration
    finite and > 0; event 0/1; entry (when ``entry_col`` is not None) finite, >= 0 and <
    duration (a customer must be at risk for some time after entering).
    """
    try:
        require_columns(frame, table, duration_col=duration_col, event_col=event_col, entry_col=entry_col)
    except DataContractError as e:
        raise DataContractError(f"{e}; or build the frame with crm_lib.churn.survival_frame") from None
    if len(frame) == 0:
        raise DataContractError(f"{table}: no rows (rule 'at least one customer at risk')")
    need = [duration_col, event_col] + ([entry_col] if entry_col else [])
    show = [c for c in ("customer_id", *need) if c in frame.columns]

    def _bad(mask, col, rule):
        bad = frame.loc[mask, show]
        if len(bad):
            raise DataContractError(f"{table}.{col}: {len(bad)} row(s) break rule '{rule}', e.g.\n"
                                    f"{bad.head(3).to_string(index=False)}",
                                    problems=bad.head(5).astype(str).to_dict("records"))

    d = pd.to_numeric(frame[duration_col], errors="coerce").astype(float)
    _bad(~np.isfinite(d), duration_col, f"finite number of {time_unit}")
    _bad(d < 0, duration_col, "duration >= 0 (a negative duration: exit before onboarding)")
    _bad(d == 0, duration_col, "duration > 0")
    e = pd.to_numeric(frame[event_col], errors="coerce")
    _bad(~e.isin([0, 1]), event_col, "event is 0 or 1")
    if entry_col:
        a = pd.to_numeric(frame[entry_col], errors="coerce").astype(float)
        _bad(~np.isfinite(a) | (a < 0), entry_col, "entry finite and >= 0")
        _bad(a >= d, entry_col, f"{entry_col} < {duration_col} (at risk for some time after entry)")


class NotFittedError(_SkNotFittedError, RuntimeError):
    """The estimator is used before ``fit``: scikit-learn's ``NotFittedError`` (a ``ValueError`` and
    ``AttributeError``), also a ``RuntimeError`` as this workbench raised before."""


def check_fitted(estimator, attribute: str, fit_call: str) -> None:
    """``sklearn.utils.validation.check_is_fitted``, with a message that says how to fit."""
    try:
        check_is_fitted(estimator, attribute)
    except _SkNotFittedError:
        raise NotFittedError(f"{type(estimator).__name__} is not fitted yet: call {fit_call} first") from None

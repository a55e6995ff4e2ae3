"""Frame-level survival metrics: the array functions of ``crm_lib.churn.metrics`` on named columns.

Each function takes a frame with ``duration_col`` (time since the prediction, in any unit,
as long as horizons ``t`` are in the same one) and ``event_col`` (0/1 churn), and a
prediction given as a column name, a Series aligned on the frame's index, or an array
with one value per row. ``concordance_scorer`` is a scikit-learn scorer for ``GridSearchCV``
and ``cross_val_score`` over survival estimators (``ChurnCox``).

The metrics themselves (and their references) live in ``crm_lib.churn.metrics``; nothing
here recomputes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib.churn import metrics as M
from crm_lib.churn._survival import require_columns
from crm_lib.errors import DataContractError


def _arrays(frame: pd.DataFrame, duration_col: str, event_col: str, table: str = "frame"):
    """Durations (finite, >= 0: a churn on the day of the prediction is allowed) and 0/1 events."""
    require_columns(frame, table, duration_col=duration_col, event_col=event_col)
    T = pd.to_numeric(frame[duration_col], errors="coerce").to_numpy(float)
    E = pd.to_numeric(frame[event_col], errors="coerce")
    for bad, col, rule in ((~(np.isfinite(T) & (T >= 0)), duration_col, "finite and >= 0"),
                           (~E.isin([0, 1]).to_numpy(), event_col, "event is 0 or 1")):
        if bad.any():
            raise DataContractError(f"{table}.{col}: {int(bad.sum())} row(s) break rule '{rule}', e.g.\n"
                                    f"{frame.loc[bad, [duration_col, event_col]].head(3).to_string()}")
    return T, E.to_numpy(int)


def _values(frame: pd.DataFrame, pred, arg: str, table: str = "frame") -> np.ndarray:
    """A prediction as a float array aligned with ``frame``'s rows."""
    if isinstance(pred, str):
        require_columns(frame, table, **{arg: pred})
        v = frame[pred]
    elif isinstance(pred, (pd.Series, pd.DataFrame)):
        if not pred.index.equals(frame.index):
            missing = frame.index.difference(pred.index)
            if len(missing):
                raise DataContractError(f"{table}: {arg} has no value for {len(missing)} row(s) of the frame "
                                        f"(rule 'predictions indexed like the frame'), e.g. index {list(missing[:3])}")
            pred = pred.loc[frame.index]
        v = pred
    else:
        v = np.asarray(pred, float)
        if v.shape[0] != len(frame):
            raise DataContractError(f"{table}: {arg} has {v.shape[0]} value(s) for {len(frame)} row(s) "
                                    "(rule 'one prediction per row')")
    v = np.asarray(v, float)
    if not np.isfinite(v).all():
        raise DataContractError(f"{table}: {arg} has {int((~np.isfinite(v)).sum())} non-finite value(s) "
                                "(rule 'finite predictions')")
    return v


def concordance_score(frame: pd.DataFrame, risk, duration_col: str = "duration", event_col: str = "event") -> float:
    """Harrell's C of ``risk`` (higher = churns sooner) on the frame's durations and events (0.5 random, 1 perfect).

    Equal to ``lifelines.utils.concordance_index(frame[duration_col], -risk, frame[event_col])``.
    """
    T, E = _arrays(frame, duration_col, event_col)
    return M.concordance(T, E, _values(frame, risk, "risk"))


def td_auc_score(frame: pd.DataFrame, p, t: float, duration_col: str = "duration", event_col: str = "event") -> float:
    """Cumulative/dynamic AUC at horizon ``t`` of churn probabilities ``p`` (IPCW; Uno et al. 2007)."""
    T, E = _arrays(frame, duration_col, event_col)
    return M.td_auc(T, E, _values(frame, p, "p"), float(t))


def brier_score(frame: pd.DataFrame, p, t: float, duration_col: str = "duration", event_col: str = "event") -> float:
    """IPCW Brier score at ``t`` of churn probabilities by ``t`` (0 best, 0.25 a coin; Graf et al. 1999)."""
    T, E = _arrays(frame, duration_col, event_col)
    return M.brier(T, E, _values(frame, p, "p"), float(t))


def integrated_brier_score(frame: pd.DataFrame, P: pd.DataFrame, duration_col: str = "duration",
                           event_col: str = "event") -> float:
    """Brier score averaged over the horizons that are ``P``'s columns (trapezoid rule).

    ``P`` is indexed like ``frame`` with one column per horizon holding P(churn by that
    horizon), e.g. ``ChurnCox.predict_churn_probability(frame, [3, 6, 9, 12])``.
    """
    T, E = _arrays(frame, duration_col, event_col)
    if not isinstance(P, pd.DataFrame) or P.shape[1] == 0:
        raise DataContractError("P: a DataFrame with one column per horizon (rule 'horizons are the columns')")
    grid = np.asarray(P.columns, float)
    return M.integrated_brier(T, E, _values(frame, P, "P").reshape(len(frame), -1), grid)


def calibration(frame: pd.DataFrame, p, t: float, bins: int = 10, alpha: float = 0.05,
                duration_col: str = "duration", event_col: str = "event") -> pd.DataFrame:
    """Predicted against observed churn by ``t`` in bins of ``p`` (``metrics.calibration_table``'s columns)."""
    T, E = _arrays(frame, duration_col, event_col)
    return M.calibration_table(T, E, _values(frame, p, "p"), float(t), bins=bins, alpha=alpha)


def concordance_scorer(estimator, frame: pd.DataFrame, y=None) -> float:
    """scikit-learn scorer: Harrell's C of ``estimator.predict(frame)`` on the estimator's duration and event columns.

    Use as ``GridSearchCV(ChurnCox(...), grid, scoring=concordance_scorer)``; the same as
    ``ChurnCox.score``, written out for estimators whose ``score`` is something else.
    """
    return concordance_score(frame, estimator.predict(frame),
                             duration_col=getattr(estimator, "duration_col", "duration"),
                             event_col=getattr(estimator, "event_col", "event"))

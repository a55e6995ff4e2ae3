"""The value a churn model's survival puts on a margin stream: the machinery relationship CLV is built on.

``V = sum_{m=1..M} S(a + m/12) / S(a) x (1 + d)^(-m/12)`` expected discounted months in the relationship
per unit of monthly margin, for a customer of tenure ``a`` under a Cox model, tabulated once on a grid of
(tenure month, log hazard) and read by interpolation. ``crm_lib.clv.relationship`` builds the CLV book and
its intervals on it; the early-warning list (``crm_lib.churn.warning``) prices the risk of each listed
customer with ``point_clv``. It lives in the churn package, below CLV, so that both can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_lib.churn import covariates as cv
from crm_lib.errors import DataContractError
from crm_lib.margin import ClvSettings

_GRID_STEP = 0.01       # log-hazard grid spacing: linear interpolation error ~ step^2 / 8 (relative ~1e-5)


# --------------------------------------------------------------------------- survival machinery

@dataclass
class BaselineHazard:
    """Cumulative baseline hazard H0(t) (tenure in years) with a constant-hazard tail.

    Up to ``t_last`` (the longest tenure with an observed churn) H0 is the Breslow step
    function; beyond it the hazard is held at its mean over the last ``tail_years``
    (``h_tail`` per year) instead of dropping to zero.
    """

    times: np.ndarray
    H: np.ndarray
    t_last: float
    h_tail: float

    @classmethod
    def from_model(cls, model, tail_years: float = 5.0) -> "BaselineHazard":
        if getattr(model, "strata", None):
            raise ValueError("relationship CLV needs an unstratified Cox model (one baseline hazard); "
                             "fit ChurnCox without strata")
        times, H = model.baseline_[None]
        times, H = np.asarray(times, float), np.asarray(H, float)
        rises = np.flatnonzero(np.diff(np.r_[0.0, H]) > 0)
        if len(rises) == 0:
            raise DataContractError("churn model: the baseline hazard never rises (rule 'at least one churn event')")
        t_last = float(times[rises[-1]])
        w = min(float(tail_years), t_last / 2)
        h_tail = float((np.interp(t_last, times, H) - _step(times, H, np.array([t_last - w]))[0]) / w)
        return cls(times, H, t_last, max(h_tail, 0.0))

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, float)
        base = _step(self.times, self.H, np.minimum(t, self.t_last))
        return base + self.h_tail * np.clip(t - self.t_last, 0, None)


def _step(times, values, t):
    i = np.searchsorted(times, t, side="right") - 1
    return np.where(i >= 0, values[np.clip(i, 0, None)], 0.0)


def value_table(base: BaselineHazard, tenure_months: np.ndarray, lp_grid: np.ndarray, settings: ClvSettings,
                cumulative: bool = False) -> np.ndarray:
    """Expected discounted months in the relationship per unit of monthly margin.

    ``V[k, j] = sum_m disc_m exp(-(H0(a_k + m/12) - H0(a_k)) exp(lp_j))`` for tenure month
    ``a_k = tenure_months[k] / 12`` and log hazard ``lp_grid[j]``. With ``cumulative`` the
    running sum over m is returned instead, shape (K, G, M).
    """
    disc = settings.discount_factors()
    M = len(disc)
    m = np.arange(1, M + 1) / 12.0
    a = np.asarray(tenure_months, float) / 12.0
    dH = base(a[:, None] + m[None, :]) - base(a)[:, None]              # (K, M)
    r = np.exp(lp_grid)
    if cumulative:
        return np.cumsum(disc * np.exp(-dH[:, None, :] * r[None, :, None]), axis=2)
    out = np.empty((len(a), len(r)))
    blk = max(1, int(2_000_000 // max(1, len(r) * M)))
    for s in range(0, len(a), blk):
        out[s:s + blk] = (disc * np.exp(-dH[s:s + blk, None, :] * r[None, :, None])).sum(2)
    return out


class _Interp:
    """Bilinear lookup of a value table by (tenure bin, log hazard)."""

    def __init__(self, table, lo, step):
        self.table, self.lo, self.step = table, lo, step

    def __call__(self, kbin, lp):
        G = self.table.shape[1]
        pos = np.clip((lp - self.lo) / self.step, 0, G - 1 - 1e-9)
        j = pos.astype(np.int64)
        f = pos - j
        flat = self.table.ravel()
        base = kbin * G + j
        return flat[base] * (1 - f) + flat[base + 1] * f


def point_clv(snap: pd.DataFrame, margin: pd.DataFrame, model, settings: ClvSettings, at_mean=()) -> pd.Series:
    """Relationship CLV at the fitted coefficients only (no intervals), indexed like ``snap``: the cheap
    version for scoring lists. Same definition as ``relationship_clv``; currency.

    ``at_mean``: covariates held at the training mean (contribution 0). The early-warning list
    passes its short-term behaviour covariates, so the CLV it puts at risk is the value of the
    customer *if retained* with typical recent behaviour, not a value already written down by
    the very signals that flag them.
    """
    if len(snap) == 0:
        return pd.Series(dtype=float, name="clv")
    Xd = cv.design_matrix(snap, model.covariates_, model.window_days, "snapshot") - model.means_
    for c in at_mean:
        if c in Xd.columns:
            Xd[c] = 0.0
    X = Xd.to_numpy()
    lp = X @ model.params_.to_numpy()
    base = BaselineHazard.from_model(model, settings.tail_years)
    _, kbin, look = _value_lookup(base, snap, float(lp.min()) - 0.5, float(lp.max()) + 0.5, settings)
    mg = _monthly_margin(snap, margin, settings)
    return pd.Series(mg * look(kbin, lp), index=snap.index, name="clv")


def _value_lookup(base, snap: pd.DataFrame, lo: float, hi: float, settings):
    """Tenure bins (months), each customer's bin, and the value-per-unit-margin interpolator over log-hazards [lo, hi]."""
    kmon = np.clip(np.round(snap["entry"].to_numpy(float) * 12).astype(np.int64), 0, None)
    kvals, kbin = np.unique(kmon, return_inverse=True)
    grid = np.arange(lo, hi + _GRID_STEP, _GRID_STEP)
    return kvals, kbin, _Interp(value_table(base, kvals, grid, settings), lo, _GRID_STEP)


def _monthly_margin(snap: pd.DataFrame, margin: pd.DataFrame, settings) -> np.ndarray:
    """Each customer's monthly margin; without one, minus the cost to serve of their customer type (else 0)."""
    mg = snap[["customer_id"]].merge(margin[["customer_id", "margin"]], on="customer_id", how="left")["margin"]
    cts = snap.get("customer_type", pd.Series("", index=snap.index)).astype(str).map(
        {k: -float(v) for k, v in settings.cost_to_serve_monthly.items()})
    return mg.fillna(pd.Series(cts.to_numpy(), index=mg.index)).fillna(0.0).to_numpy(float)

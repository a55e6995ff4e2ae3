"""Key-driver analysis: which attribute ratings move overall satisfaction, and where to act first.

Attribute ratings are collinear (a happy customer rates everything higher), so plain
regression weights are unstable and can even change sign. Two decompositions of R^2
share it out fairly among correlated drivers and are reported side by side with the
standardised regression coefficients:

- **LMG / Shapley value**: each driver's R^2 gain averaged over every order in which the
  drivers can enter the model (Lindeman, Merenda & Gold 1980; Grömping 2006). Exact, over
  all 2^p subsets, so at most ``MAX_DRIVERS`` drivers.
- **Johnson's relative weights**: R^2 split through the closest orthogonal
  approximation of the drivers (Johnson 2000); O(p^3), close to LMG in practice.

Both sum to the model R^2; ``*_share`` columns divide by R^2 (shares sum to 1).
Intervals are percentile bootstraps over responses. Because ratings are discrete, the
responses are collapsed to distinct patterns first and each replicate is a multinomial
draw over them: the ordinary bootstrap at a cost that does not grow with n.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from math import factorial

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as _SkNotFittedError
from sklearn.utils.validation import check_is_fitted

from crm_lib.errors import DataContractError
from crm_lib.fmt import N_
from crm_lib.satisfaction import _stats
from crm_lib.satisfaction._checks import attribute_columns, require_columns

logger = logging.getLogger(__name__)

MAX_DRIVERS = 15
# Values of ``driver_matrix()["quadrant"]`` (kept in English); tables and figures show them through ``_``.
QUADRANTS = {(True, False): N_("concentrate here"), (True, True): N_("keep up the good work"),
             (False, False): N_("low priority"), (False, True): N_("possible overkill")}


# --------------------------------------------------------------------------- decompositions

def _combos(p: int) -> list[np.ndarray]:
    return [np.array(list(itertools.combinations(range(p), k))) for k in range(1, p + 1)]


def _subset_r2(corr: np.ndarray, combos: list[np.ndarray] | None = None) -> np.ndarray:
    """R^2 of the outcome (row 0 of ``corr``) on every subset of the drivers, indexed by bitmask."""
    p = corr.shape[0] - 1
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    r2 = np.zeros(1 << p)
    for c in combos or _combos(p):
        sub = rxx[c[:, :, None], c[:, None, :]]
        v = rxy[c]
        try:
            sol = np.linalg.solve(sub, v[..., None])[..., 0]
        except np.linalg.LinAlgError:
            sol = (np.linalg.pinv(sub) @ v[..., None])[..., 0]
        r2[(1 << c).sum(axis=1)] = (v * sol).sum(axis=1)
    return r2


def _lmg_from_r2(r2: np.ndarray, p: int) -> np.ndarray:
    masks = np.arange(1 << p)
    size = np.array([bin(m).count("1") for m in masks])
    w = np.array([factorial(k) * factorial(p - k - 1) / factorial(p) for k in range(p)])
    out = np.empty(p)
    for j in range(p):
        s = masks[(masks >> j) & 1 == 0]
        out[j] = (w[size[s]] * (r2[s | (1 << j)] - r2[s])).sum()
    return out


def _relative_weights(corr: np.ndarray) -> np.ndarray:
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    vals, vecs = np.linalg.eigh(rxx)
    lam = vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T   # Rxx^(1/2)
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    return (lam ** 2) @ (beta ** 2)


def _std_beta(corr: np.ndarray) -> np.ndarray:
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    try:
        return np.linalg.solve(rxx, rxy)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(rxx, rxy, rcond=None)[0]


def _numeric_matrix(data: pd.DataFrame, table: str, columns: list[str], key: str | None) -> tuple[np.ndarray, int]:
    """Complete rows of ``columns`` as floats; raises on non-numeric values; returns (matrix, rows dropped)."""
    require_columns(data, table, columns)
    conv = {}
    for c in columns:
        raw = data[c]
        num = raw.astype(float) if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw) \
            else pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & num.isna()
        if bad.any():
            show = [key, c] if key and key in data.columns else [c]
            ex = data.loc[bad, show].head(3).to_string(index=not (key and key in data.columns))
            raise DataContractError(f"{table}.{c}: {int(bad.sum())} row(s) break rule 'numeric', e.g.\n{ex}")
        conv[c] = num.to_numpy(dtype=float)
    z = np.column_stack([conv[c] for c in columns]) if len(data) else np.empty((0, len(columns)))
    ok = np.isfinite(z).all(axis=1)
    return z[ok], int((~ok).sum())


def _check_fit_matrix(z: np.ndarray, table: str, columns: list[str]) -> None:
    p = len(columns) - 1
    if p < 1:
        raise DataContractError(f"{table}: no driver columns given (rule 'at least one driver')")
    if p > MAX_DRIVERS:
        raise DataContractError(f"{table}: {p} drivers; the exact LMG split needs 2^p models, so at most "
                                f"{MAX_DRIVERS} (rule 'drivers <= {MAX_DRIVERS}'): group or drop drivers")
    if len(z) < p + 2:
        raise DataContractError(f"{table}: {len(z)} complete row(s) for {p} driver(s) "
                                f"(rule 'complete rows >= drivers + 2')")
    flat = [c for c, sd in zip(columns, z.std(axis=0)) if not sd > 0]
    if flat:
        raise DataContractError(f"{table}.{flat[0]}: the column does not vary (rule 'non-zero variance'); "
                                f"constant column(s): {flat}")


def lmg(data: pd.DataFrame, outcome: str, drivers: Sequence[str]) -> pd.Series:
    """The LMG (Shapley) share of R^2 of each driver (rows with a missing value are left out).

    Returns
    -------
    Series
        Indexed by driver, in R^2 units (sums to the model R^2).

    References
    ----------
    Lindeman, R. H., Merenda, P. F. & Gold, R. Z. (1980). Introduction to Bivariate and
    Multivariate Analysis. Scott, Foresman. Grömping, U. (2006). Relative importance for
    linear regression in R: the package relaimpo. J. Statistical Software 17(1).
    """
    cols = [outcome, *drivers]
    z, _ = _numeric_matrix(data, "data", cols, None)
    _check_fit_matrix(z, "data", cols)
    corr = np.corrcoef(z, rowvar=False)
    return pd.Series(_lmg_from_r2(_subset_r2(corr), len(drivers)), index=list(drivers), name="lmg")


def relative_weights(data: pd.DataFrame, outcome: str, drivers: Sequence[str]) -> pd.Series:
    """Johnson's raw relative weights (R^2 units, summing to the model R^2).

    References
    ----------
    Johnson, J. W. (2000). A heuristic method for estimating the relative weight of
    predictor variables in multiple regression. Multivariate Behavioral Research 35(1), 1-19.
    """
    cols = [outcome, *drivers]
    z, _ = _numeric_matrix(data, "data", cols, None)
    _check_fit_matrix(z, "data", cols)
    return pd.Series(_relative_weights(np.corrcoef(z, rowvar=False)), index=list(drivers), name="rw")


# --------------------------------------------------------------------------- estimator

class NotFittedError(_SkNotFittedError, RuntimeError):
    """Used before ``fit``: scikit-learn's ``NotFittedError``, and a ``RuntimeError`` as before."""


class KeyDriverAnalysis(BaseEstimator):
    """Relative importance of attribute ratings for an overall score, with bootstrap intervals.

    A scikit-learn estimator: the constructor only stores its arguments (``get_params`` /
    ``set_params`` / ``clone`` work), ``fit`` validates and learns, ``predict`` gives the OLS
    fitted outcome and ``score`` its R^2 on any surveys frame, so ``cross_val_score`` measures
    how well the drivers explain the outcome out of sample.

    Parameters
    ----------
    outcome : str
        The overall score explained (e.g. ``csat`` 1-5 or ``nps`` 0-10).
    drivers : list of str, optional
        Driver columns; default every ``attr_*`` column at ``fit``.
    n_boot : int
        Bootstrap replicates for the intervals (0: none).
    alpha : float
        1 - confidence level.
    scale : (low, high) or None
        Rating scale of the drivers, mapped to performance 0-100; ``None`` for drivers
        that are not ratings (performance is then NaN).
    random_state : int, optional
        Seed of the bootstrap.

    Attributes
    ----------
    importance_ : DataFrame
        Indexed by driver: ``mean`` (driver mean), ``performance`` (0-100), ``r``
        (correlation with the outcome), ``coef`` (OLS coefficient, outcome units per
        rating point), ``beta_std`` (standardised coefficient) with ``beta_std_lower``/
        ``_upper``, ``first`` (R^2 alone), ``last`` (R^2 lost when dropped), ``lmg`` and
        ``rw`` (R^2 units), ``lmg_share`` and ``rw_share`` (0-1) with ``_lower``/``_upper``,
        ``rank`` (1 = largest ``rw_share``).
    weights_ : Series
        Positive OLS coefficients normalised to sum 1 (weights for the satisfaction index).
    r2_, r2_lower_, r2_upper_ : float
        Model R^2 and its bootstrap interval.
    intercept_ : float
        OLS intercept (outcome units); with ``importance_["coef"]`` it gives ``predict``.
    n_ : int
        Complete responses used; ``n_incomplete_`` responses were left out for a missing value.
    """

    def __init__(self, outcome: str = "csat", drivers: Sequence[str] | None = None, n_boot: int = 200,
                 alpha: float = 0.05, scale: tuple[float, float] | None = (1, 5),
                 random_state: int | None = None):
        self.outcome = outcome
        self.drivers = drivers
        self.n_boot = n_boot
        self.alpha = alpha
        self.scale = scale
        self.random_state = random_state

    def fit(self, surveys: pd.DataFrame) -> "KeyDriverAnalysis":
        """Estimate the importances from ``surveys`` (one row per response).

        Raises
        ------
        DataContractError
            Missing or non-numeric columns, a driver that does not vary, too few
            complete responses, or more than ``MAX_DRIVERS`` drivers.
        """
        self._check_params()
        drivers = list(self.drivers) if self.drivers is not None else attribute_columns(surveys)
        cols = [self.outcome, *drivers]
        z, dropped = _numeric_matrix(surveys, "surveys", cols, "response_id")
        _check_fit_matrix(z, "surveys", cols)
        if dropped:
            logger.warning("key drivers: %d response(s) with a missing %s left out", dropped, "/".join(cols))
        vals, counts = _stats.patterns(z)
        combos = _combos(len(drivers))
        point = self._estimate(vals, counts, combos)
        p = len(drivers)
        imp = pd.DataFrame(index=pd.Index(drivers, name="driver"))
        mean, cov = _stats.weighted_cov(vals, counts)
        imp["mean"] = mean[1:]
        imp["performance"] = ((mean[1:] - self.scale[0]) / (self.scale[1] - self.scale[0]) * 100
                              if self.scale else np.nan)
        imp["r"] = _stats.cov_to_corr(cov)[1:, 0]
        imp["coef"] = point["coef"]
        imp["beta_std"] = point["beta_std"]
        imp["first"] = point["r2_sets"][1 << np.arange(p)]
        imp["last"] = point["r2"] - point["r2_sets"][(1 << p) - 1 - (1 << np.arange(p))]
        imp["lmg"], imp["rw"] = point["lmg"], point["rw"]
        imp["lmg_share"], imp["rw_share"] = point["lmg"] / point["r2"], point["rw"] / point["r2"]
        self.r2_ = float(point["r2"])
        self.r2_lower_ = self.r2_upper_ = np.nan
        if self.n_boot:
            rng = np.random.default_rng(self.random_state)
            n, prob = counts.sum(), counts / counts.sum()
            reps = [self._estimate(vals, rng.multinomial(n, prob), combos) for _ in range(self.n_boot)]
            for name, get in (("beta_std", lambda e: e["beta_std"]),
                              ("lmg_share", lambda e: e["lmg"] / e["r2"]),
                              ("rw_share", lambda e: e["rw"] / e["r2"])):
                imp[f"{name}_lower"], imp[f"{name}_upper"] = _stats.percentile_ci(
                    np.array([get(e) for e in reps]), self.alpha)
            lo, hi = _stats.percentile_ci(np.array([e["r2"] for e in reps]), self.alpha)
            self.r2_lower_, self.r2_upper_ = float(lo), float(hi)
        else:
            for name in ("beta_std", "lmg_share", "rw_share"):
                imp[f"{name}_lower"] = imp[f"{name}_upper"] = np.nan
        imp["rank"] = imp["rw_share"].rank(ascending=False, method="min").astype("int64")
        order = ["mean", "performance", "r", "coef", "beta_std", "beta_std_lower", "beta_std_upper", "first",
                 "last", "lmg", "lmg_share", "lmg_share_lower", "lmg_share_upper", "rw", "rw_share",
                 "rw_share_lower", "rw_share_upper", "rank"]
        self.importance_ = imp[order]
        b = np.clip(point["coef"], 0, None)
        self.weights_ = pd.Series(b / b.sum() if b.sum() > 0 else np.nan, index=drivers, name="weight")
        self.intercept_ = float(mean[0] - point["coef"] @ mean[1:])
        self.n_ = int(counts.sum())
        self.n_incomplete_ = dropped
        self.outcome_, self.drivers_ = self.outcome, drivers
        logger.info("key drivers of %s: n=%d, R2=%.3f", self.outcome, self.n_, self.r2_)
        return self

    @staticmethod
    def _estimate(vals: np.ndarray, counts: np.ndarray, combos) -> dict:
        _, cov = _stats.weighted_cov(vals, counts)
        corr = _stats.cov_to_corr(cov)
        p = corr.shape[0] - 1
        r2_sets = _subset_r2(corr, combos)
        beta = _std_beta(corr)
        sd = np.sqrt(np.diag(cov))
        return {"r2_sets": r2_sets, "r2": r2_sets[-1], "lmg": _lmg_from_r2(r2_sets, p),
                "rw": _relative_weights(corr), "beta_std": beta, "coef": beta * sd[0] / sd[1:]}

    def _check_params(self) -> None:
        if not isinstance(self.outcome, str):
            raise ValueError(f"outcome={self.outcome!r}: the name of the outcome column")
        if isinstance(self.drivers, str):
            raise ValueError(f"drivers={self.drivers!r}: a list of column names, not one string")
        if int(self.n_boot) != self.n_boot or self.n_boot < 0:
            raise ValueError(f"n_boot={self.n_boot!r}: a whole number >= 0")
        if not 0 < float(self.alpha) < 1:
            raise ValueError(f"alpha={self.alpha!r}: must be in (0, 1)")
        if self.scale is not None and not (len(self.scale) == 2 and self.scale[1] > self.scale[0]):
            raise ValueError(f"scale={self.scale!r}: (low, high) with high > low, or None")

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "importance_")
        except _SkNotFittedError:
            raise NotFittedError("KeyDriverAnalysis is not fitted yet: call fit(surveys) first") from None

    def predict(self, surveys: pd.DataFrame) -> pd.Series:
        """The outcome the fitted OLS model expects from each response's driver ratings.

        Returns
        -------
        Series named ``<outcome>_predicted`` (outcome units) indexed like ``surveys``; NaN where
        a driver rating is missing.
        """
        self._check_fitted()
        require_columns(surveys, "surveys", self.drivers_)
        X = np.column_stack([pd.to_numeric(surveys[c], errors="coerce").to_numpy(float) for c in self.drivers_]) \
            if len(surveys) else np.empty((0, len(self.drivers_)))
        coef = self.importance_["coef"].to_numpy(float)
        return pd.Series(self.intercept_ + X @ coef, index=surveys.index, name=f"{self.outcome_}_predicted")

    def score(self, surveys: pd.DataFrame, y=None) -> float:
        """R^2 of ``predict`` against the observed outcome on the complete responses of ``surveys``.

        On the training responses it equals ``r2_``; on held-out ones it is the out-of-sample
        R^2 (can be negative). The default scorer of ``GridSearchCV`` / ``cross_val_score``; ``y`` is ignored.
        """
        self._check_fitted()
        z, _ = _numeric_matrix(surveys, "surveys", [self.outcome_, *self.drivers_], "response_id")
        if len(z) < 2:
            raise DataContractError(f"surveys: {len(z)} complete response(s) (rule 'R-squared needs >= 2')")
        pred = self.intercept_ + z[:, 1:] @ self.importance_["coef"].to_numpy(float)
        resid, dev = z[:, 0] - pred, z[:, 0] - z[:, 0].mean()
        return float(1 - resid @ resid / (dev @ dev))

    def driver_matrix(self, importance: str = "rw_share") -> pd.DataFrame:
        """Importance x performance: where to act first (Martilla & James 1977).

        A driver is *important* when its share exceeds the equal share 1/p, and
        *performing* when its performance (0-100) exceeds the drivers' average.
        ``priority`` ranks drivers by importance x (100 - performance): the share of
        satisfaction still to gain.

        Returns
        -------
        DataFrame
            Indexed by driver: ``importance``, ``importance_lower``, ``importance_upper``
            (0-1), ``performance`` (0-100), ``quadrant`` (``concentrate here``, ``keep up the
            good work``, ``low priority``, ``possible overkill``), ``priority`` (1 = first).

        References
        ----------
        Martilla, J. A. & James, J. C. (1977). Importance-performance analysis. Journal of
        Marketing 41(1), 77-79.
        """
        self._check_fitted()
        if importance not in ("rw_share", "lmg_share"):
            raise ValueError(f"importance={importance!r}: use 'rw_share' or 'lmg_share'")
        imp = self.importance_
        out = pd.DataFrame({"importance": imp[importance], "importance_lower": imp[f"{importance}_lower"],
                            "importance_upper": imp[f"{importance}_upper"], "performance": imp["performance"]})
        hi_imp = out["importance"] > 1 / len(out)
        hi_perf = out["performance"] > out["performance"].mean()
        out["quadrant"] = [QUADRANTS[(a, b)] for a, b in zip(hi_imp, hi_perf)]
        gain = out["importance"] * (100 - out["performance"].fillna(0))
        out["priority"] = gain.rank(ascending=False, method="min").astype("int64")
        return out.sort_values("priority")

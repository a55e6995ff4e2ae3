"""Small vectorised statistics shared by the satisfaction modules (no I/O, no validation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint


def z_value(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def wilson(successes, n, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (Wilson 1927; Newcombe 1998 method 3); NaN where n == 0.

    ``successes`` and ``n`` may be non-integer (effective counts of weighted data).
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    lo = np.full(np.shape(n), np.nan)
    hi = np.full(np.shape(n), np.nan)
    ok = n > 0
    if np.any(ok):
        lo[ok], hi[ok] = proportion_confint(x[ok], n[ok], alpha=alpha, method="wilson")
    return lo, hi


def group_codes(keys: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Integer group code per row of ``keys`` and the sorted group labels (NaN keys form a group)."""
    if keys.shape[1] == 1:
        codes, labels = pd.factorize(keys.iloc[:, 0], sort=True, use_na_sentinel=False)
        return codes, pd.Index(labels, name=keys.columns[0])
    codes, labels = pd.factorize(pd.MultiIndex.from_frame(keys), sort=True, use_na_sentinel=False)
    return codes, pd.MultiIndex.from_tuples(list(labels), names=list(keys.columns))


def group_moments(codes: np.ndarray, labels: pd.Index, y: np.ndarray, w: np.ndarray) -> pd.DataFrame:
    """Per group: n, sum of weights, weighted mean and the variance of that mean (vectorised, O(n)).

    Rows where ``y`` is NaN or ``w`` is not positive are left out. The variance of the
    weighted mean is the Taylor-linearisation (with-replacement) estimate
    sum w_i^2 (y_i - m)^2 / (sum w_i)^2 (Woodruff 1971; Wolter 2007, ch. 6), which for
    unit weights is the plug-in variance s^2 (n - 1) / n^2 of a sample mean.
    ``ssd`` is the unweighted sum of squared deviations (for t intervals).
    """
    k = len(labels)
    ok = ~np.isnan(y) & (w > 0)
    yw = np.where(ok, y, 0.0)
    ww = np.where(ok, w, 0.0)
    c = np.asarray(codes)

    def tot(v):
        return np.bincount(c, weights=v, minlength=k)[:k] if len(c) else np.zeros(k)

    n, s0, s1 = tot(ok.astype(float)), tot(ww), tot(ww * yw)
    q0, q1, q2 = tot(ww ** 2), tot(ww ** 2 * yw), tot(ww ** 2 * yw ** 2)
    u1, u2 = tot(np.where(ok, yw, 0.0)), tot(np.where(ok, yw ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / s0
        var = np.clip((q2 - 2 * m * q1 + m ** 2 * q0) / s0 ** 2, 0, None)
        kish = s0 ** 2 / q0
        ssd = np.clip(u2 - n * (u1 / n) ** 2, 0, None)
    return pd.DataFrame({"n": n.astype("int64"), "mean": m, "var_mean": var, "kish_n": kish, "ssd": ssd},
                        index=labels)


def patterns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``values`` (2-D float, no NaN) and how often each occurs.

    Survey data are discrete (ratings 1-5), so 5 million responses collapse to a few
    thousand patterns; bootstrap replicates are then multinomial draws over patterns,
    which is the ordinary nonparametric bootstrap at a fraction of the cost.
    """
    df = pd.DataFrame(values)
    g = df.groupby(list(df.columns), sort=False).size()
    return g.index.to_frame(index=False).to_numpy(dtype=float), g.to_numpy(dtype=np.int64)


def weighted_cov(z: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix (divisor sum of counts) of rows ``z`` with ``counts``."""
    c = counts.astype(float)
    n = c.sum()
    m = c @ z / n
    d = z - m
    return m, (d * c[:, None]).T @ d / n


def cov_to_corr(s: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(s))
    return s / np.outer(sd, sd)


def percentile_ci(reps: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval along axis 0 (Efron & Tibshirani 1993, ch. 13)."""
    return np.nanquantile(reps, alpha / 2, axis=0), np.nanquantile(reps, 1 - alpha / 2, axis=0)

"""Gamma-Gamma model of spend per transaction, and its independence check.

A customer's transaction values are Gamma(shape p, rate nu) around their own mean p / nu,
with nu ~ Gamma(shape q, rate gamma) across customers. Only the number of repeat
transactions x and their mean value zbar enter the likelihood; customers without a repeat
transaction carry no information and are left out. The model assumes spend is independent
of purchase frequency: ``independence_check`` reports their correlation.

References
----------
Fader, P.S., Hardie, B.G.S. & Lee, K.L. (2005). RFM and CLV: using iso-value curves for
customer base analysis. *Journal of Marketing Research* 42(4), 415-430. doi:10.1509/jmkr.2005.42.4.415
Fader, P.S. & Hardie, B.G.S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import gammaln, psi

from crm_lib.clv._checks import check_spend
from crm_lib.clv._mle import check_fitted, fit_log_params, store_fit

logger = logging.getLogger(__name__)

NAMES = ["p", "q", "gamma"]


def loglik(theta, x, m, grad: bool = True):
    """Per-customer log density of the mean spend ``m`` of ``x`` transactions, and its gradient in (p, q, gamma).

    ``log f = lgamma(px+q) - lgamma(px) - lgamma(q) + q log gamma + (px-1) log m + px log x
    - (px+q) log(gamma + x m)``.
    """
    p, q, g = theta
    px = p * x
    lgx = np.log(g + x * m)
    ll = (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(g) + (px - 1) * np.log(m) + px * np.log(x)
          - (px + q) * lgx)
    if not grad:
        return ll, None
    G = np.empty((len(x), 3))
    G[:, 0] = x * (psi(px + q) - psi(px) + np.log(m) + np.log(x) - lgx)
    G[:, 1] = psi(px + q) - psi(q) + np.log(g) - lgx
    G[:, 2] = q / g - (px + q) / (g + x * m)
    return ll, G


class GammaGammaModel:
    """Gamma-Gamma spend model, fitted by maximum likelihood on repeat buyers.

    Attributes
    ----------
    params_ : Series p, q, gamma (``gamma`` is the scale called v in lifetimes).
    summary_, cov_, log_likelihood_, n_ : as ``BetaGeoModel``.
    population_mean_ : float, E[Z] = p gamma / (q - 1), currency per transaction (needs q > 1).
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, summary: pd.DataFrame, table: str = "rfm summary", frequency: str = "frequency",
            monetary: str = "monetary_value") -> "GammaGammaModel":
        """Fit on the repeat buyers of ``summary`` (pass only rows with frequency >= 1); returns self.

        Raises
        ------
        DataContractError
            A customer with frequency 0, zero or negative mean spend, or non-finite values.
        """
        x, m = check_spend(summary, table, frequency, monetary)

        ux, inv = np.unique(x, return_inverse=True)
        cnt = np.bincount(inv).astype(float)
        lm, lx = np.log(m), np.log(x)
        sx_lm, sx_lx, s_lm = (x * lm).sum(), (x * lx).sum(), lm.sum()
        xm = x * m
        N = float(len(x))

        def f(theta):
            # the gamma-function terms depend on x alone: once per distinct x (see ``loglik`` for the formula)
            p, q, g = theta
            upx = p * ux
            lgx = np.log(g + xm)
            pxq = p * x + q
            ll = ((cnt * (gammaln(upx + q) - gammaln(upx))).sum() - N * gammaln(q) + N * q * np.log(g)
                  + p * sx_lm - s_lm + p * sx_lx - (pxq * lgx).sum())
            dpsi = psi(upx + q)
            grad = np.array([
                (cnt * ux * (dpsi - psi(upx))).sum() + sx_lm + sx_lx - (x * lgx).sum(),
                (cnt * dpsi).sum() - N * psi(q) + N * np.log(g) - lgx.sum(),
                N * q / g - (pxq / (g + xm)).sum()])
            return ll, grad

        mean, var = m.mean(), max(m.var(), 1e-9)
        q0 = 3.0
        start = [max(mean ** 2 / var, 0.5), q0, mean * (q0 - 1) / max(mean ** 2 / var, 0.5)]
        res = fit_log_params(f, start, NAMES, len(x), "Gamma-Gamma", table)
        store_fit(self, res, NAMES)
        p, q, g = res.params
        self.population_mean_ = float(p * g / (q - 1)) if q > 1 else float("inf")
        return self

    def conditional_expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """E[Z | x, zbar] = (gamma + x zbar) p / (p x + q - 1): a weighted mean of the population
        mean and the customer's own mean; the population mean for x = 0."""
        check_fitted(self)
        p, q, g = self.params_.to_numpy()
        x = np.asarray(frequency, float)
        m = np.where(x > 0, np.asarray(monetary_value, float), 0.0)
        return (g + x * m) * p / (p * x + q - 1)


def independence_check(summary: pd.DataFrame, frequency: str = "frequency", monetary: str = "monetary_value",
                       alpha: float = 0.05) -> pd.Series:
    """Correlation of frequency and mean spend among repeat buyers (the Gamma-Gamma assumption is none).

    Returns
    -------
    Series: ``pearson`` with ``lower``/``upper`` (Fisher z interval, coverage 1 - alpha) and
    ``p``; ``spearman`` with ``spearman_p``; ``n`` (repeat buyers). A correlation near 0 (the
    CDNOW value is 0.11) supports the model; a strong one means expected spend is biased.
    """
    rep = summary[pd.to_numeric(summary[frequency]) > 0]
    x = rep[frequency].to_numpy(float)
    m = rep[monetary].to_numpy(float)
    n = len(x)
    r, p = stats.pearsonr(x, m) if n > 2 else (np.nan, np.nan)
    z = stats.norm.ppf(1 - alpha / 2)
    se = 1 / np.sqrt(max(n - 3, 1))
    rs, ps = stats.spearmanr(x, m) if n > 2 else (np.nan, np.nan)
    return pd.Series({"pearson": r, "lower": np.tanh(np.arctanh(r) - z * se), "upper": np.tanh(np.arctanh(r) + z * se),
                      "p": p, "spearman": rs, "spearman_p": ps, "n": n})

"""BG/NBD: how many transactions a customer will make, and whether they are still active.

While active a customer buys at Poisson rate lambda ~ Gamma(shape r, rate alpha); after
each purchase (the first included) they become inactive with probability p ~ Beta(a, b).
Fitted by maximum likelihood on a frequency / recency / T summary (``crm_lib.clv.summary``)
with a vectorised, overflow-safe log-likelihood and its analytic gradient (log-parameters,
L-BFGS-B), standard errors from the Hessian. Time unit: that of the summary (weeks for
CDNOW). Cost: O(n) per likelihood evaluation; a million customers fit in seconds.

References
----------
Fader, P.S., Hardie, B.G.S. & Lee, K.L. (2005). "Counting your customers" the easy way: an
alternative to the Pareto/NBD model. *Marketing Science* 24(2), 275-284. doi:10.1287/mksc.1040.0098
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.special import betaln, gammaln, hyp2f1, psi

from crm_lib.clv._checks import check_rfm
from crm_lib.clv._mle import check_fitted, fit_log_params, store_fit, warm_start

logger = logging.getLogger(__name__)

NAMES = ["r", "alpha", "a", "b"]


def loglik(theta, x, tx, T, grad: bool = True, groups=None):
    """Per-customer BG/NBD log-likelihood and (optionally) its gradient in (r, alpha, a, b).

    ``L = B(a, b+x)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
    + [x > 0] B(a+1, b+x-1)/B(a, b) G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))``, combined in
    log space (``logaddexp``) so neither term under- or overflows.

    ``groups``: ``(unique x, inverse index)`` from ``np.unique(x, return_inverse=True)``; the
    gamma, beta and digamma terms depend on x only, so they are evaluated once per distinct
    x and gathered (a million customers have a few hundred distinct x): the fit's speed.

    Returns
    -------
    ll : ndarray (n,); g : ndarray (n, 4) or None
    """
    r, al, a, b = theta
    ux, inv = groups if groups is not None else np.unique(x, return_inverse=True)
    urep = ux > 0
    uxm1 = np.where(urep, ux - 1, 0.0)
    # terms of x alone, once per distinct x
    uA12 = gammaln(r + ux) - gammaln(r) + betaln(a, b + ux) - betaln(a, b)
    uA4c = np.where(urep, np.log(a) - np.log(b + uxm1), -np.inf)
    rx = r + x
    lT = np.log(al + T)
    ltx = np.log(al + tx)
    A3 = -rx * lT
    A4 = uA4c[inv] - rx * ltx
    lse = np.logaddexp(A3, A4)
    ll = uA12[inv] + r * np.log(al) + lse
    if not grad:
        return ll, None
    w4 = np.exp(A4 - lse)
    w3 = 1.0 - w4
    g = np.empty((len(x), 4))
    g[:, 0] = (psi(r + ux) - psi(r))[inv] + np.log(al) - w3 * lT - w4 * ltx
    g[:, 1] = r / al - rx * (w3 / (al + T) + w4 / (al + tx))
    g[:, 2] = (psi(a + b) - psi(a + b + ux))[inv] + w4 / a
    ub = np.where(urep, 1.0 / (b + uxm1), 0.0)
    g[:, 3] = (psi(a + b) + psi(b + ux) - psi(b) - psi(a + b + ux))[inv] - w4 * ub[inv]
    return ll, g


def compress(x, tx, T):
    """Distinct (x, t_x, T) rows and their counts: the likelihood's sufficient statistics.

    Summaries measured in days share rows (a million customers of a two-year window have far
    fewer distinct rows), so every likelihood evaluation runs over the distinct rows only.
    Rows with x = 0 come first. Returns ``x, tx, T, weights`` (float arrays) and
    ``(unique x, inverse index)``.
    """
    import pandas as pd

    c = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts(sort=False).reset_index()
    c = c.sort_values("x", kind="stable")
    cx, ctx, cT, w = (c[k].to_numpy(float) for k in ("x", "tx", "T", "count"))
    ux, inv = np.unique(cx, return_inverse=True)
    return cx, ctx, cT, w, (ux, inv)


def _loglik_sum(theta, x, tx, T, w, groups):
    """Weighted total log-likelihood and its gradient (rows and ``w`` from ``compress``: x = 0 first).

    ``log L = A12(x) + r log alpha + A3 + [x > 0] log(1 + exp(A4 - A3))`` with
    ``A3 = -(r+x) log(alpha+T)`` and ``A4 = log a - log(b+x-1) - (r+x) log(alpha+t_x)``; the
    x-only terms once per distinct x.
    """
    r, al, a, b = theta
    ux, inv = groups
    k = int(np.searchsorted(x, 0.5))               # rows [0, k) have x = 0
    wu = np.bincount(inv, weights=w, minlength=len(ux))
    W = w.sum()
    uA12 = gammaln(r + ux) - gammaln(r) + betaln(a, b + ux) - betaln(a, b)
    lT = np.log(al + T)
    # x = 0: log L = A12(0) + r log alpha - r log(alpha + T)
    w0, lT0 = w[:k], lT[:k]
    # x > 0
    x1, w1, lT1, T1 = x[k:], w[k:], lT[k:], T[k:]
    inv1 = inv[k:]
    ltx = np.log(al + tx[k:])
    rx = r + x1
    ub = 1.0 / (b + np.maximum(ux - 1, 0.0))
    d = (np.log(a) + np.log(ub))[inv1] - rx * (ltx - lT1)
    e = np.exp(-np.abs(d))
    sp = np.maximum(d, 0.0) + np.log1p(e)
    w4 = np.where(d > 0, 1.0, e) / (1.0 + e)          # logistic(d): weight of the dropped-out term
    w3 = 1.0 - w4
    ll = (wu * uA12).sum() + W * r * np.log(al) - r * (w0 * lT0).sum() + (w1 * (sp - rx * lT1)).sum()
    ww4 = w1 * w4
    g = np.array([
        (wu * (psi(r + ux) - psi(r))).sum() + W * np.log(al) - (w0 * lT0).sum()
        - (w1 * (w3 * lT1 + w4 * ltx)).sum(),
        W * r / al - r * (w0 / (al + T[:k])).sum() - (w1 * rx * (w3 / (al + T1) + w4 / (al + tx[k:]))).sum(),
        (wu * (psi(a + b) - psi(a + b + ux))).sum() + ww4.sum() / a,
        (wu * (psi(a + b) + psi(b + ux) - psi(b) - psi(a + b + ux))).sum() - (ww4 * ub[inv1]).sum()])
    return ll, g


class BetaGeoModel:
    """BG/NBD model of repeat transactions (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    alpha : float
        1 - confidence level of the parameter intervals in ``summary_``.

    Attributes
    ----------
    params_ : Series r, alpha, a, b.
    summary_ : DataFrame indexed by parameter: ``estimate``, ``se`` (Hessian), ``lower``,
        ``upper`` (log-scale Wald interval).
    cov_ : ndarray, covariance of the log-parameters.
    log_likelihood_ : float; n_ : int (customers); n_repeat_ : int (customers with x > 0).
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, summary: pd.DataFrame, table: str = "rfm summary", x0=None) -> "BetaGeoModel":
        """Fit on ``summary`` (``frequency``, ``recency``, ``T``); returns self.

        Raises
        ------
        DataContractError
            Missing columns, recency > T, negative or fractional frequency, no repeat buyer.
        """
        x, tx, T = check_rfm(summary, table)

        cx, ctx, cT, w, groups = compress(x, tx, T)

        def f(theta):
            return _loglik_sum(theta, cx, ctx, cT, w, groups)

        # start: r/alpha from the mean purchase rate, a and b moderate; for a large book, refined on a
        # seeded 50k-customer subsample first (the full fit then needs a few iterations only)
        rate = max(x.sum() / max(T.sum(), 1e-9), 1e-6)
        start = np.asarray(x0 if x0 is not None else [0.5, 0.5 / rate, 1.0, 2.0], float)
        hinv = None
        if x0 is None and len(x) > 200_000:
            i = np.random.default_rng(0).choice(len(x), 50_000, replace=False)
            sub = compress(x[i], tx[i], T[i])
            start, hinv = warm_start(lambda th: _loglik_sum(th, *sub), start, 50_000)
        res = fit_log_params(f, start, NAMES, len(x), "BG/NBD", table, hess_inv0=hinv)
        self._set(res)
        self.n_repeat_ = int((x > 0).sum())
        return self

    def _set(self, res):
        store_fit(self, res, NAMES)

    # ------------------------------------------------------------------ predictions
    def _p(self):
        check_fitted(self)
        return self.params_.to_numpy()

    def expected_transactions(self, t) -> np.ndarray:
        """E[X(t)]: expected repeat transactions of a new customer in ``t`` units after the first."""
        r, al, a, b = self._p()
        t = np.asarray(t, float)
        return (a + b - 1) / (a - 1) * (1 - (al / (al + t)) ** r * hyp2f1(r, b, a + b - 1, t / (al + t)))

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(still active at T | x, t_x, T); 1 for customers without a repeat purchase."""
        r, al, a, b = self._p()
        x, tx, T = (np.asarray(v, float) for v in (frequency, recency, T))
        with np.errstate(divide="ignore", over="ignore"):
            logratio = np.log(a) - np.log(b + np.maximum(x - 1, 0)) + (r + x) * (np.log(al + T) - np.log(al + tx))
        return np.where(x > 0, np.exp(-np.logaddexp(0.0, logratio)), 1.0)

    def conditional_expected_transactions(self, t, frequency, recency, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected transactions in the next ``t`` units (eq. 10 of the paper)."""
        r, al, a, b = self._p()
        x, tx, T = (np.asarray(v, float) for v in (frequency, recency, T))
        t = np.asarray(t, float)
        first = (a + b + x - 1) / (a - 1)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (al + T + t))
        second = 1 - ((al + T) / (al + T + t)) ** (r + x) * hyp
        return first * second * self.probability_alive(x, tx, T)

    def predict(self, summary: pd.DataFrame, t: float) -> pd.DataFrame:
        """Per customer of ``summary``: ``expected_transactions`` in the next ``t`` units and ``p_alive``."""
        x, tx, T = check_rfm(summary, "rfm summary")
        return pd.DataFrame({"expected_transactions": self.conditional_expected_transactions(t, x, tx, T),
                             "p_alive": self.probability_alive(x, tx, T)}, index=summary.index)

"""Shifted-beta-geometric (sBG) retention for contractual products, cohort by cohort.

Each customer of a cohort renews period after period until they cancel; their per-period
churn probability theta ~ Beta(alpha, beta), so retention rises with tenure as the
likelier churners leave first. Fitted by maximum likelihood on the counts still active at
the end of each period; predicts survival and retention rates beyond the data.

References
----------
Fader, P.S. & Hardie, B.G.S. (2007). How to project customer retention. *Journal of
Interactive Marketing* 21(1), 76-90. doi:10.1002/dir.20074
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.special import betaln, psi

from crm_lib.clv._mle import check_fitted, fit_log_params, store_fit
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)

NAMES = ["alpha", "beta"]
_DEGENERATE = 1e4


def _check_counts(active, table: str) -> np.ndarray:
    n = np.asarray(active, float)
    if n.ndim != 1 or len(n) < 2:
        raise DataContractError(f"{table}.active: {len(np.atleast_1d(n))} value(s) (rule 'the cohort size at period 0 "
                                "and at least one later count')")
    if not np.all(np.isfinite(n)) or np.any(n != np.round(n)) or np.any(n < 0):
        raise DataContractError(f"{table}.active: counts {n[:5].tolist()} break rule 'whole numbers >= 0'")
    if n[0] <= 0:
        raise DataContractError(f"{table}.active: the cohort is empty at period 0 (rule 'cohort size > 0'): "
                                "nothing to estimate retention from")
    if np.any(np.diff(n) > 0):
        i = int(np.argmax(np.diff(n) > 0))
        raise DataContractError(f"{table}.active: the count rises from {n[i]:g} to {n[i + 1]:g} at period {i + 1} "
                                "(rule 'a cohort never grows: customers who leave do not come back')")
    return n


def loglik(theta, active, grad: bool = True):
    """sBG log-likelihood of one cohort's active counts ``n_0 >= n_1 >= ... >= n_T`` and its gradient.

    ``P(T = t) = B(alpha+1, beta+t-1) / B(alpha, beta)`` (churn in period t),
    ``S(t) = B(alpha, beta+t) / B(alpha, beta)`` (still active after t periods).
    """
    a, b = theta
    n = np.asarray(active, float)
    t = np.arange(1, len(n))
    lost = n[:-1] - n[1:]
    lP = betaln(a + 1, b + t - 1) - betaln(a, b)
    lS = betaln(a, b + t[-1]) - betaln(a, b)
    ll = float((lost * lP).sum() + n[-1] * lS)
    if not grad:
        return ll, None
    dB_a = psi(a) - psi(a + b)
    dB_b = psi(b) - psi(a + b)
    dP_a = psi(a + 1) - psi(a + b + t) - dB_a
    dP_b = psi(b + t - 1) - psi(a + b + t) - dB_b
    dS_a = psi(a) - psi(a + b + t[-1]) - dB_a
    dS_b = psi(b + t[-1]) - psi(a + b + t[-1]) - dB_b
    g = np.array([(lost * dP_a).sum() + n[-1] * dS_a, (lost * dP_b).sum() + n[-1] * dS_b])
    return ll, g


class ShiftedBetaGeometric:
    """sBG model of one cohort's retention (Fader & Hardie 2007).

    Attributes
    ----------
    params_ : Series alpha, beta; summary_, cov_, log_likelihood_ as ``BetaGeoModel``.
    churn_probability_ : float, mean churn probability per period alpha / (alpha + beta).
    degenerate_ : bool, True when alpha + beta diverges (retention does not rise with tenure: one
        churn probability for everyone, alpha and beta not separately identified).
    n_ : int, cohort size at period 0; periods_ : int, periods observed.
    """

    def __init__(self, alpha: float = 0.05):
        self.alpha = alpha

    def fit(self, active, table: str = "cohort") -> "ShiftedBetaGeometric":
        """Fit on ``active``: the cohort size at period 0, then the number still active after each period.

        Raises
        ------
        DataContractError
            An empty cohort, fewer than two counts, counts that rise or are not whole numbers.
        """
        n = _check_counts(active, table)
        if n[-1] == n[0]:
            raise DataContractError(f"{table}.active: nobody left the cohort of {n[0]:g} in {len(n) - 1} period(s) "
                                    "(rule 'at least one cancellation'): churn cannot be estimated yet")
        res = fit_log_params(lambda th: loglik(th, n), [1.0, 1.0], NAMES, int(n[0]), "sBG", table)
        store_fit(self, res, NAMES, int(n[0]))
        self.periods_ = len(n) - 1
        a, b = res.params
        # alpha + beta beyond this: Beta(alpha, beta) is a point mass, every customer has the same churn
        # probability and only alpha / (alpha + beta) is identified
        self.degenerate_ = bool(a + b > _DEGENERATE)
        self.churn_probability_ = float(a / (a + b))
        if self.degenerate_:
            logger.info("%s: no heterogeneity in churn probability (alpha + beta = %.3g)", table, a + b)
        return self

    def survival(self, t) -> np.ndarray:
        """S(t): share of the cohort still active after ``t`` periods (0-1)."""
        check_fitted(self)
        a, b = self.params_.to_numpy()
        t = np.asarray(t, float)
        return np.exp(betaln(a, b + t) - betaln(a, b))

    def retention_rate(self, t) -> np.ndarray:
        """r(t) = S(t) / S(t-1) = (beta + t - 1) / (alpha + beta + t - 1): rises with tenure."""
        check_fitted(self)
        a, b = self.params_.to_numpy()
        t = np.asarray(t, float)
        return (b + t - 1) / (a + b + t - 1)

    def discounted_expected_residual_lifetime(self, discount: float, periods_survived: int = 1) -> float:
        """DERL: expected discounted number of further renewals of a customer who has renewed
        ``periods_survived - 1`` times, per period discount rate ``discount`` (Fader & Hardie 2010),
        summed to convergence (1e-12)."""
        check_fitted(self)
        if discount <= -1:
            raise ValueError(f"discount rate {discount}: must be > -1 (rule 'discount factor 1/(1+d) finite and "
                             "positive')")
        n = int(periods_survived)
        t = np.arange(n, n + 20_000)
        s = self.survival(t) / self.survival(n - 1)
        return float((s / (1 + discount) ** (t - n + 1)).sum())


def cohort_counts(wh, end, min_periods: int = 2) -> pd.DataFrame:
    """Yearly onboarding cohorts and how many of each are still customers at each anniversary.

    Only cohorts onboarded inside the data window (so every closure is observed) with at least
    ``min_periods`` complete years by ``end``. A customer counts as active at anniversary k when
    not closed (for any reason) by then.

    Returns
    -------
    DataFrame indexed by ``cohort`` (onboarding year), columns ``0``..``K`` (customers active at
    each anniversary; NaN where the anniversary is after ``end``).
    """
    from crm_lib.churn.frame import history_start

    end = pd.Timestamp(end).normalize()
    hs = history_start(wh)
    first = hs.year + (0 if (hs.month, hs.day) == (1, 1) else 1)
    c = wh.sql(f"""SELECT CAST(onboard_date AS DATE) AS onboard, CAST(closed_date AS DATE) AS closed FROM customers
                   WHERE CAST(onboard_date AS DATE) >= DATE '{first}-01-01'
                     AND CAST(onboard_date AS DATE) <= DATE '{end.strftime('%Y-%m-%d')}'""")
    c["onboard"] = pd.to_datetime(c["onboard"])
    c["closed"] = pd.to_datetime(c["closed"])
    rows = {}
    for year, g in c.groupby(c["onboard"].dt.year):
        K = end.year - int(year) - (0 if (end.month, end.day) == (12, 31) else 1)
        if K < min_periods:
            continue
        counts = [len(g)]
        for k in range(1, K + 1):
            ann = g["onboard"] + pd.DateOffset(years=k)
            counts.append(int((g["closed"].isna() | (g["closed"] > ann)).sum()))
        rows[int(year)] = counts
    if not rows:
        raise DataContractError(f"customers.onboard_date: no yearly cohort inside the data window has {min_periods} "
                                f"complete years by {end.date()} (rule 'a cohort to follow')")
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "cohort"
    return out

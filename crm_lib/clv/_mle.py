"""Maximum likelihood on log-parameters: one optimiser, Hessian standard errors, a result table.

Every model in ``crm_lib.clv`` hands ``fit_log_params`` a function returning the total
log-likelihood and its analytic gradient with respect to the *natural* parameters; the
optimiser works on their logarithms (so positivity needs no bounds) with BFGS and the
analytic Jacobian (L-BFGS-B polishes when BFGS stops short). Standard errors come from the
observed information: the Hessian of the negative log-likelihood in log-parameters, by
central differences of the analytic gradient, inverted and mapped back by the delta method
(``se(theta) = theta * se(log theta)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)


@dataclass
class MLEResult:
    """Estimates on the natural scale, their log-scale covariance, and how the fit went."""

    names: list
    params: np.ndarray
    log_cov: np.ndarray
    log_likelihood: float
    n: int
    converged: bool
    message: str
    iterations: int

    @property
    def se(self) -> np.ndarray:
        """Standard errors on the natural scale (delta method from the log scale)."""
        return self.params * np.sqrt(np.clip(np.diag(self.log_cov), 0, None))

    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: ``estimate``, ``se``, ``lower``, ``upper`` (a log-scale Wald
        interval at coverage 1 - alpha, so it stays positive)."""
        z = stats.norm.ppf(1 - alpha / 2)
        lse = np.sqrt(np.clip(np.diag(self.log_cov), 0, None))
        return pd.DataFrame({"estimate": self.params, "se": self.se,
                             "lower": self.params * np.exp(-z * lse), "upper": self.params * np.exp(z * lse)},
                            index=pd.Index(self.names, name="parameter"))


def fit_log_params(loglik_grad, x0, names, n: int, what: str, table: str, hess_inv0=None) -> MLEResult:
    """Maximise ``loglik_grad(theta) -> (ll, dll/dtheta)`` over ``log(theta)``.

    Raises
    ------
    DataContractError
        When the optimiser ends at a non-finite likelihood or the information matrix is not
        positive definite (the data do not identify the parameters), naming ``table``.
    """
    scale = float(max(n, 1))        # optimise the mean log-likelihood: gradients of order 1 at any n
    neg = _mean_negative(loglik_grad, n)
    u0 = np.log(np.asarray(x0, float))
    opts = {"gtol": 1e-9, "maxiter": 2000}
    if hess_inv0 is not None:
        opts["hess_inv0"] = hess_inv0
    res = optimize.minimize(neg, u0, jac=True, method="BFGS", options=opts)
    u = res.x
    if not res.success and np.max(np.abs(res.jac)) > 1e-7:
        # BFGS stops on precision loss near a flat optimum: polish with L-BFGS-B from there
        res2 = optimize.minimize(neg, u, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-10,
                                                                                 "ftol": 1e-16})
        if res2.fun <= res.fun:
            u, res = res2.x, res2
    ll = -float(res.fun) * scale
    if not np.isfinite(ll) or res.fun >= 1e299:
        raise DataContractError(f"{table}: the {what} likelihood is not finite at any parameter value tried "
                                "(rule 'a model the data can identify'); check the summary for impossible rows")
    H = _hessian(lambda v: neg(v)[1], u) * scale
    try:
        cov = np.linalg.inv(H)
        ok = np.all(np.linalg.eigvalsh((H + H.T) / 2) > 0)
    except np.linalg.LinAlgError:
        ok = False
        cov = np.full((len(u), len(u)), np.nan)
    if not ok:
        raise DataContractError(f"{table}: the {what} information matrix is not positive definite at "
                                f"{dict(zip(names, np.round(np.exp(u), 4)))} (rule 'a model the data can identify'); "
                                "too few customers or too little variation to estimate every parameter")
    converged = bool(np.max(np.abs(neg(u)[1])) < 1e-5)
    if not converged:
        logger.info("%s: gradient not at zero after optimisation (%s)", what, res.message)
    logger.info("%s fit: n=%d, LL=%.4f, %s", what, n, ll, dict(zip(names, np.exp(u).round(6))))
    return MLEResult(list(names), np.exp(u), cov, ll, int(n), converged, str(res.message), int(res.nit))


def warm_start(loglik_grad, x0, n: int) -> np.ndarray:
    """Maximiser of a (cheap) log-likelihood, e.g. on a subsample, as the start of the full fit.

    Returns natural-scale parameters (``x0`` when it fails) and the inverse Hessian of the mean
    negative log-likelihood in log-parameters there (None when not positive definite): the full
    fit's BFGS starts from it and needs a few iterations instead of twenty.
    """
    neg = _mean_negative(loglik_grad, n)

    res = optimize.minimize(neg, np.log(np.asarray(x0, float)), jac=True, method="BFGS",
                            options={"gtol": 1e-6, "maxiter": 500})
    if not (np.all(np.isfinite(res.x)) and res.fun < 1e299):
        return np.asarray(x0, float), None
    H = _hessian(lambda v: neg(v)[1], res.x)
    try:
        Hi = np.linalg.inv(H)
        ok = np.all(np.linalg.eigvalsh((Hi + Hi.T) / 2) > 0)
    except np.linalg.LinAlgError:
        ok = False
    return np.exp(res.x), ((Hi + Hi.T) / 2 if ok else None)


def _mean_negative(loglik_grad, n: int):
    """The mean negative log-likelihood and its gradient in log-parameters (gradients of order 1 at any n)."""
    scale = float(max(n, 1))

    def neg(u):
        theta = np.exp(u)
        with np.errstate(all="ignore"):
            ll, g = loglik_grad(theta)
        if not np.isfinite(ll) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros_like(u)
        return -ll / scale, -(g * theta) / scale

    return neg


def store_fit(model, res: "MLEResult", names, n: int | None = None) -> None:
    """Set a fitted model's ``result_``, ``params_``, ``cov_`` (log scale), ``summary_``, ``log_likelihood_``, ``n_``."""
    model.result_ = res
    model.params_ = pd.Series(res.params, index=names)
    model.cov_ = res.log_cov
    model.summary_ = res.table(model.alpha)
    model.log_likelihood_ = res.log_likelihood
    model.n_ = res.n if n is None else n


def _hessian(grad, u, eps: float = 1e-5) -> np.ndarray:
    """Central-difference Hessian of an analytic gradient, symmetrised."""
    k = len(u)
    H = np.empty((k, k))
    for j in range(k):
        h = eps * max(1.0, abs(u[j]))
        e = np.zeros(k)
        e[j] = h
        H[:, j] = (grad(u + e) - grad(u - e)) / (2 * h)
    return (H + H.T) / 2


def check_fitted(model, attr: str = "params_") -> None:
    if not hasattr(model, attr):
        raise RuntimeError(f"{type(model).__name__} is not fitted yet: call fit(...) first")

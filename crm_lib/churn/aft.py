"""Parametric (accelerated failure time) churn models with delayed entry, compared by AIC."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from crm_lib.churn import covariates as cv
from crm_lib.churn._survival import check_frame, entry_column, per_year, with_unit
from crm_lib.churn.cox import _drop_inestimable
from crm_lib.errors import NotEstimable

logger = logging.getLogger(__name__)


AFT_MODELS = {"weibull": "WeibullAFTFitter", "loglogistic": "LogLogisticAFTFitter", "lognormal": "LogNormalAFTFitter"}


def parametric_fits(frame: pd.DataFrame, covariates=cv.EXPLANATORY, models=("weibull", "loglogistic"),
                    alpha: float = 0.05, window_days: int = 365, *, duration_col: str = "duration",
                    event_col: str = "event", entry_col: str | None = "entry",
                    time_unit: str = "years") -> tuple[pd.DataFrame, dict]:
    """Accelerated-failure-time models with delayed entry, compared by AIC.

    Parameters
    ----------
    duration_col, event_col, entry_col : str
        Column names as in ``ChurnCox`` (``entry_col="entry"`` used when present).
    time_unit : {"years", "months", "weeks", "days"}
        Unit of the durations. Shapes, time ratios, hazard ratios, concordance and AIC
        differences do not depend on it; the intercepts and the log-likelihood do (by
        ``-events * log(units per year)``), so compare fits in one unit only.

    Returns
    -------
    table : DataFrame, one row per model: ``model``, ``status`` ('ok' or why it failed),
        ``n``, ``events``, ``log_likelihood``, ``n_params``, ``aic``, ``delta_aic`` (against the
        best), ``akaike_weight`` (0-1), ``shape`` with ``shape_lower``/``shape_upper`` (Weibull
        rho: hazard rises with tenure when > 1; log-logistic beta), ``concordance``.
    fitted : dict model -> lifelines fitter (covariates uncentered: the intercept is the
        reference customer with every covariate 0). ``table.attrs["time_unit"]`` holds the unit.

    Notes
    -----
    The Weibull AFT model is also a proportional-hazards model: HR = exp(-rho * b) for
    an AFT coefficient b; ``weibull_hazard_ratios`` derives them with delta-method CIs.

    References
    ----------
    Akaike, H. (1974). A new look at the statistical model identification. *IEEE TAC* 19(6), 716-723.
    """
    import lifelines
    from lifelines.exceptions import ConvergenceError

    per_year(time_unit)
    entry = entry_column(frame, entry_col)
    check_frame(frame, duration_col, event_col, entry, time_unit=time_unit)
    X, dropped = _drop_inestimable(cv.design_matrix(frame, list(covariates), window_days))
    df = X.copy()
    df["_T"], df["_E"] = frame[duration_col].to_numpy(float), frame[event_col].to_numpy(int)
    if int(df["_E"].sum()) == 0:
        raise NotEstimable(f"frame.{event_col}: no churn events among {len(frame):,} customers (rule 'at least one event')",
                           "parametric survival models need churn events in the observation window")
    kw = {"entry_col": "_A"} if entry else {}
    if entry:
        df["_A"] = frame[entry].to_numpy(float)
    rows, fitted = [], {}
    z = stats.norm.ppf(1 - alpha / 2)
    for name in models:
        cls = getattr(lifelines, AFT_MODELS[name])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = cls(alpha=alpha).fit(df, "_T", "_E", **kw)
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as e:
            rows.append({"model": name, "status": f"did not converge: {str(e).splitlines()[0][:120]}"})
            continue
        fitted[name] = m
        shape_param = {"weibull": "rho_", "loglogistic": "beta_", "lognormal": "sigma_"}[name]
        b = m.params_.loc[(shape_param, "Intercept")]
        se = m.standard_errors_.loc[(shape_param, "Intercept")]
        rows.append({"model": name, "status": "ok", "n": len(df), "events": int(df["_E"].sum()),
                     "log_likelihood": m.log_likelihood_, "n_params": len(m.params_), "aic": m.AIC_,
                     "shape": np.exp(b), "shape_lower": np.exp(b - z * se), "shape_upper": np.exp(b + z * se),
                     "concordance": m.concordance_index_})
    out = pd.DataFrame(rows)
    if "aic" in out and out["aic"].notna().any():
        best = out["aic"].min()
        out["delta_aic"] = out["aic"] - best
        wts = np.exp(-0.5 * out["delta_aic"])
        out["akaike_weight"] = wts / wts.sum()
    if dropped:
        logger.info("parametric fits: dropped %s", dropped)
    out.attrs["dropped"] = dropped
    out.attrs["model_sample"] = frame.attrs.get("model_sample")   # a model sample (crm_lib.data.sample): the page says so
    return with_unit(out, time_unit), fitted


def weibull_hazard_ratios(fitted, alpha: float = 0.05, window_days: int = 365) -> pd.DataFrame:
    """Hazard ratios implied by a lifelines ``WeibullAFTFitter``: exp(-rho * b), delta-method CIs.

    Returns
    -------
    DataFrame indexed by covariate: ``label``, ``hr``, ``hr_lower``, ``hr_upper``, ``time_ratio``
    (exp(b): > 1 means longer tenure).
    """
    p = fitted.params_
    V = fitted.variance_matrix_
    a = p.loc[("rho_", "Intercept")]
    rho = np.exp(a)
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for cov in [c for (g, c) in p.index if g == "lambda_" and c != "Intercept"]:
        b = p.loc[("lambda_", cov)]
        g = np.array([-rho * b, -rho])                       # d(-rho b)/d(a, b), rho = exp(a)
        idx = [("rho_", "Intercept"), ("lambda_", cov)]
        var = g @ V.loc[idx, idx].to_numpy() @ g
        lhr, se = -rho * b, np.sqrt(var)
        rows.append({"covariate": cov, "label": cv.label(cov, window_days), "hr": np.exp(lhr),
                     "hr_lower": np.exp(lhr - z * se), "hr_upper": np.exp(lhr + z * se), "time_ratio": np.exp(b)})
    return pd.DataFrame(rows).set_index("covariate")

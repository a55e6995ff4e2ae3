"""Improvement actions: interrupted time series with autocorrelation-robust errors."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError
from crm_lib.fmt import _


logger = logging.getLogger(__name__)

Z95 = stats.norm.ppf(0.975)


# --------------------------------------------------------------------------- improvement actions

def monthly_kpi(wh: Warehouse, kpi: str, end) -> pd.DataFrame:
    """A monthly series for action evaluation, computed in the warehouse.

    ``median_resolution_days``: Kaplan-Meier median days to resolve complaints opened in the
    month (open complaints censored at the data end); ``csat_mean``: mean CSAT of the month's
    survey responses. Returns ``month`` (month start), ``value``, ``n``; no rows when the
    source has no complaints (surveys) or lacks the table.
    """
    end = pd.Timestamp(end)
    empty = pd.DataFrame({"month": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float),
                          "n": pd.Series(dtype=int)})
    table = {"median_resolution_days": "complaints", "csat_mean": "surveys"}.get(kpi)
    if table and not wh.has(table):
        return empty
    if kpi == "median_resolution_days":
        from lifelines import KaplanMeierFitter

        df = wh.sql(f"""SELECT date_trunc('month', opened_at) AS month,
                   date_diff('second', opened_at, coalesce(resolved_at, TIMESTAMP '{(end + pd.Timedelta(days=1)).date()}')) / 86400.0 AS days,
                   resolved_at IS NOT NULL AS resolved
                   FROM complaints WHERE opened_at < TIMESTAMP '{(end + pd.Timedelta(days=1)).date()}'""")
        rows = []
        for m, g in df.groupby("month"):
            km = KaplanMeierFitter().fit(g["days"], g["resolved"])
            rows.append({"month": m, "value": float(km.median_survival_time_), "n": len(g)})
        out = pd.DataFrame(rows, columns=list(empty.columns)) if rows else empty
        return out[np.isfinite(out["value"].astype(float))].reset_index(drop=True)
    if kpi == "csat_mean":
        return wh.sql(f"""SELECT date_trunc('month', survey_date) AS month, avg(csat) AS value, count(csat) AS n
                          FROM surveys WHERE survey_date <= DATE '{end.date()}' AND csat IS NOT NULL
                          GROUP BY 1 ORDER BY 1""")
    raise DataContractError(f"monthly_kpi: no monthly series defined for KPI {kpi!r} "
                            "(available: median_resolution_days, csat_mean)")


def interrupted_time_series(series: pd.DataFrame, start, log: bool = False, maxlags: int = 3,
                            alpha: float = 0.05) -> dict:
    """Segmented regression around ``start`` with Newey-West (HAC) standard errors.

    y_t = b0 + b1 t + b2 post_t + b3 (t - t0) post_t + e_t, t in months. ``b2`` is the level
    change at the action date (on the log scale when ``log``: then ``exp(b2) - 1`` is the
    relative change).

    Returns
    -------
    dict with ``level_change``, ``ci_lower``, ``ci_upper``, ``p_value``, ``slope_change``,
    ``slope_p``, ``relative`` (bool), ``n_before``, ``n_after`` (months), ``fit`` (statsmodels results).

    References
    ----------
    Wagner, A. K., Soumerai, S. B., Zhang, F., Ross-Degnan, D. (2002). Segmented regression
    analysis of interrupted time series studies in medication use research. J Clin Pharm Ther 27, 299-309.
    """
    s = series.sort_values("month").reset_index(drop=True)
    start = pd.Timestamp(start)
    post = (s["month"] >= start).astype(float)
    n_before, n_after = int((post == 0).sum()), int((post == 1).sum())
    if n_before < 6 or n_after < 6:
        raise DataContractError(f"interrupted time series: need at least 6 months on each side of {start.date()}, "
                                f"have {n_before} before and {n_after} after")
    t = np.arange(len(s), dtype=float)
    t0 = t[post.to_numpy() == 1][0]
    X = sm.add_constant(pd.DataFrame({"t": t, "post": post, "t_post": (t - t0) * post}))
    y = np.log(s["value"].astype(float)) if log else s["value"].astype(float)
    fit = sm.OLS(y, X).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags})
    lo, hi = fit.conf_int(alpha).loc["post"]
    b = fit.params["post"]
    return {"level_change": b, "ci_lower": lo, "ci_upper": hi, "p_value": fit.pvalues["post"],
            "slope_change": fit.params["t_post"], "slope_p": fit.pvalues["t_post"], "relative": log,
            "n_before": n_before, "n_after": n_after, "fit": fit}


def detect_change_month(series: pd.DataFrame, margin: int = 6, log: bool = False) -> pd.Timestamp:
    """The month at which a level shift best explains the series (least squares over candidates)."""
    s = series.sort_values("month").reset_index(drop=True)
    y = np.log(s["value"].astype(float)) if log else s["value"].astype(float)
    t = np.arange(len(s), dtype=float)
    best, when = np.inf, None
    for i in range(margin, len(s) - margin):
        post = (t >= i).astype(float)
        X = np.column_stack([np.ones_like(t), t, post, (t - i) * post])
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        ssr = float(resid @ resid)
        if ssr < best:
            best, when = ssr, s["month"][i]
    return pd.Timestamp(when)


def evaluate_actions(wh: Warehouse, actions: list[dict], data_end, alpha: float = 0.05) -> pd.DataFrame:
    """Interrupted-time-series evaluation of each action in the register.

    Returns
    -------
    DataFrame indexed by action ``id`` with ``name``, ``kpi``, ``start_date``, ``estimate``
    (relative change when the action states ``effect_scale: relative``, else in the KPI's
    unit), ``ci_lower``, ``ci_upper``, ``p_value``, ``expected_effect``, ``consistent``
    (expected effect inside the CI), ``detected_month`` (best single change point),
    ``method`` and ``note`` ('not evaluable: ...' when it cannot be estimated).
    """
    rows = []
    series_kpi = {"median_resolution_days": "median_resolution_days", "csat_mean": "csat_mean"}
    for a in actions:
        relative = a.get("effect_scale", "absolute") == "relative"
        row = {"id": a["id"], "name": a["name"], "kpi": a["kpi"], "start_date": a["start_date"],
               "expected_effect": a["expected_effect"], "scale": "relative" if relative else "absolute",
               "method": "", "note": ""}
        if pd.Timestamp(a["start_date"]) > pd.Timestamp(data_end):
            # notes are shown on the review page, in the run's language
            row["note"] = _("not evaluable: starts {start}, after the data ends ({data_end})").format(
                start=a['start_date'], data_end=pd.Timestamp(data_end).date())
            rows.append(row)
            continue
        if a["kpi"] not in series_kpi:
            row["note"] = _("not evaluable: no monthly series for KPI {kpi}").format(kpi=a['kpi'])
            rows.append(row)
            continue
        s = monthly_kpi(wh, series_kpi[a["kpi"]], data_end)
        try:
            r = interrupted_time_series(s, a["start_date"], log=relative, alpha=alpha)
        except DataContractError as e:
            row["note"] = _("not evaluable: {reason}").format(reason=e)
            rows.append(row)
            continue
        to_scale = (lambda v: math.exp(v) - 1) if relative else (lambda v: v)
        est, lo, hi = to_scale(r["level_change"]), to_scale(r["ci_lower"]), to_scale(r["ci_upper"])
        row.update(estimate=est, ci_lower=lo, ci_upper=hi, p_value=r["p_value"],
                   consistent=bool(lo <= a["expected_effect"] <= hi),
                   detected_month=detect_change_month(s, log=relative).date(),
                   method=f"interrupted time series, {r['n_before']}+{r['n_after']} months, Newey-West SE"
                          + (", log scale" if relative else ""),
                   note=_("no untouched comparison group: difference-in-differences not evaluable"))
        rows.append(row)
    cols = ["id", "name", "kpi", "start_date", "scale", "estimate", "ci_lower", "ci_upper", "p_value",
            "expected_effect", "consistent", "detected_month", "method", "note"]
    return pd.DataFrame(rows, columns=cols).set_index("id")



def its_curve(series: pd.DataFrame, result: dict) -> pd.DataFrame:
    """Observed, fitted and counterfactual (no action) values of an ITS fit, for plotting.

    Returns ``month``, ``value``, ``fitted``, ``counterfactual`` (on the original scale).
    """
    s = series.sort_values("month").reset_index(drop=True)
    fit = result["fit"]
    X = fit.model.exog
    names = fit.model.exog_names
    cf = X.copy()
    cf[:, names.index("post")] = 0
    cf[:, names.index("t_post")] = 0
    back = np.exp if result["relative"] else (lambda v: v)
    return pd.DataFrame({"month": s["month"], "value": s["value"].astype(float),
                         "fitted": back(X @ fit.params.to_numpy()), "counterfactual": back(cf @ fit.params.to_numpy())})


def action_curves(wh: Warehouse, actions: list[dict], data_end) -> dict:
    """``{action id: its_curve frame}`` for every evaluable action (for the review's plots)."""
    out = {}
    for a in actions:
        if pd.Timestamp(a["start_date"]) > pd.Timestamp(data_end) or a["kpi"] not in ("median_resolution_days", "csat_mean"):
            continue
        s = monthly_kpi(wh, a["kpi"], data_end)
        try:
            r = interrupted_time_series(s, a["start_date"], log=a.get("effect_scale") == "relative")
        except DataContractError:
            continue
        out[a["id"]] = its_curve(s, r)
    return out

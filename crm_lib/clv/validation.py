"""Validation of a transactional model over time: calibration / hold-out, by frequency and week by week.

``conditional_expectations``: the standard table (Fader, Hardie & Lee 2005, Figure 4): for
customers grouped by their calibration frequency, the mean number of hold-out transactions
the model expected against the mean they made. ``tracking``: cumulative repeat
transactions over calendar time, actual against the model's expectation for the cohort
(Figure 2 of the paper). ``holdout_errors``: per-customer mean absolute error of the model's
conditional expectation against a naive baseline (the customer's calibration rate carried
forward), with a paired bootstrap interval of the difference.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.clv._checks import need_columns

logger = logging.getLogger(__name__)


def conditional_expectations(model, summary: pd.DataFrame, max_frequency: int = 7) -> pd.DataFrame:
    """Mean expected vs actual hold-out transactions by calibration frequency.

    Parameters
    ----------
    summary : DataFrame from ``rfm_summary(..., observation_end=...)`` (needs ``holdout_frequency``
        and ``holdout_duration``).
    max_frequency : int
        Frequencies at or above this are pooled into one row labelled ``"7+"``.

    Returns
    -------
    DataFrame indexed by ``frequency`` (label): ``n`` (customers), ``actual`` and ``expected``
    (mean hold-out transactions per customer), ``actual_total``, ``expected_total``.
    """
    need_columns(summary, ["frequency", "recency", "T", "holdout_frequency", "holdout_duration"], "rfm summary",
                 "pass observation_end to rfm_summary")
    t = float(summary["holdout_duration"].iloc[0])
    exp = model.conditional_expected_transactions(t, summary["frequency"], summary["recency"], summary["T"])
    x = summary["frequency"].to_numpy(int)
    lab = np.where(x >= max_frequency, f"{max_frequency}+", x.astype(str))
    df = pd.DataFrame({"frequency": lab, "actual": summary["holdout_frequency"].to_numpy(float), "expected": exp,
                       "order": np.minimum(x, max_frequency)})
    g = df.groupby(["order", "frequency"], sort=True)
    out = pd.DataFrame({"n": g.size(), "actual": g["actual"].mean(), "expected": g["expected"].mean(),
                        "actual_total": g["actual"].sum(), "expected_total": g["expected"].sum()})
    return out.reset_index(level=0, drop=True)


def tracking(model, days: pd.DataFrame, start, end, customer_col: str = "customer_id", calibration_end=None,
             freq_days: float = 7.0, origins: pd.Series | None = None) -> pd.DataFrame:
    """Cumulative transactions per period from ``start`` to ``end``: actual vs expected.

    Parameters
    ----------
    days : DataFrame from ``purchase_days`` (one row per customer purchase day, ``repeat`` flag).
    start, end : date-like
        The tracked window. Without ``origins`` every customer whose first purchase falls in
        ``[start, calibration_end]`` is tracked and only repeat purchases count (the CDNOW
        convention); with ``origins`` (customer -> date the clock starts, e.g. onboarding) the
        customers of ``origins`` are tracked and every purchase counts.

    Returns
    -------
    DataFrame with ``period_end`` (date), ``week`` (periods since ``start``), ``actual``
    (cumulative purchase days of the tracked customers) and ``expected`` (sum over them of
    E[X(t - origin)]), ``calibration`` (True up to the calibration end).
    """
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    cal = pd.Timestamp(calibration_end).normalize() if calibration_end is not None else end
    if origins is None:
        first = days.groupby(customer_col)["day"].min()
        cohort = first[(first >= start) & (first <= cal)]
        d = days[days[customer_col].isin(cohort.index) & days["repeat"]]
    else:
        cohort = pd.to_datetime(origins)
        d = days[days[customer_col].isin(cohort.index) & (days["day"] >= start)]
    edges = pd.date_range(start + pd.Timedelta(days=freq_days - 1), end, freq=f"{int(freq_days)}D")
    actual = np.searchsorted(np.sort(d["day"].to_numpy()), edges.to_numpy(), side="right")
    f = ((cohort - start).dt.days / freq_days).to_numpy()
    per = ((edges - start).days + 1) / freq_days
    # customers share origins: sum E[X] over distinct origin days weighted by counts
    uf, cnt = np.unique(f, return_counts=True)
    exp = np.array([(cnt * model.expected_transactions(np.clip(p - uf, 0, None))).sum() for p in per])
    return pd.DataFrame({"period_end": edges, "week": per, "actual": actual, "expected": exp,
                         "calibration": edges <= cal})


def holdout_errors(model, summary: pd.DataFrame, n_boot: int = 400, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Per-customer hold-out error of the model against a naive baseline, with intervals.

    The baseline predicts ``x / T * t`` (the customer's calibration purchase rate carried
    forward for the hold-out length ``t``). Intervals: percentile bootstrap over customers
    (paired: the difference uses the same resamples), coverage 1 - alpha.

    Returns
    -------
    DataFrame indexed by ``model`` (``model``, ``naive``, ``difference``): ``mae`` (transactions
    per customer; the difference is model - naive, negative = the model is better), ``lower``,
    ``upper``, ``n``; plus ``total_actual`` and ``total_expected`` (hold-out transactions).
    """
    t = float(summary["holdout_duration"].iloc[0])
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    y = summary["holdout_frequency"].to_numpy(float)
    em = model.conditional_expected_transactions(t, x, tx, T)
    en = x / T * t
    e1, e2 = np.abs(em - y), np.abs(en - y)
    rng = np.random.default_rng(seed)
    n = len(y)
    # one resample at a time: the same draws as rng.integers(0, n, (n_boot, n)) and the same row means, without
    # the (n_boot, n) index and gathered arrays (3 x 2.2 GB at 700k customers and 400 resamples)
    b1, b2 = np.empty(n_boot), np.empty(n_boot)
    for k in range(n_boot):
        i = rng.integers(0, n, n)
        b1[k], b2[k] = e1[i].mean(), e2[i].mean()
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    rows = {"model": (e1.mean(), *np.percentile(b1, q), em.sum()),
            "naive": (e2.mean(), *np.percentile(b2, q), en.sum()),
            "difference": (e1.mean() - e2.mean(), *np.percentile(b1 - b2, q), np.nan)}
    out = pd.DataFrame(rows, index=["mae", "lower", "upper", "total_expected"]).T
    out["n"] = n
    out["total_actual"] = y.sum()
    out.index.name = "model"
    return out

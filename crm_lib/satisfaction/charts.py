"""Control charts for complaints: Shewhart p- and u-charts with run rules, monthly exposure.

A reviewer needs to tell a real shift from month-to-month noise: limits are three
standard errors around a pooled centre line, widening for months with fewer customers or
complaints; a point beyond them, or a run of 8 on one side, signals a change.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm_lib.satisfaction._checks import require_columns
from crm_lib.satisfaction.complaints import PER, _day_end, _sla_outcomes, in_window

def control_limits(events, size, kind: str = "p", sigma: float = 3.0, run: int = 8) -> pd.DataFrame:
    """Shewhart p-chart (share) or u-chart (rate per unit) limits with signals.

    Parameters
    ----------
    events : array-like
        Per subgroup: successes (p-chart) or counts (u-chart).
    size : array-like
        Per subgroup: trials (p) or exposure units (u).
    kind : {"p", "u"}
    sigma : float
        Width of the limits in standard errors (3: the Shewhart convention).
    run : int
        Points in a row on one side of the centre line that signal a shift.

    Returns
    -------
    DataFrame
        ``value`` (events / size), ``center``, ``lcl``, ``ucl`` (same unit; the centre is
        pooled over all subgroups), ``signal`` ("beyond limits", "run of 8 above/below" or "").

    References
    ----------
    Montgomery, D. C. (2009). Introduction to Statistical Quality Control, 6th ed., ch. 7
    (p and u charts); Western Electric (1956) run rules.
    """
    if kind not in ("p", "u"):
        raise ValueError(f"kind={kind!r}: use 'p' (proportions) or 'u' (rates)")
    x = np.asarray(events, dtype=float)
    n = np.asarray(size, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(n > 0, x / n, np.nan)
        center = x[n > 0].sum() / n[n > 0].sum() if (n > 0).any() else np.nan
        se = np.sqrt(center * (1 - center) / n) if kind == "p" else np.sqrt(center / n)
    se = np.where(n > 0, se, np.nan)
    lcl = np.clip(center - sigma * se, 0, None)
    ucl = center + sigma * se
    if kind == "p":
        ucl = np.clip(ucl, None, 1)
    signal = np.where((value > ucl) | (value < lcl), "beyond limits", "").astype(object)
    side = np.sign(np.nan_to_num(value - center))
    streak = 0
    for i in range(len(side)):
        streak = streak + 1 if i and side[i] != 0 and side[i] == side[i - 1] else (1 if side[i] else 0)
        if streak >= run and not signal[i]:
            signal[i] = f"run of {run} {'above' if side[i] > 0 else 'below'}"
    return pd.DataFrame({"value": value, "center": center, "lcl": lcl, "ucl": ucl, "signal": signal})


def monthly_exposure(features: pd.DataFrame, start, end) -> pd.DataFrame:
    """Customers on book in each calendar month from ``start`` to ``end`` (feature table as of ``end``).

    Returns
    -------
    DataFrame
        ``month`` (period), ``month_start``, ``month_end`` (dates), ``customers``.
    """
    require_columns(features, "features", ["onboard_date", "closed_date"])
    months = pd.period_range(pd.Timestamp(start), pd.Timestamp(end), freq="M")
    on = np.sort(pd.to_datetime(features["onboard_date"]).to_numpy(dtype="datetime64[ns]"))
    closed = pd.to_datetime(features["closed_date"]).dropna().to_numpy(dtype="datetime64[ns]")
    closed = np.sort(closed)
    m0 = months.start_time.to_numpy(dtype="datetime64[ns]")
    m1 = months.end_time.normalize().to_numpy(dtype="datetime64[ns]")
    n = np.searchsorted(on, m1, side="right") - np.searchsorted(closed, m0, side="left")
    return pd.DataFrame({"month": months, "month_start": months.start_time.date, "month_end": m1.astype("datetime64[D]"),
                         "customers": n.astype("int64")})


def complaint_rate_chart(complaints: pd.DataFrame, features: pd.DataFrame, start, end,
                         sigma: float = 3.0) -> pd.DataFrame:
    """Monthly complaints per 1,000 customers on a u-chart.

    Returns
    -------
    DataFrame
        ``month``, ``complaints``, ``customers``, ``value``/``center``/``lcl``/``ucl``
        (complaints per 1,000 customers), ``signal``.
    """
    require_columns(complaints, "complaints", ["opened_at"])
    exp = monthly_exposure(features, start, end)
    c = in_window(complaints, exp["month_start"].iloc[0], end)
    counts = pd.to_datetime(c["opened_at"]).dt.to_period("M").value_counts()
    exp["complaints"] = counts.reindex(exp["month"]).fillna(0).astype("int64").to_numpy()
    lim = control_limits(exp["complaints"], exp["customers"] / PER, kind="u", sigma=sigma)
    return pd.concat([exp[["month", "complaints", "customers"]], lim], axis=1)


def sla_chart(complaints: pd.DataFrame, sla_days: Mapping[str, float], start, end, as_of=None,
              sigma: float = 3.0) -> pd.DataFrame:
    """Monthly SLA compliance (complaints due in the month, met by their due date) on a p-chart.

    Returns
    -------
    DataFrame
        ``month``, ``due``, ``met``, ``value``/``center``/``lcl``/``ucl`` (0-1), ``signal``.
    """
    months = pd.period_range(pd.Timestamp(start), pd.Timestamp(end), freq="M")
    o = _sla_outcomes(complaints, sla_days, as_of or end)
    o = o[(o["due"] >= months[0].start_time) & (o["due"] < _day_end(end))]
    g = o.groupby(o["due"].dt.to_period("M"))
    frame = pd.DataFrame({"month": months,
                          "due": g.size().reindex(months).fillna(0).astype("int64").to_numpy(),
                          "met": g["met"].sum().reindex(months).fillna(0).astype("int64").to_numpy()})
    lim = control_limits(frame["met"], frame["due"], kind="p", sigma=sigma)
    return pd.concat([frame, lim], axis=1)



"""Competing exits: cumulative incidence by cause (Aalen-Johansen) and cause-specific hazards.

A customer can leave in more than one way (voluntary closure, bank-initiated closure,
dormancy). ``1 - Kaplan-Meier`` of one cause, with the others censored, overstates that
cause's probability; the Aalen-Johansen estimator gives the probability of leaving *by
that cause* by each tenure, and the causes' incidences add up to the probability of leaving.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from crm_lib.churn import covariates as cv
from crm_lib.churn._survival import check_frame, entry_column, per_year, require_columns, with_unit
from crm_lib.churn.cox import ChurnCox
from crm_lib.errors import NotEstimable

logger = logging.getLogger(__name__)


def exit_causes(frame: pd.DataFrame, cause_col: str = "cause") -> list[str]:
    """Exit causes present in the frame, most frequent first ('censored' excluded)."""
    require_columns(frame, "frame", cause_col=cause_col)
    c = frame.loc[frame[cause_col] != "censored", cause_col].value_counts()
    return list(c.index)


def cumulative_incidence(frame: pd.DataFrame, step: float | None = None, alpha: float = 0.05,
                         seed: int = 0, min_at_risk: int = 20, *, step_years: float | None = None,
                         duration_col: str = "duration", entry_col: str | None = "entry", cause_col: str = "cause",
                         time_unit: str = "years") -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of each exit cause on the tenure scale (delayed entry).

    Parameters
    ----------
    step : float, optional
        Grid spacing in ``time_unit`` (default one month); ``step_years`` (keyword) gives it in years.
    duration_col, entry_col : str
        Tenure at exit or censoring and at first observation (``entry_col`` as in ``km_curves``).
    cause_col : str
        Exit cause per customer, ``"censored"`` for customers still with the bank (it plays the
        part of ``event_col``: every other value is an exit of that cause).
    time_unit : {"years", "months", "weeks", "days"}
        Unit of the durations, the step and the ``time`` column.

    Returns
    -------
    DataFrame with ``cause``, ``time`` (tenure since onboarding, ``time_unit``), ``incidence``
    (probability of having left by this cause by that tenure, 0-1), ``lower``, ``upper`` (pointwise
    CI, lifelines' delta-method variance); ``attrs["time_unit"]``. Curves stop where fewer than
    ``min_at_risk`` remain at risk.

    Notes
    -----
    lifelines breaks tied exit times with a tiny jitter (1e-4 of the time unit; ~1 hour in years); ``seed`` fixes it.

    References
    ----------
    Aalen, O.O. & Johansen, S. (1978). An empirical transition matrix for non-homogeneous Markov
    chains based on censored observations. *Scand. J. Statistics* 5, 141-150.
    """
    per = per_year(time_unit)
    entry = entry_column(frame, entry_col)
    require_columns(frame, "frame", duration_col=duration_col, cause_col=cause_col)
    check_frame(frame.assign(**{_EV: frame[cause_col].ne("censored").astype(int)}), duration_col, _EV, entry,
                time_unit=time_unit)
    if step is None:
        step = per / 12 if step_years is None else step_years * per
    elif step_years is not None:
        raise ValueError("cumulative_incidence: give step (in time_unit) or step_years, not both")
    causes = exit_causes(frame, cause_col)
    if not causes:
        raise NotEstimable(f"frame.{cause_col}: no exits of any cause among {len(frame):,} customers (rule 'at least one "
                           "exit'): every customer is censored, so there is no incidence to estimate",
                           "cumulative incidence needs customers who left (closures with a reason)")
    code = frame[cause_col].map({c: i + 1 for i, c in enumerate(causes)}).fillna(0).astype(int)
    t = np.arange(0, frame[duration_col].max() + step / 2, step)
    d = np.sort(frame[duration_col].to_numpy())
    a = np.sort(frame[entry].to_numpy()) if entry else np.zeros(len(d))
    at_risk = (len(d) - np.searchsorted(d, t, "left")) - (len(a) - np.searchsorted(a, t, "left"))
    at_risk[0] = int((a == 0).sum())
    t = t[: max(1, np.flatnonzero(at_risk >= min_at_risk)[-1] + 1 if (at_risk >= min_at_risk).any() else 1)]
    rows = []
    for i, c in enumerate(causes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aj = _aalen_johansen(alpha=alpha, seed=seed).fit(frame[duration_col], code, event_of_interest=i + 1,
                                                                 entry=frame[entry] if entry else None)
        cif = aj.cumulative_density_.iloc[:, 0]
        ci = aj.confidence_interval_
        idx = np.clip(np.searchsorted(cif.index.to_numpy(float), t, side="right") - 1, 0, None)
        rows.append(pd.DataFrame({"cause": c, "time": t, "incidence": cif.to_numpy()[idx],
                                  "lower": ci.iloc[:, 0].to_numpy()[idx], "upper": ci.iloc[:, 1].to_numpy()[idx]}))
    return with_unit(pd.concat(rows, ignore_index=True), time_unit)


_EV = "__exit__"


def _aalen_johansen(**kw):
    """lifelines' ``AalenJohansenFitter`` with its variance computed by cumulative sums.

    lifelines accumulates the Greenwood-type variance (Collett, p. 411) row by row with
    ``DataFrame.iterrows``: about 50 s per cause on a million customers. The three running sums
    it keeps are prefix sums, so ``np.cumsum`` (sequential, left to right, as the loop adds) gives
    the same numbers in milliseconds; every other step of the fit is lifelines' own.
    """
    from lifelines import AalenJohansenFitter
    from lifelines.utils import inv_normal_cdf

    class _AJ(AalenJohansenFitter):
        def _bounds(self, lagged_survival, alpha, ci_labels):
            df = self.event_table.copy()
            df["Ft"] = self.cumulative_density_
            df["lagS"] = lagged_survival.fillna(1)
            if ci_labels is None:
                ci_labels = ["%s_upper_%g" % (self._label, 1 - alpha), "%s_lower_%g" % (self._label, 1 - alpha)]
            F = df["Ft"].to_numpy(float)
            obs, n = df["observed"].to_numpy(float), df["at_risk"].to_numpy(float)
            dj, lag = df[self.label_cmprisk].to_numpy(float), df["lagS"].to_numpy(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = obs / n / (n - obs)
                second = np.cumsum((lag ** 2) * dj * (n - dj) / (n ** 3))
                c = lag * dj / (n ** 2)
                quad = np.cumsum(a * (F ** 2)) + np.cumsum(-2 * a * F) * F + np.cumsum(a) * (F ** 2)
                var = quad + second - 2 * (np.cumsum(-c * F) + np.cumsum(c) * F)
                df["variance"] = var
                df["F_transformed"] = np.log(-np.log(df["Ft"]))
                df["se_transformed"] = np.sqrt(df["variance"]) / (df["Ft"] * np.absolute(np.log(df["Ft"])))
            z = inv_normal_cdf(1 - alpha / 2)
            df[ci_labels[0]] = np.exp(-np.exp(df["F_transformed"] + z * df["se_transformed"]))
            df[ci_labels[1]] = np.exp(-np.exp(df["F_transformed"] - z * df["se_transformed"]))
            return df["variance"], df[ci_labels]

    return _AJ(**kw)


def incidence_at(cif: pd.DataFrame, years=(1, 2, 5), *, times=None) -> pd.DataFrame:
    """Cumulative incidence by cause at given tenures (from ``cumulative_incidence``).

    Parameters
    ----------
    years : sequence of float
        Tenures in years (converted to the curves' unit, ``cif.attrs["time_unit"]``, default years).
    times : sequence of float, keyword only
        Tenures in the curves' unit instead.

    Returns
    -------
    DataFrame with ``cause``, a tenure column named by the unit (``years`` by default, ``months``,
    ...), ``incidence``, ``lower``, ``upper`` (0-1); tenures past the end of a curve are left out.
    """
    unit = cif.attrs.get("time_unit", "years")
    at = [float(t) for t in times] if times is not None else [y * per_year(unit) for y in years]
    if times is None and unit == "years":
        at = list(years)                                   # keep the caller's values (1, not 1.0) as before
    out = []
    for c, g in cif.groupby("cause", sort=False):
        for y in at:
            if y > g["time"].max() + 1e-9:
                continue
            r = g.iloc[int(np.searchsorted(g["time"].to_numpy(), y - 1e-9))]
            out.append({"cause": c, unit: y, "incidence": r["incidence"], "lower": r["lower"], "upper": r["upper"]})
    return with_unit(pd.DataFrame(out), unit)


def cause_specific_hazards(frame: pd.DataFrame, covariates=cv.EXPLANATORY, alpha: float = 0.05,
                           window_days: int = 365, min_events: int = 10, *, duration_col: str = "duration",
                           entry_col: str | None = "entry", cause_col: str = "cause",
                           time_unit: str = "years") -> pd.DataFrame:
    """A Cox model per exit cause, the other causes censored (cause-specific hazard ratios).

    ``duration_col``, ``entry_col``, ``cause_col`` and ``time_unit`` as in ``cumulative_incidence``
    (hazard ratios do not depend on the unit).

    Returns
    -------
    DataFrame with ``cause``, ``events``, ``covariate``, ``label``, ``hr``, ``hr_lower``,
    ``hr_upper``, ``p``; causes with fewer than ``min_events`` exits are left out (logged).
    ``attrs["notes"]`` lists each model's notes (dropped covariates, ridge fallback).

    References
    ----------
    Prentice, R.L. et al. (1978). The analysis of failure times in the presence of competing
    risks. *Biometrics* 34, 541-554. Putter, H., Fiocco, M. & Geskus, R.B. (2007). Tutorial in
    biostatistics: competing risks and multi-state models. *Stat. Med.* 26, 2389-2430.
    """
    sample = frame.attrs.get("model_sample")     # a model sample (crm_lib.data.sample): said once, not per cause
    out, notes = [], ([sample.text()] if sample is not None else [])
    for c in exit_causes(frame, cause_col):
        f = frame.assign(**{_EV: frame[cause_col].eq(c).astype(int)})
        n = int(f[_EV].sum())
        if n < min_events:
            logger.info("cause %s: %d exits < %d, no cause-specific model", c, n, min_events)
            continue
        m = ChurnCox(covariates=covariates, alpha=alpha, window_days=window_days, duration_col=duration_col,
                     event_col=_EV, entry_col=entry_col, time_unit=time_unit).fit(f, table=f"frame[cause={c}]")
        notes += [f"{c.replace('_', ' ')}: {x}" for x in m.notes_ if sample is None or x != sample.text()]
        s = m.summary_.reset_index()
        s.insert(0, "cause", c)
        s.insert(1, "events", n)
        out.append(s[["cause", "events", "covariate", "label", "hr", "hr_lower", "hr_upper", "p"]])
    if not out:
        counts = {c: int(frame[cause_col].eq(c).sum()) for c in exit_causes(frame, cause_col)}
        raise NotEstimable(f"frame.{cause_col}: no exit cause with at least {min_events} exits (found "
                           f"{', '.join(f'{c}: {n}' for c, n in counts.items()) or 'no exits'})",
                           f"a cause-specific model needs at least {min_events} exits of one cause")
    res = pd.concat(out, ignore_index=True)
    res.attrs["notes"] = notes
    res.attrs["model_sample"] = sample
    return with_unit(res, time_unit)

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
from crm_lib.churn.cox import ChurnCox, check_frame
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)


def exit_causes(frame: pd.DataFrame) -> list[str]:
    """Exit causes present in the frame, most frequent first ('censored' excluded)."""
    c = frame.loc[frame["cause"] != "censored", "cause"].value_counts()
    return list(c.index)


def cumulative_incidence(frame: pd.DataFrame, step_years: float = 1 / 12, alpha: float = 0.05,
                         seed: int = 0, min_at_risk: int = 20) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of each exit cause on the tenure scale (delayed entry).

    Returns
    -------
    DataFrame with ``cause``, ``time`` (years since onboarding), ``incidence`` (probability of
    having left by this cause by that tenure, 0-1), ``lower``, ``upper`` (pointwise CI, lifelines'
    delta-method variance). Curves stop where fewer than ``min_at_risk`` remain at risk.

    Notes
    -----
    lifelines breaks tied exit times with a tiny jitter (1e-4 years, ~1 hour); ``seed`` fixes it.

    References
    ----------
    Aalen, O.O. & Johansen, S. (1978). An empirical transition matrix for non-homogeneous Markov
    chains based on censored observations. *Scand. J. Statistics* 5, 141-150.
    """
    from lifelines import AalenJohansenFitter

    check_frame(frame, entry_col="entry" if "entry" in frame.columns else None)
    causes = exit_causes(frame)
    if not causes:
        raise DataContractError("frame.cause: no exits of any cause (rule 'at least one exit'): every customer is "
                                "censored, so there is no incidence to estimate")
    code = frame["cause"].map({c: i + 1 for i, c in enumerate(causes)}).fillna(0).astype(int)
    t = np.arange(0, frame["duration"].max() + step_years / 2, step_years)
    d = np.sort(frame["duration"].to_numpy())
    a = np.sort(frame["entry"].to_numpy()) if "entry" in frame.columns else np.zeros(len(d))
    at_risk = (len(d) - np.searchsorted(d, t, "left")) - (len(a) - np.searchsorted(a, t, "left"))
    at_risk[0] = int((a == 0).sum())
    t = t[: max(1, np.flatnonzero(at_risk >= min_at_risk)[-1] + 1 if (at_risk >= min_at_risk).any() else 1)]
    rows = []
    for i, c in enumerate(causes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aj = AalenJohansenFitter(alpha=alpha, seed=seed).fit(frame["duration"], code, event_of_interest=i + 1,
                                                                 entry=frame.get("entry"))
        cif = aj.cumulative_density_.iloc[:, 0]
        ci = aj.confidence_interval_
        idx = np.clip(np.searchsorted(cif.index.to_numpy(float), t, side="right") - 1, 0, None)
        rows.append(pd.DataFrame({"cause": c, "time": t, "incidence": cif.to_numpy()[idx],
                                  "lower": ci.iloc[:, 0].to_numpy()[idx], "upper": ci.iloc[:, 1].to_numpy()[idx]}))
    return pd.concat(rows, ignore_index=True)


def incidence_at(cif: pd.DataFrame, years=(1, 2, 5)) -> pd.DataFrame:
    """Cumulative incidence by cause at given tenures (from ``cumulative_incidence``).

    Returns
    -------
    DataFrame with ``cause``, ``years``, ``incidence``, ``lower``, ``upper`` (0-1); tenures past
    the end of a curve are left out.
    """
    out = []
    for c, g in cif.groupby("cause", sort=False):
        for y in years:
            if y > g["time"].max() + 1e-9:
                continue
            r = g.iloc[int(np.searchsorted(g["time"].to_numpy(), y - 1e-9))]
            out.append({"cause": c, "years": y, "incidence": r["incidence"], "lower": r["lower"], "upper": r["upper"]})
    return pd.DataFrame(out)


def cause_specific_hazards(frame: pd.DataFrame, covariates=cv.EXPLANATORY, alpha: float = 0.05,
                           window_days: int = 365, min_events: int = 10) -> pd.DataFrame:
    """A Cox model per exit cause, the other causes censored (cause-specific hazard ratios).

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
    out, notes = [], []
    for c in exit_causes(frame):
        f = frame.assign(event=frame["cause"].eq(c).astype(int))
        n = int(f["event"].sum())
        if n < min_events:
            logger.info("cause %s: %d exits < %d, no cause-specific model", c, n, min_events)
            continue
        m = ChurnCox(covariates=covariates, alpha=alpha, window_days=window_days).fit(f, table=f"frame[cause={c}]")
        notes += [f"{c.replace('_', ' ')}: {x}" for x in m.notes_]
        s = m.summary_.reset_index()
        s.insert(0, "cause", c)
        s.insert(1, "events", n)
        out.append(s[["cause", "events", "covariate", "label", "hr", "hr_lower", "hr_upper", "p"]])
    if not out:
        raise DataContractError(f"frame.cause: no exit cause with at least {min_events} exits")
    res = pd.concat(out, ignore_index=True)
    res.attrs["notes"] = notes
    return res

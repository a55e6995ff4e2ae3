"""The synthetic bank's true relationship value per customer: what relationship CLV should rank.

The margin process is planted through what the generator already draws: a customer's
monthly margin is their balances priced at the rates of ``parameters/clv.yaml``
(``crm_lib.clv.margin``), so no new randomness is needed and every existing table stays
byte-identical. The survival process is the planted churn truth (``personas.ChurnTruth``):
Weibull proportional hazards for voluntary closure with the customer's true linear predictor
``lp`` (``truth_customers.parquet``), the retention treatment's hazard ratio from contact on
(``RetentionTruth``), and the independent constant hazard of bank-initiated closure.

``true_value_months`` gives, per customer active on the valuation date, the expected
discounted number of months they stay -- true CLV = monthly margin x this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_lib.data import personas as P
from crm_lib.data._synth.spec import YEAR_DAYS


def describe() -> dict:
    """The ``relationship_clv`` entry of ``ground_truth.json``: how to compute the true value."""
    ch, rt = P.ChurnTruth(), P.RetentionTruth()
    return {
        "definition": "true CLV = monthly margin x sum over months m of S(a + m/12) / S(a) x (1 + d)^(-m/12)",
        "margin": "balances (mean of the last aum_months month-ends) priced at parameters/clv.yaml: interest "
                  "spreads / 12 + product fees - cost to serve; no extra randomness is planted",
        "survival": {"voluntary": {"weibull_shape": ch.shape, "weibull_scale_years": ch.scale,
                                   "linear_predictor": "truth_customers.parquet lp"},
                     "retention_treatment_hr": rt.hazard_ratio,
                     "retention_treatment": "retention_arm == 'treatment', from retention_contact on",
                     "bank_initiated_rate_per_year": ch.bank_initiated_rate},
        "function": "crm_lib.data._synth.truth_clv.true_value_months",
    }


def _weibull_H0(t):
    ch = P.ChurnTruth()
    return (np.clip(t, 0, None) / ch.scale) ** ch.shape


def true_value_months(truth: pd.DataFrame, tenure_years, as_of, discount_rate_annual: float,
                      horizon_months: int) -> np.ndarray:
    """Expected discounted months in the relationship for customers still active on ``as_of``.

    Parameters
    ----------
    truth : rows of ``truth_customers.parquet`` (``lp``, ``retention_arm``, ``retention_contact``),
        aligned with ``tenure_years`` (each customer's tenure on ``as_of``, years).

    Returns
    -------
    ndarray: ``sum_m (1 + d)^(-m/12) S(a + m/12) / S(a)`` with the true hazards (months).
    """
    ch, rt = P.ChurnTruth(), P.RetentionTruth()
    a = np.asarray(tenure_years, float)
    m = np.arange(1, int(horizon_months) + 1) / 12.0
    treated = (truth["retention_arm"].astype(str) == "treatment").to_numpy()
    contact = pd.to_datetime(truth["retention_contact"])
    tc_before = treated & (contact <= pd.Timestamp(as_of)).fillna(False).to_numpy()
    hr = np.where(tc_before, rt.hazard_ratio, 1.0)
    risk = hr * np.exp(truth["lp"].to_numpy(float))
    dH = (_weibull_H0(a[:, None] + m[None, :]) - _weibull_H0(a)[:, None]) * risk[:, None]
    dH = dH + ch.bank_initiated_rate * m[None, :]
    disc = (1.0 + discount_rate_annual) ** (-m)          # m in years
    return (np.exp(-dH) * disc).sum(1)


__all__ = ["YEAR_DAYS", "describe", "true_value_months"]

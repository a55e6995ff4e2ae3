"""Survival-based churn: who leaves, when, and why.

Frames (``frame``): ``survival_frame`` (KM / log-rank / competing exits), ``cohort_frame``
(covariates as of the observation start), ``landmark_frame`` (stacked snapshots),
``snapshot`` (the customers to score). Description (``describe``, ``competing``,
``campaign``): Kaplan-Meier curves, retention and median tenure, log-rank tests, churn in a
period, cumulative incidence by exit cause, cause-specific hazards, the retention
campaign's hazard ratio. Models (``cox``): ``ChurnCox`` with its PH test and stratified
fallback, Weibull / log-logistic AFT by AIC. Validation (``validation``, ``metrics``):
out-of-time C-index, time-dependent AUC, Brier / IBS, calibration, precision at the
cut-off, each against a Kaplan-Meier baseline. Early warning (``warning``): the ranked list
with value at risk and reasons, exported with pseudonyms only.

One survival API (lifelines' vocabulary): every description, model, metric wrapper
(``scoring``) and prediction takes ``duration_col``, ``event_col`` and ``entry_col``
(defaults ``duration``, ``event``, ``entry``) and a ``time_unit`` (``years`` by default,
``months``, ``weeks``, ``days``) that its results state in ``attrs["time_unit"]``;
``predict_*`` return pandas objects indexed like the input, one column per requested time.
``ChurnCox`` is a scikit-learn estimator (``clone``, ``GridSearchCV``; ``score`` = Harrell's C).

For large books (benchmarks): ``ChurnCox(...).fit(frame)`` (vectorised Efron
Newton-Raphson) and ``ChurnCox.predict_churn_probability`` / ``warning.score`` (vectorised).
"""

from crm_lib.churn._survival import TIME_UNITS, NotFittedError
from crm_lib.churn.campaign import campaign_effect, campaign_frame
from crm_lib.churn.competing import cause_specific_hazards, cumulative_incidence, incidence_at
from crm_lib.churn.aft import parametric_fits, weibull_hazard_ratios
from crm_lib.churn.cox import ChurnCox
from crm_lib.churn.ph import cox_with_ph_fallback, ph_residual_curves
from crm_lib.churn.covariates import DYNAMIC, EXPLANATORY
from crm_lib.churn.describe import km_curves, logrank, period_churn, retention_summary
from crm_lib.churn.frame import (cohort_frame, from_tier_date, history_start, landmark_frame, observation_start,
                                 snapshot, survival_frame)
from crm_lib.churn.scoring import (brier_score, concordance_score, concordance_scorer, integrated_brier_score,
                                   td_auc_score)
from crm_lib.churn.settings import ChurnDefinition, ChurnSettings
from crm_lib.churn.validation import Validation, fit_landmark_model, out_of_time_validation
from crm_lib.churn.warning import WarningList, early_warning, export_warning_list, score

__all__ = [
    "ChurnCox", "ChurnDefinition", "ChurnSettings", "DYNAMIC", "EXPLANATORY", "NotFittedError", "TIME_UNITS",
    "Validation", "WarningList", "brier_score", "concordance_score", "concordance_scorer", "integrated_brier_score",
    "td_auc_score",
    "campaign_effect", "campaign_frame", "cause_specific_hazards", "cohort_frame", "cox_with_ph_fallback",
    "cumulative_incidence", "early_warning", "from_tier_date", "export_warning_list", "fit_landmark_model", "history_start",
    "incidence_at", "km_curves", "landmark_frame", "logrank", "observation_start", "out_of_time_validation",
    "parametric_fits",
    "period_churn", "ph_residual_curves", "retention_summary", "score", "snapshot", "survival_frame",
    "weibull_hazard_ratios",
]

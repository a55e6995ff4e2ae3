"""Customer satisfaction, key drivers, complaints and SLA.

- ``scores``: CSAT top-2-box and mean, NPS, period changes, post-stratification weights.
- ``index``: the 0-100 satisfaction index (weights given or estimated, bootstrap interval).
- ``drivers``: key-driver analysis (standardised OLS, LMG/Shapley, Johnson's relative weights).
- ``complaints``: volumes and rates, repeat complainants, escalation, Kaplan-Meier resolution
  time, SLA compliance and breaches.
- ``charts``: p- and u-chart limits with run rules; ``churn_link``: complainants' churn hazard.
- ``load``: survey and complaint frames from the warehouse, pseudonymised at the SQL boundary.
- ``report``: one call per notebook section (data bundles, tables of results) and the facts recorded.
- ``narrative`` / ``tables``: sentences and formatted tables for reviewers (no statistics computed there).
"""

from crm_lib.satisfaction._checks import clean_complaints, clean_surveys
from crm_lib.satisfaction.charts import complaint_rate_chart, control_limits, monthly_exposure, sla_chart
from crm_lib.satisfaction.churn_link import complainant_churn
from crm_lib.satisfaction.complaints import (DEFAULT_SLA_DAYS, ResolutionTime, complaint_volumes, durations,
                                             exposure, in_window, repeat_complainants, sla_breaches, sla_compliance)
from crm_lib.satisfaction.drivers import KeyDriverAnalysis, lmg, relative_weights
from crm_lib.satisfaction.load import complaint_frame, survey_frame
from crm_lib.satisfaction.index import index_weights, satisfaction_index
from crm_lib.satisfaction.scores import (csat_top2box, for_display, net_promoter_score, poststrat_weights,
                                         score_change, score_table, score_trend)

__all__ = [
    "DEFAULT_SLA_DAYS", "KeyDriverAnalysis", "ResolutionTime", "clean_complaints", "clean_surveys",
    "complainant_churn", "complaint_frame", "complaint_rate_chart", "complaint_volumes", "control_limits",
    "csat_top2box", "durations", "exposure", "for_display", "in_window", "index_weights", "lmg",
    "monthly_exposure", "net_promoter_score", "poststrat_weights", "relative_weights", "repeat_complainants",
    "satisfaction_index", "score_change", "score_table", "score_trend", "sla_breaches", "sla_chart", "sla_compliance",
    "survey_frame",
]

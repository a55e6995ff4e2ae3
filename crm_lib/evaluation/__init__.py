"""The effectiveness-evaluation cycle: KPI scorecard, alerts, campaigns and improvement actions.

- ``scorecard``: each recorded KPI against its target, the previous period and the same
  period a year earlier, with a significance test of each change so a reviewer does not
  chase noise;
- ``alerts``: rules from ``parameters/alerts.yaml`` over the scorecard and history;
- ``evaluate_campaigns``: randomised treatment/control uplift, incremental revenue, ROI,
  minimum detectable effect and power;
- ``interrupted_time_series`` / ``evaluate_actions``: segmented regression with
  autocorrelation-robust (Newey-West) errors around each improvement action's date;
- ``summary_md``: the executive summary, every number traceable to a scorecard row or fact.
"""

from crm_lib.evaluation.actions import (action_curves, detect_change_month, evaluate_actions, interrupted_time_series, 
                                        its_curve, monthly_kpi)
from crm_lib.evaluation.campaigns import campaign_data, evaluate_campaigns
from crm_lib.evaluation.narrative import summary_md
from crm_lib.evaluation.report import record_facts, review_inputs
from crm_lib.evaluation.scorecard import (alerts, compare, current_facts, facts_frame, history, period_facts, 
                                          scorecard, status)

__all__ = ["action_curves", "alerts", "campaign_data", "compare", "current_facts", "detect_change_month",
           "evaluate_actions", "evaluate_campaigns", "facts_frame", "history", "interrupted_time_series",
           "its_curve", "monthly_kpi", "period_facts", "record_facts", "review_inputs", "scorecard", "summary_md",
           "status"]

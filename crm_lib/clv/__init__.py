"""Customer lifetime value: relationship (contractual) CLV and transactional (card and payment) CLV.

Transactional models, each fitted by maximum likelihood with a vectorised log-likelihood, its
analytic gradient and Hessian standard errors: ``BetaGeoModel`` (BG/NBD), ``ParetoNBDModel``,
``GammaGammaModel`` (spend), ``ShiftedBetaGeometric`` (sBG cohort retention). Their input is
an RFM summary (``rfm_summary`` from a raw log, ``warehouse_summary`` from the warehouse);
``validation`` checks them over time (calibration / hold-out).

Relationship CLV (``relationship``): margin (``margin``, rates in ``parameters/clv.yaml``) x
survival from the churn module's Cox model x discount, per customer with intervals, and the
aggregates (total, median, by tier and segment, CLV:CAC, concentration). ``value_book`` does
it for a warehouse in one call.
"""

from crm_lib.clv.bgnbd import BetaGeoModel
from crm_lib.clv.book import survival_model, value_book
from crm_lib.clv.gammagamma import GammaGammaModel, independence_check
from crm_lib.margin import ClvSettings, monthly_margin, warehouse_margin
from crm_lib.clv.paretonbd import ParetoNBDModel
from crm_lib.clv.relationship import RelationshipCLV, lorenz, relationship_clv
from crm_lib.clv.sbg import ShiftedBetaGeometric, cohort_counts
from crm_lib.clv.summary import data_start, purchase_days, rfm_summary, warehouse_purchase_days, warehouse_summary
from crm_lib.clv.transactional import transactional_value
from crm_lib.clv import validation

__all__ = ["BetaGeoModel", "ClvSettings", "GammaGammaModel", "ParetoNBDModel", "RelationshipCLV",
           "ShiftedBetaGeometric", "cohort_counts", "independence_check", "lorenz", "monthly_margin", "purchase_days",
           "relationship_clv", "rfm_summary", "survival_model", "transactional_value", "validation", "value_book",
           "warehouse_margin", "warehouse_purchase_days", "warehouse_summary", "data_start"]

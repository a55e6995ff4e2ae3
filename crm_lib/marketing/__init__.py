"""Precision marketing: adoption propensity, next-best product, target lists with held-out controls."""

from crm_lib.marketing import loop  # noqa: F401  (marketing.loop.evaluate_list in notebooks)
from crm_lib.marketing.adoption import AdoptionData, adoption_data, design_matrix, product_types
from crm_lib.marketing.models import PropensityModels, calibration_table, delong_auc, evaluate, lift_by_decile
from crm_lib.marketing.models import popularity_baseline
from crm_lib.marketing.settings import check_products, load_rules

__all__ = ["AdoptionData", "PropensityModels", "adoption_data", "calibration_table", "check_products",
           "delong_auc", "design_matrix", "evaluate", "lift_by_decile", "load_rules", "popularity_baseline",
           "product_types"]

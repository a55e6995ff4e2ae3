"""Segmentation and tiering: value tiers, RFM, behavioural clusters, profiles, lifecycle, migration.

The public API (one module per concern):

- ``tiers``: ``value_tiers``, ``tier_summary``, ``balance_policy``, ``tier_order``
- ``rfm``: ``quantile_score``, ``rfm_scores``, ``rfm_summary``, ``rfm_grid``
- ``clusters``: ``CustomerClusters``, ``cluster_customers``
- ``derived``: ``DERIVED`` (clustering features and their definitions), ``cluster_features``, ``name_clusters``
- ``profiles``: ``profile``, ``penetration``, ``standardised_means``, ``cluster_descriptions``
- ``lifecycle``: ``lifecycle_stages``, ``lifecycle_summary``
- ``migration``: ``migration_pairs``, ``transition_matrix``, ``migration_rates``
- ``narrative``: sentences and display tables for the notebook
- ``report``: ``segment_customers`` (one feature table; what the benchmark times),
  ``analyse_period`` (the notebook's call), ``record_facts``
- ``settings``: ``load_settings``, ``load_rfm_map``, ``load_overrides``, ``check_thresholds``
"""

from crm_lib.segmentation.clusters import CustomerClusters, cluster_customers
from crm_lib.segmentation.derived import DERIVED, cluster_features, name_clusters
from crm_lib.segmentation.lifecycle import STAGES, lifecycle_stages, lifecycle_summary
from crm_lib.segmentation.migration import migration_pairs, migration_rates, transition_matrix
from crm_lib.segmentation.report import (PeriodSegmentation, SegmentationResult, analyse_period, record_facts,
                                           segment_customers)
from crm_lib.segmentation.profiles import cluster_descriptions, penetration, profile, standardised_means
from crm_lib.segmentation.rfm import quantile_score, rfm_grid, rfm_scores, rfm_summary
from crm_lib.segmentation.settings import check_thresholds, load_overrides, load_rfm_map, load_settings
from crm_lib.segmentation.tiers import balance_policy, tier_order, tier_summary, value_tiers

__all__ = [
    "CustomerClusters", "DERIVED", "PeriodSegmentation", "STAGES", "SegmentationResult", "analyse_period",
    "balance_policy",
    "check_thresholds", "cluster_customers", "cluster_descriptions", "cluster_features", "lifecycle_stages",
    "lifecycle_summary", "load_overrides", "load_rfm_map", "load_settings", "migration_pairs", "migration_rates",
    "name_clusters", "penetration", "profile", "quantile_score", "record_facts", "rfm_grid", "rfm_scores",
    "rfm_summary", "segment_customers", "standardised_means", "tier_order", "tier_summary", "transition_matrix",
    "value_tiers",
]

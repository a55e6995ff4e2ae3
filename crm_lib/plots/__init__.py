"""Figures in one house style. Plots take finished frames and never compute.

Each function returns a matplotlib ``Figure`` (already closed from pyplot, so a
notebook shows it exactly once, as the cell's result). One module per area; every
figure is importable from here (``from crm_lib import plots; plots.tier_bars(...)``).
"""

from crm_lib.plots._style import PALETTE, STYLE
from crm_lib.plots.overview import active_trend, kpi_small_multiples, tier_bars  # noqa: F401
from crm_lib.plots.review import its_plot, kpi_trends, uplift_forest  # noqa: F401
from crm_lib.plots.satisfaction import control_chart, driver_importance, driver_matrix, km_resolution, pareto, score_intervals, score_trend_panels  # noqa: F401
from crm_lib.plots.churn import calibration_plot, churn_curves, cumulative_incidence_plot, gains_chart, hazard_ratio_forest, ph_residuals_plot, risk_distribution, validation_metrics_plot  # noqa: F401
from crm_lib.plots.segmentation import cluster_selection, lifecycle_funnel, migration_flow, rfm_heatmap, transition_heatmap, zscore_heatmap  # noqa: F401
from crm_lib.plots.clv import clv_by_tier, clv_cac_forest, conditional_expectation_plot, lorenz_curve, tracking_plot  # noqa: F401
from crm_lib.plots.marketing import auc_by_product, calibration_by_product, exclusion_funnel, lift_by_decile_plot  # noqa: F401

__all__ = ["PALETTE", "STYLE", "active_trend", "calibration_plot", "churn_curves", "cluster_selection", "control_chart", "cumulative_incidence_plot", "driver_importance", "driver_matrix", "gains_chart", "hazard_ratio_forest", "its_plot", "km_resolution", "kpi_small_multiples", "kpi_trends", "lifecycle_funnel", "migration_flow", "pareto", "ph_residuals_plot", "rfm_heatmap", "risk_distribution", "score_intervals", "score_trend_panels", "tier_bars", "transition_heatmap", "uplift_forest", "validation_metrics_plot", "zscore_heatmap"]

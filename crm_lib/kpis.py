"""The KPI registry: what each headline number means, its unit, range and direction.

Targets (``parameters/targets.yaml``) are checked against this registry, notebooks
record facts under these names, and the index and the effectiveness review read them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KPI:
    name: str
    definition: str
    unit: str                  # "customers", "proportion" (0-1), "currency", "days", "score", ...
    higher_is_better: bool
    low: float | None          # smallest possible value (None: unbounded)
    high: float | None
    notebook: str
    uncertainty: str


_KPIS = [
    KPI("active_customers", "customers with an open relationship at the period end", "customers", True,
        0, None, "00_data_overview", "census count: no sampling error"),
    KPI("new_customers", "customers onboarded during the period", "customers", True, 0, None,
        "00_data_overview", "census count: no sampling error"),
    KPI("closed_customers", "customers whose relationship closed during the period", "customers", False, 0, None,
        "00_data_overview", "census count: no sampling error"),
    KPI("churn_rate_period", "closures in the period / customers active at its start", "proportion", False,
        0, 1, "00_data_overview", "Wilson score interval (binomial)"),
    KPI("net_growth_rate", "(active at end - active at start) / active at start", "proportion", True,
        -1, None, "00_data_overview", "census ratio: no sampling error"),
    KPI("total_aum", "deposits + investments of active customers, average of the last month-ends", "currency", True,
        0, None, "00_data_overview", "census total: no sampling error"),
    KPI("cross_sell_ratio", "mean open products per active customer at the period end", "products", True,
        0, None, "00_data_overview", "t interval over customers"),
    KPI("digital_share", "share of the period's transactions made on mobile or online", "proportion", True,
        0, 1, "00_data_overview", "ratio estimator, customer-clustered standard error"),
    KPI("cac", "mean acquisition cost of customers onboarded in the period", "currency", False,
        0, None, "00_data_overview", "t interval over new customers"),
    KPI("annual_margin", "annual margin of active customers: 12 x (balances x the economic-profit spreads of "
        "parameters/clv.yaml / 12 + product fees - cost to serve)", "currency", True, None, None,
        "00_data_overview", "census total under the margin assumptions"),
    KPI("retention_12m", "Kaplan-Meier probability a customer is still with the bank 12 months after onboarding",
        "proportion", True, 0, 1, "20_churn", "Kaplan-Meier (Greenwood) CI"),
    KPI("retention_24m", "Kaplan-Meier probability a customer is still with the bank 24 months after onboarding",
        "proportion", True, 0, 1, "20_churn", "Kaplan-Meier (Greenwood) CI"),
    KPI("defined_churn_rate", "churn events (per the churn definition) in the period / customers at risk",
        "proportion", False, 0, 1, "20_churn", "Wilson score interval"),
    KPI("median_tenure_years", "Kaplan-Meier median relationship length", "years", True, 0, None, "20_churn",
        "Kaplan-Meier median CI"),
    KPI("c_index", "out-of-time concordance of the churn model", "index", True, 0, 1, "20_churn",
        "infinitesimal jackknife"),
    KPI("churn_ibs", "integrated Brier score of the churn model out of time (lower is better)", "score", False,
        0, 1, "20_churn", "bootstrap CI"),
    KPI("retention_campaign_hr", "churn hazard of the retention campaign's treated vs control customers",
        "hazard ratio", False, 0, None, "20_churn", "Cox model CI"),
    KPI("early_warning_precision", "share of the early-warning list that churns within the horizon (validation)",
        "proportion", True, 0, 1, "21_early_warning", "log-log Kaplan-Meier interval"),
    KPI("warning_list_size", "customers on the early-warning list", "customers", False, 0, None,
        "21_early_warning", "census count"),
    KPI("warning_value_at_risk", "sum over the early-warning list of relationship CLV x churn probability within the "
        "horizon (CLV assumptions of parameters/clv.yaml)", "currency", False, None, None, "21_early_warning",
        "prediction interval over which listed customers churn; not the CLV's own uncertainty"),
    KPI("warning_aum_at_risk", "sum over the early-warning list of AUM x churn probability within the horizon",
        "currency", False, 0, None, "21_early_warning", "prediction interval over which listed customers churn"),
    KPI("csat_top2box", "share of survey responses with CSAT 4-5", "proportion", True, 0, 1,
        "30_satisfaction", "Wilson score interval"),
    KPI("csat_mean", "mean CSAT (1-5) of the period's survey responses", "score", True, 1, 5,
        "30_satisfaction", "t interval"),
    KPI("nps", "net promoter score: % promoters (9-10) - % detractors (0-6)", "points", True, -100, 100,
        "30_satisfaction", "multinomial variance"),
    KPI("satisfaction_index", "weighted attribute ratings rescaled to 0-100", "index", True, 0, 100,
        "30_satisfaction", "t interval"),
    KPI("complaint_rate", "complaints opened in the period per 1,000 active customers", "per 1,000", False,
        0, None, "31_complaints_sla", "Poisson (exact) interval"),
    KPI("sla_compliance", "share of complaints resolved within the SLA for their severity", "proportion", True,
        0, 1, "31_complaints_sla", "Wilson score interval"),
    KPI("median_resolution_days", "median days from complaint opened to resolved (Kaplan-Meier)", "days", False,
        0, None, "31_complaints_sla", "Kaplan-Meier median CI"),
    KPI("complaints_opened", "complaints opened in the period", "complaints", False, 0, None,
        "31_complaints_sla", "census count: no sampling error"),
    KPI("escalation_rate", "share of the period's complaints that were escalated", "proportion", False, 0, 1,
        "31_complaints_sla", "Wilson score interval"),
    KPI("repeat_complainant_share", "share of complainants with more than one complaint in the period", "proportion",
        False, 0, 1, "31_complaints_sla", "Wilson score interval"),
    KPI("sla_breaches", "complaints due in the period that missed their SLA", "complaints", False, 0, None,
        "31_complaints_sla", "census count: no sampling error"),
    KPI("complainant_churn_hr", "churn hazard of complainants relative to other customers", "hazard ratio", False,
        0, None, "31_complaints_sla", "Cox model CI, log-rank p"),
    KPI("uptier_rate", "share of customers moving to a higher value tier since the previous period", "proportion",
        True, 0, 1, "10_segmentation", "bootstrap CI"),
    KPI("downtier_rate", "share of customers moving to a lower value tier since the previous period", "proportion",
        False, 0, 1, "10_segmentation", "bootstrap CI"),
    KPI("net_uptier_rate", "up-tier rate - down-tier rate since the previous period", "proportion", True, -1, 1,
        "10_segmentation", "bootstrap CI"),
    KPI("cluster_count_individual", "behavioural clusters chosen for individuals (silhouette, ICL, stability)",
        "clusters", True, 1, None, "10_segmentation", "choice diagnostics in the notebook"),
    KPI("cluster_stability_individual", "bootstrap adjusted Rand index of the individual clustering", "ARI", True,
        -1, 1, "10_segmentation", "bootstrap CI"),
    KPI("tier_aum_share_private_banking", "share of AUM held by private-banking customers", "proportion", True, 0, 1,
        "10_segmentation", "census share: no sampling error"),
    KPI("total_clv", "relationship CLV summed over active customers (margin x Cox survival x discount, "
        "parameters/clv.yaml)", "currency", True, None, None, "40_clv",
        "percentile interval over draws of the Cox coefficients"),
    KPI("median_clv", "median relationship CLV of active customers", "currency", True, None, None, "40_clv",
        "percentile interval over draws of the Cox coefficients"),
    KPI("clv_cac_ratio", "sum of CLV / sum of acquisition cost, customers onboarded in the last 12 months",
        "ratio", True, None, None, "40_clv", "coefficient draws and a Poisson bootstrap of customers"),
    KPI("nbp_previous_list_uplift", "adoption of the offered product since the previous period's next-best-product "
        "list was drawn: contacted customers minus the held-out random control", "proportion", True, -1, 1,
        "50_next_best_product", "Newcombe hybrid score interval"),
    KPI("data_quality_errors", "rules broken at the data door", "problems", False, 0, None,
        "00_data_overview", "census count"),
    # customer-information quality scorecard (crm_lib.data.quality): census shares 0-1, higher is better
    *[KPI(f"data_quality_{dim}", definition, "proportion", True, 0, 1, "00_data_overview",
          "census measure of the source: no sampling error")
      for dim, definition in (
          ("completeness", "filled cells / cells of the contract's not-null columns"),
          ("validity", "values that keep their column's contract (type, codes, range) / values checked"),
          ("uniqueness", "1 - rows repeating another row's key / rows"),
          ("timeliness", "continuous tables whose latest record is within the stale limit / such tables"),
          ("consistency", "1 - orphan or out-of-order rows / rows the cross-table rules apply to"))],
]
REGISTRY: dict[str, KPI] = {k.name: k for k in _KPIS}


def get(name: str) -> KPI:
    """The KPI called ``name``; KeyError lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown KPI {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def in_range(name: str, value: float) -> bool:
    k = get(name)
    return (k.low is None or value >= k.low) and (k.high is None or value <= k.high)

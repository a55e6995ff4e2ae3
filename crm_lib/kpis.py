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
    KPI("median_resolution_days", "median days from complaint opened to resolved (Kaplan-Meier)", "days", False,
        0, None, "31_complaints_sla", "Kaplan-Meier median CI"),
    KPI("data_quality_errors", "rules broken at the data door", "problems", False, 0, None,
        "00_data_overview", "census count"),
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

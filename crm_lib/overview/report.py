"""The data overview's facts: counts, growth and the value tiers, each with its n and uncertainty."""

from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)


def record_facts(facts, mv: pd.Series | None, tiers: pd.DataFrame | None, door: dict, alpha: float = 0.05,
                 engaged: pd.DataFrame | None = None) -> None:
    """Record the overview's headline facts (see ``crm_lib.kpis`` for definitions).

    ``mv``, ``tiers`` or ``engaged`` is None where its section was not estimable: its facts are not recorded.
    """
    from crm_lib import kpis

    for name, r in (engaged if engaged is not None else pd.DataFrame()).iterrows():
        k = kpis.get(name)
        ci = (r["ci_lower"], r["ci_upper"]) if not pd.isna(r["ci_lower"]) else None
        facts.record(name, r["value"], k.unit, k.definition, n=int(r["n"]), ci=ci, ci_level=1 - alpha,
                     uncertainty=r["method"], headline=name in ("cross_sell_ratio", "digital_share"))
    census = "census count: no sampling error"
    if mv is not None:
        _movement_facts(facts, mv, alpha, census)
    if tiers is not None:
        _tier_facts(facts, tiers, census)
    facts.record("data_quality_errors", int(door["errors"]), "problems", "rules broken at the data door",
                 n=int(sum(door["rows"].values())), uncertainty="census count")


def _movement_facts(facts, mv: pd.Series, alpha: float, census: str) -> None:
    facts.record("active_customers", int(mv["active_end"]), "customers",
                 "customers with an open relationship on the last day of the period",
                 n=int(mv["active_end"]), uncertainty=census, headline=True)
    facts.record("new_customers", int(mv["new"]), "customers", "customers onboarded during the period",
                 n=int(mv["new"]), uncertainty=census, headline=True)
    facts.record("closed_customers", int(mv["closed"]), "customers",
                 "customers whose relationship closed during the period", n=int(mv["closed"]), uncertainty=census)
    facts.record("churn_rate_period", mv["churn_rate"], "proportion",
                 "closures in the period among customers active at its start / customers active at its start",
                 n=int(mv["active_start"]), ci=(mv["churn_ci_lower"], mv["churn_ci_upper"]), ci_level=1 - alpha,
                 uncertainty="Wilson score interval (binomial)", headline=True)
    facts.record("net_growth_rate", mv["net_growth_rate"], "proportion",
                 "(active at end - active at start) / active at start", n=int(mv["active_start"]),
                 uncertainty="census ratio: no sampling error")


def _tier_facts(facts, tiers: pd.DataFrame, census: str) -> None:
    facts.record("total_aum", float(tiers["aum"].sum()), "currency",
                 "deposits + investments of active customers, mean of the last month-ends",
                 n=int(tiers["customers"].sum()), uncertainty="census total: no sampling error", headline=True)
    for r in tiers.itertuples():
        facts.record(f"customers_tier_{r.tier}", int(r.customers), "customers",
                     f"active {r.customer_type} customers in tier {r.tier} at the period end",
                     n=int(r.customers), uncertainty=census, tier=r.tier)
        facts.record(f"aum_tier_{r.tier}", float(r.aum), "currency",
                     f"AUM of active {r.customer_type} customers in tier {r.tier}", n=int(r.customers),
                     uncertainty="census total: no sampling error", tier=r.tier)


def record_value_facts(facts, value: pd.DataFrame, alpha: float = 0.05) -> None:
    """Record the book's annual margin (total and per tier) from ``value_by_tier``."""
    how = ("12 x monthly margin: balances at the annual spreads, product fees, cost to serve "
           f"({value.attrs.get('assumptions', 'parameters/clv.yaml')})")
    census = "census total under the margin assumptions: no sampling error; not covered: the rates themselves"
    for r in value.itertuples():
        if r.tier == "all":
            facts.record("annual_margin", r.annual_margin, "currency",
                         f"sum over active customers of {how}", n=int(r.customers), uncertainty=census, headline=True)
            facts.record("annual_margin_per_customer", r.mean_annual_margin, "currency",
                         f"mean over active customers of {how}", n=int(r.customers),
                         ci=None if pd.isna(r.mean_lower) else (r.mean_lower, r.mean_upper), ci_level=1 - alpha,
                         uncertainty="t interval over customers")
        else:
            facts.record(f"annual_margin_tier_{r.tier}", r.annual_margin, "currency",
                         f"sum over active {r.customer_type} customers in tier {r.tier} of {how}", n=int(r.customers),
                         uncertainty=census, tier=r.tier)

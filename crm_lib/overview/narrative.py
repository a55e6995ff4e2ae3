"""The data overview's sentences and display tables (notebook ``00_data_overview``)."""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt


def value_md(value: pd.DataFrame, alpha: float = 0.05) -> str:
    """What the book earns a year and where, in words (from ``value_by_tier``)."""
    allr = value[value["tier"] == "all"].iloc[0]
    tiers = value[value["tier"] != "all"]
    top = tiers.sort_values("annual_margin", ascending=False).iloc[0]
    neg = tiers.sort_values("negative_share", ascending=False).iloc[0]
    s = (f"The {fmt.integer(allr['customers'])} active customers with balances earn the bank "
         f"**{fmt.money(allr['annual_margin'])} a year** of margin (census under the margin assumptions; "
         f"{fmt.money(allr['mean_annual_margin'])} per customer, {fmt.ci_label(alpha)} "
         f"{fmt.interval(allr['mean_lower'], allr['mean_upper'], fmt.money, 'not estimable')}, t interval over "
         f"customers). Tier *{fmt.label(top['tier'])}* earns the most: {fmt.pct(top['margin_share'])} of the margin "
         f"from {fmt.integer(top['customers'])} customers. {fmt.pct(allr['negative_share'])} of customers have a "
         f"negative margin (most in *{fmt.label(neg['tier'])}*: {fmt.pct(neg['negative_share'])}), i.e. their "
         "balances and fees do not cover their cost to serve. ")
    s += (f"**Definition:** annual margin = 12 x (balances x annual spread / 12 + monthly product fees - monthly cost "
          f"to serve), balances the mean of the last month-ends; {fmt.esc(value.attrs.get('assumptions', ''))}. "
          "The spreads are economic-profit margins (after operating costs, credit losses and the cost of capital), "
          "so this is profit, not revenue. It is today's run-rate, not lifetime value: no survival is modelled here "
          "(relationship CLV by tier, with intervals, is in the CLV notebook). Totals are a census and carry no "
          "sampling error; the rates are assumptions and are not covered by any interval.")
    if value.attrs.get("n_without_balances"):
        s += f" {fmt.integer(value.attrs['n_without_balances'])} active customers without balances are left out."
    return s


def value_display(value: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``value_by_tier`` as a reviewer reads it: amounts on the money scale, the mean with its interval."""
    out = pd.DataFrame({
        "customers": [fmt.integer(v) for v in value["customers"]],
        "annual margin": [fmt.money(v) for v in value["annual_margin"]],
        "share of margin": ["-" if pd.isna(v) else fmt.pct(v) for v in value["margin_share"]],
        f"mean per customer ({fmt.ci_label(alpha)})": [
            f"{fmt.money(m)} ({fmt.interval(lo, hi, fmt.money, 'not estimable')})"
            for m, lo, hi in value[["mean_annual_margin", "mean_lower", "mean_upper"]].to_numpy()],
        "median per customer": [fmt.money(v) for v in value["median_annual_margin"]],
        "negative margin": [fmt.pct(v) for v in value["negative_share"]]},
        index=pd.MultiIndex.from_arrays([value["customer_type"], value["tier"].str.replace("_", " ")],
                                        names=["customer type", "tier"]))
    return out

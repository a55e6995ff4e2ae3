"""The data overview's sentences and display tables (notebook ``00_data_overview``)."""

from __future__ import annotations

import pandas as pd

from crm_lib import fmt
from crm_lib.fmt import _


def value_md(value: pd.DataFrame, alpha: float = 0.05) -> str:
    """What the book earns a year and where, in words (from ``value_by_tier``)."""
    allr = value[value["tier"] == "all"].iloc[0]
    tiers = value[value["tier"] != "all"]
    top = tiers.sort_values("annual_margin", ascending=False).iloc[0]
    neg = tiers.sort_values("negative_share", ascending=False).iloc[0]
    s = _("The {customers} active customers with balances earn the bank "
          "**{margin} a year** of margin (census under the margin assumptions; "
          "{mean} per customer, {ci} "
          "{interval}, t interval over "
          "customers). Tier *{top_tier}* earns the most: {top_share} of the margin "
          "from {top_customers} customers. {negative_share} of customers have a "
          "negative margin (most in *{negative_tier}*: {negative_tier_share}), i.e. their "
          "balances and fees do not cover their cost to serve.").format(
        customers=fmt.integer(allr['customers']), margin=fmt.money(allr['annual_margin']),
        mean=fmt.money(allr['mean_annual_margin']), ci=fmt.ci_label(alpha),
        interval=fmt.interval(allr['mean_lower'], allr['mean_upper'], fmt.money, _('not estimable')),
        top_tier=fmt.label(top['tier']), top_share=fmt.pct(top['margin_share']),
        top_customers=fmt.integer(top['customers']), negative_share=fmt.pct(allr['negative_share']),
        negative_tier=fmt.label(neg['tier']), negative_tier_share=fmt.pct(neg['negative_share'])) + " "
    s += _("**Definition:** annual margin = 12 x (balances x annual spread / 12 + monthly product fees - monthly cost "
           "to serve), balances the mean of the last month-ends; {assumptions}. "
           "The spreads are economic-profit margins (after operating costs, credit losses and the cost of capital), "
           "so this is profit, not revenue. It is today's run-rate, not lifetime value: no survival is modelled here "
           "(relationship CLV by tier, with intervals, is in the CLV notebook). Totals are a census and carry no "
           "sampling error; the rates are assumptions and are not covered by any interval.").format(
        assumptions=fmt.esc(value.attrs.get('assumptions', '')))
    if value.attrs.get("n_without_balances"):
        s += " " + _("{customers} active customers without balances are left out.").format(
            customers=fmt.integer(value.attrs['n_without_balances']))
    return s


def _tier(t) -> str:
    """A tier as shown: the data's name, underscores as spaces; the total row ``all`` in words."""
    return _("all") if t == "all" else str(t).replace("_", " ")


def _type(t) -> str:
    return _("all") if t == "all" else t


def value_display(value: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``value_by_tier`` as a reviewer reads it: amounts on the money scale, the mean with its interval."""
    out = pd.DataFrame({
        _("customers"): [fmt.integer(v) for v in value["customers"]],
        _("annual margin"): [fmt.money(v) for v in value["annual_margin"]],
        _("share of margin"): ["-" if pd.isna(v) else fmt.pct(v) for v in value["margin_share"]],
        _("mean per customer ({ci})").format(ci=fmt.ci_label(alpha)): [
            f"{fmt.money(m)} ({fmt.interval(lo, hi, fmt.money, _('not estimable'))})"
            for m, lo, hi in value[["mean_annual_margin", "mean_lower", "mean_upper"]].to_numpy()],
        _("median per customer"): [fmt.money(v) for v in value["median_annual_margin"]],
        _("negative margin"): [fmt.pct(v) for v in value["negative_share"]]},
        index=pd.MultiIndex.from_arrays([value["customer_type"].map(_type),
                                         value["tier"].map(_tier)],
                                        names=[_("customer type"), _("tier")]))
    return out

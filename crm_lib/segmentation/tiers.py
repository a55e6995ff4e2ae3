"""Value tiers: the AUM rule on the feature table, then relationship-manager overrides.

A customer's rule tier is the highest tier of their customer type whose lower bound
of average AUM (``aum_avg``: deposits + investments, mean of the last ``aum_months``
month-ends) they reach. The feature table already carries this tier for the
thresholds it was built with; ``value_tiers`` re-applies the thresholds it is given
(so a threshold change needs no new query) and then applies overrides.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from crm_lib.errors import DataContractError
from crm_lib.segmentation import settings as S
from crm_lib.segmentation._validate import fail, require_columns, require_rows, unique_ids

logger = logging.getLogger(__name__)

TIER_COLUMNS = ["customer_id", "customer_type", "aum_avg", "rule_tier", "tier", "tier_rank", "overridden",
                "override_reason"]


def tier_order(thresholds: dict) -> dict:
    """``{customer_type: [tier, ...]}`` from lowest to highest."""
    return {ct: list(t) for ct, t in S.check_thresholds(thresholds).items()}


def balance_policy(features: pd.DataFrame, no_balance: str = "raise") -> pd.DataFrame:
    """Apply the no-balance policy to active customers without an average AUM.

    ``raise`` stops with the offending rows, ``lowest`` keeps them (their AUM counts as 0,
    the feature table's rule), ``drop`` removes them; both log a warning with the count.
    """
    if no_balance not in ("raise", "lowest", "drop"):
        raise DataContractError(f"no_balance={no_balance!r}: expected 'raise', 'lowest' or 'drop'")
    missing = features["aum_avg"].isna().to_numpy()
    if not missing.any():
        return features
    if no_balance == "raise":
        raise fail("aum_avg", "an active customer has balances in the last month-ends", features, missing,
                   fix="Load their balances, or set no_balance: lowest (tier them at the bottom, AUM 0) or "
                       "no_balance: drop (leave them out) in parameters/segmentation.yaml.")
    logger.warning("%d active customer(s) without balances: %s", int(missing.sum()),
                   "tiered with AUM 0" if no_balance == "lowest" else "left out")
    if no_balance == "drop":
        return features.loc[~missing]
    return features.assign(aum_avg=features["aum_avg"].fillna(0.0))


def value_tiers(features: pd.DataFrame, thresholds: dict, overrides: pd.DataFrame | str | Path | None = None,
                as_of=None, no_balance: str = "raise") -> pd.DataFrame:
    """Value tier of each active customer by the AUM rule, with overrides applied.

    Parameters
    ----------
    features : DataFrame
        The feature table (``crm_lib.features.feature_table``): ``customer_id`` (pseudonym),
        ``customer_type``, ``is_active``, ``aum_avg`` (currency).
    thresholds : dict
        ``{customer_type: {tier: lower bound of aum_avg}}``, the first bound 0 and strictly
        increasing (the run parameter ``tiers``).
    overrides : DataFrame, path or None
        Relationship-manager assignments (``crm_lib.segmentation.settings.load_overrides``
        or its file): ``customer_id``, ``tier``, ``reason``, ``until``.
    as_of : date-like, optional
        Overrides whose ``until`` is before this date no longer apply.
    no_balance : {'raise', 'lowest', 'drop'}
        What to do with active customers without balances (``balance_policy``).

    Returns
    -------
    DataFrame
        One row per active customer, sorted by ``customer_id``: ``customer_id``,
        ``customer_type``, ``aum_avg`` (currency), ``rule_tier`` (by the thresholds),
        ``tier`` (after overrides), ``tier_rank`` (0 = lowest tier of the type),
        ``overridden`` (bool), ``override_reason``.

    Raises
    ------
    DataContractError
        Thresholds not increasing; a customer type without thresholds; a customer without
        balances (``no_balance='raise'``); an override naming an unknown customer or a
        tier that does not exist for the customer's type.
    """
    require_columns(features, ["customer_id", "customer_type", "is_active", "aum_avg"], why="value tiers")
    order = tier_order(thresholds)
    th = S.check_thresholds(thresholds)
    unique_ids(features)
    act = features.loc[features["is_active"].fillna(False).astype(bool),
                       ["customer_id", "customer_type", "aum_avg"]]
    require_rows(act, "no active customers at the as-of date")
    unknown = ~act["customer_type"].isin(list(th))
    if unknown.any():
        raise fail("customer_type", f"a customer type with tier thresholds ({', '.join(th)})", act, unknown,
                   fix="Add thresholds for it under `tiers` in the parameters.")
    act = balance_policy(act, no_balance)
    out = act.reset_index(drop=True).copy()
    rank = np.zeros(len(out), dtype=np.int64)
    rule = np.empty(len(out), dtype=object)
    aum = out["aum_avg"].to_numpy(dtype=float)
    for ct, tiers in th.items():
        m = (out["customer_type"] == ct).to_numpy()
        lows = np.array(list(tiers.values()))
        r = np.searchsorted(lows, aum[m], side="right") - 1
        rank[m] = np.clip(r, 0, None)
        rule[m] = np.array(list(tiers), dtype=object)[rank[m]]
    out["rule_tier"] = rule
    out["tier"] = rule.copy()
    out["tier_rank"] = rank
    out["overridden"] = False
    out["override_reason"] = ""
    ov = _overrides_frame(overrides)
    if len(ov):
        out = _apply_overrides(out, ov, features, order, as_of)
    logger.info("value tiers: %d active customers, %d overridden", len(out), int(out["overridden"].sum()))
    return out.sort_values("customer_id").reset_index(drop=True)[TIER_COLUMNS]


def _overrides_frame(overrides) -> pd.DataFrame:
    if overrides is None:
        return pd.DataFrame(columns=["customer_id", "tier", "reason", "until"])
    if isinstance(overrides, (str, Path)):
        return S.load_overrides(overrides)
    require_columns(overrides, ["customer_id", "tier"], table="tier_overrides")
    ov = overrides.copy()
    if "reason" not in ov:
        ov["reason"] = ""
    if "until" not in ov:
        ov["until"] = pd.NaT
    return ov


def _apply_overrides(out: pd.DataFrame, ov: pd.DataFrame, features: pd.DataFrame, order: dict, as_of) -> pd.DataFrame:
    dup = ov["customer_id"].duplicated(keep=False)
    if dup.any():
        raise fail("customer_id", "one override per customer", ov, dup, table="tier_overrides")
    known = ov["customer_id"].isin(features["customer_id"])
    if not known.all():
        raise fail("customer_id", "the pseudonymous id of a customer in the feature table", ov, ~known,
                   table="tier_overrides",
                   fix="Check the id against the pseudonyms in the reports (same CRM_PSEUDONYM_KEY) or remove it.")
    if as_of is not None:
        expired = ov["until"].notna() & (pd.to_datetime(ov["until"]) < pd.Timestamp(as_of))
        if expired.any():
            logger.info("%d tier override(s) expired before %s: the AUM rule applies", int(expired.sum()), as_of)
            ov = ov.loc[~expired]
    active = ov["customer_id"].isin(out["customer_id"])
    if not active.all():
        logger.warning("%d tier override(s) name customers who are not active: ignored", int((~active).sum()))
        ov = ov.loc[active]
    if not len(ov):
        return out
    pos = pd.Series(np.arange(len(out)), index=out["customer_id"]).loc[ov["customer_id"]].to_numpy()
    ctype = out["customer_type"].to_numpy()[pos]
    valid = np.array([t in order.get(c, []) for t, c in zip(ov["tier"], ctype)])
    if not valid.all():
        bad = ov.assign(customer_type=ctype)
        allowed = "; ".join(f"{c}: {', '.join(t)}" for c, t in order.items())
        raise fail("tier", f"a tier of the customer's type ({allowed})", bad, ~valid, table="tier_overrides")
    out = out.copy()
    out.loc[pos, "tier"] = ov["tier"].to_numpy()
    out.loc[pos, "tier_rank"] = [order[c].index(t) for t, c in zip(ov["tier"], ctype)]
    out.loc[pos, "overridden"] = True
    out.loc[pos, "override_reason"] = ov["reason"].fillna("").astype(str).to_numpy()
    return out


def tier_summary(tiers: pd.DataFrame, thresholds: dict) -> pd.DataFrame:
    """Customers and AUM per customer type and tier (from ``value_tiers``).

    Returns
    -------
    DataFrame
        ``customer_type``, ``tier``, ``customers``, ``share`` (of all active customers,
        0-1), ``aum`` (sum of ``aum_avg``, currency), ``aum_share`` (0-1), ``median_aum``
        (currency), ``overridden`` (customers placed by an override). Tiers in threshold
        order, individuals first; empty tiers are listed with 0 customers.
    """
    require_columns(tiers, ["customer_type", "tier", "aum_avg", "overridden"], table="tiers")
    order = tier_order(thresholds)
    g = tiers.groupby(["customer_type", "tier"], observed=True).agg(
        customers=("tier", "size"), aum=("aum_avg", "sum"), median_aum=("aum_avg", "median"),
        overridden=("overridden", "sum"))
    idx = pd.MultiIndex.from_tuples([(ct, t) for ct in sorted(order, key=lambda c: c != "individual")
                                     for t in order[ct]], names=["customer_type", "tier"])
    g = g.reindex(idx).fillna({"customers": 0, "aum": 0.0, "overridden": 0}).reset_index()
    g = g[g["customer_type"].isin(tiers["customer_type"].unique())]
    g["customers"] = g["customers"].astype("int64")
    g["overridden"] = g["overridden"].astype("int64")
    g["share"] = g["customers"] / max(int(g["customers"].sum()), 1)
    g["aum_share"] = g["aum"] / g["aum"].sum() if g["aum"].sum() > 0 else np.nan
    return g[["customer_type", "tier", "customers", "share", "aum", "aum_share", "median_aum", "overridden"]] \
        .reset_index(drop=True)

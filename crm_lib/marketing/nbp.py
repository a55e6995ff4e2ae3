"""Next-best product: expected value per customer and product, after the rules, with reasons.

Expected value (currency) = adoption propensity over the label window x the product's
yearly margin x ``horizon_years``. The margin is ``annual_margin + aum_margin_rate x AUM``
from ``parameters/marketing.yaml`` (a per-customer CLV can replace it when the bank has one:
pass ``clv_uplift``, a multiplier per customer). A customer-product pair is excluded when
the customer holds the product, breaks one of its eligibility rules (customer type, age,
value tier, credit rating), or was offered it within the cooling-off window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError
from crm_lib.fmt import N_, _
from crm_lib.marketing.adoption import AdoptionData, has_col
from crm_lib.marketing.settings import RATINGS

logger = logging.getLogger(__name__)

# Exclusion rules of a customer-product pair, in the order they are attributed.
PAIR_RULES = ("not_active", "held", "customer_type", "min_age", "max_age", "tiers", "max_credit_rating",
              "cooling_off", "not_modelled")

# English, marked for the catalogue; the reasons (shown on the list page and in the contact list)
# are written in the run's language.
FEATURE_WORDS = {
    "age": N_("age"), "log_income": N_("income"), "log_revenue": N_("revenue"), "rating_notch": N_("credit rating notch"),
    "log_aum": N_("assets under management"), "aum_change_3m": N_("3-month change in assets"),
    "tenure_years": N_("tenure"), "n_products": N_("products held"),
    "digital_share": N_("digital share of transactions"), "log_frequency": N_("transactions in the window"),
    "complaints_window": N_("complaints in the window"), "contacts_window": N_("campaign contacts in the window"),
    "responded_window": N_("campaign responses in the window"),
}


@dataclass
class NextBestProducts:
    """The result of ``next_best_products``.

    Attributes
    ----------
    value : DataFrame
        Expected value (currency over ``horizon_years``) per customer (rows) and product;
        NaN where the pair is excluded.
    propensity : DataFrame
        The adoption probabilities the value is built on (NaN where excluded).
    margin : DataFrame
        Margin per customer and product (currency over the horizon).
    best : DataFrame
        One row per customer with an allowed product: ``product``, ``propensity``,
        ``margin``, ``expected_value``, ``variance`` (currency², of the realised value if the
        propensity is right: p(1-p)margin²), ``n_allowed`` (products allowed).
    pair_exclusions : Series
        Customer-product pairs removed by each rule of ``PAIR_RULES`` (first rule that applies).
    """

    value: pd.DataFrame
    propensity: pd.DataFrame
    margin: pd.DataFrame
    best: pd.DataFrame
    pair_exclusions: pd.Series


def recent_offers(wh: Warehouse, as_of, days: int, key: str | None = None) -> pd.DataFrame:
    """Campaign contacts in the ``days`` days up to ``as_of``: ``customer_id`` (pseudonym), ``product``, ``contacted_at``.

    ``product`` is the campaign's ``target_product``.
    """
    pid = pseudonym_sql("cc.customer_id", key or pseudonym_key())
    d = pd.Timestamp(as_of).normalize()
    lo = (d - pd.Timedelta(days=int(days)) + pd.Timedelta(days=1)).date()
    nxt = (d + pd.Timedelta(days=1)).date()
    return wh.sql(f"""SELECT {pid} AS customer_id, c.target_product AS product, cc.contacted_at
                      FROM campaign_contacts cc JOIN campaigns c USING (campaign_id)
                      WHERE cc.contacted_at >= TIMESTAMP '{lo} 00:00:00' AND cc.contacted_at < TIMESTAMP '{nxt} 00:00:00'""")


def eligibility_masks(features: pd.DataFrame, rules: dict, products: list[str]) -> dict[str, pd.DataFrame]:
    """``{rule field: bool DataFrame}``: True where the customer breaks that rule of the product.

    Rule fields: ``customer_type`` (list), ``min_age``/``max_age`` (years; a customer without
    an age breaks an age rule), ``tiers`` (list of value tiers), ``max_credit_rating`` (the
    worst rating allowed, AAA best).
    """
    n = len(features)
    notch = features["credit_rating"].map({r: i for i, r in enumerate(RATINGS)}).to_numpy(dtype=float)
    age = pd.to_numeric(features["age"], errors="coerce").to_numpy(dtype=float)
    out = {f: pd.DataFrame(False, index=features.index, columns=products)
           for f in ("customer_type", "min_age", "max_age", "tiers", "max_credit_rating")}
    for p in products:
        r = rules["eligibility"].get(p, {})
        if "customer_type" in r:
            out["customer_type"][p] = ~features["customer_type"].isin(r["customer_type"]).to_numpy()
        if "min_age" in r:
            out["min_age"][p] = ~(age >= float(r["min_age"]))
        if "max_age" in r:
            out["max_age"][p] = ~(age <= float(r["max_age"]))
        if "tiers" in r:
            out["tiers"][p] = ~features["tier"].isin(r["tiers"]).to_numpy()
        if "max_credit_rating" in r:
            out["max_credit_rating"][p] = ~(notch <= RATINGS.index(r["max_credit_rating"]))
    assert all(m.shape == (n, len(products)) for m in out.values())
    return out


def next_best_products(data: AdoptionData, propensity: pd.DataFrame, rules: dict,
                       offers: pd.DataFrame | None = None, clv_uplift: pd.Series | None = None) -> NextBestProducts:
    """Expected value of every allowed customer-product pair and each customer's best one.

    Parameters
    ----------
    data : AdoptionData
        Features at the scoring date (``adoption_data(..., window_months=None)``).
    propensity : DataFrame
        ``PropensityModels.predict(data)``: customers x modelled products.
    rules : dict
        ``load_rules()``; products without a margin entry are not recommended.
    offers : DataFrame, optional
        Recent offers (``customer_id``, ``product``) within the cooling-off window
        (``recent_offers``); their pairs are excluded.
    clv_uplift : Series, optional
        A multiplier of the margin per customer (pseudonymous index), e.g. CLV relative to
        the average; 1 where missing.

    Raises
    ------
    DataContractError
        When no customer-product pair survives the rules (the message gives the counts
        removed by each rule).
    """
    f = data.features
    products = [p for p in data.at_risk.columns if p in rules["products"]]
    idx = f.index
    aum = pd.to_numeric(f["aum"], errors="coerce").fillna(0).clip(lower=0).to_numpy(dtype=float)
    h = float(rules["horizon_years"])
    mult = np.ones(len(idx)) if clv_uplift is None else clv_uplift.reindex(idx).fillna(1.0).to_numpy(dtype=float)
    margin = pd.DataFrame({p: (float(rules["products"][p].get("annual_margin", 0))
                               + float(rules["products"][p].get("aum_margin_rate", 0)) * aum) * h * mult
                           for p in products}, index=idx)
    masks = {"not_active": pd.DataFrame({p: ~f["is_active"].astype(bool).to_numpy() for p in products}, index=idx),
             "held": pd.DataFrame({p: (f[has_col(p)] == 1).to_numpy() for p in products}, index=idx)}
    masks.update(eligibility_masks(f, rules, products))
    cool = pd.DataFrame(False, index=idx, columns=products)
    if offers is not None and len(offers):
        o = offers[offers["product"].isin(products) & offers["customer_id"].isin(idx)].drop_duplicates(["customer_id", "product"])
        for p, g in o.groupby("product"):
            cool.loc[g["customer_id"].to_numpy(), p] = True
    masks["cooling_off"] = cool
    prop = propensity.reindex(index=idx, columns=products)
    masks["not_modelled"] = prop.isna()
    removed = pd.DataFrame(False, index=idx, columns=products)
    counts = {}
    for rule in PAIR_RULES:
        new = masks[rule] & ~removed
        counts[rule] = int(new.to_numpy().sum())
        removed |= masks[rule]
    pair_exclusions = pd.Series(counts, name="pairs_excluded")
    allowed = ~removed
    if not allowed.to_numpy().any():
        detail = ", ".join(f"{k}: {v:,}" for k, v in counts.items() if v)
        raise DataContractError(f"no customer is eligible for any product as of {data.as_of}: all "
                                f"{len(idx) * len(products):,} customer-product pairs were excluded ({detail}); "
                                "relax the eligibility rules in parameters/marketing.yaml or check the margin table")
    prop = prop.where(allowed)
    value = prop * margin.where(allowed)
    v = value.to_numpy()
    has_any = ~np.all(np.isnan(v), axis=1)
    j = np.nanargmax(np.where(np.isnan(v), -np.inf, v), axis=1)
    rows = np.flatnonzero(has_any)
    pb, mb = prop.to_numpy()[rows, j[rows]], margin.to_numpy()[rows, j[rows]]
    best = pd.DataFrame({"product": np.asarray(products, dtype=object)[j[rows]], "propensity": pb, "margin": mb,
                         "expected_value": v[rows, j[rows]], "variance": pb * (1 - pb) * mb ** 2,
                         "n_allowed": allowed.to_numpy()[rows].sum(axis=1)}, index=idx[rows])
    logger.info("next-best product: %d of %d customers have an allowed product", len(best), len(idx))
    return NextBestProducts(value, prop, margin, best, pair_exclusions)


def reasons(models, data: AdoptionData, best: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` features that raised each customer's propensity for the recommended product most.

    Uses the logistic model's contributions (``PropensityModels.contributions``: coefficient x
    standardised value, log-odds against the average customer). Returns ``reason_1`` ..
    ``reason_k`` (words, e.g. "age 67 raises it (+0.84 log-odds)"), indexed like ``best``.
    """
    out = pd.DataFrame("", index=best.index, columns=[f"reason_{i + 1}" for i in range(k)])
    for p, g in best.groupby("product"):
        if p not in getattr(models, "models_", {}):
            continue
        sub = AdoptionData(data.as_of, data.window_end, data.features.loc[g.index], data.X.loc[g.index], None,
                           data.at_risk.loc[g.index], data.product_types)
        c = models.contributions(sub, p)
        vals = c.to_numpy()
        order = np.argsort(-vals, axis=1)[:, :k]
        raw = data.X.loc[g.index, c.columns]
        for i in range(k):
            cols = c.columns.to_numpy()[order[:, i]]
            contrib = vals[np.arange(len(vals)), order[:, i]]
            xv = raw.to_numpy()[np.arange(len(vals)), order[:, i]]
            out.loc[g.index, f"reason_{i + 1}"] = [_words(col, x, cv) if cv > 0 else ""
                                                   for col, x, cv in zip(cols, xv, contrib)]
    return out


def _words(col: str, x: float, contrib: float) -> str:
    """One reason in words, in the run's language: ``age 67 raises it (+0.84 log-odds)``."""
    contribution = f"{contrib:.2f}"
    if col.startswith("has_"):
        text = (_("holds {product} raises it (+{contribution} log-odds)") if x == 1
                else _("does not hold {product} raises it (+{contribution} log-odds)"))
        return text.format(product=col[4:].replace('_', ' '), contribution=contribution)
    name = _(FEATURE_WORDS[col]) if col in FEATURE_WORDS else col.replace("_", " ")
    if np.isnan(x):
        shown = _("unknown")
    elif col in ("log_income", "log_revenue", "log_aum", "log_frequency"):
        shown = f"{np.expm1(x) if col in ('log_aum', 'log_frequency') else np.exp(x):,.0f}"
    elif col == "rating_notch":
        shown = RATINGS[int(x)] if 0 <= x < len(RATINGS) else f"{x:g}"
        name = _("credit rating")
    elif col in ("digital_share", "aum_change_3m"):
        shown = f"{100 * x:.0f}%"
    elif col == "tenure_years":
        shown = _("{years} years").format(years=f"{x:.1f}")
    else:
        shown = f"{x:,.0f}"
    return _("{feature} {value} raises it (+{contribution} log-odds)").format(
        feature=name, value=shown, contribution=contribution)

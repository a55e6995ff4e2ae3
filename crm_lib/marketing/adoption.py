"""Adoption data: features as of a date and which products each customer opened next.

A customer *adopts* product ``p`` in the window ``(as_of, as_of + window_months]`` when an
account of ``p`` is opened in it and the customer did not hold ``p`` at ``as_of``. The
features are the as-of feature table (``crm_lib.features.feature_table``): nothing after
``as_of`` enters them, so a model trained at an earlier as-of date and tested at a later
one is validated out of time (as in ``crm_lib.churn.validation``).

The risk set of ``p`` is the customers active at ``as_of``, of the customer type that
holds ``p`` (from the accounts table), not holding ``p``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.sample import SampleNote, check_cap, sample_ids
from crm_lib.data.sqlsafe import lit, suffix
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError
from crm_lib.features import feature_table, products as bank_products
from crm_lib.marketing.settings import RATINGS

logger = logging.getLogger(__name__)

# Numeric features of the models besides has_<product> (units in ``design_matrix``).
BASE_FEATURES = ("age", "log_income", "log_revenue", "rating_notch", "log_aum", "aum_change_3m", "tenure_years",
                 "n_products", "digital_share", "log_frequency", "complaints_window", "contacts_window",
                 "responded_window")

# What the marketing steps read of the feature table besides has_<product>: the design matrix, the risk sets,
# eligibility (type, age, tier, rating), the margins (aum), consent and the popularity baseline (tier). The
# driver holds only these (at 10M customers the whole table is ~5 GB in pandas).
ADOPTION_COLUMNS = ("customer_id", "customer_type", "is_active", "tier", "consent_marketing", "age", "income",
                    "revenue", "credit_rating", "aum", "aum_change_3m", "tenure_days", "n_products", "digital_share",
                    "frequency", "complaints_window", "contacts_window", "responded_window")


@dataclass
class AdoptionData:
    """Features at ``as_of`` and adoption labels over ``(as_of, window_end]``.

    Attributes
    ----------
    features : DataFrame
        The feature table at ``as_of`` (one row per customer, pseudonymous ``customer_id``), with the columns the
        marketing steps read (``ADOPTION_COLUMNS`` and ``has_<product>``).
    X : DataFrame
        ``design_matrix(features)``, same index.
    labels : DataFrame or None
        0/1 per product (columns), 1 when adopted in the window; None when the window is
        not yet observed (scoring at the data end).
    at_risk : DataFrame
        Bool per product: active at ``as_of``, of the product's customer type, not holding it.
    product_types : dict
        ``{product: customer_type}``.
    sample : SampleNote or None
        The stratified customer sample the data was drawn on (``adoption_data(sample=)``), None for everyone.
    """

    as_of: date
    window_end: date | None
    features: pd.DataFrame
    X: pd.DataFrame
    labels: pd.DataFrame | None
    at_risk: pd.DataFrame
    product_types: dict
    sample: SampleNote | None = None


def product_types(wh: Warehouse) -> dict:
    """``{product: customer_type}``: the customer type holding most accounts of each product."""
    df = wh.sql("""SELECT a.product, c.customer_type, COUNT(*) AS n FROM accounts a
                   JOIN customers c USING (customer_id) WHERE a.product IS NOT NULL
                   GROUP BY 1, 2 ORDER BY a.product, n DESC, c.customer_type""")
    return df.drop_duplicates("product").set_index("product")["customer_type"].to_dict()


def has_col(product: str) -> str:
    """The feature table's holding column of ``product``."""
    return f"has_{suffix(product)}"


def design_matrix(features: pd.DataFrame, products: list[str] | None = None) -> pd.DataFrame:
    """The models' numeric inputs from a feature table (a new frame; the input is not changed).

    Returns
    -------
    DataFrame, same index, columns: ``age`` (years; NaN for corporates), ``log_income``,
    ``log_revenue`` (natural log of currency/yr; NaN where missing or <= 0),
    ``rating_notch`` (AAA = 0 ... CCC = 6), ``log_aum`` (log(1 + AUM), AUM currency),
    ``aum_change_3m`` (proportion), ``tenure_years``, ``n_products`` (open accounts),
    ``digital_share`` (0-1), ``log_frequency`` (log(1 + window transactions)),
    ``complaints_window``, ``contacts_window``, ``responded_window`` (counts), and
    ``has_<product>`` (0/1) for each of ``products``.
    """
    f = features
    pos = lambda c: pd.to_numeric(f[c], errors="coerce").astype(float).where(lambda s: s > 0)  # noqa: E731
    X = pd.DataFrame({
        "age": pd.to_numeric(f["age"], errors="coerce").astype(float),
        "log_income": np.log(pos("income")),
        "log_revenue": np.log(pos("revenue")),
        "rating_notch": f["credit_rating"].map({r: i for i, r in enumerate(RATINGS)}).astype(float),
        "log_aum": np.log1p(pd.to_numeric(f["aum"], errors="coerce").astype(float).clip(lower=0)),
        "aum_change_3m": pd.to_numeric(f["aum_change_3m"], errors="coerce").astype(float).clip(-1, 5),
        "tenure_years": f["tenure_days"].astype(float) / 365.25,
        "n_products": f["n_products"].astype(float),
        "digital_share": pd.to_numeric(f["digital_share"], errors="coerce").astype(float),
        "log_frequency": np.log1p(f["frequency"].astype(float)),
        "complaints_window": f["complaints_window"].astype(float),
        "contacts_window": f["contacts_window"].astype(float),
        "responded_window": f["responded_window"].astype(float),
    }, index=f.index)
    for p in products or []:
        c = has_col(p)
        if c in f.columns:
            X[c] = f[c].astype(float)
    return X


def adoption_labels(wh: Warehouse, as_of, window_end, products: list[str], key: str | None = None) -> pd.DataFrame:
    """0/1 per customer (pseudonymous index) and product: an account of it opened in ``(as_of, window_end]``."""
    pid = pseudonym_sql("customer_id", key or pseudonym_key())
    d0, d1 = pd.Timestamp(as_of).date(), pd.Timestamp(window_end).date()
    inlist = ", ".join(lit(p) for p in products) or "NULL"
    df = wh.sql(f"""SELECT DISTINCT {pid} AS customer_id, product FROM accounts
                    WHERE open_date > DATE '{d0}' AND open_date <= DATE '{d1}' AND product IN ({inlist})""")
    out = pd.crosstab(df["customer_id"], df["product"]).clip(upper=1) if len(df) else pd.DataFrame()
    return out.reindex(columns=products, fill_value=0)


def adoption_data(wh: Warehouse, as_of, window_months: int | None = 12, params: dict | None = None,
                  key: str | None = None, sample: int | None = None) -> AdoptionData:
    """Features at ``as_of`` and, when ``window_months`` is given, adoptions in the window after it.

    Parameters
    ----------
    wh : Warehouse
    as_of : date-like
        Features use nothing dated after it.
    window_months : int or None
        Label window; None for scoring (no labels).
    params : dict, optional
        Run parameters: ``window_days``, ``aum_months``, ``tiers`` of the feature table.
    sample : int, optional
        Above this many customers, only a stratified sample of them (by customer type, selected by keyed
        pseudonym, ``crm_lib.data.sample``), built in the warehouse for them alone; ``None``: everyone. The
        training and test windows are drawn so at 10M customers; scoring is never sampled.

    Raises
    ------
    DataContractError
        When the label window runs past the last day of data, or the bank holds no products.
    """
    params = params or {}
    as_of = pd.Timestamp(as_of).date()
    prods = bank_products(wh)
    if not prods:
        raise DataContractError("accounts.product: no products in the accounts table; nothing to recommend")
    window_end = None
    if window_months is not None:
        window_end = (pd.Timestamp(as_of) + pd.DateOffset(months=int(window_months))).date()
        data_end = wh.data_end().date()
        if window_end > data_end:
            latest = (pd.Timestamp(data_end) - pd.DateOffset(months=int(window_months))).date()
            raise DataContractError(f"adoption window {as_of} to {window_end} runs past the data end {data_end}: "
                                    f"use an as-of date on or before {latest}")
    key = key or pseudonym_key()
    note, part = None, None
    if check_cap(sample, "adoption.model_sample_customers") is not None:
        # the customers the feature table holds (onboarded by as_of), pseudonymised in the warehouse
        people = wh.sql(f"SELECT {pseudonym_sql('customer_id', key)} AS customer_id, customer_type FROM customers "
                        f"WHERE onboard_date <= DATE '{as_of}'")
        ids, note = sample_ids(people, sample, table=f"adoption data as of {as_of}")
        part = note
    cols = list(dict.fromkeys([*ADOPTION_COLUMNS, *(has_col(p) for p in prods)]))
    ft = feature_table(wh, as_of, params.get("window_days", 365), params.get("aum_months", 3),
                       params.get("tiers"), key=key, part=part,
                       columns=None if part is not None else cols).set_index("customer_id")
    if note is not None:   # (a sample's table is built whole for its customers: kept to the same columns)
        ft = ft.loc[ft.index.isin(ids), cols[1:]]
        logger.info("adoption data as of %s: %s", as_of, note.text())
    types = product_types(wh)
    X = design_matrix(ft, prods)
    at_risk = pd.DataFrame({p: (ft["is_active"].astype(bool) & (ft["customer_type"] == types[p])
                                & (ft[has_col(p)] == 0)) for p in prods}, index=ft.index)
    labels = None
    if window_end is not None:
        labels = adoption_labels(wh, as_of, window_end, prods, key).reindex(ft.index, fill_value=0).astype(int)
    logger.info("adoption data as of %s: %d customers, %d products", as_of, len(ft), len(prods))
    return AdoptionData(as_of, window_end, ft, X, labels, at_risk, types, note)

"""Planted product adoption: who opens which product after onboarding, and why.

After onboarding, a customer who does not hold product ``p`` opens it at the first event
of a Poisson process with a constant yearly rate

    rate_p(x) = base_p * exp(sum_j beta_pj * x_j)

while a customer (from the later of onboarding and the history start to the exit or the
data end), at most once per product. The covariates ``x`` are what the feature table
shows as of any date (``crm_lib.features``), so a model fitted there can be checked
against the truth:

- individuals: ``age_c`` (age - 45, years), ``log_income_c`` (ln(income / 50,000)),
  ``rating_notch`` (credit-rating notch, AAA = 0 ... CCC = 6, minus 3);
- corporates: ``log_revenue_c`` (ln(revenue / 2,000,000)) and ``rating_notch``.

Given no holding at the as-of date and staying a customer, the probability of opening
``p`` in the next ``w`` years is ``1 - exp(-rate_p(x) * w)``; for small rates its logit is
``log(rate_p) + log(w)`` to first order, so a logistic regression on the same
covariates estimates ``beta`` (per unit as stated).

The draws use their own stream (``_rng(seed, ADOPTION_STREAM, chunk)``): the other
tables of the bank are drawn exactly as before; only the ``accounts`` table gains the
adoption rows (appended per chunk, account ids continuing the chunk's own).

Marketing consent (``customers.consent_marketing``, 72% yes) is drawn independently of
every adoption covariate, so high-propensity customers without consent exist in the
same proportion as low-propensity ones; ``ground_truth.json`` (``adoption``) says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_lib.data._synth.arrays import _customer_ids, _ids, _labels, _rng, _table
from crm_lib.data._synth.spec import RATINGS, YEAR_DAYS, BankSpec, _history_start

ADOPTION_STREAM = 40   # seed stream of the adoption draws (other modules use 0-3 and 10)

AGE_CENTRE, INCOME_CENTRE, REVENUE_CENTRE, RATING_CENTRE = 45.0, 50_000.0, 2_000_000.0, 3.0

# product: (customer type, base yearly rate, {covariate: log-rate coefficient per unit})
ADOPTION_TRUTH: dict[str, tuple[str, float, dict[str, float]]] = {
    "savings":           ("individual", 0.08, {"age_c": 0.025, "log_income_c": 0.25, "rating_notch": -0.65}),
    "credit_card":       ("individual", 0.10, {"age_c": -0.045, "log_income_c": 0.50, "rating_notch": -0.15}),
    "mortgage":          ("individual", 0.04, {"age_c": -0.030, "log_income_c": 0.90, "rating_notch": -0.20}),
    "personal_loan":     ("individual", 0.06, {"age_c": -0.012, "log_income_c": -0.50, "rating_notch": 0.60}),
    "investment":        ("individual", 0.05, {"age_c": 0.030, "log_income_c": 1.00, "rating_notch": -0.15}),
    "insurance":         ("individual", 0.07, {"age_c": 0.050, "log_income_c": 0.45, "rating_notch": -0.15}),
    "business_savings":  ("corporate", 0.08, {"log_revenue_c": 0.20, "rating_notch": -0.50}),
    "business_loan":     ("corporate", 0.06, {"log_revenue_c": 0.15, "rating_notch": -0.70}),
    "merchant_services": ("corporate", 0.05, {"log_revenue_c": -0.30, "rating_notch": 0.15}),
    "fx":                ("corporate", 0.04, {"log_revenue_c": 0.50, "rating_notch": -0.20}),
    "trade_finance":     ("corporate", 0.03, {"log_revenue_c": 0.60, "rating_notch": -0.30}),
}


def covariates(frame: pd.DataFrame) -> pd.DataFrame:
    """The planted covariates from ``age``, ``income``, ``revenue`` and ``credit_rating`` columns.

    Works on the customers table and on the feature table alike (same column names).
    Returns ``age_c`` (years), ``log_income_c``, ``log_revenue_c`` (log units) and
    ``rating_notch`` (notches); NaN where the customer type has no such value.
    """
    notch = pd.Series(frame["credit_rating"]).map({r: i for i, r in enumerate(RATINGS)}).astype(float)
    return pd.DataFrame({
        "age_c": pd.to_numeric(frame["age"], errors="coerce").astype(float) - AGE_CENTRE,
        "log_income_c": np.log(pd.to_numeric(frame["income"], errors="coerce").astype(float) / INCOME_CENTRE),
        "log_revenue_c": np.log(pd.to_numeric(frame["revenue"], errors="coerce").astype(float) / REVENUE_CENTRE),
        "rating_notch": notch - RATING_CENTRE,
    }, index=frame.index)


def true_rate(frame: pd.DataFrame, product: str) -> pd.Series:
    """The planted yearly adoption rate of ``product`` per row of ``frame`` (0 for the other customer type)."""
    ctype, base, beta = ADOPTION_TRUTH[product]
    x = covariates(frame)
    lp = sum(b * x[k].fillna(0.0) for k, b in beta.items())
    ok = (pd.Series(frame["customer_type"]).to_numpy() == ctype)
    return pd.Series(np.where(ok, base * np.exp(lp), 0.0), index=frame.index, name=product)


def truth_dict() -> dict:
    """The adoption truth as written to ``ground_truth.json`` (key ``adoption``)."""
    return {
        "model": "constant yearly rate while a customer and not holding the product: "
                 "rate = base * exp(sum beta_j x_j); first opening only",
        "covariates": {"age_c": f"age - {AGE_CENTRE:g} (years)",
                       "log_income_c": f"ln(income / {INCOME_CENTRE:g})",
                       "log_revenue_c": f"ln(revenue / {REVENUE_CENTRE:g})",
                       "rating_notch": f"credit rating notch (AAA=0 .. CCC=6) - {RATING_CENTRE:g}"},
        "products": {p: {"customer_type": c, "base_rate_per_year": b, "coefficients": dict(beta)}
                     for p, (c, b, beta) in ADOPTION_TRUTH.items()},
        "consent_marketing": "drawn independently of the adoption covariates (share 0.72): "
                             "high-propensity customers without consent exist",
        "stream": ADOPTION_STREAM,
    }


def adoption_inputs(customers: pa.Table) -> dict:
    """Per-customer arrays the adoption draws need, taken from the customers table."""
    frame = pd.DataFrame({c: customers[c].to_numpy(zero_copy_only=False)
                          for c in ("customer_type", "age", "income", "revenue", "credit_rating")})
    frame["age"] = pd.to_numeric(frame["age"], errors="coerce")
    rates = np.column_stack([true_rate(frame, p).to_numpy() for p in ADOPTION_TRUTH])
    return {"adoption_rates": rates}


def adoption_accounts(spec: BankSpec, chunk: int, lo: int, c: dict, rates: np.ndarray,
                      accounts: pa.Table, first_id: int) -> pa.Table:
    """``accounts`` of one chunk with the planted adoptions appended.

    Parameters
    ----------
    c : dict
        The chunk's per-customer arrays (``onboard``, ``closed_date``).
    rates : ndarray, shape (n_chunk, n_products)
        Yearly adoption rates by ``ADOPTION_TRUTH`` product order.
    accounts : Table
        The chunk's accounts so far (a product held there is never adopted again).
    first_id : int
        Number of the chunk's first account id; adoption ids follow the chunk's accounts.
    """
    end = spec.resolved_end()
    hs = _history_start(end)
    rng = _rng(spec.seed, ADOPTION_STREAM, chunk)
    n, k = rates.shape
    onboard = c["onboard"].astype("datetime64[D]")
    closed = c["closed_date"].astype("datetime64[D]")
    start = np.maximum(onboard, hs)
    stop = np.where(np.isnat(closed), end, closed - np.timedelta64(1, "D"))
    span = np.maximum((stop - start).astype(int), 0) / YEAR_DAYS
    # products already held from onboarding (or a campaign) are not adopted again
    names = list(ADOPTION_TRUTH)
    pos = pc.fill_null(pc.index_in(accounts["product"], pa.array(names)), -1).to_numpy(zero_copy_only=False)
    cust = np.asarray(pc.cast(pc.utf8_slice_codeunits(accounts["customer_id"], 3), pa.int64())) - 1 - lo
    held = np.zeros((n, k), dtype=bool)
    ok = pos >= 0
    held[cust[ok], pos[ok]] = True
    # first event of a Poisson process with rate r: Exp(1) / r years after the start
    e = rng.exponential(size=(n, k))
    with np.errstate(divide="ignore"):
        wait = np.where(rates > 0, e / np.where(rates > 0, rates, 1.0), np.inf)
    adopt = (wait <= span[:, None]) & ~held
    rows, prod = np.nonzero(adopt)
    open_date = start[rows] + np.floor(wait[rows, prod] * YEAR_DAYS).astype("timedelta64[D]")
    extra = _table({
        "account_id": _ids("ACC", first_id + accounts.num_rows, len(rows), 9),
        "customer_id": _customer_ids(lo + rows),
        "product": _labels(names, prod),
        "open_date": open_date.astype("datetime64[s]"),
        "close_date": closed[rows].astype("datetime64[s]")})
    return pa.concat_tables([accounts, extra.cast(accounts.schema)])

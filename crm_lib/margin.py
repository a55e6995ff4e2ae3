"""Expected monthly margin per customer from balances and products, with the rates in ``parameters/clv.yaml``.

``margin = (deposits x deposit_spread + loans x loan_spread + investments x investment_fee) / 12
+ sum of monthly product fees - monthly cost to serve``, in currency per month. Balances are the
mean of the last ``aum_months`` month-ends up to the as-of date; rates are **annual**
proportions by segment (``customers.customer_type``); fees and cost to serve are currency
**per month**. A segment or product the table does not price is an error naming it, never a
silent zero.

A base module (it reads the warehouse and parameters only): the CLV package, the data overview's and
segmentation's profitability sections and the early-warning list all price balances with it.
``crm_lib.clv.margin`` re-exports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crm_lib.errors import ConfigError, DataContractError

logger = logging.getLogger(__name__)

CLV_FILE = Path(__file__).resolve().parents[1] / "parameters" / "clv.yaml"
RATE_KEYS = ("deposit_spread", "loan_spread", "investment_fee")


@dataclass(frozen=True)
class ClvSettings:
    """The CLV assumptions, validated (see ``parameters/clv.yaml`` for units)."""

    currency: str = "GBP"
    horizon_years: float = 10.0
    discount_rate_annual: float = 0.08
    n_draws: int = 200
    new_customer_months: int = 12
    tail_years: float = 5.0
    rates: dict = field(default_factory=dict)
    cost_to_serve_monthly: dict = field(default_factory=dict)
    product_fees_monthly: dict = field(default_factory=dict)
    transactional: dict = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> "ClvSettings":
        """Read and validate ``path`` (default ``clv.yaml`` of the parameters folder, ``$CRM_PARAMETERS_DIR``
        when set); ``overrides`` replace keys.

        Raises
        ------
        ConfigError
            A missing or malformed key, a rate that is not a number in [-1, 1], a discount rate
            <= -1, a horizon <= 0; the message names the file and key.
        """
        if path is None:
            from crm_lib.paramfiles import default_parameters_dir   # the run's parameters folder, as for marketing.yaml

            path = default_parameters_dir() / CLV_FILE.name
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read the CLV assumptions ({str(e).splitlines()[0]})") from None
        raw.update(overrides)
        known = set(cls.__dataclass_fields__) - {"source"}
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        s = cls(**raw, source=str(path))
        s.validate()
        return s

    def validate(self) -> None:
        where = self.source or "clv settings"
        d = self.discount_rate_annual
        if not isinstance(d, (int, float)) or not np.isfinite(d) or d <= -1:
            raise ConfigError(f"{where}: discount_rate_annual = {d!r} breaks rule 'a number > -1' (the discount "
                              "factor (1 + d) ** (-t) must be finite and positive); use e.g. 0.08 for 8% a year")
        if not isinstance(self.horizon_years, (int, float)) or not self.horizon_years > 0:
            raise ConfigError(f"{where}: horizon_years = {self.horizon_years!r} breaks rule 'a number > 0'")
        if not isinstance(self.n_draws, int) or self.n_draws < 20:
            raise ConfigError(f"{where}: n_draws = {self.n_draws!r} breaks rule 'an integer >= 20'")
        if not self.rates:
            raise ConfigError(f"{where}: rates: missing (rule 'annual rates by segment')")
        for seg, r in self.rates.items():
            for k in RATE_KEYS:
                v = (r or {}).get(k)
                if not isinstance(v, (int, float)) or not -1 <= v <= 1:
                    raise ConfigError(f"{where}: rates.{seg}.{k} = {v!r} breaks rule 'an annual proportion in [-1, 1]'")
        for name, table in (("cost_to_serve_monthly", self.cost_to_serve_monthly),
                            ("product_fees_monthly", self.product_fees_monthly)):
            for k, v in (table or {}).items():
                if not isinstance(v, (int, float)) or not np.isfinite(v):
                    raise ConfigError(f"{where}: {name}.{k} = {v!r} breaks rule 'a number (currency per month)'")

    @property
    def horizon_months(self) -> int:
        return int(round(12 * self.horizon_years))

    def discount_factors(self) -> np.ndarray:
        """(1 + d) ** (-m / 12) for months m = 1 .. horizon (margin paid at each month end)."""
        return (1.0 + self.discount_rate_annual) ** (-np.arange(1, self.horizon_months + 1) / 12.0)

    def calibration_end(self, end) -> pd.Timestamp:
        """End of the transactional calibration period: ``end`` minus ``transactional.holdout_months``."""
        out = pd.Timestamp(end).normalize() - pd.DateOffset(months=int(self.transactional.get("holdout_months", 12)))
        return out + pd.offsets.MonthEnd(0) if pd.Timestamp(end).is_month_end else out

    def describe(self) -> str:
        """The assumptions in one sentence, for every figure's caption."""
        return (f"horizon {self.horizon_years:g} years, discount rate {100 * self.discount_rate_annual:g}% a year, "
                f"margin from balances at the annual spreads and monthly fees in {Path(self.source).name or 'clv.yaml'} "
                f"({self.currency})")


def _check_segments(seg: pd.Series, settings: ClvSettings) -> None:
    where = Path(settings.source).name or "clv.yaml"
    for name, table_ in (("rates", settings.rates), ("cost_to_serve_monthly", settings.cost_to_serve_monthly)):
        miss = sorted(set(seg.unique()) - set(table_))
        if miss:
            n_miss = int(seg.isin(miss).sum())
            raise DataContractError(f"customers.customer_type: segment(s) {miss} ({n_miss:,} customers) break rule "
                                    f"'every segment has {name} in {where}'; add them to {settings.source or where}")


def _check_products(counts: pd.Series, settings: ClvSettings) -> None:
    """``counts``: open accounts by product name; every product needs a fee in the table."""
    where = Path(settings.source).name or "clv.yaml"
    miss = counts[~counts.index.isin(list(settings.product_fees_monthly))]
    if len(miss):
        miss = miss.sort_values(ascending=False, kind="stable")
        raise DataContractError("accounts.product: product(s) " + ", ".join(f"{k!r} ({int(v):,} accounts)" for k, v in
                                                                         miss.items())
                                + f" break rule 'every product has a monthly fee in {where} (product_fees_monthly)'; "
                                f"add them to {settings.source or where} (0 if the product earns no fee)")


def _check_balances(balances: pd.DataFrame, settings: ClvSettings, table: str) -> None:
    for c in ("customer_id", "customer_type", "deposits", "loans", "investments"):
        if c not in balances.columns:
            raise DataContractError(f"{table}.{c}: column missing (rule 'balances by customer and segment')")
    _check_segments(balances["customer_type"].astype(str), settings)


def _margin(balances: pd.DataFrame, fee: np.ndarray, settings: ClvSettings) -> pd.DataFrame:
    """The margin arithmetic, given each balances row's monthly product fees ``fee`` (``balances`` checked)."""
    seg = balances["customer_type"].astype(str)
    r = {k: seg.map({s: float(v[k]) for s, v in settings.rates.items()}).to_numpy(float) for k in RATE_KEYS}
    dep, loan, inv = (pd.to_numeric(balances[c], errors="coerce").fillna(0.0).to_numpy(float)
                      for c in ("deposits", "loans", "investments"))
    interest = (dep * r["deposit_spread"] + loan * r["loan_spread"] + inv * r["investment_fee"]) / 12.0
    cts = seg.map({k: float(v) for k, v in settings.cost_to_serve_monthly.items()}).to_numpy(float)
    out = pd.DataFrame({"customer_id": balances["customer_id"].to_numpy(), "interest_margin": interest,
                        "fee_margin": fee, "cost_to_serve": cts, "margin": interest + fee - cts}, index=balances.index)
    logger.info("monthly margin: %d customers, mean %.2f", len(out), float(out["margin"].mean()) if len(out) else 0.0)
    return out


def monthly_margin(balances: pd.DataFrame, products: pd.DataFrame, settings: ClvSettings,
                   table: str = "balances") -> pd.DataFrame:
    """Expected margin per month for each customer.

    Parameters
    ----------
    balances : DataFrame with ``customer_id``, ``customer_type`` (segment), ``deposits``,
        ``loans``, ``investments`` (currency; mean of recent month-ends).
    products : DataFrame with ``customer_id``, ``product`` (one row per open account).

    Returns
    -------
    DataFrame indexed like ``balances``: ``customer_id``, ``interest_margin``, ``fee_margin``
    (product fees), ``cost_to_serve`` and ``margin`` (all currency per month; margin = the
    first two minus the third; may be negative).

    Raises
    ------
    DataContractError
        A segment with no rates or cost to serve, or a product with no fee in the table
        (names the product, the number of accounts and the file to edit).
    """
    _check_balances(balances, settings, table)
    prod = products["product"].astype(str)
    _check_products(prod.value_counts(sort=False), settings)
    fees = (products.assign(fee=prod.map(settings.product_fees_monthly).astype(float))
            .groupby("customer_id")["fee"].sum())
    fee = balances["customer_id"].map(fees).fillna(0.0).to_numpy(float)
    return _margin(balances, fee, settings)


def warehouse_margin(wh, as_of, settings: ClvSettings, key: str | None = None, aum_months: int = 3) -> pd.DataFrame:
    """``monthly_margin`` of every customer with balances, as of ``as_of`` (pseudonymous ``customer_id``).

    Balances: mean deposits, loans and investments over the last ``aum_months`` month-ends up to
    ``as_of``; products: accounts open on ``as_of``. Returns the ``monthly_margin`` columns plus
    ``customer_type``, ``deposits``, ``loans``, ``investments``.

    The engine sums each customer's product fees (the fee table enters the query as bound values), so
    only one row per customer comes back, never one per account. A product without a fee is reported
    before the balances are read (``monthly_margin`` checks segments first).
    """
    from crm_lib.data.privacy import pseudonym_key, pseudonym_sql

    key = key or pseudonym_key()
    d = pd.Timestamp(as_of).strftime("%Y-%m-%d")
    lo = (pd.Timestamp(as_of) - pd.DateOffset(months=int(aum_months)) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    wh.need("balances")
    wh.need("accounts")
    is_open = (f"CAST(open_date AS DATE) <= DATE '{d}' "
               f"AND (close_date IS NULL OR CAST(close_date AS DATE) > DATE '{d}')")
    counts = wh.sql(f"SELECT product, count(*) AS n FROM accounts WHERE {is_open} GROUP BY product")
    counts = pd.Series(counts["n"].to_numpy(), index=counts["product"].astype(str), dtype="int64")
    _check_products(counts, settings)
    priced = [(str(p), float(settings.product_fees_monthly[p])) for p in counts.index]
    params: list = [v for pair in priced for v in pair]
    fees_cte = ""
    fee_col, fee_join = "0.0", ""
    if priced:
        values = ", ".join("(?, CAST(? AS DOUBLE))" for _ in priced)
        fees_cte = (f", fee_of(product, fee) AS (VALUES {values}), "
                    f"fees AS (SELECT a.customer_id, SUM(f.fee) AS fee FROM accounts a "
                    f"JOIN fee_of f ON CAST(a.product AS VARCHAR) = f.product WHERE {is_open} GROUP BY a.customer_id)")
        fee_col, fee_join = "COALESCE(fees.fee, 0.0)", "LEFT JOIN fees ON fees.customer_id = bal.customer_id"
    pid = pseudonym_sql("bal.customer_id", key)
    bal = wh.sql(f"""
      WITH bal AS (
        SELECT c.customer_id, c.customer_type,
          AVG(b.deposits) AS deposits, AVG(b.loans) AS loans, AVG(b.investments) AS investments
        FROM balances b JOIN customers c ON c.customer_id = b.customer_id
        WHERE CAST(b.month AS DATE) <= DATE '{d}' AND CAST(b.month AS DATE) >= DATE '{lo}'
        GROUP BY c.customer_id, c.customer_type){fees_cte}
      SELECT {pid} AS customer_id, bal.customer_type, bal.deposits, bal.loans, bal.investments,
        CAST({fee_col} AS DOUBLE) AS fee
      FROM bal {fee_join}""", params)
    _check_balances(bal, settings, "balances")
    m = _margin(bal, bal["fee"].to_numpy(float), settings)
    return pd.concat([m, bal[["customer_type", "deposits", "loans", "investments"]]], axis=1)

"""The data overview's measures: what period the data covers, who the customers are, how the base moved.

Computations for ``notebooks/00_data_overview.ipynb``; every count is pushed to DuckDB.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from crm_lib.periods import Period
from crm_lib.data.store import Warehouse
from crm_lib.errors import NotEstimable
from crm_lib.features import feature_table, require
from crm_lib.fmt import tr

logger = logging.getLogger(__name__)

DATE_COLUMN = {"customers": "onboard_date", "accounts": "open_date", "balances": "month", "transactions": "ts",
               "complaints": "opened_at", "surveys": "survey_date", "campaigns": "start_date",
               "campaign_contacts": "contacted_at"}


def coverage(wh: Warehouse) -> pd.DataFrame:
    """Per table: rows, first and last date of its main date column.

    Returns
    -------
    DataFrame indexed by ``table`` with ``rows``, ``date_column``, ``first``, ``last`` (dates).
    """
    rows = []
    for t in wh.tables():
        c = DATE_COLUMN[t]
        n, lo, hi = wh.con.execute(f'SELECT count(*), min("{c}"), max("{c}") FROM "{t}"').fetchall()[0]
        rows.append({"table": t, "rows": int(n), "date_column": c,
                     "first": pd.Timestamp(lo).date() if lo else None, "last": pd.Timestamp(hi).date() if hi else None})
    return pd.DataFrame(rows).set_index("table")


def base_movement(wh: Warehouse, period: Period, alpha: float = 0.05) -> pd.Series:
    """How the customer base moved over ``period``.

    Returns
    -------
    Series with ``active_start`` (customers active on the first day), ``new`` (onboarded
    in the period), ``closed`` (closed in the period, any onboarding date),
    ``closed_of_start`` (closed in the period among those active at its start),
    ``active_end`` (active on the last day), ``churn_rate`` (closed_of_start /
    active_start, proportion) with ``churn_ci_lower``/``churn_ci_upper`` (Wilson, 1 - alpha)
    and ``net_growth_rate`` ((active_end - active_start) / active_start).

    Raises
    ------
    NotEstimable
        The source does not hold ``customers.closed_date``: closures cannot be told from open
        relationships, so no count here would be data.
    """
    _need_closures(wh, tr("the base movement (active, new and closed customers)"))
    s, e = period.start, period.end
    q = f"""
    SELECT
      SUM(CASE WHEN onboard_date < DATE '{s}' AND (closed_date IS NULL OR closed_date >= DATE '{s}') THEN 1 ELSE 0 END),
      SUM(CASE WHEN onboard_date >= DATE '{s}' AND onboard_date <= DATE '{e}' THEN 1 ELSE 0 END),
      SUM(CASE WHEN closed_date >= DATE '{s}' AND closed_date <= DATE '{e}' THEN 1 ELSE 0 END),
      SUM(CASE WHEN onboard_date < DATE '{s}' AND closed_date >= DATE '{s}' AND closed_date <= DATE '{e}' THEN 1 ELSE 0 END),
      SUM(CASE WHEN onboard_date <= DATE '{e}' AND (closed_date IS NULL OR closed_date > DATE '{e}') THEN 1 ELSE 0 END)
    FROM customers"""
    a0, new, closed, closed0, a1 = (int(v or 0) for v in wh.con.execute(q).fetchall()[0])
    if a0 == 0:
        rate, lo, hi, growth = np.nan, np.nan, np.nan, np.nan
    else:
        rate = closed0 / a0
        lo, hi = proportion_confint(closed0, a0, alpha=alpha, method="wilson")
        growth = (a1 - a0) / a0
    return pd.Series({"active_start": a0, "new": new, "closed": closed, "closed_of_start": closed0,
                      "active_end": a1, "churn_rate": rate, "churn_ci_lower": lo, "churn_ci_upper": hi,
                      "net_growth_rate": growth})


def _need_closures(wh: Warehouse, what: str) -> None:
    if "closed_date" not in wh.held("customers"):
        raise NotEstimable(tr("{what} needs customers.closed_date, which the source does not have (without it a "
                              "closed relationship cannot be told from an open one)", what=what),
                           tr("map the column that holds the closing date of the relationship"))


def engagement(wh: Warehouse, period: Period, alpha: float = 0.05) -> pd.DataFrame:
    """Cross-sell ratio, digital share of transactions and acquisition cost for ``period``.

    Returns
    -------
    DataFrame indexed by ``kpi`` (cross_sell_ratio, digital_share, cac) with ``value``,
    ``ci_lower``, ``ci_upper``, ``n`` and ``method``.

    Notes
    -----
    The digital share is a ratio estimator over customers (transactions cluster within a
    customer), with the linearised standard error of Cochran (1977), *Sampling Techniques*, 6.9.
    """
    s, e = period.start, period.end
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    held = wh.held("customers")
    if wh.has("accounts"):   # each measure only where the source holds what it is computed from
        rows.append(_cross_sell(wh, e, alpha))
    tx = (wh.sql(f"""
        SELECT sum(CASE WHEN channel IN ('mobile', 'online') THEN 1 ELSE 0 END) AS d, count(*) AS n
        FROM transactions WHERE ts >= TIMESTAMP '{s} 00:00:00' AND ts < TIMESTAMP '{e} 00:00:00' + INTERVAL 1 DAY
        GROUP BY customer_id""") if wh.has("transactions") and "channel" in wh.held("transactions") else pd.DataFrame())
    m = len(tx)
    if m > 1:
        d, n = tx["d"].to_numpy(float), tx["n"].to_numpy(float)
        r = d.sum() / n.sum()
        se = np.sqrt(((d - r * n) ** 2).sum() / (m * (m - 1))) / n.mean()
        rows.append({"kpi": "digital_share", "value": r, "ci_lower": r - z * se, "ci_upper": r + z * se, "n": int(n.sum()),
                     "method": f"ratio estimator over {m:,} customers, clustered SE"})
    if "acquisition_cost" in held:
        cost = wh.sql(f"""SELECT acquisition_cost FROM customers WHERE onboard_date >= DATE '{s}'
                          AND onboard_date <= DATE '{e}' AND acquisition_cost IS NOT NULL""")["acquisition_cost"]
        rows.append(_mean_row("cac", cost, alpha, "t interval over new customers"))
    if not rows:
        raise NotEstimable(tr("the engagement measures need accounts (cross-sell), transactions.channel (digital "
                              "share) or customers.acquisition_cost (CAC), and the source has none of them"),
                           tr("add any of them to the source"))
    return pd.DataFrame(rows).set_index("kpi")


def _cross_sell(wh: Warehouse, e, alpha: float) -> dict:
    prod = wh.sql(f"""
        SELECT count(a.account_id) AS n FROM customers c LEFT JOIN accounts a
          ON a.customer_id = c.customer_id AND a.open_date <= DATE '{e}' AND (a.close_date IS NULL OR a.close_date > DATE '{e}')
        WHERE c.onboard_date <= DATE '{e}' AND (c.closed_date IS NULL OR c.closed_date > DATE '{e}')
        GROUP BY c.customer_id""")["n"]
    return _mean_row("cross_sell_ratio", prod, alpha, "t interval over customers")


def _mean_row(name: str, x: pd.Series, alpha: float, method: str) -> dict:
    x = x.astype(float)
    if len(x) < 2:
        return {"kpi": name, "value": x.mean() if len(x) else np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
                "n": len(x), "method": "too few observations for an interval"}
    half = stats.t.ppf(1 - alpha / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return {"kpi": name, "value": x.mean(), "ci_lower": x.mean() - half, "ci_upper": x.mean() + half,
            "n": len(x), "method": method}


ACTIVE_COLUMNS = ("customer_id", "customer_type", "tier", "aum_avg", "is_active")   # what the two tables read


def active_features(wh: Warehouse, period: Period, params: dict, columns=ACTIVE_COLUMNS) -> pd.DataFrame:
    """The feature table (``crm_lib.features.feature_table``) of customers active at the period end, built once
    for ``customers_by_tier`` and ``value_by_tier``: only the ``columns`` they read (``None``: every column), so
    a 10M-customer book is ~1 GB in pandas rather than ~5 GB."""
    f = feature_table(wh, period.end, window_days=params.get("window_days", 365),
                      aum_months=params.get("aum_months", 3), tier_thresholds=params.get("tiers"), columns=columns)
    return f[f["is_active"].fillna(False).astype(bool)]


def _tier_order(params: dict, tiers: pd.Series) -> list:
    return [t for ct in (params.get("tiers") or {}).values() for t in ct] or sorted(tiers.dropna().unique())


def customers_by_tier(wh: Warehouse, period: Period, params: dict, features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Active customers and AUM by customer type and value tier at the period end.

    ``features``: ``active_features`` of the same period (built here when omitted).

    Returns
    -------
    DataFrame with ``customer_type``, ``tier``, ``customers``, ``share`` (of all active
    customers, 0-1), ``aum`` (sum of average AUM, currency), ``aum_share`` (0-1),
    ``median_aum`` (currency).
    """
    f = active_features(wh, period, params) if features is None else features
    require(f, "balances", what=tr("value tiers (by average AUM)"))
    order = _tier_order(params, f["tier"])
    g = f.groupby(["customer_type", "tier"], observed=True).agg(
        customers=("customer_id", "size"), aum=("aum_avg", "sum"), median_aum=("aum_avg", "median")).reset_index()
    g["share"] = g["customers"] / g["customers"].sum()
    g["aum_share"] = g["aum"] / g["aum"].sum()
    g["tier"] = pd.Categorical(g["tier"], categories=order, ordered=True)
    g = g.sort_values(["customer_type", "tier"], ascending=[False, True]).reset_index(drop=True)
    g["tier"] = g["tier"].astype(str)
    return g[["customer_type", "tier", "customers", "share", "aum", "aum_share", "median_aum"]]


def value_by_tier(wh: Warehouse, period: Period, params: dict, features: pd.DataFrame | None = None,
                  clv_settings=None, alpha: float = 0.05) -> pd.DataFrame:
    """Profitability of the active customers by customer type and value tier at the period end.

    Annual margin = 12 x the monthly margin of ``crm_lib.clv.margin.warehouse_margin``: balances (mean of
    the last ``aum_months`` month-ends) at the annual economic-profit spreads of ``parameters/clv.yaml``,
    plus product fees, minus cost to serve. No survival model is fitted: this is today's profit run-rate,
    not lifetime value (``40_clv`` has relationship CLV by tier, with its intervals).

    Returns
    -------
    DataFrame with ``customer_type``, ``tier``, ``customers`` (active customers with balances),
    ``annual_margin`` (sum, currency per year), ``margin_share`` (of the total, 0-1; NaN when the total is
    not positive), ``mean_annual_margin`` with ``mean_lower``/``mean_upper`` (t interval over customers at
    ``alpha``), ``median_annual_margin``, ``negative_share`` (share of customers whose margin is negative),
    a row ``all``/``all`` for the whole book; ``attrs["assumptions"]`` (the rates in words),
    ``attrs["n_without_balances"]`` (active customers with no balance in the window, left out).

    Raises
    ------
    NotEstimable
        The margin table of ``parameters/clv.yaml`` does not price a segment or product of the data,
        or no active customer has balances.
    """
    from crm_lib.margin import ClvSettings, warehouse_margin
    from crm_lib.errors import ConfigError, DataContractError

    f = active_features(wh, period, params) if features is None else features
    try:
        cs = clv_settings or ClvSettings.load()
        m = warehouse_margin(wh, period.end, cs, None, int(params.get("aum_months", 3)))
    except NotEstimable:
        raise   # e.g. no balances table
    except (ConfigError, DataContractError) as e:
        raise NotEstimable(f"the margin table cannot price this book: {str(e).splitlines()[0]}",
                           "add the missing segment or product to parameters/clv.yaml") from None
    d = f[["customer_id", "customer_type", "tier"]].merge(m[["customer_id", "margin"]], on="customer_id",
                                                          how="inner", validate="one_to_one")
    if d.empty:
        raise NotEstimable(f"none of the {len(f):,} active customers has a balance in the last "
                           f"{params.get('aum_months', 3)} month-ends", "load the balances table up to the period end")
    d["annual_margin"] = 12.0 * d["margin"]
    rows = [_margin_row(ct, t, g["annual_margin"], alpha) for (ct, t), g in
            d.groupby(["customer_type", "tier"], observed=True)]
    out = pd.DataFrame(rows)
    order = _tier_order(params, d["tier"])
    out["tier"] = pd.Categorical(out["tier"], categories=order, ordered=True)
    out = out.sort_values(["customer_type", "tier"], ascending=[False, True]).reset_index(drop=True)
    out["tier"] = out["tier"].astype(str)
    out = pd.concat([out, pd.DataFrame([_margin_row("all", "all", d["annual_margin"], alpha)])], ignore_index=True)
    total = float(d["annual_margin"].sum())
    out["margin_share"] = out["annual_margin"] / total if total > 0 else np.nan
    out.attrs["assumptions"] = cs.describe().split(", margin from")[1].strip() if ", margin from" in cs.describe() \
        else cs.describe()
    out.attrs["n_without_balances"] = int(len(f) - len(d))
    return out[["customer_type", "tier", "customers", "annual_margin", "margin_share", "mean_annual_margin",
                "mean_lower", "mean_upper", "median_annual_margin", "negative_share"]]


def _margin_row(ct, tier, x: pd.Series, alpha: float) -> dict:
    r = _mean_row("m", x, alpha, "")
    return {"customer_type": ct, "tier": tier, "customers": int(len(x)), "annual_margin": float(x.sum()),
            "mean_annual_margin": float(r["value"]), "mean_lower": r["ci_lower"], "mean_upper": r["ci_upper"],
            "median_annual_margin": float(x.median()), "negative_share": float((x < 0).mean())}


def monthly_active(wh: Warehouse, start, end) -> pd.DataFrame:
    """Active customers at each month-end from ``start`` to ``end`` by customer type.

    Returns
    -------
    DataFrame with ``month`` (month-end), ``customer_type``, ``active`` (customers).
    """
    _need_closures(wh, tr("the active customers by month"))
    months = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="ME")
    if len(months) == 0:
        return pd.DataFrame(columns=["month", "customer_type", "active"])
    wh.con.register("_months", pd.DataFrame({"month": months}))
    try:
        df = wh.sql("""
            SELECT m.month, c.customer_type, count(*) AS active
            FROM _months m JOIN customers c
              ON c.onboard_date <= m.month AND (c.closed_date IS NULL OR c.closed_date > m.month)
            GROUP BY 1, 2 ORDER BY 1, 2""")
    finally:
        wh.con.unregister("_months")
    return df



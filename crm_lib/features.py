"""The per-customer feature table as of a date, computed where the data is.

One row per customer onboarded on or before the as-of date. Every input row is
filtered to the as-of date first (``<= as_of`` for dates, ``< as_of + 1 day`` for
timestamps), and a closure after the as-of date is invisible, so no later data can leak
in (``tests/test_features.py`` proves it by scrambling everything after the date).

The SQL is written once in a portable subset and compiled by SQLGlot for the engine
that runs it: DuckDB by default, Spark SQL when the bank outgrows one machine
(``feature_sql(..., dialect="spark")``).

Columns (units):
    customer_id (pseudonym), customer_type, age (years), income, revenue (currency/yr),
    region, branch_id, credit_rating, acquisition_channel, acquisition_cost (currency),
    consent_marketing, onboard_date, tenure_days (days), is_active (bool),
    closed_date (only when closed on or before the as-of date),
    aum (deposits + investments at the last month-end on or before the date; null when
    the customer held no balance then), aum_avg (mean over the balances of the last
    ``aum_months`` month-ends), aum_avg_12m (last 12), aum_change_3m (aum / aum 3
    month-ends earlier - 1, proportion), deposits, investments, loans (currency),
    tier (by ``tier_thresholds`` on aum_avg), n_products (open accounts),
    has_<product> (0/1), recency_days (days since last transaction), frequency
    (transactions in the window), monetary (sum of amounts in the window, currency),
    share_<channel> (share of window transactions, 0-1), digital_share (mobile+online),
    fee_purchases, fee_spend (fee-bearing purchases in the window),
    complaints_90d, complaints_window, open_complaints, days_since_complaint,
    surveys_window, csat_mean, nps_mean (window), contacts_window, responded_window.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
import pyarrow as pa
import sqlglot

from crm_lib.data.privacy import pseudonym_key, pseudonym_sql
from crm_lib.data.sample import part_query
from crm_lib.data.sqlsafe import ident, lit, suffix, suffixes
from crm_lib.data.store import Warehouse
from crm_lib.errors import DataContractError, EngineMemoryError
from crm_lib.paramfiles import default_tier_thresholds

logger = logging.getLogger(__name__)

CHANNELS = ("branch", "mobile", "online", "atm", "phone")


def _check_thresholds(thresholds: dict) -> None:
    for ctype, tiers in thresholds.items():
        vals = list(tiers.values())
        if any(b <= a for a, b in zip(vals, vals[1:])):
            raise DataContractError(
                f"tier thresholds for {ctype}: lower bounds must be strictly increasing, got {tiers}")


def feature_sql(as_of: str | date, products: list[str], window_days: int = 365, aum_months: int = 3,
                tier_thresholds: dict | None = None, dialect: str = "duckdb",
                lacking: dict[str, tuple[str, ...]] | None = None, customers_where: str | None = None) -> str:
    """The feature query for ``as_of``, compiled for ``dialect`` (``duckdb`` or ``spark``).

    ``lacking`` maps a table the source does not have to ``("*",)``, and a table it has to
    the contract columns it lacks (``missing_inputs``); what is computed from them is NULL
    (unknown), never a count of zero, except the documented defaults of ``crm_lib.data.schema.LACKING_DEFAULTS``.
    ``customers_where`` (a Spark SQL condition on ``customers`` written by the library, e.g.
    ``crm_lib.data.sample.SampleNote.where``) restricts the table to those customers, and every aggregate to
    their rows (a semi-join), so a model sample's features cost the sample's memory, not the bank's.
    """
    lacking = dict(lacking or {})
    gone = {t for t, cols in lacking.items() if cols == ("*",)}
    absent = {(t, c) for t, cols in lacking.items() if cols != ("*",) for c in cols}
    d = pd.Timestamp(as_of).date()
    nxt = (pd.Timestamp(d) + pd.Timedelta(days=1)).date()
    w0 = (pd.Timestamp(d) - pd.Timedelta(days=window_days - 1)).date()
    d90 = (pd.Timestamp(d) - pd.Timedelta(days=89)).date()
    # month-ends: the last one on or before the date, and the window starts before it
    last = pd.Timestamp(d) + pd.offsets.MonthEnd(0)
    last = last if last == pd.Timestamp(d) else last - pd.offsets.MonthEnd(1)
    m_last, m_3 = last.date(), (last - pd.offsets.MonthEnd(3)).date()
    m_avg = (last - pd.offsets.MonthEnd(int(aum_months))).date()
    m_12 = (last - pd.offsets.MonthEnd(12)).date()
    thresholds = tier_thresholds or default_tier_thresholds()   # the run's parameters/defaults.yaml, never the demo's
    _check_thresholds(thresholds)
    # Values (customer types, tier names, products) enter the query as SQLGlot literals of the
    # dialect it is written in (Spark SQL), never pasted between quotes: see crm_lib.data.sqlsafe.
    tier_cases = []
    for ctype, tiers in thresholds.items():
        for name, lo in sorted(tiers.items(), key=lambda kv: -kv[1]):
            tier_cases.append(f"WHEN c.customer_type = {lit(ctype, 'spark')} "
                              f"AND coalesce(b.aum_avg, 0) >= {float(lo)} THEN {lit(name, 'spark')}")
    has = {p: ident(f"has_{s}", "spark") for p, s in suffixes(products, "accounts", "product").items()}
    prod_cols = ",\n  ".join(
        f"MAX(CASE WHEN product = {lit(p, 'spark')} THEN 1 ELSE 0 END) AS {has[p]}" for p in products) or "0 AS no_products"
    has_sel = ", ".join(f"coalesce(p.{has[p]}, 0) AS {has[p]}" for p in products)
    chan = ",\n  ".join(f"COUNT(CASE WHEN channel = '{c}' AND txn_type <> 'fee_purchase' THEN 1 END) AS n_{c}"
                         for c in CHANNELS)
    share = ", ".join(f"CASE WHEN t.frequency > 0 THEN t.n_{c} / t.frequency ELSE NULL END AS share_{c}" for c in CHANNELS)
    ordinary = ("txn_type <> 'fee_purchase'" if ("transactions", "txn_type") not in absent
                else "TRUE")   # no transaction types: every transaction is an ordinary one (schema.LACKING_DEFAULTS)
    fee = "txn_type = 'fee_purchase'" if ("transactions", "txn_type") not in absent else "FALSE"
    chan = chan.replace("txn_type <> 'fee_purchase'", ordinary)

    def counted(expr: str, table: str, column: str | None = None, zero: str = "0", kind: str = "BIGINT") -> str:
        """``coalesce(expr, zero)``, or NULL when ``table`` (or its ``column``) is not in the source."""
        if table in gone or (column and (table, column) in absent):
            return f"CAST(NULL AS {kind})"
        return f"coalesce({expr}, {zero})"

    no_channel = ("transactions", "channel") in absent
    if no_channel:
        share = ", ".join(f"CAST(NULL AS DOUBLE) AS share_{c}" for c in CHANNELS)
    tier = f"CASE {' '.join(tier_cases)} END" if "balances" not in gone else "CAST(NULL AS STRING)"
    only = f" AND ({customers_where})" if customers_where else ""
    mine = " AND customer_id IN (SELECT customer_id FROM base)" if customers_where else ""   # the semi-join
    sql = f"""
WITH {_empty_tables(gone)}base AS (
  SELECT * FROM customers WHERE onboard_date <= DATE '{d}'{only}
),
bal AS (
  SELECT customer_id, month, deposits + investments AS aum, deposits, investments, loans
  FROM balances WHERE month <= DATE '{m_last}' AND month > DATE '{m_12}'{mine}
),
b AS (
  SELECT customer_id,
    MAX(CASE WHEN month = DATE '{m_last}' THEN aum END) AS aum,
    AVG(CASE WHEN month > DATE '{m_avg}' THEN aum END) AS aum_avg,
    AVG(aum) AS aum_avg_12m,
    MAX(CASE WHEN month = DATE '{m_3}' THEN aum END) AS aum_3m_ago,
    MAX(CASE WHEN month = DATE '{m_last}' THEN deposits END) AS deposits,
    MAX(CASE WHEN month = DATE '{m_last}' THEN investments END) AS investments,
    MAX(CASE WHEN month = DATE '{m_last}' THEN loans END) AS loans
  FROM bal GROUP BY customer_id
),
p AS (
  SELECT customer_id, COUNT(*) AS n_products,
  {prod_cols}
  FROM accounts
  WHERE open_date <= DATE '{d}' AND (close_date IS NULL OR close_date > DATE '{d}'){mine}
  GROUP BY customer_id
),
tl AS (
  SELECT customer_id, MAX(ts) AS last_ts
  FROM transactions WHERE ts < TIMESTAMP_NTZ '{nxt} 00:00:00'{mine} GROUP BY customer_id
),
tw AS (
  SELECT customer_id,
    COUNT(CASE WHEN {ordinary} THEN 1 END) AS frequency,
    SUM(CASE WHEN {ordinary} THEN amount ELSE 0 END) AS monetary,
    COUNT(CASE WHEN {fee} THEN 1 END) AS fee_purchases,
    SUM(CASE WHEN {fee} THEN amount ELSE 0 END) AS fee_spend,
  {chan}
  FROM transactions
  WHERE ts >= TIMESTAMP_NTZ '{w0} 00:00:00' AND ts < TIMESTAMP_NTZ '{nxt} 00:00:00'{mine}
  GROUP BY customer_id
),
t AS (
  SELECT tl.customer_id, tl.last_ts, tw.frequency, tw.monetary, tw.fee_purchases, tw.fee_spend,
    {", ".join(f"tw.n_{c}" for c in CHANNELS)}
  FROM tl LEFT JOIN tw ON tw.customer_id = tl.customer_id
),
cm AS (
  SELECT customer_id,
    COUNT(CASE WHEN opened_at >= TIMESTAMP_NTZ '{d90} 00:00:00' THEN 1 END) AS complaints_90d,
    COUNT(CASE WHEN opened_at >= TIMESTAMP_NTZ '{w0} 00:00:00' THEN 1 END) AS complaints_window,
    COUNT(CASE WHEN resolved_at IS NULL OR resolved_at >= TIMESTAMP_NTZ '{nxt} 00:00:00' THEN 1 END) AS open_complaints,
    MAX(opened_at) AS last_complaint
  FROM complaints WHERE opened_at < TIMESTAMP_NTZ '{nxt} 00:00:00'{mine} GROUP BY customer_id
),
sv AS (
  SELECT customer_id, COUNT(*) AS surveys_window, AVG(csat) AS csat_mean, AVG(nps) AS nps_mean
  FROM surveys WHERE survey_date <= DATE '{d}' AND survey_date >= DATE '{w0}'{mine} GROUP BY customer_id
),
cc AS (
  SELECT customer_id, COUNT(*) AS contacts_window,
    COUNT(CASE WHEN responded THEN 1 END) AS responded_window
  FROM campaign_contacts
  WHERE contacted_at < TIMESTAMP_NTZ '{nxt} 00:00:00' AND contacted_at >= TIMESTAMP_NTZ '{w0} 00:00:00'{mine}
  GROUP BY customer_id
)
SELECT
  c.customer_id, c.customer_type, c.age, c.income, c.revenue, c.region, c.branch_id, c.credit_rating,
  c.acquisition_channel, c.acquisition_cost, c.consent_marketing, c.onboard_date,
  DATEDIFF(DATE '{d}', c.onboard_date) AS tenure_days,
  (c.closed_date IS NULL OR c.closed_date > DATE '{d}') AS is_active,
  CASE WHEN c.closed_date <= DATE '{d}' THEN c.closed_date END AS closed_date,
  b.aum, b.aum_avg, b.aum_avg_12m,
  CASE WHEN b.aum_3m_ago > 0 THEN b.aum / b.aum_3m_ago - 1 END AS aum_change_3m,
  b.deposits, b.investments, b.loans,
  {tier} AS tier,
  {counted("p.n_products", "accounts")} AS n_products, {has_sel},
  CASE WHEN t.last_ts IS NOT NULL THEN DATEDIFF(DATE '{d}', CAST(t.last_ts AS DATE)) END AS recency_days,
  {counted("t.frequency", "transactions")} AS frequency,
  {counted("t.monetary", "transactions", kind="DOUBLE")} AS monetary,
  {share},
  {"CAST(NULL AS DOUBLE)" if no_channel else "CASE WHEN t.frequency > 0 THEN (t.n_mobile + t.n_online) / t.frequency END"} AS digital_share,
  {counted("t.fee_purchases", "transactions", "txn_type")} AS fee_purchases,
  {counted("t.fee_spend", "transactions", "txn_type", kind="DOUBLE")} AS fee_spend,
  {counted("cm.complaints_90d", "complaints")} AS complaints_90d,
  {counted("cm.complaints_window", "complaints")} AS complaints_window,
  {counted("cm.open_complaints", "complaints")} AS open_complaints,
  CASE WHEN cm.last_complaint IS NOT NULL THEN DATEDIFF(DATE '{d}', CAST(cm.last_complaint AS DATE)) END AS days_since_complaint,
  {counted("sv.surveys_window", "surveys")} AS surveys_window, sv.csat_mean, sv.nps_mean,
  {counted("cc.contacts_window", "campaign_contacts")} AS contacts_window,
  {counted("cc.responded_window", "campaign_contacts")} AS responded_window
FROM base c
LEFT JOIN b ON b.customer_id = c.customer_id
LEFT JOIN p ON p.customer_id = c.customer_id
LEFT JOIN t ON t.customer_id = c.customer_id
LEFT JOIN cm ON cm.customer_id = c.customer_id
LEFT JOIN sv ON sv.customer_id = c.customer_id
LEFT JOIN cc ON cc.customer_id = c.customer_id
"""
    # Spark's DATEDIFF(end, start) is the portable spelling; SQLGlot compiles it per engine.
    return sqlglot.transpile(sql, read="spark", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)[0]


OPTIONAL_FEATURE_TABLES = ("accounts", "balances", "transactions", "complaints", "surveys", "campaign_contacts")


def _empty_tables(gone: set[str]) -> str:
    """CTEs standing in for the tables in ``gone``: no rows, the contract's columns and types."""
    from crm_lib.data.schema import SCHEMAS, sql_type

    spark = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ"}
    out = []
    for t in sorted(gone):
        cols = ", ".join(f"CAST(NULL AS {spark.get(sql_type(col), sql_type(col))}) AS {c}"
                         for c, col in SCHEMAS[t].columns.items())
        out.append(f"{t} AS (SELECT {cols} WHERE 1 = 0),\n")
    return "".join(out)


def missing_inputs(wh: Warehouse) -> dict[str, tuple[str, ...]]:
    """What the feature query reads and ``wh`` lacks: table -> ``("*",)`` or the contract columns it lacks.

    Raises ``DataContractError`` when customers are missing: without them there is no customer
    to describe.
    """
    from crm_lib.data.schema import PII_COLUMNS, SCHEMAS

    wh.need("customers")
    out: dict[str, tuple[str, ...]] = {}
    for t in ("customers",) + OPTIONAL_FEATURE_TABLES:
        if not wh.has(t):
            out[t] = ("*",)
            continue
        held = wh.held(t)
        lack = tuple(c for c in SCHEMAS[t].columns if c not in held and c not in PII_COLUMNS)
        if lack:
            out[t] = lack
    return out


def lacks(features: pd.DataFrame, table: str) -> bool:
    """Whether ``features`` was built from a source without ``table`` (``attrs["lacking"]``)."""
    return (features.attrs.get("lacking") or {}).get(table) == ("*",)


def require(features: pd.DataFrame, *tables: str, what: str = "this section") -> None:
    """Raise ``NotEstimable`` when ``features`` was built from a source without one of ``tables``.

    The feature table leaves what it computes from a missing table NULL (``attrs["lacking"]``);
    a section that reads those columns calls this first, so its page says why it is absent.
    """
    from crm_lib.errors import NotEstimable
    from crm_lib.fmt import tr

    gone = [t for t in tables if lacks(features, t)]
    if gone:
        raise NotEstimable(tr("{what} needs {tables}, which the source does not have", what=what,
                              tables=", ".join(gone)),
                           tr("add {tables} to the source, or name the file in the mapping", tables=", ".join(gone)))


def _ident(name: str) -> str:
    """The ``has_<suffix>`` suffix of a product (``crm_lib.data.sqlsafe.suffix``)."""
    return suffix(name)


def products(wh: Warehouse) -> list[str]:
    """Distinct products in the accounts table, sorted."""
    return sorted(wh.sql("SELECT DISTINCT product FROM accounts WHERE product IS NOT NULL")["product"])


def feature_table(wh: Warehouse, as_of: str | date, window_days: int = 365, aum_months: int = 3,
                  tier_thresholds: dict | None = None, key: str | None = None,
                  customers_where: str | None = None, part=None, columns=None) -> pd.DataFrame:
    """One row per customer as of ``as_of``, computed in the warehouse, identifiers pseudonymised.

    Parameters
    ----------
    wh : Warehouse
    as_of : date-like
        Nothing dated after this day is used.
    window_days : int
        Length of the behaviour window ending on ``as_of`` (RFM, channels, complaints, surveys).
    aum_months : int
        Month-ends averaged for ``aum_avg`` (and the tier).
    tier_thresholds : dict, optional
        ``{customer_type: {tier: lower bound of aum_avg}}``, strictly increasing.
    key : str, optional
        Pseudonymisation key; default from the environment (``crm_lib.data.privacy``).
    customers_where : str, optional
        Only the customers this library-written condition holds for (``feature_sql``): a model sample's.
    part : SampleNote or PseudonymRange, optional
        Only a model sample's customers, or a part of the book (``crm_lib.data.sample``); not with
        ``customers_where``. Inside ``wh.kept_results()`` a part is read from the table of everyone, computed
        once (``crm_lib.data.sample.part_query``).
    columns : sequence of str, optional
        Only these columns (``customer_id`` always first): what a caller reads of every customer, so the frame
        the driver holds is narrow (at 10M customers the whole table is ~5 GB in pandas, four columns ~1 GB).
        The values are those of the whole table's columns; a name that is not a feature is left out (logged). Not
        with ``part``.

    Returns
    -------
    DataFrame
        The columns listed in the module docstring (or ``columns``), sorted by ``customer_id``.
    """
    if window_days <= 0:
        raise DataContractError(f"window_days={window_days}: the behaviour window must be at least 1 day")
    if aum_months <= 0 or aum_months > 12:
        raise DataContractError(f"aum_months={aum_months}: must be between 1 and 12")
    if part is not None and customers_where is not None:
        raise ValueError("feature_table: customers_where= or part=, not both")
    if part is not None and columns is not None:
        raise ValueError("feature_table: columns= or part=, not both")
    lacking = missing_inputs(wh)
    key = key or pseudonym_key()
    pid = pseudonym_sql("customer_id", key)
    names = None if columns is None else ["customer_id", *(c for c in dict.fromkeys(columns) if c != "customer_id")]

    def query(where: str | None, narrow: bool = True) -> str:
        inner = feature_sql(as_of, products(wh) if wh.has("accounts") else [], window_days, aum_months,
                            tier_thresholds, lacking=lacking, customers_where=where)
        rest = "* EXCLUDE (customer_id)" if names is None or not narrow else ", ".join(ident(c) for c in names[1:])
        # Only the pseudonym leaves the warehouse; the query never selects PII columns.
        return f"SELECT {pid} AS customer_id{', ' + rest if rest else ''} FROM ({inner}) f ORDER BY 1"
    if part is None:
        q = query(customers_where)
    else:
        q = part_query(wh, lambda: query(None), part, lambda: query(part.where(key)))
    try:
        tbl = wh.arrow(q)
    except (EngineMemoryError, DataContractError) as e:
        if names is None:
            raise
        # DuckDB plans a narrow select differently from the whole row, and at 10M customers under 4 GB one such
        # plan (37 of the 57 columns) ran out of memory where the whole row's did not; and a column asked for may
        # not be a feature (a clustering feature named in the settings): the whole row, narrowed in Arrow before
        # pandas (no copy), gives the same columns, without those it lacks (the caller says what it misses).
        whole = wh.arrow(query(customers_where, narrow=False))
        absent = [c for c in names if c not in whole.column_names]
        if isinstance(e, DataContractError) and not absent:
            raise
        logger.warning("feature table as of %s: the %d-column query %s; the whole row is read and narrowed "
                       "instead", as_of, len(names), f"named {absent}, not features" if absent
                       else "ran out of engine memory")
        tbl = whole.select([c for c in names if c not in absent])
        del whole
    # Through Arrow: about twice as fast as DuckDB's own DataFrame conversion for this
    # wide result. Integer columns with nulls become nullable Int64, the rest int64.
    df = tbl.to_pandas(date_as_object=False, types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    del tbl
    for c in df.columns:
        if isinstance(df[c].dtype, pd.Int64Dtype) and not df[c].hasnans:
            df[c] = df[c].to_numpy(dtype="int64")
    df.attrs["lacking"] = lacking   # what the source lacked: the features computed from it are NULL
    logger.info("feature table as of %s: %d customers", as_of, len(df))
    return df

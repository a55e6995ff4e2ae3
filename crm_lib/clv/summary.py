"""RFM summaries from a raw transaction log: the input of every transactional CLV model.

Conventions (those of the published CDNOW analyses; Fader, Hardie & Lee 2005):

- Transactions by a customer on the same calendar day are **merged into one** (their values
  summed): the models count purchase occasions, not order lines.
- The customer's **first** purchase day is the trial; ``frequency`` (x) counts the *repeat*
  purchase days up to and including ``calibration_end``.
- ``recency`` (t_x) = (last purchase day - first purchase day) and ``T`` = (calibration_end -
  first purchase day), both in days / ``freq_days`` (7: weeks).
- ``monetary_value`` (zbar) = mean value of the repeat purchase days, the first excluded; 0
  when x = 0 (Gamma-Gamma is fitted on repeat buyers only).
- With ``observation_end``: ``holdout_frequency`` counts purchase days in
  (calibration_end, observation_end], ``holdout_duration`` is that window's length in units.

Customers whose first purchase comes after ``calibration_end`` are not in the summary.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crm_lib.clv._checks import bad_rows, need_columns
from crm_lib.errors import DataContractError

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def rfm_summary(transactions: pd.DataFrame, calibration_end, observation_end=None, customer_col: str = "customer_id",
                date_col: str = "date", value_col: str | None = "amount", freq_days: float = 7.0,
                table: str = "transactions") -> pd.DataFrame:
    """Per customer: frequency, recency, T and mean repeat spend, from a raw transaction log.

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction: ``customer_col``, ``date_col`` (date or timestamp; the time of
        day is ignored) and, optionally, ``value_col`` (currency).
    calibration_end : date-like
        Last day of the calibration period (inclusive).
    observation_end : date-like, optional
        Last day of the hold-out period (inclusive): adds the hold-out columns.
    freq_days : float
        Days per time unit (7: weeks, the CDNOW convention).

    Returns
    -------
    DataFrame indexed by ``customer_col``: ``frequency`` (repeat purchase days, count),
    ``recency`` and ``T`` (units of ``freq_days``), ``monetary_value`` (mean currency per
    repeat purchase day; 0 when frequency is 0), ``first_purchase`` (date); with
    ``observation_end`` also ``holdout_frequency`` (count), ``holdout_value`` (currency) and
    ``holdout_duration`` (units).

    Raises
    ------
    DataContractError
        A missing column, an unreadable date or value, a negative value, an observation end
        before the calibration end, or no transaction by ``calibration_end``.
    """
    need_columns(transactions, [customer_col, date_col] + ([value_col] if value_col else []), table)
    cal = pd.Timestamp(calibration_end).normalize()
    obs = pd.Timestamp(observation_end).normalize() if observation_end is not None else None
    if obs is not None and obs <= cal:
        raise ValueError(f"observation_end {obs.date()} must be after calibration_end {cal.date()}")
    d = _dates(transactions[date_col])
    bad_rows(transactions, d.isna().to_numpy(), table, date_col, "a readable date", [customer_col, date_col])
    bad_rows(transactions, transactions[customer_col].isna().to_numpy(), table, customer_col, "not null",
             [customer_col, date_col])
    day = d.dt.normalize()
    if value_col:
        v = pd.to_numeric(transactions[value_col], errors="coerce")
        bad_rows(transactions, ~np.isfinite(v.to_numpy(float)), table, value_col, "a finite amount",
                 [customer_col, date_col, value_col])
        bad_rows(transactions, (v < 0).to_numpy(), table, value_col, "amount >= 0 (refunds are not purchases; "
                 "net them out before summarising)", [customer_col, date_col, value_col])
    else:
        v = pd.Series(0.0, index=transactions.index)
    last = obs if obs is not None else cal
    keep = (day <= last).to_numpy()
    days = (pd.DataFrame({"c": transactions[customer_col].to_numpy()[keep], "day": day.to_numpy()[keep],
                          "v": v.to_numpy(float)[keep]})
            .groupby(["c", "day"], sort=True, observed=True)["v"].sum().reset_index())
    return _summarise(days, cal, obs, freq_days, customer_col, table)


def purchase_days(transactions: pd.DataFrame, end, customer_col: str = "customer_id", date_col: str = "date",
                  value_col: str | None = "amount") -> pd.DataFrame:
    """The day-merged purchase log up to ``end``: ``customer_id``, ``day`` (date), ``value``
    (currency, summed over the day), ``repeat`` (False on each customer's first day).

    The input of ``crm_lib.clv.validation.tracking`` (the cumulative repeat-purchase curve).
    """
    need_columns(transactions, [customer_col, date_col] + ([value_col] if value_col else []), "transactions")
    day = _dates(transactions[date_col]).dt.normalize()
    v = pd.to_numeric(transactions[value_col], errors="coerce") if value_col else pd.Series(0.0, index=day.index)
    keep = (day <= pd.Timestamp(end).normalize()).to_numpy()
    d = (pd.DataFrame({customer_col: transactions[customer_col].to_numpy()[keep], "day": day.to_numpy()[keep],
                       "value": v.to_numpy(float)[keep]})
         .groupby([customer_col, "day"], sort=True, observed=True)["value"].sum().reset_index())
    d["repeat"] = d.groupby(customer_col, sort=False).cumcount() > 0
    return d


def _dates(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    return pd.to_datetime(col, errors="coerce", format="mixed")


def _summarise(days: pd.DataFrame, cal, obs, freq_days, customer_col, table) -> pd.DataFrame:
    """``days``: one row per customer and purchase day (``c``, ``day``, ``v``), sorted by c, day."""
    first = days.groupby("c", sort=True)["day"].transform("min")
    days = days[first <= cal].copy()
    first = first[first <= cal]
    if days.empty:
        raise DataContractError(f"{table}: no transaction on or before the calibration end {cal.date()} "
                                "(rule 'at least one purchase in calibration')")
    days["first"] = first.to_numpy()
    incal = days["day"] <= cal
    cald = days[incal]
    g = cald.groupby("c", sort=True)
    n_days = g.size()
    last = g["day"].max()
    f0 = g["first"].first()
    tot = g["v"].sum()
    first_v = cald.loc[cald["day"] == cald["first"]].set_index("c")["v"].reindex(n_days.index)
    x = (n_days - 1).astype(int)
    rep_v = tot - first_v
    out = pd.DataFrame({
        "frequency": x,
        "recency": (last - f0).dt.days / freq_days,
        "T": (cal - f0).dt.days / freq_days,
        "monetary_value": np.where(x > 0, rep_v / x.where(x > 0, 1), 0.0),
        "first_purchase": f0})
    out.index.name = customer_col
    if obs is not None:
        h = days[~incal].groupby("c")
        out["holdout_frequency"] = h.size().reindex(out.index, fill_value=0).astype(int)
        out["holdout_value"] = h["v"].sum().reindex(out.index, fill_value=0.0)
        out["holdout_duration"] = (obs - cal).days / freq_days
    logger.info("rfm summary to %s: %d customers, %d repeat buyers", cal.date(), len(out), int((x > 0).sum()))
    return out


def data_start(wh) -> pd.Timestamp:
    """First day of the data window: the first month with balances (``churn.history_start``), or for a
    source without balances the first month with a transaction."""
    if wh.has("balances"):
        from crm_lib.churn.frame import history_start

        return history_start(wh)
    wh.need("transactions")
    v = wh.con.execute("SELECT min(CAST(ts AS DATE)) FROM transactions").fetchall()[0][0]
    if v is None:
        raise DataContractError("transactions.ts: table is empty (rule 'at least one transaction')")
    return pd.Timestamp(v).normalize().replace(day=1)


def purchases_where(wh, txn_types) -> str:
    """The SQL condition picking the card and payment purchases from ``transactions``.

    ``txn_type IN (txn_types)``; a source without ``transactions.txn_type`` tells no kinds of
    transaction apart, so every transaction is a purchase (``crm_lib.data.schema.LACKING_DEFAULTS``, named
    in the door report).
    """
    from crm_lib.data.sqlsafe import lit

    wh.need("transactions")
    if "txn_type" not in wh.held("transactions"):
        return "TRUE"
    return f"txn_type IN ({', '.join(lit(str(t)) for t in txn_types)})"


def warehouse_summary(wh, calibration_end, observation_end=None, txn_types=("fee_purchase",),
                      key: str | None = None, freq_days: float = 7.0, origin: str = "auto") -> pd.DataFrame:
    """The RFM summary of the warehouse's fee-bearing transactions, day-merged in DuckDB.

    Parameters
    ----------
    origin : {"auto", "onboarding", "first_purchase"}
        Where each customer's clock starts; ``auto`` (the default) asks ``clock_origin``.
        ``first_purchase`` is the CDNOW convention (the first purchase is the trial and is not
        counted). ``onboarding`` suits a bank, which knows its customers before they buy: the clock starts at the later of onboarding and
        the first day of data, every purchase day counts in ``frequency`` (customers with none
        are included, x = 0), ``recency`` is the last purchase day since the origin, and ``T``
        ends at the account closure when that comes before ``calibration_end`` (a closed
        customer cannot buy). The BG/NBD likelihood is the same with this origin (a customer
        alive at the origin who buys at rate lambda and drops out after each purchase with
        probability p).

    Identifiers are pseudonymised in the query (the same pseudonyms as the churn frames).
    Returns the ``rfm_summary`` columns indexed by ``customer_id`` (pseudonym), ``origin`` (date)
    and ``closed`` (bool: closed by the calibration end), ``attrs["origin"]`` the clock used; with
    ``origin="onboarding"`` ``monetary_value`` is the mean over all purchase days.
    """
    from crm_lib.data.privacy import pseudonym_key, pseudonym_sql

    if origin not in ("onboarding", "first_purchase", "auto"):
        raise ValueError(f"origin {origin!r}: use 'onboarding', 'first_purchase' or 'auto'")
    wh.need("transactions")
    key = key or pseudonym_key()
    cal = pd.Timestamp(calibration_end).normalize()
    obs = pd.Timestamp(observation_end).normalize() if observation_end is not None else None
    last = obs if obs is not None else cal
    types = list(txn_types)
    which = purchases_where(wh, types)
    if origin == "auto":
        origin = clock_origin(wh, types)
    found = wh.sql(f"SELECT COUNT(*) AS n FROM transactions WHERE {which}")["n"].iloc[0]
    if not found and which == "TRUE":
        from crm_lib.errors import NotEstimable
        from crm_lib.fmt import tr

        raise NotEstimable(tr("transactions: the table holds no transaction"), tr("load the transactions table"))
    if not found:
        raise DataContractError(f"transactions.txn_type: no row with txn_type in {types} (rule 'fee-bearing card and "
                                "payment activity exists'); set transactional.txn_types in parameters/clv.yaml")
    pid = pseudonym_sql("customer_id", key)
    days = wh.sql(f"""
      SELECT {pid} AS c, CAST(ts AS DATE) AS day, SUM(amount) AS v FROM transactions
      WHERE {which} AND CAST(ts AS DATE) <= DATE '{last.strftime('%Y-%m-%d')}'
      GROUP BY 1, 2 ORDER BY 1, 2""")
    days["day"] = pd.to_datetime(days["day"])
    bad_rows(days, (days["v"] < 0).to_numpy(), "transactions", "amount", "amount >= 0 on fee-bearing purchases",
             ["c", "day", "v"])
    if origin == "first_purchase":
        out = _summarise(days, cal, obs, freq_days, "customer_id", "transactions")
        out["origin"] = out["first_purchase"]
        closed = _closed_dates(wh, key).reindex(out.index)
        out["closed"] = (closed.notna() & (closed < cal)).to_numpy()
        out.attrs["origin"] = origin
        return out
    hs = data_start(wh).strftime("%Y-%m-%d")
    pc = pseudonym_sql("customer_id", key)
    cust = wh.sql(f"""
      SELECT {pc} AS c, greatest(CAST(onboard_date AS DATE), DATE '{hs}') AS origin,
        CAST(closed_date AS DATE) AS closed_date
      FROM customers WHERE CAST(onboard_date AS DATE) < DATE '{cal.strftime('%Y-%m-%d')}'
        AND (closed_date IS NULL OR CAST(closed_date AS DATE) > DATE '{hs}')""")
    out = _summarise_from_origin(days, cust, cal, obs, freq_days)
    out.attrs["origin"] = origin
    return out


FIRST_PURCHASE_ONBOARDING = 0.95   # share of buyers whose first purchase is on their onboarding day


def clock_origin(wh, txn_types=("fee_purchase",)) -> str:
    """``first_purchase`` when the source onboards customers at their first purchase, else ``onboarding``.

    A retailer's log (CDNOW) knows a customer only from the first purchase: the onboarding date is
    that day for every buyer, and the first purchase is the trial the clock starts at (counting it
    would put a purchase at time 0, which no purchase process produces). A bank knows its customers
    before they buy. The rule: at least ``FIRST_PURCHASE_ONBOARDING`` of the customers who bought
    made their first purchase on their onboarding day.
    """
    share = wh.con.execute(f"""
      WITH f AS (SELECT customer_id, min(CAST(ts AS DATE)) AS d FROM transactions
                 WHERE {purchases_where(wh, txn_types)} GROUP BY 1)
      SELECT avg(CASE WHEN f.d = CAST(c.onboard_date AS DATE) THEN 1.0 ELSE 0.0 END)
      FROM f JOIN customers c ON c.customer_id = f.customer_id""").fetchall()[0][0]
    origin = "first_purchase" if share is not None and share >= FIRST_PURCHASE_ONBOARDING else "onboarding"
    logger.info("clock origin %s: %.1f%% of buyers first bought on their onboarding day", origin,
                100 * (share or 0))
    return origin


def _closed_dates(wh, key: str) -> pd.Series:
    """Pseudonym -> closing date of the customers the source records as closed (empty without closed_date)."""
    from crm_lib.data.privacy import pseudonym_sql

    if "closed_date" not in wh.held("customers"):
        return pd.Series(dtype="datetime64[ns]")
    c = wh.sql(f"SELECT {pseudonym_sql('customer_id', key)} AS c, CAST(closed_date AS DATE) AS d FROM customers "
               "WHERE closed_date IS NOT NULL")
    return pd.to_datetime(c.set_index("c")["d"])


def _summarise_from_origin(days, cust, cal, obs, freq_days) -> pd.DataFrame:
    cust = cust.set_index("c")
    origin = pd.to_datetime(cust["origin"])
    closed = pd.to_datetime(cust["closed_date"])
    stop = closed.where(closed.notna() & (closed < cal), cal)
    d = days[days["c"].isin(cust.index)]
    incal = d["day"] <= cal
    g = d[incal].groupby("c")
    x = g.size().reindex(cust.index, fill_value=0).astype(int)
    lastd = g["day"].max().reindex(cust.index)
    tot = g["v"].sum().reindex(cust.index, fill_value=0.0)
    out = pd.DataFrame({
        "frequency": x,
        "recency": np.where(x > 0, (lastd - origin).dt.days / freq_days, 0.0),
        "T": (stop - origin).dt.days / freq_days,
        "monetary_value": np.where(x > 0, tot / x.where(x > 0, 1), 0.0),
        "origin": origin, "closed": (closed.notna() & (closed < cal)).to_numpy()})
    out = out[out["T"] > 0]
    out.index.name = "customer_id"
    if obs is not None:
        h = d[~incal].groupby("c")
        out["holdout_frequency"] = h.size().reindex(out.index, fill_value=0).astype(int)
        out["holdout_value"] = h["v"].sum().reindex(out.index, fill_value=0.0)
        out["holdout_duration"] = (obs - cal).days / freq_days
    logger.info("rfm summary from onboarding to %s: %d customers, %d buyers", cal.date(), len(out),
                int((out["frequency"] > 0).sum()))
    return out


def warehouse_purchase_days(wh, start, end, txn_types=("fee_purchase",), key: str | None = None,
                            origin: str = "auto") -> pd.DataFrame:
    """Day-merged fee-bearing purchases in ``[start, end]``: ``customer_id`` (pseudonym), ``day``, ``value``, ``repeat``
    (with a clock started at onboarding every purchase counts; started at the first purchase, every later
    one; ``origin`` as in ``warehouse_summary``). The input of ``validation.tracking``."""
    from crm_lib.data.privacy import pseudonym_key, pseudonym_sql

    key = key or pseudonym_key()
    pid = pseudonym_sql("customer_id", key)
    d = wh.sql(f"""
      SELECT {pid} AS customer_id, CAST(ts AS DATE) AS day, SUM(amount) AS value FROM transactions
      WHERE {purchases_where(wh, txn_types)} AND CAST(ts AS DATE) BETWEEN DATE '{pd.Timestamp(start):%Y-%m-%d}'
        AND DATE '{pd.Timestamp(end):%Y-%m-%d}'
      GROUP BY 1, 2 ORDER BY 1, 2""")
    d["day"] = pd.to_datetime(d["day"])
    if (clock_origin(wh, txn_types) if origin == "auto" else origin) == "first_purchase":
        d["repeat"] = d["day"] > d.groupby("customer_id")["day"].transform("min")
    else:
        d["repeat"] = True
    return d

"""The feature-table baseline in plain pandas: read Parquet, filter, group by customer.

This is the yardstick for ``crm_lib.features.feature_table`` (which runs in DuckDB).
It reads the bank's Parquet tables with pyarrow (only the columns it needs, rows after
the as-of date filtered out while reading, string keys dictionary-encoded so pandas
holds them as categoricals rather than tens of millions of Python strings) and then
computes the columns below with ordinary pandas group-bys. The definitions mirror
``crm_lib.features.feature_sql`` as of commit 562b8a0 (same windows, same calendar
month-ends for balances, same ``<= as_of`` / ``< as_of + 1 day`` cut-offs, same coalescing
of counts to 0); ``benchmarks/run.py`` checks the two agree on the 50k bank and records
the largest differences, so a later change to the SQL shows up there.

Columns: exactly those of ``crm_lib.features.feature_table``, in the same order, with
the same dtypes: the static customer attributes, ``has_<product>`` flags, ``aum_change_3m``,
and ``customer_id`` pseudonymised with the library's Python pseudonymiser
(``crm_lib.data.privacy.pseudonymise_ids``, the twin of the SQL one) and sorted by it, so
both sides do the same work. ``benchmarks/run.py`` checks the two tables are equal.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from crm_lib.data.personas import TIER_THRESHOLDS
from crm_lib.data.privacy import pseudonymise_ids
from crm_lib.features import _ident

CHANNELS = ("branch", "mobile", "online", "atm", "phone")
CUSTOMER_COLUMNS = ["customer_id", "customer_type", "age", "income", "revenue", "region", "branch_id",
                    "credit_rating", "acquisition_channel", "acquisition_cost", "consent_marketing",
                    "onboard_date", "closed_date"]


def _read(bank: Path, table: str, columns: list[str], filters=None, dictionary=()) -> pd.DataFrame:
    t = pq.read_table(bank / "parquet" / table, columns=columns, filters=filters,
                      read_dictionary=list(dictionary) or None)
    return t.to_pandas()


def read_tables(bank: str | Path, as_of: str) -> dict[str, pd.DataFrame]:
    """The rows and columns the features need, as pandas frames (nothing after ``as_of``)."""
    bank = Path(bank)
    d = pd.Timestamp(as_of).normalize()
    nxt = d + pd.Timedelta(days=1)
    m_last, _, m_12 = _month_ends(d, 3)
    key = ("customer_id",)
    products = pq.read_table(bank / "parquet" / "accounts", columns=["product"], read_dictionary=["product"])
    return {
        "products": sorted(products.column(0).to_pandas().dropna().astype(str).unique()),
        "customers": _read(bank, "customers", CUSTOMER_COLUMNS, [("onboard_date", "<=", d)]),
        "balances": _read(bank, "balances", ["customer_id", "month", "deposits", "investments", "loans"],
                          [("month", "<=", m_last), ("month", ">", m_12)], key),
        "accounts": _read(bank, "accounts", ["customer_id", "product", "open_date", "close_date"],
                          [("open_date", "<=", d)], key + ("product",)),
        "transactions": _read(bank, "transactions", ["customer_id", "ts", "amount", "channel", "txn_type"],
                              [("ts", "<", nxt)], key + ("channel", "txn_type")),
        "complaints": _read(bank, "complaints", ["customer_id", "opened_at", "resolved_at"],
                            [("opened_at", "<", nxt)], key),
        "surveys": _read(bank, "surveys", ["customer_id", "survey_date", "csat", "nps"],
                         [("survey_date", "<=", d)], key),
        "campaign_contacts": _read(bank, "campaign_contacts", ["customer_id", "contacted_at", "responded"],
                                   [("contacted_at", "<", nxt)], key),
    }


def _pos(ids: pd.Series, index: pd.Index) -> np.ndarray:
    """Position of each row's customer in ``index`` (-1 when not a base customer)."""
    cat = ids.astype("category") if not isinstance(ids.dtype, pd.CategoricalDtype) else ids
    codes = cat.cat.codes.to_numpy()
    lookup = index.get_indexer(cat.cat.categories)
    return np.where(codes >= 0, lookup[codes], -1)


def _month_ends(d: pd.Timestamp, aum_months: int) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """The last month-end on or before ``d``, and the month-ends ``aum_months`` and 12 before it."""
    last = d + pd.offsets.MonthEnd(0)
    last = last if last == d else last - pd.offsets.MonthEnd(1)
    return last, last - pd.offsets.MonthEnd(int(aum_months)), last - pd.offsets.MonthEnd(12)


def _days(d: pd.Timestamp, ts: pd.Series) -> pd.Series:
    """Whole days from the calendar date of ``ts`` to ``d`` (DuckDB's DATEDIFF('day'))."""
    return (d - ts.dt.normalize()).dt.days


def tiers(customer_type: pd.Series, aum_avg: pd.Series) -> pd.Series:
    """Value tier by ``TIER_THRESHOLDS`` on the average AUM (no balance counts as 0)."""
    tier = pd.Series(None, index=customer_type.index, dtype=object)
    aum_avg = aum_avg.fillna(0.0)
    for ctype, bounds in TIER_THRESHOLDS.items():
        for name, lo in sorted(bounds.items(), key=lambda kv: -kv[1]):
            tier = tier.where(tier.notna() | ~((customer_type == ctype) & (aum_avg >= lo)), name)
    return tier


def compute(tables: dict[str, pd.DataFrame], as_of: str, key: str, window_days: int = 365,
            aum_months: int = 3) -> pd.DataFrame:
    """The feature columns (module docstring) for every customer onboarded by ``as_of``."""
    d = pd.Timestamp(as_of).normalize()
    nxt = d + pd.Timedelta(days=1)
    w0 = d - pd.Timedelta(days=window_days - 1)
    d90 = d - pd.Timedelta(days=89)

    c = tables["customers"]
    c = c[c["onboard_date"] <= d].reset_index(drop=True)
    idx = pd.Index(c["customer_id"])
    out = c[CUSTOMER_COLUMNS[:-1]].copy()
    out["tenure_days"] = (d - c["onboard_date"]).dt.days
    out["is_active"] = c["closed_date"].isna() | (c["closed_date"] > d)
    out["closed_date"] = c["closed_date"].where(c["closed_date"] <= d)

    def put(series: pd.Series, name: str, fill=None) -> None:
        s = series[series.index >= 0].reindex(np.arange(len(out)))
        out[name] = s.fillna(fill).to_numpy() if fill is not None else s.to_numpy()

    # balances: the last month-end on or before the date, means over the months before ---
    m_last, m_avg, m_12 = _month_ends(d, aum_months)
    m_3 = m_last - pd.offsets.MonthEnd(3)
    b = tables["balances"]
    b = b[(b["month"] <= m_last) & (b["month"] > m_12)]
    b = pd.DataFrame({"pos": _pos(b["customer_id"], idx), "month": b["month"].to_numpy(),
                      "aum": (b["deposits"] + b["investments"]).to_numpy(), "deposits": b["deposits"].to_numpy(),
                      "investments": b["investments"].to_numpy(), "loans": b["loans"].to_numpy()})
    last = b[b["month"] == m_last].groupby("pos")
    for col in ("aum", "deposits", "investments", "loans"):
        put(last[col].max(), col)
    put(b[b["month"] > m_avg].groupby("pos")["aum"].mean(), "aum_avg")
    put(b.groupby("pos")["aum"].mean(), "aum_avg_12m")
    put(b[b["month"] == m_3].groupby("pos")["aum"].max(), "aum_3m_ago")
    ago = out.pop("aum_3m_ago")
    out["aum_change_3m"] = (out["aum"] / ago - 1).where(ago > 0)
    for col in ("deposits", "investments", "loans"):
        out[col] = out.pop(col)
    out["tier"] = tiers(out["customer_type"], out["aum_avg"])

    # accounts open on the as-of date ------------------------------------------------
    a = tables["accounts"]
    a = a[(a["open_date"] <= d) & (a["close_date"].isna() | (a["close_date"] > d))]
    apos = _pos(a["customer_id"], idx)
    put(pd.Series(apos).value_counts(), "n_products", 0)
    held = (pd.DataFrame({"pos": apos, "product": a["product"].to_numpy()})
            .groupby(["pos", "product"], observed=True).size().unstack(fill_value=0).clip(upper=1))
    products = tables["products"]
    for prod in products:
        put(held[prod] if prod in held else pd.Series(dtype="int32"), f"has_{_ident(prod)}", 0)
        out[f"has_{_ident(prod)}"] = out[f"has_{_ident(prod)}"].astype("int32")

    # transactions: recency over all history, the rest over the window ----------------
    t = tables["transactions"]
    tpos = _pos(t["customer_id"], idx)
    put(pd.Series(t["ts"].to_numpy()).groupby(tpos).max(), "last_ts")
    inw = (t["ts"] >= w0).to_numpy()
    fee = (t["txn_type"] == "fee_purchase").to_numpy()
    chan = t["channel"].astype("category")
    w = pd.DataFrame({"pos": tpos[inw & ~fee], "amount": t["amount"].to_numpy()[inw & ~fee],
                      "channel": pd.Categorical.from_codes(chan.cat.codes.to_numpy()[inw & ~fee],
                                                           chan.cat.categories)})
    g = w.groupby("pos")["amount"].agg(["size", "sum"])
    put(g["size"], "frequency", 0)
    put(g["sum"], "monetary", 0.0)
    f = pd.DataFrame({"pos": tpos[inw & fee], "amount": t["amount"].to_numpy()[inw & fee]})
    gf = f.groupby("pos")["amount"].agg(["size", "sum"])
    put(gf["size"], "fee_purchases", 0)
    put(gf["sum"], "fee_spend", 0.0)
    byc = w.groupby(["pos", "channel"], observed=True).size().unstack(fill_value=0)
    freq = out["frequency"].where(out["frequency"] > 0)
    for ch in CHANNELS:
        put(byc[ch] if ch in byc else pd.Series(dtype=float), f"n_{ch}", 0)
        out[f"share_{ch}"] = out.pop(f"n_{ch}") / freq
    out["digital_share"] = out["share_mobile"] + out["share_online"]
    out["recency_days"] = _days(d, pd.to_datetime(out.pop("last_ts")))

    # complaints --------------------------------------------------------------------
    cm = tables["complaints"]
    cm = cm[cm["opened_at"] < nxt]
    cpos = _pos(cm["customer_id"], idx)
    cg = pd.DataFrame({"pos": cpos, "in90": cm["opened_at"].to_numpy() >= d90,
                       "inw": cm["opened_at"].to_numpy() >= w0,
                       "open": (cm["resolved_at"].isna() | (cm["resolved_at"] >= nxt)).to_numpy(),
                       "opened_at": cm["opened_at"].to_numpy()}).groupby("pos")
    put(cg["in90"].sum(), "complaints_90d", 0)
    put(cg["inw"].sum(), "complaints_window", 0)
    put(cg["open"].sum(), "open_complaints", 0)
    put(cg["opened_at"].max(), "last_complaint")
    out["days_since_complaint"] = _days(d, pd.to_datetime(out.pop("last_complaint")))

    # surveys in the window ---------------------------------------------------------------
    s = tables["surveys"]
    s = s[(s["survey_date"] <= d) & (s["survey_date"] >= w0)]
    sg = pd.DataFrame({"pos": _pos(s["customer_id"], idx), "csat": s["csat"].to_numpy(),
                       "nps": s["nps"].to_numpy()}).groupby("pos")
    put(sg.size(), "surveys_window", 0)
    put(sg["csat"].mean(), "csat_mean")
    put(sg["nps"].mean(), "nps_mean")

    # campaign contacts in the window -----------------------------------------------------
    k = tables["campaign_contacts"]
    k = k[(k["contacted_at"] < nxt) & (k["contacted_at"] >= w0)]
    kg = pd.DataFrame({"pos": _pos(k["customer_id"], idx), "responded": k["responded"].to_numpy()}).groupby("pos")
    put(kg.size(), "contacts_window", 0)
    put(kg["responded"].sum(), "responded_window", 0)
    return finish(out, tables["products"], key)


def finish(out: pd.DataFrame, products: list[str], key: str) -> pd.DataFrame:
    """Dtypes and column order of ``feature_table``; pseudonymise and sort by the pseudonym."""
    for col in ("n_products", "frequency", "fee_purchases", "complaints_90d", "complaints_window",
                "open_complaints", "surveys_window", "contacts_window", "responded_window"):
        out[col] = out[col].astype("int64")
    for col in ("age", "recency_days", "days_since_complaint"):
        out[col] = out[col].astype("Int64")
    for col in ("onboard_date", "closed_date"):
        out[col] = out[col].astype("datetime64[us]")
    has = [f"has_{_ident(p)}" for p in products]
    order = (CUSTOMER_COLUMNS[:-1] + ["tenure_days", "is_active", "closed_date", "aum", "aum_avg", "aum_avg_12m",
             "aum_change_3m", "deposits", "investments", "loans", "tier", "n_products"] + has
             + ["recency_days", "frequency", "monetary"] + [f"share_{ch}" for ch in CHANNELS]
             + ["digital_share", "fee_purchases", "fee_spend", "complaints_90d", "complaints_window",
                "open_complaints", "days_since_complaint", "surveys_window", "csat_mean", "nps_mean",
                "contacts_window", "responded_window"])
    out = out[order].copy()
    # pseudonymise with the library's Python twin of the SQL pseudonym, then sort by it
    out["customer_id"] = pseudonymise_ids(out["customer_id"], key)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def pandas_features(bank: str | Path, as_of: str, key: str, window_days: int = 365,
                    aum_months: int = 3) -> tuple[pd.DataFrame, dict]:
    """Read and compute; returns the frame and ``{"read_seconds", "compute_seconds"}``."""
    t0 = time.perf_counter()
    tables = read_tables(bank, as_of)
    t1 = time.perf_counter()
    df = compute(tables, as_of, key, window_days, aum_months)
    t2 = time.perf_counter()
    rows_read = int(sum(len(v) for v in tables.values() if isinstance(v, pd.DataFrame)))
    return df, {"read_seconds": round(t1 - t0, 3), "compute_seconds": round(t2 - t1, 3), "rows_read": rows_read}

"""The feature table in plain pandas, written the obvious way: the baseline the issue names.

``pd.read_parquet`` (only the needed columns, rows after the as-of date filtered while
reading), then ``groupby("customer_id")`` with named aggregations and joins on the
customer key, exactly as a data scientist would write it first. Same 57 columns, dtypes,
pseudonyms and row order as ``crm_lib.features.feature_table`` (``benchmarks/run.py``
checks the tables are equal).

``benchmarks/pandas_features.py`` is the *tuned* pandas baseline: dictionary-encoded
keys and group-bys on integer positions. Both are reported; the tuned one is the harder
yardstick.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from crm_lib.features import _ident
from pandas_features import CHANNELS, CUSTOMER_COLUMNS, _days, _month_ends, finish, tiers


def _read(bank: Path, table: str, columns: list[str], filters=None) -> pd.DataFrame:
    return pd.read_parquet(bank / "parquet" / table, columns=columns, filters=filters)


def plain_features(bank: str | Path, as_of: str, key: str, window_days: int = 365,
                   aum_months: int = 3) -> tuple[pd.DataFrame, dict]:
    """Read and compute; returns the frame and ``{"read_seconds", "compute_seconds"}``."""
    bank = Path(bank)
    t0 = time.perf_counter()
    d = pd.Timestamp(as_of).normalize()
    nxt = d + pd.Timedelta(days=1)
    w0 = d - pd.Timedelta(days=window_days - 1)
    d90 = d - pd.Timedelta(days=89)
    m_last, m_avg, m_12 = _month_ends(d, aum_months)
    m_3 = m_last - pd.offsets.MonthEnd(3)
    c = _read(bank, "customers", CUSTOMER_COLUMNS, [("onboard_date", "<=", d)])
    b = _read(bank, "balances", ["customer_id", "month", "deposits", "investments", "loans"],
              [("month", "<=", m_last), ("month", ">", m_12)])
    a = _read(bank, "accounts", ["customer_id", "product", "open_date", "close_date"])
    t = _read(bank, "transactions", ["customer_id", "ts", "amount", "channel", "txn_type"], [("ts", "<", nxt)])
    cm = _read(bank, "complaints", ["customer_id", "opened_at", "resolved_at"], [("opened_at", "<", nxt)])
    s = _read(bank, "surveys", ["customer_id", "survey_date", "csat", "nps"],
              [("survey_date", "<=", d), ("survey_date", ">=", w0)])
    k = _read(bank, "campaign_contacts", ["customer_id", "contacted_at", "responded"],
              [("contacted_at", "<", nxt), ("contacted_at", ">=", w0)])
    t1 = time.perf_counter()

    out = c.set_index("customer_id")
    out["tenure_days"] = (d - out["onboard_date"]).dt.days
    out["is_active"] = out["closed_date"].isna() | (out["closed_date"] > d)
    out["closed_date"] = out["closed_date"].where(out["closed_date"] <= d)

    # balances
    b["aum"] = b["deposits"] + b["investments"]
    last = b[b["month"] == m_last].groupby("customer_id")[["aum", "deposits", "investments", "loans"]].max()
    bal = last.join(b[b["month"] > m_avg].groupby("customer_id")["aum"].mean().rename("aum_avg"), how="outer")
    bal = bal.join(b.groupby("customer_id")["aum"].mean().rename("aum_avg_12m"), how="outer")
    bal = bal.join(b[b["month"] == m_3].groupby("customer_id")["aum"].max().rename("aum_3m_ago"), how="outer")
    bal["aum_change_3m"] = (bal["aum"] / bal["aum_3m_ago"] - 1).where(bal["aum_3m_ago"] > 0)
    out = out.join(bal.drop(columns="aum_3m_ago"))
    out["tier"] = tiers(out["customer_type"], out["aum_avg"])

    # accounts open on the date
    products = sorted(a["product"].dropna().unique())
    a = a[(a["open_date"] <= d) & (a["close_date"].isna() | (a["close_date"] > d))]
    out["n_products"] = a.groupby("customer_id").size()
    held = (a.groupby(["customer_id", "product"]).size().unstack(fill_value=0) > 0)
    held = held.reindex(columns=products, fill_value=False).astype("int32")
    held.columns = has = [f"has_{_ident(p)}" for p in products]
    out = out.join(held)

    # transactions
    out["last_ts"] = t.groupby("customer_id")["ts"].max()
    w = t[t["ts"] >= w0]
    fee = w["txn_type"] == "fee_purchase"
    g = w[~fee].groupby("customer_id")["amount"].agg(frequency="size", monetary="sum")
    gf = w[fee].groupby("customer_id")["amount"].agg(fee_purchases="size", fee_spend="sum")
    byc = w[~fee].groupby(["customer_id", "channel"]).size().unstack(fill_value=0)
    out = out.join(g).join(gf)
    freq = out["frequency"].where(out["frequency"] > 0)
    for ch in CHANNELS:
        n = byc[ch] if ch in byc else pd.Series(0, index=byc.index)
        out[f"share_{ch}"] = n.reindex(out.index).fillna(0) / freq
    out["digital_share"] = out["share_mobile"] + out["share_online"]
    out["recency_days"] = _days(d, out.pop("last_ts"))

    # complaints, surveys, campaign contacts
    cm["in90"] = cm["opened_at"] >= d90
    cm["inw"] = cm["opened_at"] >= w0
    cm["open"] = cm["resolved_at"].isna() | (cm["resolved_at"] >= nxt)
    out = out.join(cm.groupby("customer_id").agg(complaints_90d=("in90", "sum"), complaints_window=("inw", "sum"),
                                                 open_complaints=("open", "sum"), last_complaint=("opened_at", "max")))
    out["days_since_complaint"] = _days(d, out.pop("last_complaint"))
    out = out.join(s.groupby("customer_id").agg(surveys_window=("csat", "size"), csat_mean=("csat", "mean"),
                                                nps_mean=("nps", "mean")))
    out = out.join(k.groupby("customer_id").agg(contacts_window=("responded", "size"),
                                                responded_window=("responded", "sum")))
    zero = ["n_products", "frequency", "monetary", "fee_purchases", "fee_spend", "complaints_90d",
            "complaints_window", "open_complaints", "surveys_window", "contacts_window", "responded_window"]
    out[zero] = out[zero].fillna(0)
    out[has] = out[has].fillna(0).astype("int32")
    df = finish(out.reset_index(), products, key)
    t2 = time.perf_counter()
    return df, {"read_seconds": round(t1 - t0, 3), "compute_seconds": round(t2 - t1, 3),
                "rows_read": int(sum(len(x) for x in (c, b, a, t, cm, s, k)))}

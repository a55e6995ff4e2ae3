"""The customer-information quality scorecard recovers defects planted in a copy of the tiny bank.

Each defect is planted on rows chosen with a seeded RNG, in counts we know, so the scorecard
must report exactly the planted count (and rate) on top of what the clean copy already shows:
blanked fields (NULL and blank text), a branch whose income field was blanked, orphan
transactions, duplicated account rows, a code outside the contract, closures dated before
onboarding, and a complaints table whose last 120 days never arrived.
"""

from __future__ import annotations

import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest

from crm_lib.data import quality
from crm_lib.data.store import open_source

SEED = 15
STALE_DAYS = 120


@pytest.fixture(scope="module")
def clean(tiny_bank):
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        return quality.scorecard(wh)


@pytest.fixture(scope="module")
def planted(tiny_bank, tmp_path_factory):
    """A copy of the tiny bank with defects planted; returns (scorecard, what was planted)."""
    path = tmp_path_factory.mktemp("quality") / "warehouse.duckdb"
    shutil.copy(tiny_bank / "warehouse.duckdb", path)
    rng = np.random.default_rng(SEED)
    con = duckdb.connect(str(path))
    cust = con.execute("SELECT customer_id, branch_id, income, closed_date FROM customers ORDER BY customer_id").df()
    n = len(cust)
    p = {"n_customers": n}
    # 1. income blanked for 12 of the customers of one branch who had it
    branch = cust.groupby("branch_id")["income"].count().idxmax()
    had = cust.loc[(cust["branch_id"] == branch) & cust["income"].notna(), "customer_id"].to_numpy()
    p["branch"], p["income_blanked"] = branch, rng.choice(had, 12, replace=False).tolist()
    con.execute("UPDATE customers SET income = NULL WHERE list_contains(?, customer_id)", [p["income_blanked"]])
    # 2. branch_id blanked for 7% of customers outside that branch: 5 as blank text, the rest NULL
    others = cust.loc[cust["branch_id"] != branch, "customer_id"].to_numpy()
    blank = rng.choice(others, round(0.07 * n), replace=False).tolist()
    p["branch_blanked"] = len(blank)
    con.execute("UPDATE customers SET branch_id = NULL WHERE list_contains(?, customer_id)", [blank[5:]])
    con.execute("UPDATE customers SET branch_id = '  ' WHERE list_contains(?, customer_id)", [blank[:5]])
    # 3. closures dated 30 days before onboarding for 1% of customers who closed
    closed = cust.loc[cust["closed_date"].notna(), "customer_id"].to_numpy()
    back = rng.choice(closed, round(0.01 * n), replace=False).tolist()
    p["closed_before_onboard"] = len(back)
    con.execute("UPDATE customers SET closed_date = onboard_date - INTERVAL 30 DAY WHERE list_contains(?, customer_id)",
                [back])
    # 4. 3% of transactions point at customers that do not exist; 5. 1.5% carry channel 'fax'
    txn = con.execute("SELECT txn_id FROM transactions ORDER BY txn_id").df()["txn_id"].to_numpy()
    p["n_transactions"] = len(txn)
    pick = rng.permutation(len(txn))
    orphan = txn[pick[:round(0.03 * len(txn))]].tolist()
    fax = txn[pick[len(orphan):len(orphan) + round(0.015 * len(txn))]].tolist()
    p["orphans"], p["fax"] = len(orphan), len(fax)
    con.execute("UPDATE transactions SET customer_id = 'GHOST-' || txn_id WHERE list_contains(?, txn_id)", [orphan])
    con.execute("UPDATE transactions SET channel = 'fax' WHERE list_contains(?, txn_id)", [fax])
    # 6. 2% of account rows duplicated
    acc = con.execute("SELECT account_id FROM accounts ORDER BY account_id").df()["account_id"].to_numpy()
    dup = rng.choice(acc, round(0.02 * len(acc)), replace=False).tolist()
    p["n_accounts"], p["duplicates"] = len(acc) + len(dup), len(dup)
    con.execute("INSERT INTO accounts SELECT * FROM accounts WHERE list_contains(?, account_id)", [dup])
    # 7. complaints stop 120 days before the data's end
    end = con.execute("SELECT max(ts) FROM transactions").fetchall()[0][0]
    con.execute("DELETE FROM complaints WHERE opened_at > ?", [pd.Timestamp(end) - pd.Timedelta(days=STALE_DAYS)])
    p["complaints_latest"] = pd.Timestamp(con.execute(
        "SELECT greatest(max(opened_at), max(resolved_at)) FROM complaints").fetchall()[0][0])
    p["end"] = pd.Timestamp(end)
    con.close()
    with open_source(path) as wh:
        return quality.scorecard(wh), p


def row(frame: pd.DataFrame, **where) -> pd.Series:
    hit = frame
    for k, v in where.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, (where, hit)
    return hit.iloc[0]


def test_clean_bank_is_complete_valid_unique_and_consistent(clean):
    s = clean.summary().set_index("dimension")["score"]
    # the synthetic bank is generated to the contract: nothing invalid, duplicated or orphaned
    assert s["completeness"] == 1.0 and s["validity"] == 1.0
    assert s["uniqueness"] == 1.0 and s["consistency"] == 1.0
    assert not clean.freshness.set_index("table").loc[list(quality.CONTINUOUS_TABLES), "stale"].any()


def test_blanked_branch_ids_recovered_at_the_planted_rate(clean, planted):
    card, p = planted
    before = row(clean.completeness, table="customers", column="branch_id")
    got = row(card.completeness, table="customers", column="branch_id")
    assert before["filled"] == p["n_customers"]
    # blank text ('  ') counts as missing, like NULL
    assert got["filled"] == p["n_customers"] - p["branch_blanked"]
    assert got["completeness"] == pytest.approx(1 - 0.07, abs=0.5 / p["n_customers"])  # 7% of 2,000 rounds to 140
    assert row(card.by_branch, branch="(none)", column="age")["customers"] == p["branch_blanked"]


def test_branch_breakdown_finds_the_branch_whose_income_was_blanked(clean, planted):
    card, p = planted
    before = clean.by_branch[clean.by_branch["column"] == "income"].set_index("branch")
    after = card.by_branch[card.by_branch["column"] == "income"].set_index("branch")
    assert after.loc[p["branch"], "filled"] == before.loc[p["branch"], "filled"] - len(p["income_blanked"])
    assert after.loc[p["branch"], "customers"] == before.loc[p["branch"], "customers"]
    drop = (before["completeness"] - after["completeness"]).drop("(none)", errors="ignore").dropna()
    assert drop.idxmax() == p["branch"]
    # other branches only lost customers to '(none)', never income among those that stayed
    others = [b for b in after.index if b not in (p["branch"], "(none)")]
    assert (after.loc[others, "filled"] <= before.loc[others, "filled"]).all()


def test_orphans_and_out_of_order_dates_recovered_exactly(planted):
    card, p = planted
    orphans = row(card.consistency, table="transactions", rule="exists in customers.customer_id")
    assert orphans["broken"] == p["orphans"]
    assert orphans["broken"] / orphans["rows"] == pytest.approx(0.03, abs=0.5 / p["n_transactions"])
    order = row(card.consistency, table="customers", rule="closed_date >= onboard_date")
    assert order["broken"] == p["closed_before_onboard"] == 20


def test_duplicate_keys_and_invalid_codes_recovered_exactly(planted):
    card, p = planted
    u = row(card.uniqueness, table="accounts")
    assert (u["rows"], u["duplicates"]) == (p["n_accounts"], p["duplicates"])
    v = row(card.validity, table="transactions", column="channel")
    assert v["invalid"] == p["fax"]
    assert v["validity"] == pytest.approx(1 - 0.015, abs=0.5 / p["n_transactions"])


def test_stale_table_recovered_with_its_lag(clean, planted):
    card, p = planted
    f = card.freshness.set_index("table")
    assert f.loc["complaints", "latest"] == p["complaints_latest"]
    assert f.loc["complaints", "days_behind"] == (p["end"].normalize() - p["complaints_latest"].normalize()).days
    # a complaint opened before the cut may be resolved after it: the lag is at most the 120 days planted
    assert STALE_DAYS - 7 <= f.loc["complaints", "days_behind"] <= STALE_DAYS and f.loc["complaints", "stale"]
    assert not clean.freshness.set_index("table").loc["complaints", "stale"]
    assert card.summary().set_index("dimension").loc["timeliness", "score"] < 1


def test_trend_shows_the_quarter_whose_ages_were_blanked(tiny_bank, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(tiny_bank / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    q = pd.Timestamp("2024-04-01")
    k = con.execute("SELECT count(age) FROM customers WHERE date_trunc('quarter', onboard_date) = ?", [q]).fetchall()[0][0]
    con.execute("UPDATE customers SET age = NULL WHERE date_trunc('quarter', onboard_date) = ?", [q])
    con.close()
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        before = quality.trend(wh).query("table == 'customers'").set_index("period")
    with open_source(path) as wh:
        after = quality.trend(wh).query("table == 'customers'").set_index("period")
    assert k > 0
    assert before.loc[q, "filled"] - after.loc[q, "filled"] == k
    assert (before.drop(q)["filled"] == after.drop(q)["filled"]).all()


def test_one_scan_per_table_gives_completeness_and_trend(tiny_bank, tmp_path):
    """The card reads each dated table once for completeness and trend (at 10M customers the two scans of 455M
    transactions took minutes each). Rows whose main date is missing count in completeness but in no period of
    the trend; both agree with plain counts."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(tiny_bank / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE transactions SET ts = NULL, channel = NULL WHERE txn_id IN "
                "(SELECT txn_id FROM transactions ORDER BY txn_id LIMIT 40)")
    n, ts, channel = con.execute("SELECT count(*), count(ts), count(channel) FROM transactions").fetchall()[0]
    con.close()
    with open_source(path) as wh:
        card = quality.scorecard(wh)
        alone = quality.completeness(wh), quality.trend(wh)
    pd.testing.assert_frame_equal(card.completeness, alone[0])
    pd.testing.assert_frame_equal(card.trend, alone[1])
    tx = card.completeness.query("table == 'transactions'").set_index("column")
    assert (tx["rows"] == n).all() and (tx.loc["ts", "filled"], tx.loc["channel", "filled"]) == (ts, channel)
    tr = card.trend.query("table == 'transactions'")
    assert tr["rows"].sum() == n - 40 and tr["period"].notna().all() and tr["period"].is_monotonic_increasing


def test_unused_personal_fields_lists_pii_and_columns_outside_the_contract(clean, tmp_path):
    assert set(clean.unused_personal_fields["column"]) == {"full_name", "phone", "email", "national_id"}
    src = tmp_path / "src"
    src.mkdir()
    pd.DataFrame({"ID": ["1", "2", "3"], "Gender": ["Male", "Female", None], "Ethnicity": ["Asian", None, None],
                  "Age": [34, 82, 71]}).to_csv(src / "customers.csv", index=False)
    (tmp_path / "m.yaml").write_text("tables:\n  customers:\n    columns: {customer_id: ID, age: Age}\n")
    with open_source(src, mapping=tmp_path / "m.yaml") as wh:
        got = quality.unused_personal_fields(wh).set_index("column")
    assert got["filled"].to_dict() == {"Gender": 2, "Ethnicity": 1}
    assert (got["reason"] == "not in the customers contract: no analysis reads it").all()


def test_values_reach_sql_as_parameters_not_text(tmp_path):
    # a code holding a quote is counted invalid, not a SQL error (codes are bound, never pasted)
    src = tmp_path / "src"
    src.mkdir()
    pd.DataFrame({"txn_id": ["t1", "t2", "t3"], "customer_id": ["c1"] * 3,
                  "ts": ["2026-01-01"] * 3, "amount": [1.0, 2.0, 3.0],
                  "channel": ["atm", "x' OR TRUE OR 'y", "branch"], "txn_type": ["pay"] * 3}
                 ).to_csv(src / "transactions.csv", index=False)
    with open_source(src) as wh:
        v = row(quality.validity(wh), table="transactions", column="channel")
    assert (v["checked"], v["invalid"]) == (3, 1)


def test_facts_carry_the_planted_scores_and_name_the_weakest_place(planted):
    from crm_lib.reporting.facts import FactBook

    card, p = planted
    book = FactBook("00_data_overview", "2026Q3")
    quality.record_facts(book, card)
    s = card.summary().set_index("dimension")["score"]
    for dim in quality.DIMENSIONS:
        f = book.facts[f"data_quality_{dim}"]
        assert f.value == pytest.approx(s[dim], rel=1e-12) and f.unit == "proportion"
    assert s["uniqueness"] < 1 and s["consistency"] < 1 and s["validity"] < 1
    assert book.facts["data_quality_validity"].tags["weakest"].startswith("transactions.channel")
    assert book.facts["data_quality_timeliness"].tags["weakest"].startswith("complaints (")
    assert book.facts["data_quality_unused_personal_fields"].value == 4


def test_text_and_typed_columns_are_judged_alike(tmp_path):
    # age 34.0 held as a float and age '35' held as text are both whole numbers in range; 17.5 and 'old' are not
    src = tmp_path / "src"
    src.mkdir()
    base = {"customer_id": ["1", "2", "3"], "customer_type": ["individual"] * 3, "onboard_date": ["2020-01-01"] * 3}
    pd.DataFrame({**base, "age": [34.0, 17.5, 40.0]}).to_parquet(src / "customers.parquet", index=False)
    with open_source(src) as wh:
        a = row(quality.validity(wh), table="customers", column="age")
    assert (a["checked"], a["invalid"]) == (3, 1) and "whole number" in a["rules"]
    src2 = tmp_path / "src2"
    src2.mkdir()
    pd.DataFrame({**base, "age": ["35", "old", " "]}).to_csv(src2 / "customers.csv", index=False)
    with open_source(src2) as wh:
        b = row(quality.validity(wh), table="customers", column="age")
        c = row(quality.completeness(wh), table="customers", column="age")
    assert (b["checked"], b["invalid"]) == (2, 1) and "type bigint" in b["rules"]
    assert c["filled"] == 2   # blank text is missing

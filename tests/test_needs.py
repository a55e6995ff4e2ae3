"""What each notebook needs, and what the door and the runner do with it (issue #15, item 1).

- The registry (``crm_lib.data.needs``) covers every notebook and names only contract tables and
  columns; what it says of the feature table is what ``feature_table`` does.
- The demo bank's door result is the same checked against the whole contract or against any
  profile's needs: same problems, same door summary (so the same facts).
- One test per verdict kind on slices of the tiny bank: will run; will run with sections
  omitted; cannot run for want of a table, of a column; cannot run for the door's errors.
- A table no notebook needs may be missing; a table present is still checked in full.
- ``open_context`` of a notebook whose needs the source cannot meet says what it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import bank_slice_of
from crm_lib import config
from crm_lib.data import needs
from crm_lib.data.door import CANNOT_RUN, OMITTING, WILL_RUN, check_source, notebook_verdicts
from crm_lib.data.schema import SCHEMAS, UNNEEDED_TABLE
from crm_lib.data.store import open_source
from crm_lib.errors import DataContractError
from crm_lib.features import feature_table
from crm_lib.reporting.context import door_summary, open_context

ROOT = Path(__file__).resolve().parents[1]
TODAY = "2026-11-23"
N_CUSTOMERS = 300
QUARTERLY = config.resolve("quarterly")
Q3 = config.Period.parse("2026Q3")


@pytest.fixture(scope="module")
def bank_slice(tiny_bank) -> dict[str, pd.DataFrame]:
    return bank_slice_of(tiny_bank, N_CUSTOMERS)


def write(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir()
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def verdicts(source: Path, notebooks=None) -> tuple[dict, object]:
    notebooks = notebooks or QUARTERLY.params.notebooks
    wh, report = check_source(source, today=TODAY, notebooks=notebooks)
    try:
        out = {v["notebook"]: v for v in notebook_verdicts(wh, report, notebooks, QUARTERLY.as_dict(), Q3)}
    finally:
        wh.close()
    return out, report


# ---------------------------------------------------------------------------- the registry
def test_every_notebook_and_profile_notebook_is_declared_with_contract_names():
    on_disk = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    in_profiles = {nb for p in (ROOT / "parameters" / "profiles").glob("*.yaml")
                   for nb in config.resolve(p.stem).params.notebooks}
    assert on_disk | in_profiles <= set(needs.NEEDS)
    for nb in needs.NEEDS:
        for table, cols in needs.needs_of(nb).items():
            assert table in SCHEMAS, (nb, table)
            assert set(cols) <= set(SCHEMAS[table].columns), (nb, table, cols)
    assert needs.needs_of("90_effectiveness_review") == {}
    # an undeclared notebook needs the whole required contract, as the door did before the registry
    assert set(needs.needs_of("99_new_notebook")) == {"customers", "accounts", "balances", "transactions"}
    assert "branch_id" in needs.needs_of("99_new_notebook")["customers"]


# the feature columns each optional table feeds (the rest of the table must not move without it)
FED_BY = {"accounts": ["n_products"], "balances": ["aum", "aum_avg", "aum_avg_12m", "aum_change_3m", "deposits",
                                                   "investments", "loans", "tier"],
          "transactions": ["recency_days", "frequency", "monetary", "share_branch", "share_mobile", "share_online",
                           "share_atm", "share_phone", "digital_share", "fee_purchases", "fee_spend"],
          "complaints": ["complaints_90d", "complaints_window", "open_complaints", "days_since_complaint"],
          "surveys": ["surveys_window", "csat_mean", "nps_mean"],
          "campaign_contacts": ["contacts_window", "responded_window"]}


@pytest.mark.parametrize("table", [t for t in needs.FEATURE_TABLES if t != "customers"])
def test_feature_table_without_a_table_leaves_what_it_feeds_unknown(table, bank_slice, tmp_path):
    """A source without ``table``: the same customers; the features computed from it are NULL (unknown,
    never zero), every other feature is what the whole source gives; ``attrs['lacking']`` names it."""
    full_src = write(tmp_path / "full", bank_slice)
    part_src = write(tmp_path / "part", {t: df for t, df in bank_slice.items() if t != table})
    with open_source(full_src) as wh:
        full = feature_table(wh, "2026-09-30", key="k")
    with open_source(part_src) as wh:
        part = feature_table(wh, "2026-09-30", key="k")
    assert part.attrs["lacking"] == {table: ("*",)} and full.attrs["lacking"] == {}
    assert part["customer_id"].tolist() == full["customer_id"].tolist()
    fed = FED_BY[table] + ([c for c in full if c.startswith("has_")] if table == "accounts" else [])
    assert part[[c for c in FED_BY[table]]].isna().all().all()
    assert full[FED_BY[table]].notna().any().all()   # the demo bank has them: the NULLs are the missing table's
    rest = [c for c in full.columns if c not in fed]
    pd.testing.assert_frame_equal(part[rest], full[rest], check_dtype=False)
    if table == "accounts":
        assert not [c for c in part if c.startswith("has_")]   # no product columns for products nobody knows


def test_feature_table_without_customer_columns_reads_them_as_unknown(bank_slice, tmp_path):
    """A customers extract without closed_date, consent or age: those are NULL, and with no closing
    date every customer counts as active (schema.LACKING_DEFAULTS), which the door report states."""
    from crm_lib.data.schema import LACKING_DEFAULTS

    t = dict(bank_slice)
    t["customers"] = t["customers"].drop(columns=["closed_date", "consent_marketing", "age"])
    t["transactions"] = t["transactions"].drop(columns=["txn_type", "channel"])
    src = write(tmp_path / "src", t)
    with open_source(src) as wh:
        f = feature_table(wh, "2026-09-30", key="k")
        x = wh.sql("SELECT count(*) AS n FROM transactions WHERE ts < TIMESTAMP '2026-10-01'")["n"].iloc[0]
    assert f.attrs["lacking"] == {"customers": ("age", "closed_date", "consent_marketing"),
                                  "transactions": ("channel", "txn_type")}
    assert f[["age", "consent_marketing", "closed_date", "fee_purchases", "fee_spend", "digital_share",
              "share_mobile"]].isna().all().all()
    assert f["is_active"].all()
    # without transaction types every transaction in the window is an ordinary one
    with open_source(write(tmp_path / "whole", bank_slice)) as wh:
        whole = feature_table(wh, "2026-09-30", key="k")
    assert (f["frequency"] == whole["frequency"] + whole["fee_purchases"]).all() and f["frequency"].sum() <= x
    _, report = check_source(src, today=TODAY, notebooks=["00_data_overview", "10_segmentation"])
    said = {(p.table, p.column): p.examples["read as"].iloc[0] for p in report.warnings
            if p.examples is not None and "read as" in p.examples}
    assert said[("customers", "closed_date")] == LACKING_DEFAULTS[("customers", "closed_date")]
    assert said[("transactions", "txn_type")] == LACKING_DEFAULTS[("transactions", "txn_type")]
    assert said[("customers", "age")].startswith("empty: what is computed from it is left out")


def test_the_reason_names_tables_and_columns():
    assert needs.reason({"balances": ("*",)}) == "needs table balances, which the source does not have"
    assert needs.reason({"accounts": ("*",), "balances": ("*",), "customers": ("age",)}) == (
        "needs tables accounts, balances and column customers.age, which the source does not have")
    assert needs.reason({}) == ""


# ---------------------------------------------------------------------------- the demo bank: unchanged
def test_demo_bank_door_result_is_the_same_against_every_profiles_needs(tiny_bank):
    wh, strict = check_source(tiny_bank, today=TODAY)
    wh.close()
    assert strict.ok
    for profile in ("monthly", "quarterly", "annual"):
        notebooks = config.resolve(profile).params.notebooks
        wh, report = check_source(tiny_bank, today=TODAY, notebooks=notebooks)
        try:
            shape = needs.source_shape(wh)
        finally:
            wh.close()
        assert door_summary(report) == door_summary(strict), profile
        assert [p.message() for p in report.problems] == [p.message() for p in strict.problems]
        assert all(needs.unmet(nb, shape) == "" for nb in notebooks)


# ---------------------------------------------------------------------------- one test per verdict kind
def test_will_run(bank_slice, tmp_path):
    v, report = verdicts(write(tmp_path / "src", bank_slice))
    assert report.ok, report.text()
    assert v["00_data_overview"]["verdict"] == WILL_RUN and v["90_effectiveness_review"]["verdict"] == WILL_RUN


def test_will_run_with_sections_omitted(bank_slice, tmp_path):
    t = dict(bank_slice)
    t["surveys"] = t["surveys"][t["surveys"]["survey_date"] < pd.Timestamp(Q3.start)]   # none in 2026Q3
    v, report = verdicts(write(tmp_path / "src", t))
    assert report.ok, report.text()
    assert v["30_satisfaction"]["verdict"] == OMITTING
    assert {s["section"] for s in v["30_satisfaction"]["sections"]} == {"Satisfaction scores and index"}


def test_cannot_run_for_want_of_a_table(bank_slice, tmp_path):
    t = {k: df for k, df in bank_slice.items() if k != "balances"}
    v, report = verdicts(write(tmp_path / "src", t))
    assert report.ok, report.text()   # a missing needed table stops its notebooks, not the pack
    for nb in needs.NEEDS:
        if nb in v and "balances" in needs.needs_of(nb):
            assert v[nb] == {"notebook": nb, "verdict": CANNOT_RUN, "sections": [],
                             "reason": "needs table balances, which the source does not have"}
    # the overview, segmentation and CLV run without balances, and say which sections they leave out
    margins = "the source has no balances table to compute the monthly margins from"
    tiers = "the source has no balances table to compute the value tiers from"
    assert {nb: [(x["section"], x["reason"]) for x in v[nb]["sections"]] for nb in
            ("00_data_overview", "10_segmentation", "40_clv")} == {
        "00_data_overview": [("Value tiers", tiers), ("Profitability by value tier", margins)],
        "10_segmentation": [("Value tiers", tiers), ("Profitability by segment", margins),
                            ("Lifecycle stages", "the source has no balances table (the stages' rules read the "
                                                 "change in AUM)")],
        "40_clv": [("Relationship CLV", margins),
                   ("Cohort retention (sBG)", "the source has no balances table (the cohorts start with it)")]}
    assert {v[nb]["verdict"] for nb in ("00_data_overview", "10_segmentation", "40_clv")} == {OMITTING}
    assert v["90_effectiveness_review"]["verdict"] == WILL_RUN
    [w] = [p for p in report.warnings if p.table == "balances"]
    assert w.rule.startswith("table present (needed by 20_churn, 30_satisfaction")


def test_cannot_run_for_want_of_a_column(bank_slice, tmp_path):
    t = dict(bank_slice)
    t["customers"] = t["customers"].drop(columns="branch_id")
    v, report = verdicts(write(tmp_path / "src", t))
    assert report.ok, report.text()
    assert v["20_churn"]["reason"] == "needs column customers.branch_id, which the source does not have"
    assert v["10_segmentation"]["verdict"] == WILL_RUN   # segmentation does not read the branch
    assert v["90_effectiveness_review"]["verdict"] == WILL_RUN


def test_cannot_run_for_the_doors_errors(bank_slice, tmp_path):
    t = dict(bank_slice)
    t["customers"] = pd.concat([t["customers"], t["customers"].iloc[[0]]], ignore_index=True)
    v, report = verdicts(write(tmp_path / "src", t))
    assert [(p.table, p.rule) for p in report.errors] == [("customers", "unique key")]
    assert {x["verdict"] for x in v.values()} == {CANNOT_RUN}
    assert v["90_effectiveness_review"]["reason"] == "the door found 1 error(s) in the source"


# ---------------------------------------------------------------------------- what the door checks
def test_a_table_no_notebook_needs_may_be_missing(bank_slice, tmp_path):
    source = write(tmp_path / "src", {k: df for k, df in bank_slice.items() if k != "accounts"})
    wh, strict = check_source(source, today=TODAY)
    wh.close()
    assert [(p.table, p.rule) for p in strict.errors] == [("accounts", "required table present")]
    wh, report = check_source(source, today=TODAY, notebooks=["90_effectiveness_review"])
    wh.close()
    assert report.ok and ("accounts", UNNEEDED_TABLE) in [(p.table, p.rule) for p in report.warnings]


def test_a_table_present_is_checked_in_full(bank_slice, tmp_path):
    """Without balances and without customers.branch_id, the customers present are still checked:
    a duplicate key, an orphan transaction and a closure before onboarding are each found."""
    t = {k: df.copy() for k, df in bank_slice.items() if k != "balances"}
    c = t["customers"].drop(columns="branch_id")
    c.loc[5, "closed_date"] = c.at[5, "onboard_date"] - pd.Timedelta(days=3)
    t["customers"] = pd.concat([c, c.iloc[[0]]], ignore_index=True)
    t["transactions"].loc[2, "customer_id"] = "NOBODY"
    wh, report = check_source(write(tmp_path / "src", t), today=TODAY, notebooks=["90_effectiveness_review"])
    wh.close()
    found = {(p.table, p.column, p.rule): p.count for p in report.errors}
    assert found == {("customers", "customer_id", "unique key"): 1,
                     ("customers", "closed_date", "closed_date >= onboard_date"): 1,
                     ("transactions", "customer_id", "exists in customers.customer_id"): 1}, report.text()
    assert ("customers", "branch_id") in {(p.table, p.column) for p in report.warnings}


def test_open_context_of_a_notebook_whose_needs_are_unmet_says_what_it_lacks(bank_slice, tmp_path):
    source = write(tmp_path / "src", {k: df for k, df in bank_slice.items() if k != "surveys"})
    params = QUARTERLY.as_dict()
    with pytest.raises(DataContractError, match=r"30_satisfaction needs table surveys, which the source does not "
                                                r"have"):
        open_context("30_satisfaction", str(source), "2026Q3", "quarterly", params)
    ctx = open_context("90_effectiveness_review", str(source), "2026Q3", "quarterly", params)
    try:
        assert ctx.door["ok"] and json.dumps(ctx.door)
    finally:
        ctx.wh.close()


def test_index_lists_a_notebook_not_run_with_its_reason(tmp_path):
    from crm_lib.reporting.index import build_index

    pack = tmp_path / "quarterly" / "1998Q2"
    pack.mkdir(parents=True)
    (pack / "90_effectiveness_review.html").write_text("<html></html>")
    why = "needs table balances, which the source does not have"
    (pack / "manifest.json").write_text(json.dumps({"status": "ok", "notebooks": [
        {"name": "00_data_overview", "status": "not run", "reason": why},
        {"name": "90_effectiveness_review", "status": "ok"}]}))
    (pack / "facts.json").write_text("[]")
    build_index(tmp_path)
    page = (tmp_path / "index.html").read_text()
    assert f'<span class="unknown">00_data_overview</span> <span class="unknown" title="{why}">not run: {why}</span>' \
        in page
    assert '<a href="quarterly/1998Q2/90_effectiveness_review.html">90_effectiveness_review</a>' in page


def test_a_source_with_no_canonical_table_is_an_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_csv(src / "stuff.csv", index=False)
    wh, report = check_source(src, today=TODAY, notebooks=["90_effectiveness_review"])
    wh.close()
    [e] = report.errors
    assert (e.table, e.rule) == ("*", "at least one canonical table present") and "stuff" in e.message()


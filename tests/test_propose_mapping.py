"""``crm-workbench map``: a proposed mapping for a new source (issue #15, item 2).

- The tiny bank's tables as CSV, customers and transactions under a core system's own names,
  codes and date text: the proposal names every column, code and format, and validates clean.
- GBK and semicolon/decimal-comma files: the proposal carries the reader options.
- Real public data (``../shared/data``): the CDNOW raw log laid out as a two-table bank with a
  ``%Y%m%d`` date, and ISLR ``Credit.csv`` as a customers table, taken through map -> edit ->
  validate against what the quarterly pack's notebooks need (issue #15 item 1): both pass the
  door; every analysis notebook is 'cannot run' with what it lacks (each builds the feature
  table, which needs accounts, balances, complaints, surveys and campaign contacts), and the
  effectiveness review runs. One end-to-end ``run`` on the CDNOW layout (slow) builds that pack.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SHARED_DATA, bank_slice_of
from crm_lib.cli import main
from crm_lib import config
from crm_lib.data.door import CANNOT_RUN, OMITTING, WILL_RUN, check_source, notebook_verdicts
from crm_lib.data.mapping import load_mapping
from crm_lib.data.propose import propose
from crm_lib.data.quality import unused_personal_fields
from crm_lib.data.store import open_source
from crm_lib.errors import ConfigError

TODAY = "2026-11-23"
N_CUSTOMERS = 60
CDNOW = SHARED_DATA / "cdnow_sample" / "CDNOW_sample.txt"
CREDIT = SHARED_DATA / "islr_default_credit" / "Credit.csv"
# what the whole contract asks and a partial source lacks: errors only without a profile's notebooks
STRUCTURAL = ("required table present", "required column present")
QUARTERLY = config.resolve("quarterly")
FEATURE_TABLES_LACKING = "needs tables accounts, balances, complaints, surveys, campaign_contacts"
# the quarterly notebooks a source of customers and transactions alone supports, and the sections they
# leave out (no balances; no closing dates)
SUPPORTED = ("00_data_overview", "10_segmentation", "40_clv", "90_effectiveness_review")
PREDICTED = {"00_data_overview": ["Value tiers", "Profitability by value tier", "Base movement", "Engagement"],
             "10_segmentation": ["Value tiers", "Profitability by segment", "Lifecycle stages"],
             "40_clv": ["Relationship CLV", "Cohort retention (sBG)"]}


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``crm-workbench -q ARGS`` in this process: exit code and what it printed (its log setup undone)."""
    log = logging.getLogger("crm_lib")
    handlers, level = log.handlers[:], log.level
    capsys.readouterr()
    try:
        code = main(["-q", *args])
    finally:
        log.handlers[:], log.level = handlers, level
    out = capsys.readouterr()
    return code, out.out + out.err


def run_map(capsys, *args: str) -> tuple[int, str]:
    return run_cli(capsys, "map", *args)


def map_edit_run(capsys, source: Path, tmp_path: Path, edit) -> Path:
    """What a new user does: ``map`` the source, ``edit`` the proposal, ``run quarterly`` on it (exit 0 asserted).
    Returns the reports folder."""
    out, edited, reports = tmp_path / "proposed.yaml", tmp_path / "edited.yaml", tmp_path / "reports"
    assert run_map(capsys, str(source), "--out", str(out))[0] == 0
    edited.write_text(edit(out.read_text(encoding="utf-8")), encoding="utf-8")
    code, printed = run_cli(capsys, "run", "quarterly", "--set", f"source={source}", "--set", f"mapping={edited}",
                            "--set", f"reports_dir={reports}")
    assert code == 0, printed
    return reports


def columns_of(text: str, table: str) -> dict:
    return yaml.safe_load(text)["tables"][table]["columns"]


def drop_todo_lines(text: str) -> str:
    """What a user does with a column the source does not hold: delete its TODO line."""
    return "".join(line for line in text.splitlines(keepends=True) if not re.match(r"\s+\w+: TODO\b", line))


def retail_only(text: str) -> str:
    """What a user of a retailer's log does: state the one customer type (as the TODO line's hint says),
    and delete the other TODO lines."""
    return drop_todo_lines(re.sub(r"(?m)^(\s+)customer_type: TODO\b.*$", r"\1customer_type: {value: individual}", text))


# ---------------------------------------------------------------------------- the tiny bank under other names
@pytest.fixture(scope="module")
def bank_slice(tiny_bank) -> dict[str, pd.DataFrame]:
    return bank_slice_of(tiny_bank, N_CUSTOMERS)


CUST_NAMES = {"customer_id": "CUST_NO", "customer_type": "CUST_TYPE", "onboard_date": "OPEN_DT",
              "closed_date": "CLOSE_DT", "branch_id": "BRANCH_CODE", "consent_marketing": "MKT_CONSENT"}
TXN_NAMES = {"txn_id": "TXN_NO", "customer_id": "CUST_NO", "ts": "TXN_DATE", "amount": "AMT", "channel": "CHNL",
             "txn_type": "TXN_TYPE"}


def core_banking_source(folder: Path, t: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir()
    c = t["customers"].rename(columns=CUST_NAMES)
    c["CUST_TYPE"] = c["CUST_TYPE"].map({"individual": "P", "corporate": "C"})
    c["OPEN_DT"] = c["OPEN_DT"].dt.strftime("%d/%m/%Y")
    c["CLOSE_DT"] = c["CLOSE_DT"].dt.strftime("%d/%m/%Y")
    c["MKT_CONSENT"] = c["MKT_CONSENT"].map({True: "Y", False: "N"})
    c.to_csv(folder / "CUST_MASTER.csv", index=False)
    x = t["transactions"].rename(columns=TXN_NAMES)
    x["CHNL"] = x["CHNL"].map({"branch": "BR", "mobile": "MB", "online": "WEB", "atm": "ATM", "phone": "TEL"})
    x.to_csv(folder / "TXN.csv", index=False)
    for name in ("accounts", "balances", "complaints", "surveys", "campaigns", "campaign_contacts"):
        t[name].to_csv(folder / f"{name}.csv", index=False)
    return folder


def test_proposal_recovers_every_renamed_column_code_and_format(bank_slice, tmp_path, capsys):
    src = core_banking_source(tmp_path / "src", bank_slice)
    code, text = run_map(capsys, str(src))
    assert code == 0, text
    m = yaml.safe_load(text)["tables"]
    assert m["customers"]["source"] == "CUST_MASTER" and m["transactions"]["source"] == "TXN"
    cust = m["customers"]["columns"]
    assert {k: (v["column"] if isinstance(v, dict) else v) for k, v in cust.items() if k in CUST_NAMES} == CUST_NAMES
    assert cust["customer_type"]["codes"] == {"P": "individual", "C": "corporate"}
    assert cust["onboard_date"]["format"] == cust["closed_date"]["format"] == "%d/%m/%Y"
    assert cust["consent_marketing"]["codes"] == {"Y": "true", "N": "false"}
    txn = m["transactions"]["columns"]
    assert {k: (v["column"] if isinstance(v, dict) else v) for k, v in txn.items()} == TXN_NAMES
    assert txn["channel"]["codes"] == {"BR": "branch", "MB": "mobile", "WEB": "online", "ATM": "atm", "TEL": "phone"}
    # tables already under canonical names map onto themselves, column for column
    assert m["balances"]["source"] == "balances" and m["balances"]["columns"]["deposits"] == "deposits"
    assert "TODO" not in text.split("tables:")[1].replace("# ", "")   # nothing left to fill in

    out = tmp_path / "mapping.yaml"
    code, msg = run_map(capsys, str(src), "--out", str(out))
    assert code == 0 and "0 required column(s) still TODO" in msg, msg
    wh, report = check_source(src, mapping=out, today=TODAY)
    try:
        assert report.ok, report.text()
        got = wh.frame("customers", ["customer_id", "customer_type", "onboard_date"]).set_index("customer_id")
    finally:
        wh.close()
    want = bank_slice["customers"].set_index("customer_id")
    assert (got["customer_type"] == want.loc[got.index, "customer_type"]).all()
    assert (got["onboard_date"] == want.loc[got.index, "onboard_date"].dt.normalize()).all()


def test_map_refuses_to_overwrite_without_force(bank_slice, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    bank_slice["customers"].rename(columns=CUST_NAMES).to_csv(src / "CUST_MASTER.csv", index=False)
    out = tmp_path / "mapping.yaml"
    out.write_text("# mine\n")
    code, msg = run_map(capsys, str(src), "--out", str(out))
    assert code == ConfigError.exit_code and "exists; choose another --out, or add --force" in msg
    assert out.read_text() == "# mine\n"
    assert run_map(capsys, str(src), "--out", str(out), "--force")[0] == 0 and "CUST_MASTER" in out.read_text()


def test_proposal_detects_gbk_semicolons_and_decimal_comma(bank_slice, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    c = bank_slice["customers"]
    pd.DataFrame({"客户号": c["customer_id"],
                  "客户类型": c["customer_type"].map({"individual": "个人", "corporate": "企业"}),
                  "开户日期": c["onboard_date"].dt.strftime("%Y%m%d")}
                 ).to_csv(src / "KEHU.csv", index=False, encoding="gbk")
    x = bank_slice["transactions"]
    pd.DataFrame({"BUCHUNG": x["txn_id"], "KUNDE": x["customer_id"], "DATUM": x["ts"].dt.strftime("%d.%m.%Y"),
                  "BETRAG": x["amount"].map(lambda v: f"{v:.2f}".replace(".", ","))}
                 ).to_csv(src / "UMSATZ.csv", index=False, sep=";")
    p = propose(src)
    text = p.yaml()
    m = yaml.safe_load(text)["tables"]
    assert m["customers"]["source"] == "KEHU" and m["customers"]["read"] == {"encoding": "gb18030"}
    assert m["customers"]["columns"]["customer_id"] == "客户号"
    assert m["customers"]["columns"]["customer_type"] == {"column": "客户类型", "codes": {"个人": "individual",
                                                                                     "企业": "corporate"}}
    assert m["customers"]["columns"]["onboard_date"] == {"column": "开户日期", "format": "%Y%m%d"}
    assert m["transactions"]["read"] == {"delimiter": ";", "decimal": ","}
    assert m["transactions"]["columns"]["ts"] == {"column": "DATUM", "format": "%d.%m.%Y"}
    assert m["transactions"]["columns"]["amount"] == "BETRAG"
    assert m["transactions"]["columns"]["customer_id"] == "KUNDE"   # 'kunde', and every value is a KEHU key
    assert "100% of values found in KEHU.客户号" in text

    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(drop_todo_lines(text), encoding="utf-8")
    with open_source(src, mapping=load_mapping(mapping)) as wh:
        amounts = wh.frame("transactions", ["txn_id", "amount"]).set_index("txn_id")["amount"]
        types = wh.frame("customers", ["customer_type"])["customer_type"]
    # amounts were written to the cent (abs 5e-3: half a cent)
    assert (amounts - x.set_index("txn_id").loc[amounts.index, "amount"]).abs().max() < 5e-3
    assert types.tolist() == c["customer_type"].tolist()


# ---------------------------------------------------------------------------- real public data
@pytest.fixture
def cdnow_bank(tmp_path) -> Path:
    """The CDNOW 1/10 sample raw log (Fader & Hardie) as a bank's two CSV extracts under its own names."""
    if not CDNOW.exists():
        pytest.skip(f"CDNOW raw log not found at {CDNOW} (shared data folder absent)")
    raw = pd.read_csv(CDNOW, sep=r"\s+", header=None, dtype={"master": str},
                      names=["master", "customer", "date", "cds", "dollars"])
    src = tmp_path / "cdnow"
    src.mkdir()
    (raw.groupby("customer").agg(MASTER_ID=("master", "first"), FIRST_ORDER_DT=("date", "min"))
        .rename_axis("CUST_NO").reset_index().to_csv(src / "CUSTOMER.csv", index=False))
    raw.rename(columns={"customer": "CUST_NO", "date": "ORDER_DT", "cds": "QTY", "dollars": "AMT"})[
        ["CUST_NO", "ORDER_DT", "QTY", "AMT"]].to_csv(src / "ORDERS.csv", index=False)
    return src


def test_cdnow_two_table_bank_map_edit_validate(cdnow_bank, tmp_path, capsys):
    out = tmp_path / "cdnow.yaml"
    code, msg = run_map(capsys, str(cdnow_bank), "--out", str(out))
    assert code == 0, msg
    text = out.read_text(encoding="utf-8")
    m = yaml.safe_load(text)["tables"]
    assert set(m) == {"customers", "transactions"}
    assert m["customers"]["source"] == "CUSTOMER" and m["transactions"]["source"] == "ORDERS"
    assert m["customers"]["columns"]["customer_id"] == "CUST_NO"
    assert m["customers"]["columns"]["onboard_date"] == {"column": "FIRST_ORDER_DT", "format": "%Y%m%d"}
    assert m["transactions"]["columns"]["ts"] == {"column": "ORDER_DT", "format": "%Y%m%d"}
    assert m["transactions"]["columns"]["amount"] == "AMT"
    assert m["transactions"]["columns"]["txn_id"] == "TODO"    # the raw log has no transaction id
    assert "100% of values found in CUSTOMER.CUST_NO" in text
    with pytest.raises(ConfigError, match=r"tables\.customers\.columns\.customer_type: still TODO"):
        load_mapping(out)

    # the source has no customer type; the TODO line says how to state the one it holds
    assert re.search(r"customer_type: TODO .*a source of one customer type states it: \{value: individual\}", text)
    edited = tmp_path / "cdnow_edited.yaml"
    edited.write_text(retail_only(text), encoding="utf-8")
    wh, strict = check_source(cdnow_bank, mapping=edited, today=TODAY)
    wh.close()
    # against the whole contract only the missing tables and columns stop it: no format, code or type error
    assert {p.rule for p in strict.errors} == set(STRUCTURAL), strict.text()
    assert {(p.table, p.column) for p in strict.errors if p.rule == "required table present"} == {
        ("accounts", "*"), ("balances", "*")}
    notebooks = QUARTERLY.params.notebooks
    wh, report = check_source(cdnow_bank, mapping=edited, today=TODAY, notebooks=notebooks)
    try:
        assert report.ok, report.text()   # against what the quarterly notebooks need, it passes the door
        end = wh.data_end()               # no balances: the last month-end of its transactions
        per = config.Period.last_closed("quarter", end.date())
        v = {x["notebook"]: x for x in notebook_verdicts(wh, report, notebooks, QUARTERLY.as_dict(), per)}
        n, first, last = wh.con.execute("SELECT count(*), min(onboard_date), max(onboard_date) FROM customers").fetchall()[0]
        rows, total = wh.con.execute("SELECT count(*), sum(amount) FROM transactions").fetchall()[0]
        types = wh.con.execute("SELECT DISTINCT customer_type FROM customers").fetchall()
    finally:
        wh.close()
    assert types == [("individual",)]   # the mapping's {value: individual}
    assert (str(end.date()), per.label) == ("1998-06-30", "1998Q2")   # PROVENANCE.md: orders to 1998-06-30
    # what customers and transactions support runs: the overview, RFM and clusters, the card and payment models
    assert {nb: v[nb]["verdict"] for nb in SUPPORTED} == {"00_data_overview": OMITTING, "10_segmentation": OMITTING,
                                                          "40_clv": OMITTING, "90_effectiveness_review": WILL_RUN}
    assert {nb: [s["section"] for s in v[nb]["sections"]] for nb in SUPPORTED[:-1]} == PREDICTED
    for nb in [nb for nb in notebooks if nb not in SUPPORTED]:
        assert v[nb]["verdict"] == CANNOT_RUN and v[nb]["reason"].startswith(FEATURE_TABLES_LACKING), v[nb]
        assert "transactions.txn_id" in v[nb]["reason"]   # the raw log has none
    # PROVENANCE.md: 2,357 customers whose first purchase fell 1997-01-01 .. 1997-03-25; 6,919 rows, $244,091.94
    assert (n, str(first.date()), str(last.date())) == (2357, "1997-01-01", "1997-03-25")
    assert rows == 6919 and total == pytest.approx(244_091.94, abs=0.005)   # cents summed in binary floating point


def test_cdnow_through_the_mapping_reproduces_the_published_bgnbd(cdnow_bank, tmp_path, capsys):
    """The card and payment models read the mapped source as the 40_clv page does (``warehouse_summary``,
    clock origin ``auto``): a retailer's log onboards at the first purchase, so the clock starts there, and
    the BG/NBD fit is the published one. No transaction type: every order is a purchase (the door's default)."""
    from crm_lib import clv

    out = tmp_path / "cdnow.yaml"
    assert run_map(capsys, str(cdnow_bank), "--out", str(out))[0] == 0
    edited = tmp_path / "cdnow_edited.yaml"
    edited.write_text(retail_only(out.read_text(encoding="utf-8")), encoding="utf-8")
    with open_source(cdnow_bank, mapping=edited) as wh:
        assert clv.summary.clock_origin(wh) == "first_purchase"
        s = clv.warehouse_summary(wh, "1997-09-30", "1998-06-30", key="k")
    # PROVENANCE.md: 2,357 customers, 1,411 with x = 0, 2,457 repeat transactions in calibration,
    # 1,882 repeat transaction-days in the hold-out
    assert s.attrs["origin"] == "first_purchase" and len(s) == 2357 and not s["closed"].any()
    assert ((s["frequency"] == 0).sum(), s["frequency"].sum(), s["holdout_frequency"].sum()) == (1411, 2457, 1882)
    p = clv.BetaGeoModel().fit(s).params_
    # Fader, Hardie & Lee (2005) Marketing Science 24(2) section 7, to the 3 dp printed (alpha 0.005, as
    # test_clv_models: the likelihood is flat along alpha)
    assert (p["r"], p["a"], p["b"]) == (pytest.approx(0.243, abs=1e-3), pytest.approx(0.793, abs=1e-3),
                                        pytest.approx(2.426, abs=1e-3))
    assert p["alpha"] == pytest.approx(4.414, abs=5e-3)


def test_islr_credit_as_a_customers_table(tmp_path, capsys):
    if not CREDIT.exists():
        pytest.skip(f"ISLR Credit.csv not found at {CREDIT} (shared data folder absent)")
    src = tmp_path / "credit"
    src.mkdir()
    shutil.copy(CREDIT, src / "Credit.csv")
    code, text = run_map(capsys, str(src))
    assert code == 0, text
    m = yaml.safe_load(text)["tables"]
    assert set(m) == {"customers"} and m["customers"]["source"] == "Credit"
    cols = m["customers"]["columns"]
    assert (cols["customer_id"], cols["age"], cols["income"]) == ("ID", "Age", "Income")
    assert cols["onboard_date"] == "TODO" and cols["customer_type"] == "TODO"
    assert "not mapped (passed through, read by no analysis): Limit, Rating, Cards, Education, Gender" in text

    edited = tmp_path / "credit.yaml"
    edited.write_text(drop_todo_lines(text), encoding="utf-8")
    wh, strict = check_source(src, mapping=edited, today=TODAY)
    wh.close()
    assert {p.rule for p in strict.errors} == set(STRUCTURAL), strict.text()
    notebooks = QUARTERLY.params.notebooks
    wh, report = check_source(src, mapping=edited, today=TODAY, notebooks=notebooks)
    try:
        assert report.ok, report.text()
        # a customer snapshot with no date at all: its data ends at the last month-end before the day it is read
        per = config.Period.last_closed("quarter", wh.data_end().date())
        v = {x["notebook"]: x for x in notebook_verdicts(wh, report, notebooks, QUARTERLY.as_dict(), per)}
        ages = wh.frame("customers", ["age"])["age"]
        personal = unused_personal_fields(wh).set_index("column")
    finally:
        wh.close()
    assert v["90_effectiveness_review"]["verdict"] == WILL_RUN
    # a customer snapshot without onboarding dates or types: the overview needs only those two columns
    assert v["00_data_overview"]["reason"] == ("needs columns customers.customer_type, customers.onboard_date, "
                                               "which the source does not have")
    for nb in ("10_segmentation", "40_clv"):
        assert v[nb]["reason"] == ("needs table transactions and columns customers.customer_type, "
                                   "customers.onboard_date, which the source does not have")
    for nb in [nb for nb in notebooks if nb not in SUPPORTED]:
        assert v[nb]["verdict"] == CANNOT_RUN and "tables accounts, balances, transactions" in v[nb]["reason"], v[nb]
        assert "customers.onboard_date" in v[nb]["reason"]
    raw = pd.read_csv(CREDIT)
    assert ages.tolist() == raw["Age"].tolist()
    # Gender, Ethnicity, Married, Student: held for all 400, read by no analysis (candidates to stop extracting)
    assert {"Gender", "Ethnicity", "Married", "Student"} <= set(personal.index)
    assert (personal.loc[["Gender", "Ethnicity"], "filled"] == 400).all()


@pytest.mark.slow
def test_cdnow_two_table_bank_runs_the_quarterly_pack_it_supports(cdnow_bank, tmp_path, capsys):
    """map -> edit -> run: the pack builds with exit code 0. The overview, segmentation and CLV notebooks run
    on customers and transactions, their balance-based sections boxed 'not estimable' with the reason; the
    notebooks whose models need the whole bank are listed 'not run' with what they lack (manifest and index)."""
    reports = map_edit_run(capsys, cdnow_bank, tmp_path, retail_only)
    pack = reports / "quarterly" / "1998Q2"
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    by_name = {nb["name"]: nb for nb in manifest["notebooks"]}
    assert list(by_name) == QUARTERLY.params.notebooks
    for nb in QUARTERLY.params.notebooks:
        if nb in SUPPORTED:
            assert by_name[nb]["status"] == "ok" and (pack / f"{nb}.html").is_file(), by_name[nb]
        else:
            assert by_name[nb]["status"] == "not run" and by_name[nb]["reason"].startswith(FEATURE_TABLES_LACKING)
            assert not (pack / f"{nb}.html").exists()
    index = (reports / "index.html").read_text()
    assert index.count("not run: needs tables accounts, balances, complaints, surveys, campaign_contacts") == 4
    facts = {f["name"]: f for f in json.loads((pack / "facts.json").read_text())}
    # what the data supports is reported, with its n: clusters of the 2,357 customers, the card and payment value
    assert facts["cluster_count_individual"]["n"] == 2357 and facts["transactional_fee_value"]["n"] == 2357
    # what it does not is boxed with the reason, and no number stands in for it
    for name, why in (("omitted.value_tiers", "no balances"), ("omitted.relationship_clv", "balances"),
                      ("omitted.base_movement", "customers.closed_date")):
        assert why in facts[name]["definition"] or why in json.dumps(facts[name]), facts[name]
    assert not [n for n in facts if n.startswith(("tier_", "total_aum", "active_customers", "churn_rate"))]
    # the CLV page's headline gives what it could estimate, and its models say where each clock started
    page = (pack / "40_clv.html").read_text(encoding="utf-8")
    assert "expected over the next 52 weeks" in page and "Relationship CLV</strong> is not estimable" in page
    assert "so each customer's clock starts there and that purchase is not counted" in page
    # the door predicted each page's omissions: the sections omitted for their own reason are those predicted
    facts_all = json.loads((pack / "facts.json").read_text())
    roots = {nb: sorted(f["tags"]["section"] for f in facts_all if f["notebook"] == nb
                        and f["tags"].get("kind") == "omitted" and not f["tags"].get("builds_on"))
             for nb in PREDICTED}
    assert roots == {nb: sorted(s) for nb, s in PREDICTED.items()}


@pytest.mark.slow
def test_islr_credit_customer_snapshot_runs_the_pack_it_supports(tmp_path, capsys):
    """map -> edit -> run on a customer snapshot with no dates: exit 0, the review runs, and every analysis
    notebook is 'not run' with what it lacks, in the manifest and on the index."""
    if not CREDIT.exists():
        pytest.skip(f"ISLR Credit.csv not found at {CREDIT} (shared data folder absent)")
    src = tmp_path / "credit"
    src.mkdir()
    shutil.copy(CREDIT, src / "Credit.csv")
    reports = map_edit_run(capsys, src, tmp_path, drop_todo_lines)
    [pack] = [p for p in (reports / "quarterly").iterdir() if (p / "manifest.json").is_file()]
    by_name = {nb["name"]: nb for nb in json.loads((pack / "manifest.json").read_text())["notebooks"]}
    assert by_name.pop("90_effectiveness_review")["status"] == "ok"
    assert {nb["status"] for nb in by_name.values()} == {"not run"}
    assert by_name["00_data_overview"]["reason"] == ("needs columns customers.customer_type, customers.onboard_date, "
                                                     "which the source does not have")
    index = (reports / "index.html").read_text()
    assert index.count("not run: needs") == len(by_name)

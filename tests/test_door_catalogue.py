"""A catalogue of bad inputs at the data door, and what the door must say about each.

Each case copies the tables of the tiny synthetic bank into a fresh folder, breaks one
thing, and checks that

- ``check_source`` (or ``report.raise_for_errors()``) names the exact table, column and
  rule, the row count, and shows the offending key in its example rows;
- ``crm-workbench validate`` exits 3 for bad data or an unreadable source and 2 for a
  bad mapping, printing the same message and never a traceback;
- nothing was written: every file under the test folder has the same name and bytes.

Rule texts are the door's contract (``crm_lib/data/schema.py``: ``SCHEMAS``, ``KEYS``,
``FOREIGN_KEYS``, ``AFTER_ONBOARDING``; ``store.py`` and ``mapping.py`` for the source
and mapping rules), quoted here verbatim.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crm_lib.cli import EXIT_CONFIG, EXIT_DATA, main
from crm_lib.data.door import check_source
from crm_lib.data.schema import SCHEMAS, validate
from crm_lib.data.store import SourceError
from crm_lib.data.synthetic import generate
from crm_lib.errors import ConfigError, DataContractError

TODAY = "2026-11-23"      # 'future dates' are after this day (the CLI uses the real date)
END_DATE = "2026-09-30"   # last day of the generated data
N_CUSTOMERS = 60          # bad-input cases use the first 60 customers and their rows, for speed
TABLES = tuple(SCHEMAS)


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    """The tiny synthetic bank (seeded, about 2 s): ``parquet/<table>/part-0000.parquet`` and more."""
    out = tmp_path_factory.mktemp("bank") / "tiny"
    generate(out, "tiny", end_date=END_DATE)
    return out


@pytest.fixture(scope="module")
def bank_slice(bank) -> dict[str, pd.DataFrame]:
    """The first ``N_CUSTOMERS`` customers and every row of theirs, read from the bank's Parquet."""
    frames = {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}
    keep = set(frames["customers"]["customer_id"].iloc[:N_CUSTOMERS])
    return {t: (df[df["customer_id"].isin(keep)] if "customer_id" in df else df).reset_index(drop=True)
            for t, df in frames.items()}


@pytest.fixture
def tables(bank_slice) -> dict[str, pd.DataFrame]:
    """A private copy of the slice for one test to break."""
    return {t: df.copy() for t, df in bank_slice.items()}


# ---------------------------------------------------------------------------- helpers
def write_source(folder: Path, tables: dict[str, pd.DataFrame], fmt: str = "parquet") -> Path:
    """One file per table, ``<table>.parquet`` or ``<table>.csv`` (UTF-8)."""
    folder.mkdir(parents=True)
    for name, df in tables.items():
        if fmt == "parquet":
            df.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            df.to_csv(folder / f"{name}.csv", index=False)
    return folder


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``crm-workbench validate ...`` in-process; returns the exit code and stdout + stderr."""
    log = logging.getLogger("crm_lib")
    handlers, level = log.handlers[:], log.level   # main() installs a stderr handler: put it back
    capsys.readouterr()
    try:
        code = main(["validate", *args])
    finally:
        log.handlers[:], log.level = handlers, level
    out, err = capsys.readouterr()
    return code, out + err


def problem_re(table: str, column: str, rule: str, count: int, examples=()) -> str:
    """The door's message for one problem (``Problem.message``), then its example values."""
    head = (f"{table}.{column}: {count:,} row(s) break rule '{rule}'" if count
            else f"{table}.{column}: rule '{rule}' broken")
    return "(?s)" + re.escape(head) + "".join(".*" + re.escape(str(e)) for e in examples)


def cli_re(pattern: str) -> str:
    """``pattern`` with the fixed TODAY loosened to any date: the CLI uses the real date."""
    return pattern.replace(re.escape(TODAY), r"\d{4}-\d{2}-\d{2}")


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text and "File \"" not in text, text


# ---------------------------------------------------------------------------- bad data: exit 3
@dataclass
class Bad:
    """One broken rule, planted by ``plant`` (which returns the example values to expect)."""

    plant: Callable[[dict[str, pd.DataFrame]], list]
    table: str
    column: str
    rule: str
    count: int | str = 1            # "all": every row of ``table``
    fmt: str = "parquet"
    others: list = field(default_factory=list)   # further (table, column, rule) errors expected
    cli: bool = True                # False when the CLI's real date would change the outcome


def missing_required_table(t):
    del t["transactions"]
    return []


def missing_required_column(t):
    t["customers"] = t["customers"].drop(columns="onboard_date")
    return ["customer_id, customer_type"]  # the columns found are listed


def text_in_numeric_column(t):
    b = t["balances"]
    b["deposits"] = b["deposits"].astype(str)
    b.loc[3, "deposits"] = "n/a"
    return [b.at[3, "customer_id"], "n/a"]


def unparseable_date_csv(t):
    c = t["customers"]
    c["onboard_date"] = c["onboard_date"].dt.strftime("%Y-%m-%d")
    c.loc[4, "onboard_date"] = "2021-13-45"
    return [c.at[4, "customer_id"], "2021-13-45"]


def dates_as_day_month_year_text(t):
    # all of one column in a non-ISO format: pandas would guess, DuckDB cannot cast (was a crash)
    x = t["transactions"]
    x["ts"] = x["ts"].dt.strftime("%d/%m/%Y %H:%M")
    return [x.at[0, "txn_id"], x.at[0, "ts"]]


def fractional_integer(t):
    s = t["surveys"]
    s["csat"] = s["csat"].astype(float)
    s.loc[2, "csat"] = 4.5
    return [s.at[2, "response_id"], "4.5"]


def duplicate_customer(t):
    c = t["customers"]
    t["customers"] = pd.concat([c, c.iloc[[5]]], ignore_index=True)
    return [c.at[5, "customer_id"], "2"]


def duplicate_balance_month(t):
    b = t["balances"]
    t["balances"] = pd.concat([b, b.iloc[[7]]], ignore_index=True)
    return [b.at[7, "customer_id"], b.at[7, "month"].date(), "2"]


def duplicate_campaign_contact(t):
    c = t["campaign_contacts"]
    t["campaign_contacts"] = pd.concat([c, c.iloc[[4]]], ignore_index=True)
    return [c.at[4, "campaign_id"], c.at[4, "customer_id"], "2"]


def orphan_transaction(t):
    t["transactions"].loc[7, "customer_id"] = "CUS99999999"
    return [t["transactions"].at[7, "txn_id"], "CUS99999999"]


def orphan_campaign_contact(t):
    t["campaign_contacts"].loc[7, "campaign_id"] = "XS-2099Q1"
    return ["XS-2099Q1", t["campaign_contacts"].at[7, "customer_id"]]


def closed_before_onboarding(t):
    c = t["customers"]
    c.loc[0, "closed_date"] = c.at[0, "onboard_date"] - pd.Timedelta(days=30)
    return [c.at[0, "customer_id"], c.at[0, "closed_date"].date()]


def resolved_before_opened(t):
    c = t["complaints"]
    c.loc[0, "resolved_at"] = c.at[0, "opened_at"] - pd.Timedelta(days=3)
    return [c.at[0, "complaint_id"]]


def campaign_ends_before_start(t):
    c = t["campaigns"]
    c.loc[2, "end_date"] = c.at[2, "start_date"] - pd.Timedelta(days=3)
    return [c.at[2, "campaign_id"], c.at[2, "end_date"].date()]


def account_closed_before_open(t):
    a = t["accounts"]
    a.loc[2, "close_date"] = a.at[2, "open_date"] - pd.Timedelta(days=3)
    return [a.at[2, "account_id"], a.at[2, "close_date"].date()]


def transaction_in_2099(t):
    x = t["transactions"]
    x.loc[2, "ts"] = pd.Timestamp("2099-01-05 10:00")
    return [x.at[2, "txn_id"], "2099-01-05"]


def transaction_one_day_after_today(t):
    x = t["transactions"]
    x.loc[2, "ts"] = pd.Timestamp(TODAY) + pd.Timedelta(hours=36)   # tomorrow: future
    x.loc[3, "ts"] = pd.Timestamp(TODAY) + pd.Timedelta(hours=23)   # later today: not future
    return [x.at[2, "txn_id"]]


def csat_6(t):
    t["surveys"].loc[2, "csat"] = 6
    return [t["surveys"].at[2, "response_id"], "6"]


def nps_11(t):
    t["surveys"].loc[3, "nps"] = 11
    return [t["surveys"].at[3, "response_id"], "11"]


def attribute_rating_0(t):
    t["surveys"].loc[4, "attr_fees"] = 0
    return [t["surveys"].at[4, "response_id"]]


def empty_required_table(t):
    t["balances"] = t["balances"].iloc[:0]
    return []


def customer_type_person(t):
    t["customers"].loc[3, "customer_type"] = "person"
    return [t["customers"].at[3, "customer_id"], "person"]


def channel_fax(t):
    t["transactions"].loc[3, "channel"] = "fax"
    return [t["transactions"].at[3, "txn_id"], "fax"]


def severity_urgent(t):
    t["complaints"].loc[3, "severity"] = "urgent"
    return [t["complaints"].at[3, "complaint_id"], "urgent"]


def group_placebo(t):
    t["campaign_contacts"].loc[3, "group"] = "placebo"
    return [t["campaign_contacts"].at[3, "customer_id"], "placebo"]


def null_amount(t):
    t["transactions"].loc[5, "amount"] = float("nan")
    return [t["transactions"].at[5, "txn_id"], "NaN"]


def negative_balance(t):
    t["balances"].loc[3, "deposits"] = -250.0
    return [t["balances"].at[3, "customer_id"], "-250.0"]


def transaction_before_onboarding(t):
    x, c = t["transactions"], t["customers"].set_index("customer_id")
    x.loc[5, "ts"] = c.at[x.at[5, "customer_id"], "onboard_date"] - pd.Timedelta(days=10)
    return [x.at[5, "txn_id"], x.at[5, "customer_id"]]


def customer_ids_as_numbers(t):
    # customers keyed 1, 2, ... while other tables say CUS00000001: was a DuckDB conversion crash
    t["customers"]["customer_id"] = t["customers"]["customer_id"].str[3:].astype(int)
    return [t["transactions"].at[0, "txn_id"], t["transactions"].at[0, "customer_id"]]


BAD_DATA = [
    # check_source without notebooks holds a source to the whole contract; the CLI checks it against what the
    # profile's notebooks need, where a missing table or column stops only those (test_cli_missing_table_or_column)
    pytest.param(Bad(missing_required_table, "transactions", "*", "required table present", 0, cli=False),
                 id="missing-table"),
    pytest.param(Bad(missing_required_column, "customers", "onboard_date", "required column present", 0, cli=False),
                 id="missing-column"),
    pytest.param(Bad(text_in_numeric_column, "balances", "deposits", "type number"), id="text-in-number"),
    pytest.param(Bad(unparseable_date_csv, "customers", "onboard_date", "type date (YYYY-MM-DD[ HH:MM:SS])",
                     fmt="csv"), id="unparseable-date-csv"),
    pytest.param(Bad(dates_as_day_month_year_text, "transactions", "ts", "type date (YYYY-MM-DD[ HH:MM:SS])",
                     "all"), id="dates-as-dmy-text"),
    pytest.param(Bad(fractional_integer, "surveys", "csat", "type integer"), id="csat-4.5"),
    pytest.param(Bad(duplicate_customer, "customers", "customer_id", "unique key"), id="dup-customer"),
    pytest.param(Bad(duplicate_balance_month, "balances", "customer_id+month", "unique key"), id="dup-balance"),
    pytest.param(Bad(duplicate_campaign_contact, "campaign_contacts", "campaign_id+customer_id", "unique key"),
                 id="dup-contact"),
    pytest.param(Bad(orphan_transaction, "transactions", "customer_id", "exists in customers.customer_id"),
                 id="orphan-transaction"),
    pytest.param(Bad(orphan_campaign_contact, "campaign_contacts", "campaign_id", "exists in campaigns.campaign_id"),
                 id="orphan-contact"),
    pytest.param(Bad(closed_before_onboarding, "customers", "closed_date", "closed_date >= onboard_date"),
                 id="closed-before-onboard"),
    pytest.param(Bad(resolved_before_opened, "complaints", "resolved_at", "resolved_at >= opened_at"),
                 id="resolved-before-opened"),
    pytest.param(Bad(campaign_ends_before_start, "campaigns", "end_date", "end_date >= start_date"),
                 id="campaign-end-before-start"),
    pytest.param(Bad(account_closed_before_open, "accounts", "close_date", "close_date >= open_date"),
                 id="account-close-before-open"),
    pytest.param(Bad(transaction_in_2099, "transactions", "ts", f"not in the future (after {TODAY})"),
                 id="future-2099"),
    pytest.param(Bad(transaction_one_day_after_today, "transactions", "ts", f"not in the future (after {TODAY})",
                     cli=False), id="future-tomorrow"),
    pytest.param(Bad(csat_6, "surveys", "csat", "integer 1-5"), id="csat-6"),
    pytest.param(Bad(nps_11, "surveys", "nps", "integer 0-10"), id="nps-11"),
    pytest.param(Bad(attribute_rating_0, "surveys", "attr_fees", "integer 1-5"), id="attr-0"),
    pytest.param(Bad(empty_required_table, "balances", "*", "table not empty", 0), id="empty-table"),
    pytest.param(Bad(customer_type_person, "customers", "customer_type", "one of ['corporate', 'individual']"),
                 id="customer-type-person"),
    pytest.param(Bad(channel_fax, "transactions", "channel", "one of ['atm', 'branch', 'mobile', 'online', 'phone']"),
                 id="channel-fax"),
    pytest.param(Bad(severity_urgent, "complaints", "severity", "one of ['high', 'low', 'medium']"),
                 id="severity-urgent"),
    pytest.param(Bad(group_placebo, "campaign_contacts", "group", "one of ['control', 'treatment']"),
                 id="group-placebo"),
    pytest.param(Bad(null_amount, "transactions", "amount", "not null"), id="null-amount"),
    pytest.param(Bad(negative_balance, "balances", "deposits", ">= 0"), id="negative-balance"),
    pytest.param(Bad(transaction_before_onboarding, "transactions", "ts", "on or after customers.onboard_date"),
                 id="txn-before-onboarding"),
    pytest.param(Bad(customer_ids_as_numbers, "transactions", "customer_id", "exists in customers.customer_id",
                     "all", others=[(t, "customer_id", "exists in customers.customer_id")
                                    for t in ("accounts", "balances", "complaints", "surveys", "campaign_contacts")]),
                 id="customer-ids-as-numbers"),
]


@pytest.mark.parametrize("bad", BAD_DATA)
def test_bad_data_names_table_column_rule_and_rows(bad: Bad, tables, tmp_path, capsys):
    examples = bad.plant(tables)
    source = write_source(tmp_path / "src", tables, bad.fmt)
    count = len(tables[bad.table]) if bad.count == "all" else bad.count
    before = snapshot(tmp_path)

    wh, report = check_source(source, today=TODAY)
    try:   # the SQL pre-check only skips clean tables: with pandera on every table the report is the same
        full = validate(wh, today=TODAY, precheck=False)
    finally:
        wh.close()
    assert [p.message() for p in full.errors + full.warnings] == [p.message() for p in report.errors + report.warnings]
    found = {(p.table, p.column, p.rule): p for p in report.errors}
    assert sorted(found) == sorted([(bad.table, bad.column, bad.rule), *bad.others]), report.text()
    problem = found[(bad.table, bad.column, bad.rule)]
    assert problem.count == count
    for e in examples:
        assert str(e) in problem.examples.to_string(index=False), problem.message()
    pattern = problem_re(bad.table, bad.column, bad.rule, count, examples)
    with pytest.raises(DataContractError, match=pattern):
        report.raise_for_errors()

    if bad.cli:
        code, text = run_cli(capsys, str(source))
        assert code == EXIT_DATA
        assert re.search(cli_re(pattern), text), text
        assert_no_traceback(text)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("plant, table, column", [(missing_required_table, "transactions", "*"),
                                                  (missing_required_column, "customers", "onboard_date")],
                         ids=["missing-table", "missing-column"])
def test_cli_missing_table_or_column_stops_the_notebooks_that_need_it(plant, table, column, tables, tmp_path,
                                                                      capsys):
    """``validate --profile``: a missing needed table or column is a warning naming the notebooks it stops;
    those are predicted 'cannot run' with what they lack, the review still runs, and the exit code is 0."""
    plant(tables)
    source = write_source(tmp_path / "src", tables)
    before = snapshot(tmp_path)
    code, text = run_cli(capsys, str(source), "--profile", "monthly")
    assert code == 0, text
    what = "table" if column == "*" else "required column"
    # the data overview reads transactions where the source has them, and needs the onboarding dates
    needers = ("21_early_warning", "31_complaints_sla") if column == "*" else (
        "00_data_overview", "21_early_warning", "31_complaints_sla")
    assert re.search(rf"\[warning\] {table}\.{re.escape(column)}: rule '{what} present \(needed by "
                     rf"{', '.join(needers)}: not run\)' broken", text), text
    lacks = f"table {table}" if column == "*" else f"column {table}.{column}"
    if column == "*":
        assert re.search(r"00_data_overview +will run", text), text
    for nb in needers:
        assert re.search(rf"{nb} +cannot run: needs {lacks}, which the source does not have", text), text
    assert re.search(r"90_effectiveness_review +will run\n", text + "\n"), text
    assert_no_traceback(text)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- bad source: exit 3
def non_utf8_csv(folder: Path, t) -> tuple[Path, str]:
    source = write_source(folder, t, "csv")
    c = t["customers"].copy()
    c.loc[2, "full_name"] = "José Müller"
    c.to_csv(source / "customers.csv", index=False, encoding="latin-1")
    # header is line 1, so the third customer is on line 4
    return source, (r"(?s)customers\.full_name: file customers\.csv is not UTF-8 \(rule 'encoding utf-8'\): "
                    rf"byte b'\\xe9' at line 4.*{c.at[2, 'customer_id']}.*iconv")


def corrupt_parquet(folder: Path, t) -> tuple[Path, str]:
    source = write_source(folder, t)
    (source / "accounts.parquet").write_bytes(b"PAR1 this is not a parquet file " * 20)
    return source, r"accounts\.\*: table file accounts\.parquet in source .* is unreadable \(rule 'readable parquet'\)"


def corrupt_parquet_page(folder: Path, t) -> tuple[Path, str]:
    # footer intact, one data page overwritten: opens fine, fails when read (was a raw duckdb.Error)
    source = write_source(folder, t)
    path = source / "transactions.parquet"
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(list(t["transactions"]).index("amount"))
    end = (chunk.dictionary_page_offset or chunk.data_page_offset) + chunk.total_compressed_size
    raw = bytearray(path.read_bytes())
    assert end - 5 > chunk.data_page_offset + 40
    raw[chunk.data_page_offset + 40:end - 5] = b"\xab" * (end - 5 - chunk.data_page_offset - 40)
    path.write_bytes(bytes(raw))
    return source, r"transactions\.\*: table in source .* cannot be read to the end \(rule 'readable'\)"


def ragged_csv(folder: Path, t) -> tuple[Path, str]:
    source = write_source(folder, t, "csv")
    path = source / "accounts.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].rstrip("\n") + ",extra,fields\n"
    path.write_text("".join(lines), encoding="utf-8")
    return source, (r"(?s)accounts\.\*: file accounts\.csv is not a regular CSV \(rule 'every line has the "
                    rf"header's 5 fields'\): line 6 has 7.*{t['accounts'].at[4, 'account_id']}")


def file_not_duckdb(folder: Path, t) -> tuple[Path, str]:
    source = write_source(folder, t)
    return source / "customers.parquet", r"customers\.parquet: a file source must be a DuckDB file \(\.duckdb\)"


def corrupt_duckdb(folder: Path, t) -> tuple[Path, str]:
    folder.mkdir()
    (folder / "bank.duckdb").write_bytes(b"not a database " * 100)
    return folder / "bank.duckdb", r"bank\.duckdb: cannot open as a DuckDB file"


def nonexistent_path(folder: Path, t) -> tuple[Path, str]:
    return folder / "no-such-folder", r"no-such-folder: no such file or folder"


def folder_without_tables(folder: Path, t) -> tuple[Path, str]:
    folder.mkdir()
    (folder / "README.txt").write_text("tables go here\n", encoding="utf-8")
    return folder, r"folder holds no \.duckdb, \.parquet or \.csv tables"


@pytest.mark.parametrize("build", [non_utf8_csv, corrupt_parquet, corrupt_parquet_page, ragged_csv, file_not_duckdb,
                                   corrupt_duckdb, nonexistent_path, folder_without_tables],
                         ids=lambda f: f.__name__.replace("_", "-"))
def test_unreadable_source_is_a_source_error(build, tables, tmp_path, capsys):
    source, pattern = build(tmp_path / "src", tables)
    before = snapshot(tmp_path)

    with pytest.raises(SourceError, match=pattern):
        check_source(source, today=TODAY)

    code, text = run_cli(capsys, str(source))
    assert code == EXIT_DATA == SourceError.exit_code
    assert re.search(pattern, text), text
    assert text.startswith("error: ") or "\nerror: " in text
    assert_no_traceback(text)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- bad mapping: exit 2
GOOD_MAPPING = """\
tables:
  customers:
    source: CUST_MASTER
    columns:
      customer_id: CUST_NO
      customer_type: {column: CUST_TYPE, codes: {P: individual, C: corporate}}
      onboard_date: {column: OPEN_DT, format: "%d/%m/%Y"}
"""


def mapped_source(folder: Path, t, cells: dict[tuple[int, str], str] | None = None) -> Path:
    """The slice with customers as an outside system might hold them: other names, codes, date text.

    ``cells`` overrides values of that ``CUST_MASTER`` table: {(row, source column): value}.
    """
    c = t.pop("customers").rename(columns={"customer_id": "CUST_NO", "customer_type": "CUST_TYPE",
                                           "onboard_date": "OPEN_DT"})
    c["CUST_TYPE"] = c["CUST_TYPE"].map({"individual": "P", "corporate": "C"})
    c["OPEN_DT"] = c["OPEN_DT"].dt.strftime("%d/%m/%Y")
    for (row, col), value in (cells or {}).items():
        c.loc[row, col] = value
    return write_source(folder, {"CUST_MASTER": c, **t})


def write_mapping(folder: Path, text: str) -> Path:
    path = folder / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_mapped_source_validates_clean(tables, tmp_path):
    source = mapped_source(tmp_path / "src", tables)
    wh, report = check_source(source, mapping=write_mapping(tmp_path, GOOD_MAPPING), today=TODAY)
    wh.close()
    assert report.problems == [], report.text()
    assert report.rows["customers"] == N_CUSTOMERS


def missing_source_column(folder, t):
    m = write_mapping(folder, GOOD_MAPPING.replace("customer_id: CUST_NO", "customer_id: CUST_NUMBER"))
    return mapped_source(folder / "src", t), m, (
        r"mapping\.yaml: tables\.customers\.columns\.customer_id: source column 'CUST_NUMBER' not found "
        r"in source table 'CUST_MASTER' \(columns: CUST_NO, CUST_TYPE")


def unknown_canonical_table(folder, t):
    m = write_mapping(folder, GOOD_MAPPING + "  clients:\n    columns: {customer_id: CUST_NO}\n")
    return mapped_source(folder / "src", t), m, (
        r"mapping\.yaml: tables\.clients: unknown canonical table \(expected one of customers, accounts")


def unknown_canonical_column(folder, t):
    m = write_mapping(folder, GOOD_MAPPING + "      shoe_size: CUST_NO\n")
    return mapped_source(folder / "src", t), m, (
        r"mapping\.yaml: tables\.customers\.columns\.shoe_size: unknown canonical column")


def malformed_yaml(folder, t):
    m = write_mapping(folder, GOOD_MAPPING.replace("corporate}}", "corporate}"))   # a brace left open
    return mapped_source(folder / "src", t), m, (
        r"mapping\.yaml: not valid YAML at line \d+, column \d+ \(while parsing a flow mapping; expected")


def mapping_not_a_dictionary(folder, t):
    m = write_mapping(folder, "- customers\n- accounts\n")
    return mapped_source(folder / "src", t), m, r"mapping\.yaml: \(top level\): Input should be a valid dictionary"


def missing_mapping_file(folder, t):
    return mapped_source(folder / "src", t), folder / "no-such-mapping.yaml", (
        r"mapping file .*no-such-mapping\.yaml does not exist")


def code_not_in_mapping(folder, t):
    cid = t["customers"].at[4, "customer_id"]
    source = mapped_source(folder / "src", t, {(4, "CUST_TYPE"): "X"})
    return source, write_mapping(folder, GOOD_MAPPING), (
        r"(?s)mapping\.yaml: the mapping does not cover every value.*customers\.customer_type: 1 row\(s\) "
        r"break rule 'code mapped by .*mapping\.yaml \(codes: P, C\)'.*\bX\s+1\s+" + re.escape(cid))


def date_not_in_mapping_format(folder, t):
    # one OPEN_DT in ISO while the mapping says %d/%m/%Y (was a raw strptime crash)
    cid = t["customers"].at[6, "customer_id"]
    source = mapped_source(folder / "src", t, {(6, "OPEN_DT"): "2021-03-04"})
    return source, write_mapping(folder, GOOD_MAPPING), (
        r"(?s)customers\.onboard_date: 1 row\(s\) break rule 'date format '%d/%m/%Y' from .*mapping\.yaml'"
        r".*2021-03-04\s+1\s+" + re.escape(cid))


@pytest.mark.parametrize("build", [missing_source_column, unknown_canonical_table, unknown_canonical_column,
                                   malformed_yaml, mapping_not_a_dictionary, missing_mapping_file,
                                   code_not_in_mapping, date_not_in_mapping_format],
                         ids=lambda f: f.__name__.replace("_", "-"))
def test_bad_mapping_is_a_config_error(build, tables, tmp_path, capsys):
    source, mapping, pattern = build(tmp_path, tables)
    before = snapshot(tmp_path)

    with pytest.raises(ConfigError, match=pattern):
        check_source(source, mapping=mapping, today=TODAY)

    code, text = run_cli(capsys, str(source), "--mapping", str(mapping))
    assert code == EXIT_CONFIG == ConfigError.exit_code
    assert re.search(pattern, text), text
    assert_no_traceback(text)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- clean sources
@pytest.mark.parametrize("where", ["parquet", "."], ids=["parquet-folder", "demo-folder-warehouse-duckdb"])
def test_untouched_tiny_bank_validates_clean(bank, where):
    before = snapshot(bank)
    wh, report = check_source(bank / where, today=TODAY)
    wh.close()
    assert (len(report.errors), len(report.warnings)) == (0, 0), report.text()
    assert set(report.rows) == set(TABLES) and min(report.rows.values()) > 0
    assert snapshot(bank) == before


def test_csv_copy_of_tiny_bank_validates_clean(bank, tmp_path):
    source = write_source(tmp_path / "csv", {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}, "csv")
    wh, report = check_source(source, today=TODAY)
    wh.close()
    assert (len(report.errors), len(report.warnings)) == (0, 0), report.text()
    assert report.rows["transactions"] == len(pd.read_parquet(bank / "parquet" / "transactions"))


def test_batches_do_not_change_what_the_door_reports(bank, tmp_path):
    # The door streams each table through pandera in batches (bounded memory): with one DuckDB
    # vector (2,048 rows) a batch, bad rows in the first, a middle and the last batch must be
    # counted and shown exactly as with the whole table in one batch.
    from crm_lib.data.schema import validate
    from crm_lib.data.store import open_source

    frames = {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}
    tx = frames["transactions"]
    assert len(tx) > 5 * 2048
    bad = [3, len(tx) // 2, len(tx) - 1]
    tx.loc[bad, "channel"] = "carrier_pigeon"
    source = write_source(tmp_path / "src", frames)
    with open_source(source) as wh:
        one = validate(wh, today=TODAY, batch_rows=10 ** 9)
        many = validate(wh, today=TODAY, batch_rows=2048)
    assert [p.message() for p in many.errors] == [p.message() for p in one.errors]
    (p,) = one.errors
    assert (p.table, p.column, p.count) == ("transactions", "channel", 3)
    assert list(p.examples["txn_id"]) == list(tx.loc[bad, "txn_id"])


class _NoRoomForOneAggregate:
    """A DuckDB connection whose unique-key aggregates over a whole table run out of memory, as 455M
    transaction ids did under a 3.7 GiB limit at 10M customers; the hash parts of the fallback fit."""

    def __init__(self, con):
        self._con = con

    def execute(self, query, *args):
        import duckdb

        if "GROUP BY" in query and "HAVING count(*) > 1" in query and "hash(" not in query:
            raise duckdb.OutOfMemoryException("could not allocate block (3.7 GiB/3.7 GiB used)")
        return self._con.execute(query, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_unique_keys_too_large_for_one_aggregate_are_counted_in_hash_parts(bank, tmp_path, caplog):
    """A key too large for one aggregate under DuckDB's memory limit is counted again in parts by its hash:
    the same duplicates, counts and example rows (in key order) as the one query finds."""
    from crm_lib.data.store import open_source

    frames = {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}
    for t, rows in (("transactions", [5, 900, 4_000, 4_001, 12_000, 7, 8]), ("balances", [3, 2_000])):
        frames[t] = pd.concat([frames[t], frames[t].iloc[rows]], ignore_index=True)
    source = write_source(tmp_path / "src", frames)
    with open_source(source) as wh:
        want = validate(wh, today=TODAY)
        wh.con = _NoRoomForOneAggregate(wh.con)
        with caplog.at_level(logging.INFO, logger="crm_lib.data.schema"):
            got = validate(wh, today=TODAY)
        wh.con = wh.con._con
    keys = [p for p in want.errors if p.rule == "unique key"]
    assert {(p.table, p.count) for p in keys} == {("transactions", 7), ("balances", 2)}
    (tx,) = [p for p in keys if p.table == "transactions"]
    assert len(tx.examples) == 5 and tx.examples["txn_id"].is_monotonic_increasing   # the first five in key order
    assert [p.message() for p in got.problems] == [p.message() for p in want.problems]
    assert got.duplicate_rows == want.duplicate_rows and want.duplicate_rows["transactions"] == 7
    assert "keys of transactions read in 16 hash parts" in caplog.text


class _NoRoomForOneDistinct(_NoRoomForOneAggregate):
    """As above, for the data-quality card's distinct-key counts."""

    def execute(self, query, *args):
        import duckdb

        if "SELECT DISTINCT" in query and "hash(" not in query:
            raise duckdb.OutOfMemoryException("could not allocate block (3.7 GiB/3.7 GiB used)")
        return self._con.execute(query, *args)


def test_the_quality_cards_key_counts_too_large_for_one_aggregate_are_counted_in_hash_parts(bank, tmp_path, caplog):
    """The 10M pack's overview died here: the quality card counted 455M transaction ids in one aggregate. Counted
    in hash parts, the card's uniqueness is the one query's."""
    from crm_lib.data import quality
    from crm_lib.data.store import open_source

    frames = {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}
    frames["transactions"] = pd.concat([frames["transactions"], frames["transactions"].iloc[[5, 900, 4_000, 7]]],
                                       ignore_index=True)
    source = write_source(tmp_path / "src", frames)
    with open_source(source) as wh:
        want = quality.uniqueness(wh)
        wh.con = _NoRoomForOneDistinct(wh.con)
        with caplog.at_level(logging.INFO, logger="crm_lib.data.schema"):
            got = quality.uniqueness(wh)
        wh.con = wh.con._con
    pd.testing.assert_frame_equal(got, want)
    assert want.set_index("table").loc["transactions", "duplicates"] == 4 and len(want) >= 4
    assert "keys of transactions read in 16 hash parts" in caplog.text


class _NoDistinctCounts(_NoRoomForOneAggregate):
    """A connection on which the quality card may not count distinct keys (in one query or in parts) nor
    orphans."""

    def execute(self, query, *args):
        if "SELECT DISTINCT" in query or "ANTI JOIN" in query:
            raise AssertionError(f"the card counted what the door had counted: {query}")
        return self._con.execute(query, *args)


def test_the_quality_card_reuses_the_doors_duplicate_row_and_orphan_counts(bank, tmp_path):
    """The door counts each key's duplicate rows on its way (a key held three times is one duplicated key and two
    duplicate rows) and the orphans of each foreign key; the overview's quality card takes them from the door's
    verdict instead of reading 455M transactions again, and its uniqueness and consistency are the ones it
    counts itself. A verdict on another source is not reused."""
    from crm_lib.data import quality
    from crm_lib.data.store import open_source
    from crm_lib.reporting.context import door_summary

    frames = {t: pd.read_parquet(bank / "parquet" / t) for t in TABLES}
    frames["transactions"] = pd.concat([frames["transactions"], frames["transactions"].iloc[[5, 5, 900]]],
                                       ignore_index=True)
    frames["transactions"].loc[[10, 11, 12, 13], "customer_id"] = "NO-SUCH-CUSTOMER"
    source = write_source(tmp_path / "src", frames)
    with open_source(source) as wh:
        report = validate(wh, today=TODAY)
        assert report.rule_counts["transactions.customer_id: exists in customers.customer_id"] == 4
        assert report.rule_counts["accounts.customer_id: exists in customers.customer_id"] == 0
        (keys,) = [p for p in report.errors if p.rule == "unique key"]
        assert (keys.table, keys.count) == ("transactions", 2)          # two keys held more than once ...
        assert report.duplicate_rows["transactions"] == 3               # ... by three rows beyond their first
        assert set(report.duplicate_rows) >= {"customers", "accounts", "transactions"}
        door = door_summary(report)
        assert door["duplicate_rows"] == report.duplicate_rows and door["rule_counts"] == report.rule_counts
        own = quality.uniqueness(wh), quality.consistency(wh)
        wh.con = _NoDistinctCounts(wh.con)
        card = quality.scorecard(wh, door=door)
        wh.con = wh.con._con
        pd.testing.assert_frame_equal(card.uniqueness, own[0])
        pd.testing.assert_frame_equal(card.consistency, own[1])
        assert own[0].set_index("table").loc["transactions", "duplicates"] == 3
        fk = own[1].set_index(["table", "rule"]).loc[("transactions", "exists in customers.customer_id")]
        assert (fk["broken"], fk["rows"]) == (4, len(frames["transactions"]))
        other = {**door, "source": str(tmp_path / "elsewhere"), "duplicate_rows": {"transactions": 99}}
        assert quality.scorecard(wh, door=other).uniqueness.set_index("table").loc["transactions", "duplicates"] == 3

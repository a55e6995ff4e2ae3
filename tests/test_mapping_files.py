"""Mapping semantics on files as banks really export them (issue #15, item 3).

Each test writes the tiny bank's first customers (or their transactions) the way an outside
system does: dates as ``%d/%m/%Y`` text that DuckDB's sniffer would type by itself, GBK with
Chinese category values, semicolons with a decimal comma, a preamble above the header row;
and checks either a correct load (values equal to the bank's own) or a message naming the
mapping file, the key and what to write there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from conftest import bank_slice_of
from crm_lib.data.door import check_source
from crm_lib.data.mapping import load_mapping
from crm_lib.data.store import SourceError, open_source
from crm_lib.errors import ConfigError

TODAY = "2026-11-23"
N_CUSTOMERS = 60


@pytest.fixture(scope="module")
def bank_slice(tiny_bank) -> dict[str, pd.DataFrame]:
    """The tiny bank's first ``N_CUSTOMERS`` customers and every row of theirs."""
    return bank_slice_of(tiny_bank, N_CUSTOMERS)


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def cust_master(customers: pd.DataFrame, date_format: str = "%d/%m/%Y") -> pd.DataFrame:
    c = customers.rename(columns={"customer_id": "CUST_NO", "customer_type": "CUST_TYPE", "onboard_date": "OPEN_DT"})
    c["CUST_TYPE"] = c["CUST_TYPE"].map({"individual": "P", "corporate": "C"})
    c["OPEN_DT"] = c["OPEN_DT"].dt.strftime(date_format)
    return c


MAPPING = """\
tables:
  customers:
    source: CUST_MASTER
    columns:
      customer_id: CUST_NO
      customer_type: {column: CUST_TYPE, codes: {P: individual, C: corporate}}
      onboard_date: {column: OPEN_DT, format: "%d/%m/%Y"}
"""


# ---------------------------------------------------------------------------- a format on a typed column
def test_format_on_a_column_the_csv_sniffer_types_as_a_date_is_applied(bank_slice, tmp_path):
    # see gh-15: the sniffer read OPEN_DT (d/m/Y, days up to 31) as a DATE, then the format
    # failed on every row and the door asked to "add these values to the mapping"
    t = {k: v.copy() for k, v in bank_slice.items()}
    c = cust_master(t.pop("customers"))
    assert (pd.to_datetime(c["OPEN_DT"], format="%d/%m/%Y").dt.day > 12).any()  # unambiguous for a sniffer
    src = tmp_path / "src"
    src.mkdir()
    c.to_csv(src / "CUST_MASTER.csv", index=False)
    for name, df in t.items():
        df.to_csv(src / f"{name}.csv", index=False)
    m = write(tmp_path, "mapping.yaml", MAPPING)

    wh, report = check_source(src, mapping=m, today=TODAY)
    try:
        assert not [p for p in report.problems if p.table == "customers" and p.column == "onboard_date"], report.text()
        got = wh.frame("customers", ["customer_id", "onboard_date"]).set_index("customer_id")["onboard_date"]
    finally:
        wh.close()
    want = bank_slice["customers"].set_index("customer_id")["onboard_date"].dt.normalize()
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False, check_dtype=False)


def test_mapping_format_wins_over_the_sniffers_day_month_order(bank_slice, tmp_path):
    # every day <= 12: the text reads as a valid %m/%d/%Y date too; the mapping says %d/%m/%Y
    c = cust_master(bank_slice["customers"])
    days = pd.to_datetime(c["OPEN_DT"], format="%d/%m/%Y")
    c = c[days.dt.day <= 12]
    assert len(c) >= 10 and (days[c.index].dt.day != days[c.index].dt.month).any()
    c.to_csv(write(tmp_path / "src", "CUST_MASTER.csv", ""), index=False)
    with open_source(tmp_path / "src", mapping=write(tmp_path, "mapping.yaml", MAPPING)) as wh:
        got = wh.frame("customers", ["customer_id", "onboard_date"]).set_index("customer_id")["onboard_date"]
    want = bank_slice["customers"].set_index("customer_id").loc[c["CUST_NO"], "onboard_date"].dt.normalize()
    assert (got.loc[want.index] == want).all()


def test_format_on_a_column_already_typed_as_a_date_says_remove_format(bank_slice, tmp_path):
    c = bank_slice["customers"].rename(columns={"customer_id": "CUST_NO", "customer_type": "CUST_TYPE",
                                                "onboard_date": "OPEN_DT"})
    c["CUST_TYPE"] = c["CUST_TYPE"].map({"individual": "P", "corporate": "C"})
    (tmp_path / "src").mkdir()
    c.to_parquet(tmp_path / "src" / "CUST_MASTER.parquet", index=False)   # OPEN_DT stays a timestamp
    with pytest.raises(ConfigError, match=(r"mapping\.yaml: tables\.customers\.columns\.onboard_date: source column "
                                           r"'OPEN_DT' of 'CUST_MASTER' is already a date \(TIMESTAMP.*\); remove "
                                           r"`format` \(write `onboard_date: OPEN_DT`\)")):
        open_source(tmp_path / "src", mapping=write(tmp_path, "mapping.yaml", MAPPING))


# ---------------------------------------------------------------------------- encodings
GBK_MAPPING = """\
tables:
  customers:
    source: KEHU
    columns:
      customer_id: 客户号
      customer_type: {column: 客户类型, codes: {个人: individual, 企业: corporate}}
      occupation: 职业
      onboard_date: {column: 开户日期, format: "%Y%m%d"}
"""
OCCUPATIONS = ["教师", "工程师", "医生", "个体工商户"]


def gbk_customers(customers: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "客户号": customers["customer_id"],
        "客户类型": customers["customer_type"].map({"individual": "个人", "corporate": "企业"}),
        "职业": [OCCUPATIONS[i % len(OCCUPATIONS)] for i in range(len(customers))],
        "开户日期": customers["onboard_date"].dt.strftime("%Y%m%d"),
    })


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_csv_with_chinese_values_loads_when_the_mapping_names_its_encoding(bank_slice, tmp_path, encoding):
    k = gbk_customers(bank_slice["customers"])
    write(tmp_path / "src", "KEHU.csv", k.to_csv(index=False), encoding=encoding)
    m = write(tmp_path, "mapping.yaml",
              GBK_MAPPING.replace("    source: KEHU\n", f"    source: KEHU\n    read: {{encoding: {encoding}}}\n"))
    with open_source(tmp_path / "src", mapping=m) as wh:
        got = wh.frame("customers", ["customer_id", "customer_type", "occupation", "onboard_date"])
        assert wh.mapping.check_codes(wh) == [] and wh.mapping.check_formats(wh) == []
    want = bank_slice["customers"]
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    assert got["customer_type"].tolist() == want["customer_type"].tolist()
    assert got["occupation"].tolist() == k["职业"].tolist()
    assert (got["onboard_date"] == want["onboard_date"].dt.normalize()).all()


def test_gbk_csv_without_an_encoding_names_the_mapping_key_to_set(bank_slice, tmp_path):
    write(tmp_path / "src", "KEHU.csv", gbk_customers(bank_slice["customers"]).to_csv(index=False), encoding="gbk")
    with pytest.raises(SourceError, match=r"(?s)KEHU.*is not UTF-8.*line 1.*mapping\.yaml: "
                                          r"tables\.customers\.read\.encoding \(e\.g\. gb18030"):
        open_source(tmp_path / "src", mapping=write(tmp_path, "mapping.yaml", GBK_MAPPING))


def test_wrong_encoding_names_the_line_and_the_key(bank_slice, tmp_path):
    k = gbk_customers(bank_slice["customers"])
    lines = k.to_csv(index=False).splitlines(keepends=True)
    # line 6 holds 0x80 0xFF: no GBK character starts with 0x80
    bad = "".join(lines[:5]).encode("gbk") + b"\x80\xff\n" + "".join(lines[5:]).encode("gbk")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "KEHU.csv").write_bytes(bad)
    m = write(tmp_path, "mapping.yaml",
              GBK_MAPPING.replace("    source: KEHU\n", "    source: KEHU\n    read: {encoding: gbk}\n"))
    with pytest.raises(SourceError, match=r"(?s)file KEHU\.csv is not gbk \(rule 'encoding gbk'\).*near line 6"
                                          r".*tables\.customers\.read\.encoding"):
        open_source(tmp_path / "src", mapping=m)


def test_unknown_encoding_is_a_mapping_error(tmp_path):
    p = write(tmp_path, "m.yaml", "tables:\n  customers:\n    read: {encoding: gkb}\n")
    with pytest.raises(ConfigError, match=r"tables\.customers\.read\.encoding: unknown encoding 'gkb'"):
        load_mapping(p)


# ---------------------------------------------------------------------------- delimiter, decimal comma
TXN_MAPPING = """\
tables:
  transactions:
    source: UMSATZ
    columns:
      txn_id: BUCHUNG
      customer_id: KUNDE
      ts: {column: DATUM, format: "%d.%m.%Y"}
      amount: BETRAG
      channel: {column: KANAL, codes: {FIL: branch, APP: mobile, WEB: online, GAA: atm, TEL: phone}}
      txn_type: ART
"""


def umsatz(txns: pd.DataFrame) -> str:
    """Transactions as a German core system exports them: ';', decimal comma, dd.mm.yyyy."""
    u = pd.DataFrame({
        "BUCHUNG": txns["txn_id"], "KUNDE": txns["customer_id"], "DATUM": txns["ts"].dt.strftime("%d.%m.%Y"),
        "BETRAG": txns["amount"].map(lambda x: f"{x:.2f}".replace(".", ",")),
        "KANAL": txns["channel"].map({"branch": "FIL", "mobile": "APP", "online": "WEB", "atm": "GAA",
                                      "phone": "TEL"}),
        "ART": txns["txn_type"]})
    return u.to_csv(index=False, sep=";")


def test_semicolon_decimal_comma_csv_loads_with_reader_options(bank_slice, tmp_path):
    txns = bank_slice["transactions"]
    assert (txns["amount"].round(2) % 1 != 0).any()  # there are cents to lose
    write(tmp_path / "src", "UMSATZ.csv", umsatz(txns))
    m = write(tmp_path, "mapping.yaml",
              TXN_MAPPING.replace("    source: UMSATZ\n", "    source: UMSATZ\n    read: {delimiter: ';', decimal: ','}\n"))
    with open_source(tmp_path / "src", mapping=m) as wh:
        assert wh.columns("transactions")["amount"] == "DOUBLE"
        got = wh.frame("transactions", ["txn_id", "amount", "ts", "channel"]).set_index("txn_id")
    want = txns.set_index("txn_id")
    # amounts were written to the cent, so they come back to the cent (abs 5e-3 = half a cent)
    assert got["amount"].sub(want.loc[got.index, "amount"]).abs().max() < 5e-3
    assert (got["ts"] == want.loc[got.index, "ts"].dt.normalize()).all()
    assert (got["channel"] == want.loc[got.index, "channel"]).all()


def test_decimal_comma_without_the_option_is_reported_as_text_amounts(bank_slice, tmp_path):
    write(tmp_path / "src", "UMSATZ.csv", umsatz(bank_slice["transactions"]))
    m = write(tmp_path, "mapping.yaml",
              TXN_MAPPING.replace("    source: UMSATZ\n", "    source: UMSATZ\n    read: {delimiter: ';'}\n"))
    with open_source(tmp_path / "src", mapping=m) as wh:
        assert wh.columns("transactions")["amount"] == "VARCHAR"   # the door then reports 'type number'


# ---------------------------------------------------------------------------- header row offset
def test_header_row_below_a_preamble(bank_slice, tmp_path):
    c = cust_master(bank_slice["customers"])
    preamble = "Extract CUST_MASTER from CORE, run 2026-10-01 06:00\nConfidential: internal use only\n"
    write(tmp_path / "src", "CUST_MASTER.csv", preamble + c.to_csv(index=False))
    m = write(tmp_path, "mapping.yaml", MAPPING.replace("    source: CUST_MASTER\n",
                                                        "    source: CUST_MASTER\n    read: {header_row: 3}\n"))
    with open_source(tmp_path / "src", mapping=m) as wh:
        got = wh.frame("customers", ["customer_id", "customer_type", "onboard_date"])
    want = bank_slice["customers"]
    assert got["customer_id"].tolist() == want["customer_id"].tolist()
    assert got["customer_type"].tolist() == want["customer_type"].tolist()
    assert (got["onboard_date"] == want["onboard_date"].dt.normalize()).all()


def test_header_row_zero_is_a_mapping_error(tmp_path):
    p = write(tmp_path, "m.yaml", "tables:\n  customers:\n    read: {header_row: 0}\n")
    with pytest.raises(ConfigError, match=re.escape("tables.customers.read.header_row: is the line "
                                                    "number of the header row (1 = first line), got 0")):
        load_mapping(p)


def test_todo_left_in_a_proposed_mapping_names_the_key(tmp_path):
    p = write(tmp_path, "m.yaml", "tables:\n  customers:\n    columns:\n      customer_id: ID\n"
                                  "      onboard_date: TODO\n")
    with pytest.raises(ConfigError, match=re.escape("m.yaml: tables.customers.columns.onboard_date: still TODO: "
                                                    "name the source column that holds customers.onboard_date, "
                                                    "or delete the line")):
        load_mapping(p)


# ---------------------------------------------------------------------------- a value the source never varies
def test_a_stated_value_fills_a_column_the_source_does_not_hold(bank_slice, tmp_path):
    """``customer_type: {value: individual}``: a retail-only extract states its one customer type; every row
    reads it, and the door checks it like any other value (a value outside the contract is an error)."""
    c = cust_master(bank_slice["customers"]).drop(columns="CUST_TYPE")
    src = tmp_path / "src"
    src.mkdir()
    c.to_csv(src / "CUST_MASTER.csv", index=False)
    text = MAPPING.replace("{column: CUST_TYPE, codes: {P: individual, C: corporate}}", "{value: individual}")
    with open_source(src, mapping=write(tmp_path, "m.yaml", text)) as wh:
        types = wh.sql("SELECT customer_type, count(*) AS n FROM customers GROUP BY 1")
        assert "customer_type" in wh.held("customers")   # stated by the user: held, not read as empty
    assert types.to_dict("records") == [{"customer_type": "individual", "n": len(c)}]
    wh, report = check_source(src, mapping=write(tmp_path, "bad.yaml", text.replace("individual", "retail")),
                              notebooks=["00_data_overview"])
    wh.close()
    [p] = [p for p in report.errors if p.column == "customer_type"]
    assert p.count == len(c) and "one of ['corporate', 'individual']" in p.rule


@pytest.mark.parametrize("spec, says", [
    ("{value: individual, column: CUST_TYPE}", "give either `column` (the source column) or `value`"),
    ("{value: individual, codes: {P: individual}}", "`value` stands alone: `codes`, `format` and `scale` apply"),
    ("{codes: {P: individual}}", "give either `column` (the source column) or `value`"),
])
def test_a_column_spec_with_both_or_neither_of_column_and_value_names_the_key(spec, says, tmp_path):
    p = write(tmp_path, "m.yaml", f"tables:\n  customers:\n    columns:\n      customer_type: {spec}\n")
    with pytest.raises(ConfigError, match=re.escape(f"m.yaml: tables.customers.columns.customer_type: {says}")) as e:
        load_mapping(p)
    assert "Input should be a valid string" not in str(e.value)   # one message per key, not pydantic's union

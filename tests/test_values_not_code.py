"""Values from data and parameters never become code (issue #20): SQL, CSV, pages and the index.

Each test names the row of the issue's table it answers. The end-to-end payload bank (every
string column that reaches a page, opened in Chromium) is in tests/test_payload_pack.py.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import nbformat
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crm_lib.data.export import CSV_NOTE, neutralise_formulas
from crm_lib.data.privacy import pseudonymise_id
from crm_lib.data.sqlsafe import lit, suffix, suffixes
from crm_lib.data.store import open_source
from crm_lib.errors import DataContractError
from crm_lib.features import feature_table

AS_OF = "2025-06-30"
KEY = "values-test-key"
TABLES = ("customers", "accounts", "balances", "transactions", "complaints", "surveys", "campaigns",
          "campaign_contacts")


@pytest.fixture(scope="module")
def bank_copy(tiny_bank, tmp_path_factory) -> Path:
    """The tiny bank as a folder of one Parquet file per table (accounts rewritten per case)."""
    out = tmp_path_factory.mktemp("values_bank")
    for t in TABLES:
        pd.read_parquet(tiny_bank / "parquet" / t).to_parquet(out / f"{t}.parquet", index=False)
    return out


def _with_products(bank: Path, rename: dict) -> pd.DataFrame:
    acc = pd.read_parquet(bank / "accounts.parquet")
    acc = acc.assign(product=acc["product"].map(lambda p: rename.get(p, p)))
    acc.to_parquet(bank / "accounts.parquet", index=False)
    return acc


def _holdings(acc: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """The has_<product> flags computed in pandas, indexed by raw customer id."""
    d = pd.Timestamp(as_of)
    open_ = acc[(acc["open_date"] <= d) & (acc["close_date"].isna() | (acc["close_date"] > d))]
    return pd.crosstab(open_["customer_id"], open_["product"]).clip(upper=1)


def _check_holdings(bank: Path, acc: pd.DataFrame) -> pd.DataFrame:
    with open_source(bank) as wh:
        f = feature_table(wh, AS_OF, key=KEY)
    raw = {pseudonymise_id(c, KEY): c for c in pd.read_parquet(bank / "customers.parquet")["customer_id"]}
    f = f.set_index(f["customer_id"].map(raw))
    want = _holdings(acc, AS_OF).reindex(f.index, fill_value=0)
    for product, col in suffixes(sorted(acc["product"].unique()), "accounts", "product").items():
        got = f[f"has_{col}"].to_numpy()
        exp = want[product].to_numpy() if product in want else np.zeros(len(f), dtype=int)
        assert (got == exp).all(), f"holdings of {product!r}: {int(got.sum())} flagged, {int(exp.sum())} hold it"
    return f


def _restore(bank: Path, tiny_bank: Path) -> pd.DataFrame:
    acc = pd.read_parquet(tiny_bank / "parquet" / "accounts")
    acc.to_parquet(bank / "accounts.parquet", index=False)
    return acc


# --------------------------------------------------------------------------- SQL

def test_a_product_with_an_apostrophe_is_just_a_product(bank_copy, tiny_bank):
    # row: a product named `Children's Saver` made every feature notebook fail with a ParseError
    acc = _restore(bank_copy, tiny_bank)
    first = sorted(acc["product"].unique())[0]
    _check_holdings(bank_copy, _with_products(bank_copy, {first: "Children's Saver"}))


def test_an_injected_product_name_flags_only_its_holders(bank_copy, tiny_bank):
    # row: `fx' OR TRUE OR product='x` flagged 1,514 customers instead of 49
    acc = _restore(bank_copy, tiny_bank)
    rare = acc["product"].value_counts().index[-1]
    acc = _with_products(bank_copy, {rare: "fx' OR TRUE OR product='x"})
    f = _check_holdings(bank_copy, acc)
    col = "has_" + suffix("fx' OR TRUE OR product='x")
    assert 0 < f[col].sum() < 0.5 * len(f)


def test_a_product_name_cannot_read_a_file(bank_copy, tiny_bank, tmp_path):
    # row: a crafted product name with read_text('…') read a local file into the feature table
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    acc = _restore(bank_copy, tiny_bank)
    rare = acc["product"].value_counts().index[-1]
    name = f"x' || read_text('{secret}') || '"
    f = _check_holdings(bank_copy, _with_products(bank_copy, {rare: name}))
    assert not f.astype(str).apply(lambda c: c.str.contains("TOP-SECRET", regex=False)).any().any()


def test_two_products_with_one_column_name_are_refused_with_both_names(bank_copy, tiny_bank):
    acc = _restore(bank_copy, tiny_bank)
    a, b = sorted(acc["product"].unique())[:2]
    _with_products(bank_copy, {a: "Saver's Plus", b: "saver_s plus"})
    with open_source(bank_copy) as wh, pytest.raises(DataContractError, match=r"accounts\.product.*Saver's Plus.*saver_s plus"):
        feature_table(wh, AS_OF, key=KEY)
    _restore(bank_copy, tiny_bank)


NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("'\";\\-`$"),
                min_size=1, max_size=24)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(new=st.lists(NAMES, min_size=2, max_size=2, unique=True), tier=NAMES)
def test_holdings_and_tiers_equal_pandas_for_any_names(bank_copy, tiny_bank, new, tier):
    """Property: product and tier names with quotes, semicolons, --, backslashes and Unicode
    change nothing but the names: holdings equal pandas' flags, tiers follow the thresholds."""
    new = [f"{n}--{i};" for i, n in enumerate(new)]     # every case carries a comment marker and a semicolon
    assume(len({suffix(n) for n in new}) == len(new))
    acc = _restore(bank_copy, tiny_bank)
    common = list(acc["product"].value_counts().index[:2])
    assume(not {suffix(n) for n in new} & {suffix(p) for p in acc["product"].unique() if p not in common})
    acc = _with_products(bank_copy, dict(zip(common, new)))
    _check_holdings(bank_copy, acc)
    thresholds = {"individual": {f"{tier}'low": 0, "o'brien\\": 100_000}, "corporate": {"sme": 0}}
    with open_source(bank_copy) as wh:
        f = feature_table(wh, AS_OF, key=KEY, tier_thresholds=thresholds)
    ind = f[f["customer_type"] == "individual"]
    want = np.where(ind["aum_avg"].fillna(0) >= 100_000, "o'brien\\", f"{tier}'low")
    assert (ind["tier"].to_numpy() == want).all()


def test_literals_round_trip_through_both_dialects():
    con = duckdb.connect()
    import sqlglot

    for v in ["o'brien", "a\\'b", "\\", "x' OR '1'='1", "储蓄'存款", "-- c", "a;b"]:
        assert con.execute(f"SELECT {lit(v)}").fetchall()[0][0] == v
        duck = sqlglot.transpile(f"SELECT {lit(v, 'spark')}", read="spark", write="duckdb")[0]
        assert con.execute(duck).fetchall()[0][0] == v


def test_a_tier_name_with_an_apostrophe_builds_the_churn_frame(tiny_bank):
    # row: a tier name `o'brien` gave `Parser Error: unterminated string literal` in the churn frame
    from crm_lib import churn

    tiers = {"individual": {"o'brien": 0, "affluent": 100_000}, "corporate": {"sme": 0}}
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        frame = churn.survival_frame(wh, pd.Timestamp("2026-09-30"), tiers=tiers)
    assert "o'brien" in set(frame["tier_at_entry"])


def test_censor_treated_kinds_with_quotes_are_values(tiny_bank):
    # row: --set churn.censor_treated_kinds=[retention,"<img onerror…>"] (and quotes) reach SQL as values
    from crm_lib import churn
    from crm_lib.churn.settings import ChurnDefinition

    end = pd.Timestamp("2026-09-30")
    with open_source(tiny_bank / "warehouse.duckdb") as wh:
        plain = churn.survival_frame(wh, end, definition=ChurnDefinition(censor_treated_kinds=("retention",)))
        odd = churn.survival_frame(wh, end, definition=ChurnDefinition(
            censor_treated_kinds=("retention", "x' OR TRUE OR k.kind='y", "<img src=x onerror=alert(1)>")))
    pd.testing.assert_frame_equal(plain, odd)


# --------------------------------------------------------------------------- CSV

def test_formulas_in_text_cells_are_neutralised_and_numbers_left_alone():
    # row: a tier name `=HYPERLINK("http://…","tier")` gave 56 cells that Excel executes as formulas
    df = pd.DataFrame({"tier": ['=HYPERLINK("http://x","tier")', "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1", "mass", None],
                       "value": [-1.5, 2, 3, 4, 5, 6, 7, 8]})
    out = neutralise_formulas(df)
    assert out["tier"].tolist()[:6] == ["'" + v for v in df["tier"][:6]]
    assert out["tier"].iloc[6] == "mass" and pd.isna(out["tier"].iloc[7])
    assert out["value"].tolist() == df["value"].tolist()
    assert df["tier"].iloc[0].startswith("=")                 # the input is not mutated


def test_the_early_warning_csv_carries_no_formula(tmp_path):
    from crm_lib.churn.warning import export_warning_list

    t = pd.DataFrame({"customer_id": ["P" + "0" * 15, "P" + "1" * 15], "rank": [1, 2],
                      "tier": ['=HYPERLINK("http://evil","tier")', "mass"], "churn_probability": [0.5, -0.25]})
    path = export_warning_list(t, tmp_path / "list.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == CSV_NOTE
    cells = [c for row in csv.reader(lines[1:]) for c in row]     # as a spreadsheet reads them, quotes removed
    assert "'=HYPERLINK(\"http://evil\",\"tier\")" in cells
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    back = pd.read_csv(path, skiprows=1)
    assert back["tier"].iloc[0] == "'=HYPERLINK(\"http://evil\",\"tier\")"
    assert back["churn_probability"].tolist() == [0.5, -0.25]     # numbers stay numbers, negative ones too


# --------------------------------------------------------------------------- pages and the index

def test_rendered_pages_keep_no_script_handler_or_javascript_url(tmp_path):
    from crm_lib.reporting.render import render_html

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/markdown": "ok **bold** <img src=x onerror=\"window.__xss=1\"> [x](javascript:window.__xss=2)",
            "text/plain": ""}),
        nbformat.v4.new_output("display_data", data={
            "text/html": "<style>td{color:red}</style><table><tr><td onclick='x()'>kept</td></tr></table>"
                         "<script>window.__xss=3</script><svg onload='window.__xss=4'></svg>",
            "text/plain": ""})]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title <script>window.__xss=5</script>"), cell]
    nbformat.write(nb, str(tmp_path / "p.ipynb"))
    page = render_html(tmp_path / "p.ipynb", tmp_path / "p.html").read_text()
    body = page[page.index("<body"):]
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "window.__xss=1", "window.__xss=3"):
        assert bad not in body, bad
    assert "<strong>bold</strong>" in body and ">kept</td>" in body and "td{color:red}" in body


def _manifest(pack: Path, **info) -> None:
    pack.mkdir(parents=True, exist_ok=True)
    (pack / "manifest.json").write_text(json.dumps(info))
    (pack / "facts.json").write_text("[]")


def test_the_index_escapes_names_and_quotes_links(tmp_path):
    # row: a profile named `m2<img onerror…>` or with `'` broke out of the index's href
    from crm_lib.reporting.index import build_index

    bad = "00_<img src=x onerror=alert(1)>"
    pack = tmp_path / "m2'x" / "2026Q3"
    _manifest(pack, status="ok", seconds=3.0, notebooks=[
        {"name": bad, "status": "ok", "omitted": [{"section": "Log-rank by tier", "reason": "one group"}]}])
    (pack / f"{bad}.html").write_text("page")
    page = build_index(tmp_path).read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "href=\"m2%27x/2026Q3/00_%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.html\"" in page
    assert "1 section(s) omitted" in page and "Log-rank by tier: one group" in page


def test_the_index_refuses_a_planted_symlink(tmp_path):
    # row: symlinks planted inside reports_dir (index.html, index_files/) were followed and their targets overwritten
    from crm_lib.errors import WorkbenchError
    from crm_lib.reporting.index import build_index

    _manifest(tmp_path / "reports" / "quarterly" / "2026Q3", status="ok", notebooks=[])
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tmp_path / "reports" / "index.html").symlink_to(victim)
    with pytest.raises(WorkbenchError, match="symbolic link"):
        build_index(tmp_path / "reports")
    assert victim.read_text() == "keep me"
    (tmp_path / "reports" / "index.html").unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(tmp_path / "reports" / "index_files", ignore_errors=True)
    (tmp_path / "reports" / "index_files").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(WorkbenchError, match="symbolic link"):
        build_index(tmp_path / "reports")
    assert not list(elsewhere.iterdir())

"""A real quarterly pack built from a degenerate but valid bank (issue #22): the door accepts
it, every notebook of the profile runs, the omitted sections are marked, and the pack exits 0.

The pack is built in Chinese (``locale=zh-CN``, CNY; issue #16), so the same run also shows that a Chinese
pack builds on thin data, records the facts an English build records, and reads as Chinese in Chromium
(no catalogue sentence left in English, no missing glyph in a figure).

Kept apart from tests/test_degenerate_banks.py (which runs the notebooks' own cells in-process
for 14 banks) so the two files run on different test workers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from conftest import chromium, load

from test_degenerate_banks import (CHURN_EVENT_SECTIONS, CHURN_EXIT_SECTIONS, OVERRIDES, ROOT, banks,  # noqa: F401
                                   no_closures, no_complaints_in_quarter, no_surveys, retail_only, write_source)

CLI = [sys.executable, "-m", "crm_lib.cli"]
CHINESE = ["--set", "locale=zh-CN", "--set", "currency={code: CNY, symbol: ¥}"]


def _pack(banks, tmp_path, build, fmt, extra=()) -> tuple:
    source = write_source(tmp_path / "source", build({k: v.copy() for k, v in banks.tables.items()}), fmt)
    reports = tmp_path / "reports"
    door = subprocess.run([*CLI, "validate", str(source)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    # the whole quarterly profile, 40_clv and 50_next_best_product included
    run = subprocess.run([*CLI, "run", "quarterly", "--source", str(source), "--set", f"reports_dir={reports}",
                          *[a for o in OVERRIDES for a in ("--set", o)], *extra],
                         capture_output=True, text=True, cwd=ROOT, timeout=1800)
    pack = reports / "quarterly" / "2026Q3"
    assert (pack / "manifest.json").exists(), f"no pack written (exit {run.returncode}):\n{run.stdout}\n{run.stderr}"
    manifest = json.loads((pack / "manifest.json").read_text())
    facts = json.loads((pack / "facts.json").read_text())
    return door, run, manifest, facts


def _assert_pack_marks_omitted_sections(door, run, manifest, facts) -> dict:
    assert door.returncode == 0 and "0 error(s)" in door.stdout, door.stdout + door.stderr
    assert run.returncode == 0, run.stdout + run.stderr                     # omitted sections are not failures
    assert manifest["status"] == "ok" and all(nb["status"] == "ok" for nb in manifest["notebooks"])
    by_nb = {nb["name"]: nb["omitted"] for nb in manifest["notebooks"]}
    for nb, omitted in by_nb.items():   # the manifest lists what the facts recorded, each with its reason
        recorded = [f["tags"] for f in facts if f["notebook"] == nb and f["tags"].get("kind") == "omitted"]
        assert [o["section"] for o in omitted] == [t["section"] for t in recorded]
        assert all(o["reason"] for o in omitted)
    return by_nb


@pytest.mark.slow
def test_pack_of_a_retail_only_book_without_closures_complaints_in_the_quarter_or_surveys_exits_0(banks, tmp_path):
    """One pack for four degenerations at once (each full pack costs 1-2 minutes of CI): a retail-only book
    without closures, without complaints in the quarter and without surveys, read from Parquet files."""
    door, run, manifest, facts = _pack(
        banks, tmp_path, lambda t: retail_only(no_closures(no_surveys(no_complaints_in_quarter(t)))), "parquet",
        CHINESE)
    by_nb = _assert_pack_marks_omitted_sections(door, run, manifest, facts)
    assert manifest["parameters"]["locale"] == "zh-CN"
    roots = {o["section"] for o in by_nb["20_churn"] if not o["builds_on"]}
    assert roots == set(CHURN_EVENT_SECTIONS) | set(CHURN_EXIT_SECTIONS)
    assert "will run with sections omitted" in door.stdout and "not estimable: Cox model" in run.stdout
    # no churn to fit survival on: the relationship CLV is omitted, the card and payment models still run
    assert [o["section"] for o in by_nb["40_clv"] if not o["builds_on"]] == ["Relationship CLV"]
    assert any(f["name"] == "transactional_fee_value" for f in facts)
    # corporate products are skipped in a retail-only book, the individual ones are modelled
    assert "50_next_best_product" in by_nb
    # no complaint resolved in the quarter, no survey: those sections say why, the review still runs
    assert [o["section"] for o in by_nb["31_complaints_sla"]] == ["Time to resolution", "Resolution time table"]
    assert by_nb["30_satisfaction"][0]["section"] == "Satisfaction scores and index"
    names = {f["name"] for f in facts if f["notebook"] == "90_effectiveness_review"}
    assert "kpis_met" in names    # the review ran with the missing KPIs 'not measured this period'


    # The pack was built in Chinese (issue #16): the facts are the ones an English build of the same source
    # records (built facts-only: tests/test_backfill.py shows facts-only and full packs record the same facts),
    _assert_facts_do_not_depend_on_the_language(tmp_path, facts)
    # and every page reads as Chinese in Chromium, figures without a missing glyph.
    _assert_pages_read_as_chinese(tmp_path / "reports", tmp_path / "reports" / "quarterly" / "2026Q3", tmp_path)


def _number(x):
    return x if x is None or isinstance(x, str) else round(float(x), 9)


def _assert_facts_do_not_depend_on_the_language(tmp_path, facts) -> None:
    english = tmp_path / "reports_en"
    run = subprocess.run([*CLI, "run", "quarterly", "--facts-only", "--source", str(tmp_path / "source"),
                          "--set", f"reports_dir={english}", *[a for o in OVERRIDES for a in ("--set", o)]],
                         capture_output=True, text=True, cwd=ROOT, timeout=1800)
    assert run.returncode == 0, run.stdout + run.stderr
    en = json.loads((english / "quarterly" / "2026Q3" / "facts.json").read_text())
    def key(f, reports):   # the reports folder differs, and an omitted list names where it looked
        return (f["name"], _number(f["value"]), f["n"], _number(f["ci_lower"]), _number(f["ci_upper"]),
                _number(f["p_value"]), f["unit"], f["definition"].replace(str(reports), "<reports>"))

    assert len(en) == len(facts) > 50
    assert sorted(key(f, english) for f in en) == sorted(key(f, tmp_path / "reports") for f in facts)


CJK = re.compile(r"[\u4e00-\u9fff]")


def _assert_pages_read_as_chinese(reports, pack, shots) -> None:
    """Every heading, paragraph and list item of every page (outside tables, where data values and codes
    stand as the bank spells them) and every not-estimable box holds Chinese; the index is mostly Chinese;
    no figure lacked a glyph while it was drawn (matplotlib's warning would be in the notebook's output)."""
    for nb in sorted(pack.glob("*.ipynb")):
        text = nb.read_text()
        assert "missing from font" not in text and "Glyph" not in text, f"{nb.name}: a figure lacks a glyph"
    pages = sorted(pack.glob("*.html"))
    assert len(pages) == 8              # the quarterly profile's notebooks
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        load(page, reports / "index.html")
        text = page.inner_text("body")
        cjk, latin = len(CJK.findall(text)), sum(ch.isascii() and ch.isalpha() for ch in text)
        assert cjk > 2 * latin, f"index: {cjk} Chinese characters, {latin} Latin letters"
        for path in pages:
            load(page, path)
            blocks = page.eval_on_selector_all(
                "h1, h2, h3, p, li, div.not-estimable",
                "els => els.filter(e => !e.closest('table')).map(e => [e.tagName, e.innerText.trim()])")
            prose = [(tag, t) for tag, t in blocks if re.search(r"[A-Za-z]{3}", t)]
            english = [t[:90] for _tag, t in prose if not CJK.search(t)]
            assert len(prose) >= 8 and english == [], f"{path.name}: {len(english)} block(s) in English: {english[:5]}"
            page.screenshot(path=str(shots / f"zh_{path.stem}.png"), full_page=True)

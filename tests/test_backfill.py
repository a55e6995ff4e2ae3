"""History on first use (issue #13): earlier periods built as facts only (``crm-workbench backfill``).

* a period built facts only records the same facts as the same period built as a full Papermill pack;
* a fresh reports folder, backfilled and then given its current pack, has a previous and a year-ago value
  for every headline KPI, and the index shows the headline block with trends (real Chromium);
* the facts-only executor runs cells as Papermill does (parameters after the parameters cell, a failing
  cell named, a cell over its time limit stopped) and the backfill's period arithmetic.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from crm_lib.config import Period
from crm_lib.evaluation import review
from crm_lib.evaluation.scorecard import period_facts
from crm_lib.reporting.commands import backfill_periods
from crm_lib.reporting.factsonly import Zygotes, code_cells

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
# the notebooks that feed the headline KPIs (the Makefile's HISTORY_NOTEBOOKS), with lean bootstraps
HEADLINE_NOTEBOOKS = "00_data_overview, 10_segmentation, 20_churn, 30_satisfaction, 31_complaints_sla, 40_clv, 90_effectiveness_review"
LEAN = ["--set", "n_boot=60", "--set", "churn.n_boot=20"]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        # the same code on the same numbers in another process: equal, NaN included
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


# --------------------------------------------------------------------------- same facts, however built

@pytest.mark.slow
def test_a_backfilled_period_has_the_facts_of_the_same_period_built_as_a_full_pack(shared_payload_packs, tmp_path):
    """The payload bank's full quarterly pack (tests/shared_packs.py, every notebook, alpha 0.2) against the
    same period, parameters and source built facts only: every fact's value, n, interval and p-value equal."""
    from shared_packs import PAYLOAD_ALPHA

    reports, runs = shared_payload_packs
    assert runs["quarterly"]["returncode"] == 0, runs["quarterly"]["stderr"]
    full = reports / "quarterly" / "2026Q3"
    work = full.parents[2]
    other = tmp_path / "reports"
    r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "-q", "run", "quarterly", "--facts-only", "--period",
                        "2026Q3", "--source", str(work / "warehouse.duckdb"), "--set", f"reports_dir={other}",
                        "--set", f"alpha={PAYLOAD_ALPHA}"],
                       capture_output=True, text=True, timeout=900, cwd=ROOT,
                       env={**os.environ, "CRM_PARAMETERS_DIR": str(work / "parameters")})
    assert r.returncode == 0, r.stdout + r.stderr
    built = other / "quarterly" / "2026Q3"
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["built"] == "facts only" and json.loads((full / "manifest.json").read_text())["built"] == "full"
    assert not list(built.glob("*.html")) and not list(built.glob("*.ipynb"))   # no pages
    got = {f["name"]: f for f in json.loads((built / "facts.json").read_text())}
    want = {f["name"]: f for f in json.loads((full / "facts.json").read_text())}
    assert len(want) > 100 and set(got) == set(want), sorted(set(got) ^ set(want))
    for name, f in want.items():
        for key in ("value", "n", "ci_lower", "ci_upper", "ci_level", "p_value"):
            assert _same(got[name][key], f[key]), f"{name}.{key}: {got[name][key]!r} != {f[key]!r}"
        # a definition may name the reports folder the pack looked in (the two packs are in different ones)
        assert got[name]["definition"].replace(str(other), "R") == f["definition"].replace(str(reports), "R"), name
    # what the notebooks write besides facts (the early-warning and target lists) is written the same way
    files = sorted(p.name for p in full.iterdir() if p.suffix in (".csv", ".parquet", ".json")
                   and p.name not in ("manifest.json", "facts.json", "door.json"))
    assert files and files == sorted(p.name for p in built.iterdir() if p.name in files)
    for name in (n for n in files if n.endswith(".csv")):
        assert (built / name).read_bytes() == (full / name).read_bytes(), name


# --------------------------------------------------------------------------- first use, end to end

@pytest.mark.slow
def test_backfill_then_the_pack_give_every_headline_kpi_a_previous_a_year_ago_and_a_trend(tiny_bank, tmp_path):
    """As `make report` does (lean bootstraps): backfill the 4 quarters before 2026Q3 facts only, then build
    2026Q3. Every headline KPI has a previous and a year-ago value; the index shows the block with sparklines
    (5 points each) in Chromium, nothing overflows at 1280 px; the review leads with the headline."""
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "profiles" / "quarterly.yaml").write_text(f"period_kind: quarter\nnotebooks: [{HEADLINE_NOTEBOOKS}]\n")
    for name, edit in (("segmentation.yaml", lambda d: (d["clusters"].update(n_bootstrap=4),
                                                         d["migration"].update(n_bootstrap=200))),
                       ("clv.yaml", lambda d: d.update(n_draws=50))):   # fewer refits and draws: same code, faster
        d = yaml.safe_load((pdir / name).read_text())
        edit(d)
        (pdir / name).write_text(yaml.safe_dump(d, sort_keys=False))
    reports = tmp_path / "reports"
    env = {**os.environ, "CRM_PARAMETERS_DIR": str(pdir)}
    common = ["--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}", *LEAN]
    base = [sys.executable, "-m", "crm_lib.cli", "-q"]
    b = subprocess.run([*base, "backfill", "quarterly", "--periods", "4", *common], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=900)
    assert b.returncode == 0, b.stdout + b.stderr
    assert "4 period(s) before 2026Q3 to build, facts only (2025Q3, 2025Q4, 2026Q1, 2026Q2)" in b.stdout
    r = subprocess.run([*base, "run", "quarterly", *common], env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    again = subprocess.run([*base, "backfill", "quarterly", "--periods", "4", *common], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "backfill: 0 period(s) built" in again.stdout   # idempotent
    built = {p.name: json.loads((p / "manifest.json").read_text())["built"] for p in (reports / "quarterly").iterdir()
             if p.is_dir() and not p.name.startswith(".")}
    assert built == {"2025Q3": "facts only", "2025Q4": "facts only", "2026Q1": "facts only", "2026Q2": "facts only",
                     "2026Q3": "full"}

    per = Period.parse("2026Q3")
    cur, prev, yoy = (period_facts(reports, "quarterly", p) for p in (per, per.previous(), per.year_ago()))
    card = review.headline_card(cur, prev, yoy, {})
    assert list(card.index) == review.headline_kpis()
    assert card["value"].notna().all(), card.index[card["value"].isna()].tolist()
    assert card["prev_value"].notna().all(), card.index[card["prev_value"].isna()].tolist()
    assert card["yoy_value"].notna().all(), card.index[card["yoy_value"].isna()].tolist()
    review_html = (reports / "quarterly" / "2026Q3" / "90_effectiveness_review.html").read_text()
    assert "vs 2026Q2" in review_html and "no history" not in review_html
    # the review reads the backfilled quarter as its previous one: the change it prints is the facts' difference
    q3 = {f["name"]: f for f in json.loads((reports / "quarterly" / "2026Q3" / "facts.json").read_text())}
    q2 = {f["name"]: f for f in json.loads((reports / "quarterly" / "2026Q2" / "facts.json").read_text())}
    assert f"{q3['active_customers']['value'] - q2['active_customers']['value']:+,.0f}".replace("-", "−") in review_html
    assert "kpi_alerts" in q3 and "kpis_met" in q3 and "kpis_met" in q2   # the backfilled review ran too
    assert (review_html.index("Executive summary, 2026Q3") < review_html.index("Headline KPIs")
            < review_html.index("Significant changes") < review_html.index("Every other KPI, by area"))

    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian chromium is missing: `make browser` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto((reports / "index.html").as_uri())
            page.wait_for_load_state("load")
            assert page.locator("#headline-quarterly table.headline").count() == 1
            rows = page.eval_on_selector_all(
                "#headline-quarterly tr[data-kpi]",
                """els => els.map(e => [e.dataset.kpi, e.querySelectorAll('td.num').length,
                                        (e.querySelector('img.spark') || {}).title || '',
                                        !!(e.querySelector('img.spark') && e.querySelector('img.spark').complete
                                           && e.querySelector('img.spark').naturalWidth > 0)])""")
            assert [r[0] for r in rows] == review.headline_kpis()
            for kpi, cells, title, loaded in rows:
                assert cells == 5 and loaded and "(5 period(s))" in title, (kpi, cells, title, loaded)
            assert "not measured this period" not in page.inner_text("#headline-quarterly")
            assert page.inner_text("body").count("facts only") >= 4     # the packs table says how each was built
            wide = page.evaluate("""() => [document.documentElement.scrollWidth,
                [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 1280.5)
                  .map(e => e.tagName + '.' + e.className).slice(0, 5)]""")
            assert wide[0] <= 1280 and wide[1] == [], f"overflow at 1280 px: {wide}"
            page.screenshot(path=str(tmp_path / "index_headline.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "index_headline.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- the executor and the periods

def _notebook(path: Path, cells: list[str], tagged: int | None = 0) -> Path:
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]} if i == tagged else {},
                     "source": c, "outputs": [], "execution_count": None} for i, c in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    nb["cells"].insert(1, {"cell_type": "markdown", "metadata": {}, "source": "# prose is not run"})
    path.write_text(json.dumps(nb))
    return path


def test_parameters_come_after_the_parameters_cell_and_a_failing_cell_is_named(tmp_path):
    out = tmp_path / "out.json"
    nb = _notebook(tmp_path / "n.ipynb", ["x = 1\nwhen = None", "import json, pathlib\n"
                   f"pathlib.Path({str(out)!r}).write_text(json.dumps([x, str(when), sorted(params)]))",
                   "print('displays go nowhere')", "raise ValueError('the bank has no such branch')"])
    assert code_cells(nb)[1] == 0
    pfile = tmp_path / "p.yaml"
    pfile.write_text("x: 2\nwhen: 2026-09-30\nparams: {alpha: 0.1, since: 2026-01-01}\n")
    with Zygotes(1, dict(os.environ)) as z:
        r = z.run([str(nb), str(pfile), "60"], tmp_path / "err.txt")
        # a second notebook in the same worker starts from a clean namespace: x is the injected 2 again
        out.unlink()
        r2 = z.run([str(nb), str(pfile), "60"], tmp_path / "err2.txt")
    assert r.returncode == 1 == r2.returncode
    assert json.loads(out.read_text()) == [2, "2026-09-30", ["alpha", "since"]]   # YAML dates as Papermill does
    last = r.stderr.strip().splitlines()[-1]
    assert last == "n.ipynb cell 4: ValueError: the bank has no such branch", last
    assert "displays go nowhere" not in r.stderr


def test_a_cell_over_its_time_limit_is_stopped(tmp_path):
    nb = _notebook(tmp_path / "slow.ipynb", ["pass", "import time\ntime.sleep(30)"])
    pfile = tmp_path / "p.yaml"
    pfile.write_text("{}\n")
    r = subprocess.run([sys.executable, "-m", "crm_lib.reporting.factsonly", str(nb), str(pfile), "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "TimeoutError: the cell ran longer than 1 s" in r.stderr.splitlines()[-1]


def test_backfill_periods_are_the_ones_before_oldest_first_within_the_data():
    q = backfill_periods("quarter", Period.parse("2026Q3"), 8)
    assert [p.label for p in q] == ["2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"]
    assert Period.parse("2026Q3").year_ago().label in [p.label for p in q]
    assert [p.label for p in backfill_periods("quarter", Period.parse("2026Q3"), 8, date(2025, 10, 1))] == \
        ["2025Q4", "2026Q1", "2026Q2"]     # the data start in October 2025: earlier quarters cannot be built
    assert [p.label for p in backfill_periods("month", Period.parse("2026-09"), 2)] == ["2026-07", "2026-08"]
    assert backfill_periods("year", Period.parse("2026"), 0) == []


def test_backfill_notebooks_must_exist_and_belong_to_the_profile(tiny_bank, tmp_path):
    base = [sys.executable, "-m", "crm_lib.cli", "-q", "backfill", "quarterly", "--source",
            str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={tmp_path}"]
    r = subprocess.run([*base, "--notebooks", "00_data_overview,99_nope"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "no notebook 99_nope" in r.stderr and not any(tmp_path.iterdir())
    r = subprocess.run([*base, "--notebooks", "21_early_warning"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2 and "none of 21_early_warning is in profile quarterly" in r.stderr

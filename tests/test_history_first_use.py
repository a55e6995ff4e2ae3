"""History on first use (issue #13), end to end: a fresh reports folder is backfilled (facts only) and then
given its current pack, as `make report` does; every headline KPI then has a previous and a year-ago value,
and the index shows the headline block with trends in real Chromium.

Kept apart from tests/test_backfill.py so the two long tests run on different test workers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, chromium, load
from crm_lib.config import Period
from crm_lib.evaluation import report as review
from crm_lib.evaluation.scorecard import period_facts

# the notebooks that feed the headline KPIs (the Makefile's HISTORY_NOTEBOOKS), with lean bootstraps
HEADLINE_NOTEBOOKS = ("00_data_overview, 10_segmentation, 20_churn, 30_satisfaction, 31_complaints_sla, 40_clv, "
                      "90_effectiveness_review")
LEAN = ["--set", "n_boot=60", "--set", "churn.n_boot=20"]


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

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        load(page, reports / "index.html")
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
    assert (tmp_path / "index_headline.png").stat().st_size > 10_000

"""A real headless browser (Debian chromium via Playwright) opens the index and a report page."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def reports(tiny_bank, tmp_path_factory):
    """Two quarters of a pack with the overview and the effectiveness review."""
    out = tmp_path_factory.mktemp("browser_reports")
    pdir = out.parent / "browser_parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    (pdir / "profiles" / "quarterly.yaml").write_text(
        "period_kind: quarter\nnotebooks: [00_data_overview, 90_effectiveness_review]\n")
    for period in ("2026Q2", "2026Q3"):
        r = subprocess.run([sys.executable, "-m", "crm_lib.cli", "-q", "run", "quarterly", "--period", period,
                            "--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={out}"],
                           capture_output=True, text=True, cwd=ROOT, timeout=600,
                           env={**os.environ, "CRM_PARAMETERS_DIR": str(pdir)})
        assert r.returncode == 0, r.stderr
    return out


def _check_page(page, url: str, shots: Path, name: str) -> None:
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_load_state("load")
    imgs = page.eval_on_selector_all("img", "els => els.map(e => [e.src.slice(0, 60), e.complete && e.naturalWidth > 0])")
    assert imgs, f"{name}: no images"
    assert all(ok for _, ok in imgs), f"{name}: broken images {[s for s, ok in imgs if not ok]}"
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
        u = urlparse(href)
        if u.scheme == "file":
            assert Path(unquote(u.path)).exists(), f"{name}: dead link {href}"
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert not errors, f"{name}: script errors {errors}"


def test_index_and_report_render_in_chromium(reports, tmp_path):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian chromium is missing: `make browser` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            _check_page(page, (reports / "index.html").as_uri(), tmp_path, "index")
            assert page.locator("text=2026Q2").count() >= 1 and page.locator("text=2026Q3").count() >= 1
            page.click("text=00_data_overview >> nth=0")
            page.wait_for_load_state("load")
            assert "Data overview: 2026Q3" in page.content()
            _check_page(browser.new_page(), (reports / "quarterly" / "2026Q3" / "00_data_overview.html").as_uri(),
                        tmp_path, "overview")
            review = browser.new_page()
            _check_page(review, (reports / "quarterly" / "2026Q3" / "90_effectiveness_review.html").as_uri(),
                        tmp_path, "review")
            assert "Executive summary, 2026Q3" in review.content()
        finally:
            browser.close()
    assert (tmp_path / "index.png").stat().st_size > 10_000

"""Shared fixtures: synthetic banks generated once per test session (shared across xdist workers)."""

from __future__ import annotations

import json
import contextlib
import os
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

os.environ.setdefault("CRM_PSEUDONYM_KEY", "test-suite-key")

ROOT = Path(__file__).resolve().parents[1]
# Debian's chromium (`make browser`) and how the browser tests start it: headless, no network extras
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
SHARED_DATA = ROOT.parent / "shared" / "data"


@contextlib.contextmanager
def chromium():
    """A real headless browser for the page tests: Debian's chromium through Playwright, closed after."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian chromium is missing: `make browser` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def load(page, path_or_url) -> None:
    """Open a file (Path) or URL in ``page`` and wait until it has loaded."""
    page.goto(path_or_url.as_uri() if isinstance(path_or_url, Path) else path_or_url)
    page.wait_for_load_state("load")
END_DATE = "2026-09-30"
TODAY = "2026-11-23"


def _bank(tmp_path_factory, name: str, size) -> Path:
    from crm_lib.data.synthetic import generate

    from shared_packs import shared_root

    out = shared_root(tmp_path_factory) / f"bank_{name}"
    with FileLock(str(out) + ".lock"):
        if not (out / "metadata.json").exists():
            generate(out, size, end_date=END_DATE)
    return out


@pytest.fixture(scope="session")
def tiny_bank(tmp_path_factory) -> Path:
    """The tiny synthetic bank (2k customers), data to 2026-09-30."""
    return _bank(tmp_path_factory, "tiny", "tiny")


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory) -> Path:
    """The small synthetic bank (50k customers): for planted-truth recovery."""
    return _bank(tmp_path_factory, "small", "small")


@pytest.fixture(scope="session")
def truth(small_bank) -> dict:
    return json.loads((small_bank / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def shared_payload_packs(tmp_path_factory, tiny_bank):
    """The payload bank's packs (tests/shared_packs.py): read by test_payload_pack, test_alpha_labels, test_backfill
    and test_pipeline."""
    from shared_packs import payload_packs

    return payload_packs(tmp_path_factory, tiny_bank)


def bank_slice_of(tiny_bank: Path, n_customers: int) -> dict:
    """The tiny bank's first ``n_customers`` customers and every row of theirs, one DataFrame per table."""
    import pandas as pd

    from crm_lib.data.schema import SCHEMAS

    frames = {t: pd.read_parquet(tiny_bank / "parquet" / t) for t in SCHEMAS}
    keep = set(frames["customers"]["customer_id"].iloc[:n_customers])
    return {t: (df[df["customer_id"].isin(keep)] if "customer_id" in df else df).reset_index(drop=True)
            for t, df in frames.items()}


# The long test files first (longest processing time first), so that the two CI workers finish together. xdist's
# default order (files with the most tests first) put the longest single-test files last, where one worker ran
# them alone; the Makefile passes --no-loadscope-reorder so this order is the one the workers take. The
# payload pack's builder (test_backfill) leads, and its other readers come after the long independent files.
LONGEST_FIRST = ("test_backfill.py", "test_history_first_use.py", "test_spark_pack.py", "test_degenerate_packs.py",
                 "test_degenerate_banks.py", "test_faults.py", "test_pipeline.py", "test_evaluation.py",
                 "test_notebooks.py", "test_notebooks_more.py", "test_spark_warehouse.py", "test_payload_pack.py",
                 "test_alpha_labels.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))   # stable: the rest keep their order

"""History on first use (issue #13): earlier periods built as facts only (``crm-workbench backfill``).

* a period built facts only records the same facts as the same period built as a full Papermill pack;
* (a backfilled history and the current pack end to end, in Chromium: tests/test_history_first_use.py);
* the facts-only executor runs cells as Papermill does (parameters after the parameters cell, a failing
  cell named, a cell over its time limit stopped) and the backfill's period arithmetic.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from conftest import ROOT
from crm_lib.config import Period
from crm_lib.reporting.commands import backfill_periods
from crm_lib.reporting.factsonly import Zygotes, code_cells

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

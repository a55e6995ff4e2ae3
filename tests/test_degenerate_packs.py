"""A real quarterly pack built from a degenerate but valid bank (issue #22): the door accepts
it, every notebook of the profile runs, the omitted sections are marked, and the pack exits 0.

Kept apart from tests/test_degenerate_banks.py (which runs the notebooks' own cells in-process
for 14 banks) so the two files run on different test workers.
"""

from __future__ import annotations

import json

import pytest

from test_degenerate_banks import (CHURN_EVENT_SECTIONS, CHURN_EXIT_SECTIONS, OVERRIDES, ROOT, banks,  # noqa: F401
                                   no_closures, no_complaints_in_quarter, no_surveys, retail_only, write_source)


def _pack(banks, tmp_path, build, fmt) -> tuple:
    import subprocess
    import sys

    source = write_source(tmp_path / "source", build({k: v.copy() for k, v in banks.tables.items()}), fmt)
    reports = tmp_path / "reports"
    base = [sys.executable, "-m", "crm_lib.cli"]
    door = subprocess.run([*base, "validate", str(source)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    # the whole quarterly profile, 40_clv and 50_next_best_product included
    run = subprocess.run([*base, "run", "quarterly", "--source", str(source), "--set", f"reports_dir={reports}",
                          *[a for o in OVERRIDES for a in ("--set", o)]],
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
        banks, tmp_path, lambda t: retail_only(no_closures(no_surveys(no_complaints_in_quarter(t)))), "parquet")
    by_nb = _assert_pack_marks_omitted_sections(door, run, manifest, facts)
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

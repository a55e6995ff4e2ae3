"""The runner starts a pack's notebooks longest first (crm_lib.reporting.runner.longest_first)."""

import json

from crm_lib.reporting.runner import TYPICAL_SECONDS, longest_first

NAMES = ["00_data_overview", "10_segmentation", "20_churn", "30_satisfaction", "40_clv"]


def _manifest(folder, seconds, status="ok"):
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(
        {"notebooks": [{"name": n, "status": status, "execute_seconds": s} for n, s in seconds.items()]}))


def test_without_an_earlier_pack_the_typical_lengths_order_them(tmp_path):
    assert longest_first(NAMES, tmp_path / "quarterly") == sorted(NAMES, key=lambda n: -TYPICAL_SECONDS[n])
    assert longest_first(NAMES, tmp_path / "quarterly")[:2] == ["20_churn", "40_clv"]


def test_the_newest_pack_with_timings_orders_them_and_unknown_notebooks_start_first(tmp_path):
    import os

    prof = tmp_path / "quarterly"
    _manifest(prof / "2026Q1", {"00_data_overview": 1.0, "40_clv": 50.0})
    _manifest(prof / "2026Q2", {"00_data_overview": 9.0, "10_segmentation": 3.0, "20_churn": 5.0, "40_clv": 4.0})
    _manifest(prof / ".build-2026Q3-1", {"30_satisfaction": 99.0})       # hidden: a build in progress, ignored
    os.utime(prof / "2026Q1" / "manifest.json", (1, 1))
    assert longest_first(NAMES, prof) == ["30_satisfaction", "00_data_overview", "20_churn", "40_clv", "10_segmentation"]


def test_a_pack_whose_notebooks_all_failed_gives_no_timings(tmp_path):
    prof = tmp_path / "quarterly"
    _manifest(prof / "2026Q2", {"00_data_overview": 900.0}, status="failed")
    assert longest_first(NAMES, prof)[0] == "20_churn"

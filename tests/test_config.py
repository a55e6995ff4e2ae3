"""Parameter resolution, validation errors and periods."""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from conftest import ROOT
from crm_lib import config
from crm_lib.config import Period, resolve, resolve_period
from crm_lib.errors import ConfigError
from crm_lib.reporting.runner import due_periods


@pytest.fixture
def pdir(tmp_path):
    """A private copy of parameters/ to break."""
    d = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", d)
    return d


def test_defaults_then_profile_then_set():
    q = resolve("quarterly")
    assert q.params.window_days == 365 and q.sources["window_days"].endswith("defaults.yaml")
    m = resolve("monthly")
    assert m.params.window_days == 90 and m.sources["window_days"].endswith("profiles/monthly.yaml")
    s = resolve("monthly", ["window_days=30", "schedule.since=2025-01-01"])
    assert s.params.window_days == 30 and s.sources["window_days"] == "--set"
    assert s.params.schedule.since == date(2025, 1, 1)
    assert s.params.horizons_months == [1, 3]


@pytest.mark.parametrize("override, match", [
    ("parallel=abc", r"--set: parallel: Input should be a valid integer"),
    ("horizons_months=[6, 0]", r"--set: horizons_months: .*every horizon must be > 0"),
    ("windw_days=30", r"--set: windw_days: unknown key"),
    ("tiers.individual={mass: 0, affluent: 5, private_banking: 5}", r"--set: tiers.*strictly increasing"),
    ("notebooks=[00_data_overview, 77_nope]", r"--set: notebooks: .*no such notebook.*77_nope"),
    ("alpha=0.7", r"--set: alpha: Input should be less than 0.5"),
    ("duckdb_memory_limit=lots", r"--set: duckdb_memory_limit: .*a size such as 6GB"),
    ("duckdb_memory_limit=0GB", r"--set: duckdb_memory_limit: .*a size such as 6GB"),
])
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve("quarterly", [override])


def test_bad_profile_file_names_the_file_and_key(pdir):
    (pdir / "profiles" / "quarterly.yaml").write_text("period_kind: quarter\nnotebooks: [00_data_overview]\nhorizon: 3\n")
    with pytest.raises(ConfigError, match=r"profiles/quarterly\.yaml: horizon: unknown key"):
        resolve("quarterly", parameters_dir=pdir)
    (pdir / "profiles" / "quarterly.yaml").write_text("period_kind: fortnight\nnotebooks: [00_data_overview]\n")
    with pytest.raises(ConfigError, match=r"profiles/quarterly\.yaml: period_kind: Input should be 'month'"):
        resolve("quarterly", parameters_dir=pdir)


def test_malformed_yaml_and_unknown_profile(pdir):
    (pdir / "defaults.yaml").write_text("source: [unclosed\n")
    with pytest.raises(ConfigError, match=r"defaults\.yaml: not valid YAML"):
        resolve("quarterly", parameters_dir=pdir)
    with pytest.raises(ConfigError, match=r"profile 'weekly'.*profiles: annual, monthly, quarterly"):
        resolve("weekly")


@pytest.mark.parametrize("text, match", [
    ("targets:\n  happiness: {target: 1}\n", r"targets\.yaml: targets\.happiness: unknown KPI"),
    ("targets:\n  churn_rate_period: {target: 1.5}\n", r"targets\.churn_rate_period\.target: 1\.5 is outside the KPI's range \[0, 1\]"),
    ("targets:\n  churn_rate_period: {target: 0.02, near_band: -1}\n", r"near_band: must be >= 0"),
    ("targets:\n  churn_rate_period: {target: low}\n", r"target: expected a number, got 'low'"),
])
def test_targets_are_checked_against_the_kpi_registry(pdir, text, match):
    (pdir / "targets.yaml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        resolve("quarterly", parameters_dir=pdir)


def test_action_register_is_checked(pdir):
    (pdir / "actions.yaml").write_text("actions:\n  - {id: A, name: x, owner: y, start_date: 2025-01-01, kpi: nope, expected_effect: 1}\n")
    with pytest.raises(ConfigError, match=r"actions\.yaml: actions\[0\]\.kpi: unknown KPI 'nope'"):
        resolve("quarterly", parameters_dir=pdir)
    (pdir / "actions.yaml").write_text("actions:\n  - {id: A, name: x}\n")
    with pytest.raises(ConfigError, match=r"actions\[0\]: missing key\(s\) \['expected_effect', 'kpi', 'owner', 'start_date'\]"):
        resolve("quarterly", parameters_dir=pdir)


@pytest.mark.parametrize("text, kind, start, end", [
    ("2026-09", "month", date(2026, 9, 1), date(2026, 9, 30)),
    ("2026Q3", "quarter", date(2026, 7, 1), date(2026, 9, 30)),
    ("2024q1", "quarter", date(2024, 1, 1), date(2024, 3, 31)),
    ("2025", "year", date(2025, 1, 1), date(2025, 12, 31)),
])
def test_periods_parse(text, kind, start, end):
    p = Period.parse(text)
    assert (p.kind, p.start, p.end) == (kind, start, end)


def test_period_arithmetic():
    p = Period.parse("2026Q1")
    assert p.previous().label == "2025Q4" and p.year_ago().label == "2025Q1"
    assert Period.parse("2026-01").previous().label == "2025-12"
    assert Period.last_closed("quarter", date(2026, 9, 30)).label == "2026Q3"
    assert Period.last_closed("quarter", date(2026, 9, 29)).label == "2026Q2"
    assert Period.last_closed("year", date(2026, 9, 30)).label == "2025"


@pytest.mark.parametrize("text, kind, match", [
    ("2026Q5", "quarter", r"period '2026Q5': expected a month \(2026-09\), quarter \(2026Q3\) or year"),
    ("Sept", "month", r"period 'Sept'"),
    ("2026Q4", "quarter", r"period 2026Q4 ends 2026-12-31, after the data ends \(2026-09-30\).*last closed quarter is 2026Q3"),
    ("2026-09", "quarter", r"period 2026-09 is a month, but this profile reports by quarter \(e\.g\. 2026Q3\)"),
])
def test_bad_periods(text, kind, match):
    with pytest.raises(ConfigError, match=match):
        resolve_period(text, kind, date(2026, 9, 30))


def test_default_period_is_the_last_closed_one():
    assert resolve_period(None, "month", date(2026, 9, 30)).label == "2026-09"


def test_due_periods():
    got = [p.label for p in due_periods("quarter", date(2026, 1, 1), date(2026, 9, 30))]
    assert got == ["2026Q1", "2026Q2", "2026Q3"]
    assert [p.label for p in due_periods("year", date(2026, 1, 1), date(2026, 9, 30))] == []
    assert len(due_periods("month", date(2025, 10, 1), date(2026, 9, 30))) == 12


def test_project_parameters_are_valid():
    for profile in ("monthly", "quarterly", "annual"):
        cfg = resolve(profile)
        assert cfg.params.notebooks and cfg.targets and cfg.actions
    assert config.default_notebooks_dir().exists()


@pytest.mark.parametrize("name, ok", [
    ("quarterly", True), ("m2", True), ("ACT-01-CSAT", True), ("00_data_overview", True), ("x" * 64, True),
    ("x" * 65, False), ("", False), ("-x", False), ("_x", False), ("a.b", False), ("a/b", False), ("..", False),
    ("m2<img onerror=alert(1)>", False), ("o'brien", False), ("a b", False), ("caf\u00e9", False), ("x\n", False),
])
def test_names_follow_the_documented_rule(name, ok):
    # issue #20: names become file names, URLs and anchors, so only [A-Za-z0-9][A-Za-z0-9_-]{0,63}
    if ok:
        assert config.check_name("profile", name) == name
    else:
        with pytest.raises(ConfigError, match=r"a name may use letters, digits, '_' and '-' only, starting with a "
                                              r"letter or digit, at most 64 characters"):
            config.check_name("profile", name)


@pytest.mark.parametrize("text", ["../2026Q3", "2026Q3/..", "2026-09'", "2026<b>"])
def test_a_period_label_is_only_ever_a_period(text):
    with pytest.raises(ConfigError, match=r"expected a month \(2026-09\), quarter \(2026Q3\) or year"):
        resolve_period(text, "quarter", date(2026, 9, 30))


def test_duckdb_memory_limit_is_auto_a_size_or_duckdbs_default():
    from crm_lib.data.store import machine_memory_mb, resolve_memory_limit

    assert resolve("quarterly").params.duckdb_memory_limit == "auto"
    assert resolve("quarterly", ["duckdb_memory_limit=6gb"]).params.duckdb_memory_limit == "6GB"
    assert resolve("quarterly", ["duckdb_memory_limit=null"]).params.duckdb_memory_limit is None
    # auto: half the machine's memory shared among the kernels that run at once
    for parallel in (1, 2, 4):
        mb = int(resolve_memory_limit("auto", parallel).removesuffix("MiB"))
        assert abs(mb - machine_memory_mb() / 2 / parallel) <= 1
    assert resolve_memory_limit("512 mib", 2) == "512MiB" and resolve_memory_limit(None, 2) is None

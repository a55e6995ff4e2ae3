"""The effectiveness-evaluation cycle: scorecard, alerts, campaigns, actions, narrative."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from conftest import END_DATE, ROOT
from crm_lib import evaluation as ev
from crm_lib.config import Period
from crm_lib.data.store import open_source


def _facts(**kw) -> pd.DataFrame:
    rows = []
    for name, spec in kw.items():
        rows.append({"name": name, **spec})
    return ev.facts_frame(rows)


def _wilson(v, n):
    from statsmodels.stats.proportion import proportion_confint

    return proportion_confint(round(v * n), n, method="wilson")


# --------------------------------------------------------------------------- scorecard

def test_status_respects_direction_and_near_band():
    assert ev.status(0.021, 0.02, 0.005, higher_is_better=False) == "near"
    assert ev.status(0.019, 0.02, 0.005, higher_is_better=False) == "met"
    assert ev.status(0.03, 0.02, 0.005, higher_is_better=False) == "missed"
    assert ev.status(0.69, 0.70, 0.02, higher_is_better=True) == "near"
    assert ev.status(0.71, 0.70, 0.02, higher_is_better=True) == "met"


def test_noise_is_not_called_significant_at_the_nominal_rate():
    """Same true churn rate in both periods: the scorecard flags about alpha of the changes."""
    rng = np.random.default_rng(11)
    n, p, hits, draws = 20_000, 0.02, 0, 400
    for _ in range(draws):
        a, b = rng.binomial(n, p) / n, rng.binomial(n, p) / n
        cur = _facts(churn_rate_period=dict(value=a, unit="proportion", n=n, ci_lower=_wilson(a, n)[0],
                                            ci_upper=_wilson(a, n)[1], uncertainty="Wilson score interval"))
        prev = _facts(churn_rate_period=dict(value=b, unit="proportion", n=n, ci_lower=_wilson(b, n)[0],
                                             ci_upper=_wilson(b, n)[1], uncertainty="Wilson score interval"))
        hits += ev.scorecard(cur, prev, None, {}, alpha=0.05).loc["churn_rate_period", "sig_prev"]
    # 400 draws at a 5% false-positive rate: 95% of outcomes fall in 11-29 (binomial); 8-33 is ~99.9%
    assert 8 <= hits <= 33, hits


def test_a_real_change_is_significant_and_census_changes_are_not_tested():
    n = 30_000
    cur = _facts(churn_rate_period=dict(value=0.030, unit="proportion", n=n, ci_lower=_wilson(0.03, n)[0],
                                        ci_upper=_wilson(0.03, n)[1], uncertainty="Wilson score interval"),
                 active_customers=dict(value=100, unit="customers", n=100, uncertainty="census"))
    prev = _facts(churn_rate_period=dict(value=0.020, unit="proportion", n=n, ci_lower=_wilson(0.02, n)[0],
                                         ci_upper=_wilson(0.02, n)[1], uncertainty="Wilson score interval"),
                  active_customers=dict(value=90, unit="customers", n=90, uncertainty="census"))
    card = ev.scorecard(cur, prev, None, {"churn_rate_period": {"target": 0.025, "near_band": 0.002}})
    r = card.loc["churn_rate_period"]
    assert r["sig_prev"] and r["p_prev"] < 1e-6 and r["status"] == "missed"
    assert r["change_prev"] == pytest.approx(0.01)
    c = card.loc["active_customers"]
    assert c["change_prev"] == 10 and math.isnan(c["p_prev"]) and not c["sig_prev"]
    assert "no year-ago period" in c["history"]


def test_missing_history_says_so():
    cur = _facts(active_customers=dict(value=10, unit="customers", n=10, uncertainty="census"))
    card = ev.scorecard(cur, None, None, {})
    assert card.loc["active_customers", "history"] == "no previous period; no year-ago period"
    assert card.loc["active_customers", "status"] == "no target"


def test_alerts_need_consecutive_breaches():
    card = pd.DataFrame({"target": [0.9], "unit": ["proportion"]}, index=pd.Index(["sla_compliance"]))
    hist = pd.DataFrame({"name": "sla_compliance", "period": ["2026Q1", "2026Q2", "2026Q3"], "value": [0.95, 0.85, 0.88]})
    rules = [{"kpi": "sla_compliance", "when": "below_target", "periods": 2}]
    got = ev.alerts(card, hist, rules)
    assert got["kpi"].tolist() == ["sla_compliance"] and got["periods"].iloc[0] == "2026Q2, 2026Q3"
    assert ev.alerts(card, hist, [{**rules[0], "periods": 3}]).empty
    assert ev.alerts(card, hist, [{"kpi": "sla_compliance", "when": "below", "value": 0.8}]).empty


# --------------------------------------------------------------------------- campaigns

@pytest.fixture(scope="module")
def small_wh(small_bank):
    with open_source(small_bank / "warehouse.duckdb") as wh:
        yield wh


def test_campaign_uplift_intervals_cover_the_planted_uplifts(small_wh, truth):
    camps = small_wh.sql("SELECT * FROM campaigns")
    contacts = small_wh.sql('SELECT campaign_id, "group", responded, revenue FROM campaign_contacts')
    res = ev.evaluate_campaigns(camps, contacts, {"cross_sell": 0.02})
    planted = {**truth["campaigns"]["uplift"],
               "retention": truth["retention_campaign"]["response_treatment"] - truth["retention_campaign"]["response_control"]}
    covered = [(r["uplift_ci_lower"] <= planted[r["kind"]] <= r["uplift_ci_upper"]) for _, r in res.iterrows()]
    # 25 independent 95% intervals: P(3 or more misses) = 0.13, P(5 or more) = 0.007
    assert len(covered) == 25 and sum(covered) >= 21, res[["kind", "uplift", "uplift_ci_lower", "uplift_ci_upper"]]
    ret = res.loc[truth["retention_campaign"]["campaign_id"]]
    assert ret["uplift_ci_lower"] > 0  # the retention offer's response uplift is detected
    # incremental revenue is the revenue uplift per contact times the treated contacts
    r = res.iloc[0]
    assert r["incremental_revenue"] == pytest.approx(r["revenue_uplift"] * r["n_treatment"])


def test_mde_is_the_uplift_detectable_with_80_percent_power():
    from crm_lib.evaluation.campaigns import _mde

    mde = _mde(0.05, 4000, 1000, 0.05, 0.8)
    h = proportion_effectsize(0.05 + mde, 0.05)
    assert NormalIndPower().power(h, nobs1=4000, alpha=0.05, ratio=0.25) == pytest.approx(0.8, abs=1e-4)  # solve_power's root-finding tolerance


def test_campaign_without_control_is_an_explicit_not_evaluable_row():
    camps = pd.DataFrame({"campaign_id": ["X"], "kind": ["cross_sell"], "cost": [100.0]})
    contacts = pd.DataFrame({"campaign_id": ["X"] * 3, "group": ["treatment"] * 3, "responded": [True, False, False],
                             "revenue": [10.0, 0, 0]})
    r = ev.evaluate_campaigns(camps, contacts).loc["X"]
    assert not r["evaluable"] and r["note"] == "not evaluable: no control group"


# --------------------------------------------------------------------------- improvement actions

def test_its_recovers_the_planted_action_and_its_date(small_wh, truth):
    act = truth["improvement_action"]
    actions = [{"id": "RES", "name": "r", "kpi": "median_resolution_days", "start_date": act["start"],
                "expected_effect": act["resolution_time_factor"] - 1, "effect_scale": "relative"},
               {"id": "CSAT", "name": "c", "kpi": "csat_mean", "start_date": act["start"],
                "expected_effect": act["expected"]["csat_mean_lift"], "effect_scale": "absolute"}]
    # 99% intervals: two planted effects are checked on one fixed draw of the bank, so each
    # check has a 1% chance of a false alarm for a given seed rather than 5%
    res = ev.evaluate_actions(small_wh, actions, END_DATE, alpha=0.01)
    for aid in ("RES", "CSAT"):
        r = res.loc[aid]
        # the planted effect (x0.70 resolution time; +0.27 mean CSAT) lies in the 99% CI ...
        assert r["ci_lower"] <= r["expected_effect"] <= r["ci_upper"], r
        # ... the effect is detected (not just covered) ...
        assert r["p_value"] < 0.001
        # ... and the best single change point is the action's month
        assert str(r["detected_month"]) == act["start"]


def test_no_effect_without_an_action(small_wh):
    """A placebo date a year before the action: no level change is detected there."""
    s = ev.monthly_kpi(small_wh, "csat_mean", "2025-03-31")
    r = ev.interrupted_time_series(s, "2023-04-01")
    assert r["p_value"] > 0.05 or abs(r["level_change"]) < 0.05


def test_future_action_and_short_series_are_not_evaluable(small_wh):
    acts = [{"id": "F", "name": "future", "kpi": "csat_mean", "start_date": "2027-01-01", "expected_effect": 0.1},
            {"id": "S", "name": "short", "kpi": "csat_mean", "start_date": "2026-07-01", "expected_effect": 0.1},
            {"id": "U", "name": "unknown series", "kpi": "nps", "start_date": "2025-01-01", "expected_effect": 1}]
    res = ev.evaluate_actions(small_wh, acts, END_DATE)
    assert res.loc["F", "note"].startswith("not evaluable: starts 2027-01-01, after the data ends")
    assert "need at least 6 months on each side" in res.loc["S", "note"]
    assert res.loc["U", "note"] == "not evaluable: no monthly series for KPI nps"
    text = ev.summary_md(ev.scorecard(_facts(), None, None, {}), pd.DataFrame(columns=["kpi", "rule", "value", "periods"]),
                        ev.evaluate_campaigns(pd.DataFrame(columns=["campaign_id", "kind", "cost"]), pd.DataFrame(
                            columns=["campaign_id", "group", "responded", "revenue"])), res, Period.parse("2026Q3"))
    assert "Action F (future): not evaluable" in text


# --------------------------------------------------------------------------- end to end

@pytest.mark.slow
def test_run_due_builds_the_closed_months_and_years_once(tiny_bank, tmp_path):
    """run-due builds the monthly and annual packs that have closed, and nothing the second time; the index
    shows their KPI trends. Lean profiles (the overview only) keep it fast. Consecutive quarterly packs and the
    review's comparison with the previous one are checked in tests/test_backfill.py."""
    pdir = tmp_path / "parameters"
    shutil.copytree(ROOT / "parameters", pdir)
    for name, kind in (("monthly", "month"), ("annual", "year")):
        (pdir / "profiles" / f"{name}.yaml").write_text(f"period_kind: {kind}\nnotebooks: [00_data_overview]\n")
    reports = tmp_path / "reports"
    env = {**os.environ, "CRM_PARAMETERS_DIR": str(pdir)}
    base = [sys.executable, "-m", "crm_lib.cli", "-q"]
    common = ["--source", str(tiny_bank / "warehouse.duckdb"), "--set", f"reports_dir={reports}"]
    # monthly since August 2026, annual since 2025
    r = subprocess.run([*base, "run-due", "monthly", *common, "--set", "schedule.since=2026-08-01"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "run-due: 2 pack(s) built" in r.stdout  # 2026-08 and 2026-09
    r = subprocess.run([*base, "run-due", "annual", *common, "--set", "schedule.since=2025-01-01"],
                       env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "run-due: 1 pack(s) built" in r.stdout
    again = subprocess.run([*base, "run-due", "monthly", *common, "--set", "schedule.since=2026-08-01"],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "run-due: 0 pack(s) built" in again.stdout  # idempotent
    built = sorted(p.relative_to(reports).as_posix() for p in reports.glob("*/*") if p.is_dir()
                   and not p.name.startswith("."))
    assert built == ["annual/2025", "monthly/2026-08", "monthly/2026-09"]
    index = (reports / "index.html").read_text()
    for prof in ("monthly", "annual"):
        assert f"index_files/{prof}_kpis.png" in index and (reports / "index_files" / f"{prof}_kpis.png").exists()

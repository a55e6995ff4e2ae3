"""Reference values for tests/test_churn_metrics.py from scikit-survival 0.28.0.

Run in a throwaway environment (not the project's .venv)::

    python3 -m venv /tmp/sks && /tmp/sks/bin/pip install scikit-survival==0.28.0
    /tmp/sks/bin/python tests/reference/sksurv_metrics.py [path/to/gbsg2.csv]

It prints the constants that tests/test_churn_metrics.py keeps (``REF_*``). The data sets are
built by the functions below (numpy only), which the test imports from this file, so both
sides use the very same numbers; ``checksum`` guards against a numpy that draws differently.

Data sets
---------
- ``continuous``: 400 customers, exponential churn times, uniform censoring (about 39%
  censored), no ties; here scikit-survival and crm_lib share every convention.
- ``monthly``: the same design on whole months (times rounded up), many churns tied with
  censorings, horizons on whole months.
- GBSG2 (shared/data/gbsg2, 686 patients, days): a Cox linear predictor with the
  coefficients in its PROVENANCE.md (lifelines 0.30.3 fit, rounded to 5 dp).
- WHAS500 (shipped inside scikit-survival only; printed for the report, not used by the tests).

Tie conventions: crm_lib orders churns before censorings at a tied time (so a churner's weight
is 1 / G(T-)) and keeps customers censored exactly at a horizon as controls (weight 1 / G(t-)).
scikit-survival weighs a churner 1 / G(T) and drops customers censored at the horizon. Moving
every censored time up by ``EPS`` (far below the spacing of the times) makes scikit-survival
apply crm_lib's conventions, so the ``*_NUDGED`` values must equal crm_lib's to rounding; the
``*_RAW`` values are scikit-survival on the data as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

EPS = 1e-6                       # censored times + EPS: after every churn at the same time, before the next time
SEED = 20261203

# GBSG2 Cox coefficients, PROVENANCE.md (lifelines 0.30.3, tgrade treatment-coded, reference I)
GBSG2_BETA = {"horTh_yes": -0.34628, "age": -0.00946, "menostat_Post": 0.25844, "tsize": 0.00780,
              "tgrade_II": 0.63611, "tgrade_III": 0.77965, "pnodes": 0.04879, "progrec": -0.00222,
              "estrec": 0.00020}
GBSG2_HORIZONS = [365.0, 730.0, 1095.0, 1825.0]          # days
GBSG2_GRID = np.arange(180.0, 1801.0, 90.0)               # days, for the integrated Brier score
GBSG2_TAU = 1825.0                                        # Uno's C truncation, days


def continuous(seed: int = SEED, n: int = 400):
    """(time, event, risk, P, horizons, grid): continuous times in years; ``P[:, k]`` predicts churn by grid[k]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_churn = rng.exponential(1 / np.exp(-0.3 + 0.8 * x))
    t_cens = rng.uniform(0.2, 3.0, n)
    time = np.minimum(t_churn, t_cens)
    event = (t_churn <= t_cens).astype(int)
    risk = x + rng.normal(scale=0.7, size=n)              # an imperfect score
    grid = np.linspace(0.1, 1.5, 15)
    P = 1 - np.exp(-np.exp(-0.3 + 0.6 * risk)[:, None] * grid[None, :])
    return time, event, risk, P, np.array([0.2, 0.5, 1.0, 1.5]), grid


def monthly(seed: int = SEED + 1, n: int = 600):
    """As ``continuous`` on whole months (churn in month k -> k; churn tied with censoring counts as churn)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_churn = np.ceil(rng.exponential(18 / np.exp(0.8 * x)))
    t_cens = np.ceil(rng.uniform(1, 36, n))
    time = np.minimum(t_churn, t_cens)
    event = (t_churn <= t_cens).astype(int)
    risk = x + rng.normal(scale=0.7, size=n)
    grid = np.arange(1.0, 25.0)
    P = 1 - np.exp(-np.exp(0.6 * risk)[:, None] * grid[None, :] / 18)
    return time, event, risk, P, np.array([3.0, 6.0, 12.0, 24.0]), grid


def gbsg2(path):
    """(time, event, lp, P, horizons, grid) for GBSG2: days, recurrence, Cox linear predictor, churn-style P."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    col = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    X = {"horTh_yes": col["horTh"] == "yes", "age": col["age"].astype(float),
         "menostat_Post": col["menostat"] == "Post", "tsize": col["tsize"].astype(float),
         "tgrade_II": col["tgrade"] == "II", "tgrade_III": col["tgrade"] == "III",
         "pnodes": col["pnodes"].astype(float), "progrec": col["progrec"].astype(float),
         "estrec": col["estrec"].astype(float)}
    lp = sum(GBSG2_BETA[k] * np.asarray(v, float) for k, v in X.items())
    lp = lp - lp.mean()
    P = 1 - np.exp(-np.exp(lp)[:, None] * (GBSG2_GRID[None, :] / 2500.0) ** 1.2)
    Ph = 1 - np.exp(-np.exp(lp)[:, None] * (np.array(GBSG2_HORIZONS)[None, :] / 2500.0) ** 1.2)
    return col["time"].astype(float), col["cens"].astype(int), lp, P, Ph


def checksum(*arrays) -> float:
    return float(sum(np.asarray(a, float).sum() for a in arrays))


def _sksurv(time, event, risk, P, horizons, grid, Ph=None):
    """scikit-survival's Harrell C, Uno C (no tau, and tau = last horizon), td-AUC, Brier, IBS."""
    from sksurv.metrics import (brier_score, concordance_index_censored, concordance_index_ipcw,
                                cumulative_dynamic_auc, integrated_brier_score)
    from sksurv.util import Surv

    y = Surv.from_arrays(event.astype(bool), time)
    k = [int(np.flatnonzero(np.isclose(grid, h))[0]) for h in horizons] if Ph is None else None
    Ph = P[:, k] if Ph is None else Ph
    out = {"harrell": concordance_index_censored(event.astype(bool), time, risk)[0],
           "uno": concordance_index_ipcw(y, y, risk)[0],
           "uno_tau": concordance_index_ipcw(y, y, risk, tau=float(horizons[-1]))[0]}
    out["td_auc"] = [cumulative_dynamic_auc(y, y, Ph[:, j], float(h))[0][0] for j, h in enumerate(horizons)]
    out["brier"] = [brier_score(y, y, 1 - Ph[:, j], float(h))[1][0] for j, h in enumerate(horizons)]
    out["ibs"] = integrated_brier_score(y, y, 1 - P, grid)
    return out


def _show(name, d):
    for k, v in d.items():
        v = [float(x) for x in v] if isinstance(v, list) else float(v)
        print(f"REF_{name}_{k.upper()} = {v!r}")


def main(gbsg2_path=None) -> None:
    import sksurv

    print(f"# scikit-survival {sksurv.__version__}, numpy {np.__version__}")
    for name, fn in (("CONTINUOUS", continuous), ("MONTHLY", monthly)):
        time, event, risk, P, hs, grid = fn()
        print(f"# {name}: n={len(time)}, censored {1 - event.mean():.3f}, checksum")
        print(f"CHECKSUM_{name} = {checksum(time, event, risk, P)!r}")
        _show(name + "_RAW", _sksurv(time, event, risk, P, hs, grid))
        if name == "MONTHLY":
            _show(name + "_NUDGED", _sksurv(time + EPS * (event == 0), event, risk, P, hs, grid))
    path = Path(gbsg2_path or Path(__file__).resolve().parents[3] / "shared" / "data" / "gbsg2" / "gbsg2.csv")
    time, event, lp, P, Ph = gbsg2(path)
    hs = np.array(GBSG2_HORIZONS)
    print(f"# GBSG2 {path}: n={len(time)}, events {event.sum()}")
    print(f"CHECKSUM_GBSG2 = {checksum(time, event, lp, P, Ph)!r}")
    _show("GBSG2_RAW", _sksurv(time, event, lp, P, hs, GBSG2_GRID, Ph))
    _show("GBSG2_NUDGED", _sksurv(time + EPS * (event == 0), event, lp, P, hs, GBSG2_GRID, Ph))
    _whas500()


def _whas500() -> None:
    """WHAS500 (scikit-survival's copy): Cox linear predictor, Uno's C by scikit-survival and by crm_lib."""
    import importlib.util

    import pandas as pd
    from sksurv.datasets import load_whas500
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.metrics import concordance_index_censored, concordance_index_ipcw

    X, y = load_whas500()
    X = pd.get_dummies(X.astype(float), drop_first=True).astype(float)
    lp = CoxPHSurvivalAnalysis().fit(X, y).predict(X)
    e, t = y["fstat"], y["lenfol"]
    print(f"# WHAS500: n={len(t)}, events {int(e.sum())}; Cox (all {X.shape[1]} covariates) linear predictor")
    print(f"# WHAS500 sksurv Harrell {float(concordance_index_censored(e, t, lp)[0])!r} Uno {float(concordance_index_ipcw(y, y, lp)[0])!r}")
    yn = y.copy()
    yn["lenfol"] = t + EPS * (~e)
    print(f"# WHAS500 sksurv Uno, censorings after tied churns {float(concordance_index_ipcw(yn, yn, lp)[0])!r}")
    spec = importlib.util.spec_from_file_location(
        "crm_metrics", Path(__file__).resolve().parents[2] / "crm_lib" / "churn" / "metrics.py")
    M = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(M)
    print(f"# WHAS500 crm_lib Harrell {M.concordance(t, e, lp)!r} Uno {M.uno_c(t, e, lp)!r}")


if __name__ == "__main__":
    main(*sys.argv[1:2])

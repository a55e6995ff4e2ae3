"""ChurnCox and KeyDriverAnalysis follow scikit-learn's estimator conventions (issue #21 item 3).

``clone``, the ``get_params`` / ``set_params`` round trip, ``check_is_fitted`` on an unfitted
model, and model selection with scikit-learn's own ``GridSearchCV`` / ``cross_val_score`` on a
plain frame, scored by concordance (Cox) or R^2 (key drivers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.utils.validation import check_is_fitted

from crm_lib.churn import scoring
from crm_lib.churn.cox import ChurnCox
from crm_lib.satisfaction.drivers import KeyDriverAnalysis

PLAIN = {"duration_col": "months", "event_col": "left", "time_unit": "months"}


def plain_frame(n: int = 500, seed: int = 5) -> pd.DataFrame:
    """Months / left only, no entry column; planted log HRs 0.6 (x1), 0 (x2, noise), -0.5 (x3)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    T = rng.exponential(24 * np.exp(-(X @ np.array([0.6, 0.0, -0.5]))))
    C = rng.uniform(3, 48, n)
    return pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "months": np.minimum(T, C),
                         "left": (T <= C).astype(int)}, index=[f"K{i}" for i in range(n)])


def surveys(n: int = 3000, seed: int = 11) -> pd.DataFrame:
    """Correlated 1-5 ratings; csat = 1 + 0.5 a + 0.3 b + 0 c + noise (c is a decoy)."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=n)
    rate = lambda z: np.clip(np.round(3 + z), 1, 5)                  # noqa: E731
    a, b, c = (rate(0.7 * g + rng.normal(size=n)) for _ in range(3))
    return pd.DataFrame({"response_id": np.arange(n), "attr_a": a, "attr_b": b, "attr_c": c,
                         "csat": 1 + 0.5 * a + 0.3 * b + rng.normal(0, 0.6, n)})


# --------------------------------------------------------------------------- ChurnCox

def test_cox_clone_and_params_round_trip():
    m = ChurnCox(covariates=["x1", "x2"], penalizer=0.1, **PLAIN)
    p = m.get_params()
    assert p["penalizer"] == 0.1 and p["duration_col"] == "months" and p["time_unit"] == "months"
    assert ChurnCox(**p).get_params() == p
    c = clone(m)
    assert c is not m and c.get_params() == p
    assert m.set_params(penalizer=1.0, l1_ratio=0.0) is m and m.penalizer == 1.0
    fitted = clone(m).fit(plain_frame())
    again = clone(fitted)                                             # a clone is unfitted, same parameters
    assert again.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(again)
    check_is_fitted(fitted)


def test_cox_unfitted_raises_not_fitted_everywhere():
    m = ChurnCox(covariates=["x1"], **PLAIN)
    f = plain_frame(50)
    with pytest.raises(NotFittedError):
        check_is_fitted(m)
    for call in (lambda: m.predict_log_hazard(f), lambda: m.predict_survival(f, 6),
                 lambda: m.predict_churn_probability(f, 6), lambda: m.score(f), lambda: m.ph_test(f)):
        with pytest.raises(NotFittedError, match="ChurnCox is not fitted yet: call fit"):
            call()
    with pytest.raises(RuntimeError, match="not fitted"):                # what callers caught before
        m.predict_log_hazard(f)


def test_cox_constructor_stores_and_fit_validates():
    m = ChurnCox(covariates=["x1"], penalizer=-1, **PLAIN)              # no validation in __init__
    assert m.penalizer == -1
    with pytest.raises(ValueError, match=r"penalizer=-1: must be >= 0"):
        m.fit(plain_frame(50))
    with pytest.raises(ValueError, match=r"engine='nope'"):
        ChurnCox(covariates=["x1"], engine="nope", **PLAIN).fit(plain_frame(50))


def test_gridsearch_tunes_the_cox_penalizer_by_concordance():
    df = plain_frame()
    cv = KFold(4, shuffle=True, random_state=0)
    grid = {"penalizer": [0.0, 0.05, 0.5, 5.0]}
    search = GridSearchCV(ChurnCox(covariates=["x1", "x2", "x3"], **PLAIN), grid, cv=cv).fit(df)
    best = search.best_params_["penalizer"]
    # the default scorer is ChurnCox.score: recompute the chosen penalizer's CV concordance by hand
    by_hand = []
    for train, test in cv.split(df):
        m = ChurnCox(covariates=["x1", "x2", "x3"], penalizer=best, **PLAIN).fit(df.iloc[train])
        by_hand.append(scoring.concordance_score(df.iloc[test], m.predict_log_hazard(df.iloc[test]),
                                                 duration_col="months", event_col="left"))
    assert search.best_score_ == pytest.approx(np.mean(by_hand), abs=1e-12)
    # the explicit scorer gives the same table
    explicit = GridSearchCV(ChurnCox(covariates=["x1", "x2", "x3"], **PLAIN), grid, cv=cv,
                            scoring=scoring.concordance_scorer).fit(df)
    assert np.allclose(explicit.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"], atol=1e-15)
    # planted signal: a real model beats chance out of sample, and the heaviest ridge shrinks every log HR
    assert search.best_score_ > 0.6
    light = search.best_estimator_ if best == 0.0 else ChurnCox(covariates=["x1", "x2", "x3"], **PLAIN).fit(df)
    heavy = ChurnCox(covariates=["x1", "x2", "x3"], penalizer=5.0, **PLAIN).fit(df)
    assert (heavy.params_.abs() < light.params_.abs()).all()
    assert light.summary_.loc["x1", "hr_lower"] > 1 > light.summary_.loc["x3", "hr_upper"]
    scores = cross_val_score(ChurnCox(covariates=["x1", "x3"], **PLAIN), df, cv=cv)
    assert scores.shape == (4,) and (scores > 0.55).all()


# --------------------------------------------------------------------------- KeyDriverAnalysis

def test_key_drivers_clone_params_and_not_fitted():
    k = KeyDriverAnalysis("csat", ["attr_a", "attr_b"], n_boot=0, random_state=3)
    p = k.get_params()
    assert KeyDriverAnalysis(**p).get_params() == p and clone(k).get_params() == p
    assert k.set_params(n_boot=10) is k and k.n_boot == 10
    with pytest.raises(NotFittedError):
        check_is_fitted(k)
    with pytest.raises(NotFittedError, match="KeyDriverAnalysis is not fitted yet"):
        k.driver_matrix()
    with pytest.raises(RuntimeError):
        k.score(surveys(100))
    with pytest.raises(ValueError, match=r"n_boot=-1"):
        KeyDriverAnalysis("csat", n_boot=-1).fit(surveys(100))


def test_key_drivers_predict_and_score_equal_ols():
    s = surveys()
    drivers = ["attr_a", "attr_b", "attr_c"]
    k = KeyDriverAnalysis("csat", drivers, n_boot=0).fit(s)
    ols = LinearRegression().fit(s[drivers], s["csat"])
    # same least squares from moments (weighted covariance of rating patterns) and from the design matrix
    assert k.score(s) == pytest.approx(ols.score(s[drivers], s["csat"]), abs=1e-10)
    assert k.score(s) == pytest.approx(k.r2_, abs=1e-10)
    assert np.allclose(k.predict(s), ols.predict(s[drivers]), atol=1e-9)
    assert k.predict(s).index.equals(s.index)


def test_gridsearch_over_drivers_keeps_the_planted_ones():
    s = surveys()
    search = GridSearchCV(KeyDriverAnalysis("csat", n_boot=0),
                          {"drivers": [["attr_a"], ["attr_c"], ["attr_a", "attr_b"]]},
                          cv=KFold(5, shuffle=True, random_state=1)).fit(s)
    assert search.best_params_["drivers"] == ["attr_a", "attr_b"]      # a and b carry the planted effect
    assert 0 < search.best_score_ < 1

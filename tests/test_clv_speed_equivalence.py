"""The faster hold-out bootstrap and transactional-value intervals give the very numbers of the direct code.

``validation.holdout_errors`` draws its resamples one at a time (the same generator stream as one
``(n_boot, n)`` draw, the same row means) and ``transactional.transactional_value`` computes BG/NBD's
expectation once per distinct ``(x, t_x, T)`` row and draw; both are exact rewrites, so the
references below (the code they replaced) must agree to the last bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA
from crm_lib.clv import transactional, validation
from crm_lib.clv.bgnbd import BetaGeoModel
from crm_lib.clv.gammagamma import GammaGammaModel
from crm_lib.clv.summary import rfm_summary

CDNOW = SHARED_DATA / "cdnow_sample"


@pytest.fixture(scope="module")
def summary():
    df = pd.read_csv(CDNOW / "CDNOW_sample.txt", sep=r"\s+", header=None,
                     names=["master_id", "customer_id", "date", "cds", "value"], dtype={"date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return rfm_summary(df, "1997-09-30", "1998-06-30", date_col="date", value_col="value")


def test_holdout_bootstrap_one_resample_at_a_time_is_the_same_bootstrap(summary):
    bg = BetaGeoModel().fit(summary)
    got = validation.holdout_errors(bg, summary, n_boot=50, seed=3)
    t = float(summary["holdout_duration"].iloc[0])
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    y = summary["holdout_frequency"].to_numpy(float)
    e1 = np.abs(bg.conditional_expected_transactions(t, x, tx, T) - y)
    e2 = np.abs(x / T * t - y)
    idx = np.random.default_rng(3).integers(0, len(y), (50, len(y)))
    b1, b2 = e1[idx].mean(1), e2[idx].mean(1)
    assert got.loc["model", "lower"] == np.percentile(b1, 2.5) and got.loc["model", "upper"] == np.percentile(b1, 97.5)
    assert got.loc["naive", "lower"] == np.percentile(b2, 2.5)
    assert got.loc["difference", "upper"] == np.percentile(b1 - b2, 97.5)


def test_transactional_value_per_distinct_row_equals_per_customer(summary, monkeypatch):
    bg = BetaGeoModel().fit(summary)
    gg = GammaGammaModel().fit(summary[summary["frequency"] > 0])
    monkeypatch.setattr(transactional, "_CHUNK", 1000)           # several chunks
    got, total = transactional.transactional_value(bg, gg, summary, 52, 0.02, n_draws=30, seed=5)
    # the replaced loop: every draw's expectation computed per customer
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    m = summary["monetary_value"].to_numpy(float)
    rng = np.random.default_rng(5)
    Pb = np.exp(np.log(bg.params_.to_numpy()) + rng.multivariate_normal(np.zeros(4), bg.cov_, 30))
    Pg = np.exp(np.log(gg.params_.to_numpy()) + rng.multivariate_normal(np.zeros(3), gg.cov_, 30))
    V = np.array([transactional._with(bg, pb).conditional_expected_transactions(52, x, tx, T)
                  * transactional._with(gg, pg).conditional_expected_spend(x, m) * 0.02 for pb, pg in zip(Pb, Pg)])
    lo, hi = np.percentile(V, [2.5, 97.5], axis=0)
    np.testing.assert_array_equal(got["fee_value_lower"].to_numpy(), lo)
    np.testing.assert_array_equal(got["fee_value_upper"].to_numpy(), hi)
    tl, th = np.percentile(V.sum(1), [2.5, 97.5])
    assert total["lower"] == pytest.approx(tl, rel=1e-12) and total["upper"] == pytest.approx(th, rel=1e-12)

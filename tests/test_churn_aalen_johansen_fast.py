"""The Aalen-Johansen fitter of ``churn.competing`` equals lifelines' own, variance and intervals included.

``competing._aalen_johansen`` replaces only lifelines' row-by-row (``iterrows``) accumulation of the
variance with prefix sums (``np.cumsum`` adds left to right, as the loop does), so the estimate,
variance and bounds must be the same numbers; 1e-12 relative allows for nothing but rounding.
"""

import warnings

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter

from crm_lib.churn import competing


def test_fast_aalen_johansen_equals_lifelines():
    rng = np.random.default_rng(3)
    n = 4000
    entry = np.where(rng.random(n) < 0.5, 0.0, rng.uniform(0, 3, n))
    duration = entry + rng.exponential(4, n)
    code = rng.choice([0, 1, 2], n, p=[0.6, 0.25, 0.15])
    entry[:200], duration[:200] = 0.0, np.round(duration[:200], 1) + 0.1   # tied exit times: lifelines jitters them
    for cause in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = AalenJohansenFitter(alpha=0.1, seed=7).fit(pd.Series(duration), pd.Series(code), event_of_interest=cause,
                                                            entry=pd.Series(entry))
            new = competing._aalen_johansen(alpha=0.1, seed=7).fit(pd.Series(duration), pd.Series(code),
                                                                   event_of_interest=cause, entry=pd.Series(entry))
        pd.testing.assert_frame_equal(new.cumulative_density_, ref.cumulative_density_)
        np.testing.assert_allclose(new.variance_.to_numpy(), ref.variance_.to_numpy(), rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(new.confidence_interval_.to_numpy(), ref.confidence_interval_.to_numpy(), rtol=1e-12,
                                   equal_nan=True)
        assert list(new.confidence_interval_.columns) == list(ref.confidence_interval_.columns)

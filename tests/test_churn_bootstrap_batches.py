"""The validation bootstrap in batches (``_WeightedBlock.bootstrap``) is the one-replicate-at-a-time bootstrap.

Batches take the generator's draws in the same order and only regroup the sums (one matrix
product per batch; the cases' errors summed over churners only), so each replicate agrees with
its single evaluation to rounding (``tests/test_churn_models.py`` holds a single evaluation equal
to resampled rows).
"""

import numpy as np

from crm_lib.churn.validation import _WeightedBlock


def test_batched_bootstrap_equals_single_replicates():
    rng = np.random.default_rng(4)
    n = 3000
    u = np.round(rng.exponential(1.0, n), 1)
    E = rng.random(n) < 0.3
    grid, hidx = np.linspace(0.1, 1.2, 12), [5, 11]
    Pm = np.clip(rng.random((n, 12)) * np.linspace(0.1, 1, 12), 0, 1)
    Pb = np.round(rng.random((n, 12)), 1)
    block = _WeightedBlock(u, E, Pm, Pb, grid, hidx)
    got = block.bootstrap(np.random.default_rng(9), 37)                # two full batches and a partial one
    r = np.random.default_rng(9)
    ref = np.array([block(np.bincount(r.integers(0, n, n), minlength=n)) for _ in range(37)])
    assert got.shape == ref.shape == (37, 2 * (2 + 2 + 1))
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)

"""The blocked, log-scale evaluation of the Pareto/NBD integral A0 equals the direct one.

``paretonbd._log_a0`` evaluates ``tau``, ``log(alpha + tau)`` and ``log(beta + tau)`` through
``log(M + tau)`` and in row blocks (5-6x faster per likelihood evaluation at 1M customers). The
reference below is the direct formula it replaced (same 64 Gauss-Legendre nodes, same substitution),
so the only admissible difference is rounding: 1e-10 absolute on log A0 and its gradient, far
below the 1e-5 the quadrature itself is held to against adaptive quadrature in test_clv_models.
"""

import numpy as np
import pytest

from crm_lib.clv import paretonbd


def _direct(theta, x, tx, T):
    r, al, s, be = theta
    nodes, weights = np.polynomial.legendre.leggauss(64)
    M = max(al, be)
    c1 = r + s + x
    lo = np.exp(-c1 * (np.log(M + T) - np.log(M + tx)))
    width = 1.0 - lo
    u = lo[:, None] + width[:, None] * (nodes[None, :] + 1) / 2
    tau = (M + tx)[:, None] * u ** (-1.0 / c1[:, None]) - M
    lg = -(r + x)[:, None] * (np.log(al + tau) - np.log(M + tau)) - (s + 1) * (np.log(be + tau) - np.log(M + tau))
    gmax = lg.max(axis=1, keepdims=True)
    wk = weights[None, :] * np.exp(lg - gmax)
    S = wk.sum(1)
    with np.errstate(divide="ignore"):
        la0 = -c1 * np.log(M + tx) - np.log(c1) + np.log(S) + gmax[:, 0] + np.log(width / 2)
    la0 = np.where(width > 0, la0, -np.inf)
    wn = wk / S[:, None]
    g = np.column_stack([-(wn * np.log(al + tau)).sum(1), -(r + x) * (wn / (al + tau)).sum(1),
                         -(wn * np.log(be + tau)).sum(1), -(s + 1) * (wn / (be + tau)).sum(1)])
    return la0, np.where((width > 0)[:, None], g, 0.0)


@pytest.mark.parametrize("theta", [[0.553, 10.578, 0.606, 11.669],    # CDNOW (beta > alpha)
                                   [0.507, 10.589, 0.600, 27.041],    # the 1M synthetic bank
                                   [0.5, 20.0, 0.7, 5.0],             # alpha > beta
                                   [0.5, 7.0, 0.7, 7.0],              # alpha = beta
                                   [3.0, 0.2, 2.5, 0.1]])
def test_blocked_log_a0_equals_the_direct_formula(theta):
    rng = np.random.default_rng(1)
    n = 3 * paretonbd._BLOCK + 17                     # several blocks and a ragged last one
    T = rng.uniform(0.5, 104, n)
    tx = T * rng.uniform(0, 1, n)
    x = rng.poisson(4, n).astype(float)
    tx[x == 0] = 0.0
    tx[:5] = T[:5]                                    # t_x = T: A0 = 0, log -inf, gradient 0
    theta = np.array(theta)
    la, ga = paretonbd._log_a0(theta, x, tx, T, grad=True)
    lb, gb = _direct(theta, x, tx, T)
    assert np.array_equal(np.isfinite(la), np.isfinite(lb)) and not np.isfinite(la[:5]).any()
    f = np.isfinite(lb)
    np.testing.assert_allclose(la[f], lb[f], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ga, gb, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(paretonbd._log_a0(theta, x, tx, T, grad=False)[0], la)

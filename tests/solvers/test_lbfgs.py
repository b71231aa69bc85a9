"""The resumable L-BFGS against SciPy, and resuming from its state."""

from __future__ import annotations

import copy

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der

from softmax.solvers._lbfgs import lbfgs_resumable


def _rosen(x):
    return float(rosen(x)), rosen_der(x)


def test_minimises_rosenbrock_like_scipy():
    x0 = np.array([-1.2, 1.0, -0.5, 0.8])
    res = lbfgs_resumable(_rosen, x0, tol=1e-10, max_iter=2000)
    ref = minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B", options={"gtol": 1e-12})
    assert res.converged
    np.testing.assert_allclose(res.x, np.ones(4), atol=1e-6)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    assert res.history[0] == rosen(x0) and res.history[-1] == res.fun
    assert all(b <= a for a, b in zip(res.history, res.history[1:], strict=False))


def test_resuming_from_a_saved_state_gives_the_same_run():
    x0 = np.array([-1.2, 1.0, -0.5, 0.8])
    saved = []

    class Keep:
        def save(self, state):
            saved.append(copy.deepcopy(state))

    full = lbfgs_resumable(_rosen, x0, tol=1e-10, max_iter=2000)
    lbfgs_resumable(_rosen, x0, tol=1e-10, max_iter=2000, checkpoint=Keep(), checkpoint_every=7)
    state = saved[2]  # after 21 iterations
    assert state.n_iter == 21
    resumed = lbfgs_resumable(_rosen, x0 * 0, tol=1e-10, max_iter=2000, state=state)
    np.testing.assert_array_equal(resumed.x, full.x)
    assert resumed.n_iter == full.n_iter and resumed.history == full.history

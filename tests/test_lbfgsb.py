"""fastmlp's L-BFGS-B against scipy's: kernels, then whole minimizations."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize._dcsrch import DCSRCH, dcstep
from sklearn import neural_network as sknn
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp._engine import lbfgsb, solvers
from fastmlp._kernels import lbfgs as K
from fastmlp._kernels import line_search as LS
from tests._data import make_data

# the kernels' tests run again interpreted and bounds-checked (make test)
kernel = pytest.mark.kernel


# ----------------------------------------------------------------------------
# The line search: MINPACK-2's dcstep and dcsrch, as scipy's Python port has them
# ----------------------------------------------------------------------------


def random_dcstep_inputs(rng):
    stx, sty = sorted(rng.uniform(0.0, 2.0, 2))
    stp = rng.uniform(0.0, 3.0)
    fx, fy, fp = rng.normal(size=3)
    dx = -abs(rng.normal())  # the search keeps dx < 0 at stx...
    dy, dp = rng.normal(size=2)
    if rng.random() < 0.3:  # ...and sometimes fp near fx with small slopes
        fp = fx - 1e-3 * abs(rng.normal())
        dp = dx * rng.uniform(0.1, 2.0)
    brackt = bool(rng.random() < 0.5)
    stmin, stmax = (min(stx, sty), max(stx, sty)) if brackt else (0.0, 10.0)
    return stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stmin, stmax


@kernel
@np.errstate(invalid="ignore")  # random intervals can be inconsistent: NaN
def test_interpolate_step_is_dcstep():
    rng = np.random.default_rng(0)
    cases = set()
    for _ in range(400):
        args = random_dcstep_inputs(rng)
        stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stmin, stmax = args
        if stp == stx:
            continue
        want = dcstep(*args)
        floats = np.zeros(LS.N_FLOATS)
        ints = np.zeros(LS.N_INTS, np.int64)
        floats[[LS.STX, LS.FX, LS.GX, LS.STY, LS.FY, LS.GY]] = stx, fx, dx, sty, fy, dy
        ints[LS.BRACKETED] = brackt
        step = LS.interpolate_step(floats, ints, stp, fp, dp, stmin, stmax)
        got = (*floats[[LS.STX, LS.FX, LS.GX, LS.STY, LS.FY, LS.GY]], step)
        assert_array_equal(got, want[:7])
        assert bool(ints[LS.BRACKETED]) == want[7]
        sgnd = dp * np.sign(dx)
        cases.add(1 if fp > fx else 2 if sgnd < 0 else 3 if abs(dp) < abs(dx) else 4)
    assert cases == {1, 2, 3, 4}


def line_search_steps(phi, stp, stpmax):
    """Steps our search tries, and where it stops, on ``phi(a) -> (f, g)``."""
    floats = np.zeros(LS.N_FLOATS)
    ints = np.zeros(LS.N_INTS, np.int64)
    f0, g0 = phi(0.0)
    LS.start_line_search(floats, ints, f0, g0, stp, stpmax)
    steps = [stp]
    for _ in range(30):
        done, next_step = LS.search_line(floats, ints, *phi(stp), stp, stpmax)
        if done:
            return steps, True
        stp = next_step
        steps.append(stp)
    return steps, False


def dcsrch_steps(phi, stp, stpmax):
    search = DCSRCH(None, None, LS._FTOL, LS._GTOL, LS._XTOL, 0.0, stpmax)
    f, g = phi(0.0)
    stp, f, g, task = search._iterate(stp, f, g, b"START")
    assert task == b"FG"
    steps = [stp]
    for _ in range(30):
        stp, f, g, task = search._iterate(stp, *phi(stp), task)
        if task[:2] != b"FG":
            return steps, task[:4] in (b"CONV", b"WARN")
        steps.append(stp)
    return steps, False


LINE_FUNCTIONS = {
    "quadratic": lambda a: ((a - 3.0) ** 2, 2 * (a - 3.0)),
    "steep_valley": lambda a: ((a - 0.01) ** 2 * 1e4, 2e4 * (a - 0.01)),
    "quartic": lambda a: ((a - 2.0) ** 4 - a, 4 * (a - 2.0) ** 3 - 1),
    "wiggly": lambda a: (-np.sin(5 * a) - 0.2 * a, -5 * np.cos(5 * a) - 0.2),
    "far": lambda a: (-np.log1p(a) + 1e-4 * a * a, -1 / (1 + a) + 2e-4 * a),
    "flat_then_up": lambda a: (np.exp(a - 8.0) - 1e-3 * a, np.exp(a - 8.0) - 1e-3),
}


@kernel
@pytest.mark.parametrize("name", list(LINE_FUNCTIONS))
@pytest.mark.parametrize("first_step", [1.0, 0.05, 20.0])
def test_line_search_is_dcsrch(name, first_step):
    phi = LINE_FUNCTIONS[name]
    ours = line_search_steps(phi, first_step, 1e10)
    assert ours == dcsrch_steps(phi, first_step, 1e10)
    assert len(ours[0]) >= 1


# ----------------------------------------------------------------------------
# The direction: two loops against the dense BFGS inverse
# ----------------------------------------------------------------------------


@kernel
@pytest.mark.parametrize("count, oldest", [(1, 0), (3, 0), (4, 2), (4, 3)])
def test_two_loop_direction_is_the_bfgs_inverse(count, oldest):
    rng = np.random.default_rng(count + 10 * oldest)
    n, m = 6, 4
    A = rng.normal(size=(n, n))
    A = A @ A.T + n * np.eye(n)  # pairs of a convex quadratic: s'y > 0
    s_pairs, y_pairs = np.zeros((m, n)), np.zeros((m, n))
    rho = np.zeros(m)
    order = [(oldest + k) % m for k in range(count)]
    for slot in order:
        s_pairs[slot] = rng.normal(size=n)
        y_pairs[slot] = A @ s_pairs[slot]
        rho[slot] = 1.0 / (s_pairs[slot] @ y_pairs[slot])
    theta = 2.5
    H = np.eye(n) / theta
    for slot in order:  # oldest pair first
        s, y, r = s_pairs[slot], y_pairs[slot], rho[slot]
        V = np.eye(n) - r * np.outer(y, s)
        H = V.T @ H @ V + r * np.outer(s, s)
    g = rng.normal(size=n)
    ints = np.zeros(LS.N_INTS, np.int64)
    ints[LS.COUNT], ints[LS.OLDEST] = count, oldest
    d = np.zeros(n)
    K.two_loop_direction(g, s_pairs, y_pairs, rho, np.zeros(m), ints, theta, d)
    assert_allclose(d, -H @ g, rtol=1e-12, atol=1e-14)


@kernel
def test_small_helpers():
    a = np.array([0.5, -3.0, 2.0, 1.0, -0.25])
    assert K._norm(a) == pytest.approx(np.sqrt(a @ a), rel=1e-15)
    assert K._norm(1e200 * a) == pytest.approx(1e200 * np.sqrt(a @ a), rel=1e-15)
    assert K._max_abs(a) == 3.0
    assert K._max_abs(a[:3]) == 3.0
    assert K._max_abs(a[3:]) == 1.0
    assert K._dot(a, a) == pytest.approx(a @ a, rel=1e-15)
    x, g = np.zeros(5), np.zeros(5)
    K._restore_start(x, g, a, -a)
    assert_array_equal(x, a)
    assert_array_equal(g, -a)


# ----------------------------------------------------------------------------
# Whole minimizations against scipy.optimize.minimize
# ----------------------------------------------------------------------------


def rosen(x):
    return scipy.optimize.rosen(x), scipy.optimize.rosen_der(x)


def wrong_sign(x):  # the gradient points uphill: every search fails
    return float(x @ x), -2 * x


def rough(x):  # ripples the gradient does not see: a search that stops early
    return float(x @ x) + 1e-3 * np.sin(1e4 * x).sum(), 2 * x


def constant(x):
    return 1.0, np.zeros_like(x)


def steep(x):
    return 1e200 * float(x @ x), 2e200 * x


def overflowing(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.sum(1e300 * x**2) - 1e300 * np.sum(x**2)), 2e300 * x


def quartic(x):
    return float(((x - 1) ** 4).sum() + 0.1 * (x**2).sum()), 4 * (x - 1) ** 3 + 0.2 * x


def styblinski(x):
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x)), 0.5 * (4 * x**3 - 32 * x + 5)


_rng = np.random.default_rng(0)
PROBLEMS = {
    # name: (function, x0, maxiter, maxfun, gtol)
    "rosen_2": (rosen, _rng.normal(size=2), 15000, 15000, 1e-5),
    "rosen_5": (rosen, _rng.normal(size=5), 15000, 15000, 1e-5),
    "rosen_20": (rosen, _rng.normal(size=20), 15000, 15000, 1e-5),
    "rosen_maxiter": (rosen, _rng.normal(size=10), 7, 15000, 1e-5),
    "rosen_maxfun": (rosen, _rng.normal(size=10), 15000, 9, 0.0),
    "rosen_gtol_0": (rosen, np.zeros(4), 15000, 15000, 0.0),
    "wrong_sign": (wrong_sign, np.ones(3), 15000, 15000, 1e-5),
    "rough": (rough, np.ones(3), 15000, 15000, 1e-5),
    "constant": (constant, np.ones(3), 15000, 15000, 1e-5),
    "steep": (steep, np.ones(3), 15000, 15000, 1e-5),  # |g|^2 overflows
    "overflowing": (overflowing, np.ones(3), 15000, 15000, 1e-5),  # NaN trials
    "quartic": (quartic, 3 * _rng.normal(size=8), 15000, 15000, 1e-8),
    "styblinski": (styblinski, 4 * _rng.normal(size=6), 15000, 15000, 1e-7),
}


@kernel
# interpreted (NUMBA_DISABLE_JIT), NaN trial points warn as NumPy scalars
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_minimize_is_scipys(name):
    function, x0, maxiter, maxfun, gtol = PROBLEMS[name]
    points = []

    def recorded(x):
        points.append(x.copy())
        return function(x)

    want = scipy.optimize.minimize(
        function,
        x0.copy(),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": maxiter, "maxfun": maxfun, "gtol": gtol},
    )
    got = lbfgsb.minimize(recorded, x0.copy(), maxiter, maxfun, gtol)
    for field in ["nit", "nfev", "njev", "status", "success", "message"]:
        assert got[field] == want[field], field
    assert len(points) == got.nfev
    assert_allclose(got.x, want.x, rtol=1e-8, atol=1e-10)
    assert_allclose(got.fun, want.fun, rtol=1e-8, atol=1e-12)
    # near a minimum the gradient scales the points' rounding by the Hessian
    assert_allclose(got.jac, want.jac, rtol=1e-6, atol=1e-6)


@kernel
def test_minimize_copies_a_reused_gradient_buffer():
    buffer = np.empty(5)

    def reusing(x):
        loss, grad = rosen(x)
        buffer[:] = grad
        return loss, buffer

    x0 = np.linspace(-1.0, 1.0, 5)
    want = lbfgsb.minimize(rosen, x0, 15000, 15000, 1e-5)
    got = lbfgsb.minimize(reusing, x0, 15000, 15000, 1e-5)
    assert_array_equal(got.x, want.x)
    assert got.jac is not buffer


def test_minimize_lbfgs_warns_as_scikit_learn():
    with pytest.warns(ConvergenceWarning, match="after 2 iteration"):
        result, n_iter = solvers.minimize_lbfgs(rosen, np.zeros(4), 15000, 2, 0.0)
    assert n_iter == 2
    assert result.status == 1


@pytest.mark.parametrize("target", ["multiclass", "regression", "poisson"])
def test_long_lbfgs_fit_is_scikit_learns(target):
    # 60 iterations where the parity grid runs 5: the decisions stay scipy's
    X, y, is_classifier = make_data(target, n_samples=120, seed=3)
    params = dict(hidden_layer_sizes=(9,), solver="lbfgs", max_iter=60, tol=0.0)
    params["random_state"] = 0
    if is_classifier:
        fast, skl = fastmlp.MLPClassifier(**params), sknn.MLPClassifier(**params)
    else:
        loss = "poisson" if target == "poisson" else "squared_error"
        fast = fastmlp.MLPRegressor(loss=loss, **params)
        skl = sknn.MLPRegressor(loss=loss, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast.fit(X, y)
        skl.fit(X, y)
    assert fast.n_iter_ == skl.n_iter_
    assert_allclose(fast.loss_, skl.loss_, rtol=1e-7)
    for ours, theirs in zip(
        fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_
    ):
        assert_allclose(ours, theirs, rtol=1e-5, atol=1e-8)

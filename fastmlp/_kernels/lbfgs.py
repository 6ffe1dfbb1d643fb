"""L-BFGS-B for unbounded parameters, compiled, driven by reverse communication.

:func:`lbfgs_step` is called with the loss and gradient at ``x`` and returns what
it needs next, as scipy's ``setulb`` does: ``FG`` (evaluate at the new ``x``),
``NEW_X`` (an iteration ended; the caller may stop it), ``CONVERGENCE`` or
``ABNORMAL``; its state lives in ``ints``, ``floats`` and the arrays. Invariant:
iterations, evaluations, messages and points agree with
``scipy.optimize.minimize``'s to rounding (``tests/test_lbfgsb.py``); not
reproduced: L-BFGS-B's restart when its Cholesky factors fail.

Why: scikit-learn's ``solver="lbfgs"`` calls scipy, whose calls cost more than the
gradients of small nets. The algorithm and measurements: ``docs/design/lbfgs.md``.
"""

import numpy as np
from numba import config

from .jit import inlined_kernel, kernel
from .line_search import (
    _BIG,
    _EPS,
    ABNORMAL,
    ACCEPTED_POINT,
    CONVERGENCE,
    COUNT,
    DETAIL,
    F_OLD,
    FG,
    FIRST_POINT,
    GRAD_NORM,
    ITERATION,
    MAX_LINE_SEARCH,
    NEW_X,
    OLDEST,
    PGTOL_REACHED,
    PHASE,
    REL_REDUCTION,
    SLOPE,
    SLOPE_OLD,
    STEP,
    THETA,
    TRIAL_POINT,
    TRIALS,
    search_line,
    start_line_search,
)


@kernel
def two_loop_direction(g, s_pairs, y_pairs, rho, alpha, ints, theta, d):
    """``d = -H g``: the two-loop recursion over the stored pairs, H0 = I/theta."""
    n = g.shape[0]
    m = s_pairs.shape[0]
    count, oldest = ints[COUNT], ints[OLDEST]
    for i in range(n):
        d[i] = g[i]
    for k in range(count - 1, -1, -1):
        slot = (oldest + k) % m
        alpha[slot] = rho[slot] * _dot(s_pairs[slot], d)
        for i in range(n):
            d[i] -= alpha[slot] * y_pairs[slot, i]
    for i in range(n):
        d[i] /= theta
    for k in range(count):
        slot = (oldest + k) % m
        beta = rho[slot] * _dot(y_pairs[slot], d)
        for i in range(n):
            d[i] += s_pairs[slot, i] * (alpha[slot] - beta)
    for i in range(n):
        d[i] = -d[i]


@kernel
def _dot(a, b):
    """BLAS's ``ddot``, as L-BFGS-B's: an in-order loop (one add chain, not
    vectorized) cost 1.6 us for n = 1601, 12 us a step (measured)."""
    return np.dot(a, b)


@kernel
def _norm(a):
    """BLAS's ``dnrm2`` (numba's vector norm), as scipy's L-BFGS-B: ``sqrt(a'a)``
    overflows beyond 1e154 where ``dnrm2`` scales."""
    return np.linalg.norm(a)


if config.DISABLE_JIT:
    from scipy.linalg.blas import dnrm2

    def _norm(a):  # noqa: F811
        """NumPy's vector norm squares first: BLAS's, as compiled code has it."""
        return dnrm2(a)


@kernel
def _max_abs(a):
    """``max |a_i|``, in four running maxima (one would be a serial chain)."""
    n = a.shape[0]
    m0 = m1 = m2 = m3 = 0.0
    for i in range(0, n - 3, 4):
        m0 = max(m0, abs(a[i]))
        m1 = max(m1, abs(a[i + 1]))
        m2 = max(m2, abs(a[i + 2]))
        m3 = max(m3, abs(a[i + 3]))
    for i in range(n - n % 4, n):
        m0 = max(m0, abs(a[i]))
    return max(max(m0, m1), max(m2, m3))


@inlined_kernel
def _begin_iteration(x, f, g, ints, floats, s_pairs, y_pairs, rho, alpha, d, x_start,
                     g_start):  # fmt: skip
    """Choose the direction and make the line search's first trial point.

    Returns False (and leaves ``x`` as it was) if the direction does not
    descend, which the caller treats as a failed search.
    """
    if ints[COUNT] == 0:
        for i in range(x.shape[0]):
            d[i] = -g[i] / floats[THETA]
    else:
        two_loop_direction(g, s_pairs, y_pairs, rho, alpha, ints, floats[THETA], d)
    # no bounds: the step is capped only by L-BFGS-B's "big" (stpmx)
    stp = min(1.0 / _norm(d), _BIG) if ints[ITERATION] == 0 else 1.0
    for i in range(x.shape[0]):
        x_start[i] = x[i]
        g_start[i] = g[i]
    floats[F_OLD] = f
    slope = _dot(g, d)
    floats[SLOPE_OLD] = slope
    if slope >= 0.0:
        return False
    start_line_search(floats, ints, f, slope, stp, _BIG)
    ints[TRIALS] = 0
    _next_trial(x, d, x_start, ints, floats, stp)
    return True


@inlined_kernel
def _next_trial(x, d, x_start, ints, floats, stp):
    """``x = x_start + stp * d``, the line search's next point to evaluate."""
    floats[STEP] = stp
    ints[TRIALS] += 1
    for i in range(x.shape[0]):
        x[i] = stp * d[i] + x_start[i]


@inlined_kernel
def _restore_start(x, g, x_start, g_start):
    for i in range(x.shape[0]):
        x[i] = x_start[i]
        g[i] = g_start[i]


@kernel
def lbfgs_step(x, f, g, ints, floats, s_pairs, y_pairs, rho, alpha, d, x_start,
               g_start, pgtol, factr):  # fmt: skip
    """One round of L-BFGS-B's reverse communication (see the module docstring).

    Parameters
    ----------
    x, g : ndarray of shape (n,)
        The point last evaluated, or accepted, and its gradient; on ``FG``,
        ``x`` holds the next point to evaluate.
    f : float
        The loss at ``x``.
    ints, floats : ndarray
        State, ``N_INTS`` int64 and ``N_FLOATS`` float64, zero at the start.
    s_pairs, y_pairs : ndarray of shape (m, n)
    rho, alpha : ndarray of shape (m,)
    d, x_start, g_start : ndarray of shape (n,)
        Work: the direction, the point and gradient where the search began.
    pgtol, factr : float
        ``gtol`` and ``factr`` of L-BFGS-B.

    Returns
    -------
    task : int
        ``FG``, ``NEW_X``, ``CONVERGENCE`` (reason in ``ints[DETAIL]``) or
        ``ABNORMAL`` (``x`` and ``g`` are then the last accepted ones).
    """
    phase = ints[PHASE]
    if phase == FIRST_POINT:
        floats[THETA] = 1.0
        if _max_abs(g) <= pgtol:
            ints[DETAIL] = PGTOL_REACHED
            return CONVERGENCE
    elif phase == TRIAL_POINT:
        slope = _dot(g, d)
        done, stp = search_line(floats, ints, f, slope, floats[STEP], _BIG)
        floats[SLOPE] = slope
        if done:
            ints[ITERATION] += 1
            floats[GRAD_NORM] = _max_abs(g)
            ints[PHASE] = ACCEPTED_POINT
            return NEW_X
        if ints[TRIALS] < MAX_LINE_SEARCH:
            _next_trial(x, d, x_start, ints, floats, stp)
            return FG
        # the search failed: back to where it began
        _restore_start(x, g, x_start, g_start)
        if not _forget_pairs(ints, floats):
            return ABNORMAL
        f = floats[F_OLD]
    else:  # ACCEPTED_POINT: the stopping tests, then the new pair
        if floats[GRAD_NORM] <= pgtol:
            ints[DETAIL] = PGTOL_REACHED
            return CONVERGENCE
        f_old = floats[F_OLD]
        if f_old - f <= factr * _EPS * max(abs(f_old), abs(f), 1.0):
            ints[DETAIL] = REL_REDUCTION
            return CONVERGENCE
        _store_pair(g, ints, floats, s_pairs, y_pairs, rho, d, g_start)
    while True:
        if _begin_iteration(
            x, f, g, ints, floats, s_pairs, y_pairs, rho, alpha, d, x_start, g_start
        ):
            ints[PHASE] = TRIAL_POINT
            return FG
        # not a descent direction: as a failed search, with x unchanged
        if not _forget_pairs(ints, floats):
            return ABNORMAL


@inlined_kernel
def _forget_pairs(ints, floats):
    """After a failed search, drop the pairs: steepest descent comes next.

    Returns False if there were none, where L-BFGS-B gives up.
    """
    if ints[COUNT] == 0:
        ints[ITERATION] += 1
        return False
    ints[COUNT] = 0
    ints[OLDEST] = 0
    floats[THETA] = 1.0
    return True


@inlined_kernel
def _store_pair(g, ints, floats, s_pairs, y_pairs, rho, d, g_start):
    """Keep ``(s, y)`` of the step just made, unless its curvature is too small."""
    stp = floats[STEP]
    for i in range(g.shape[0]):
        g_start[i] = g[i] - g_start[i]  # y, kept where the search began
    y_squared = _dot(g_start, g_start)
    slope, slope_old = floats[SLOPE], floats[SLOPE_OLD]
    if stp == 1.0:
        curvature = slope - slope_old
        threshold = -slope_old
    else:
        curvature = (slope - slope_old) * stp
        threshold = -slope_old * stp
    if curvature <= _EPS * threshold:
        return  # skipped, as L-BFGS-B skips it
    m = s_pairs.shape[0]
    count, oldest = ints[COUNT], ints[OLDEST]
    if count < m:
        slot = (oldest + count) % m
        ints[COUNT] = count + 1
    else:
        slot = oldest
        ints[OLDEST] = (oldest + 1) % m
    for i in range(g.shape[0]):
        s_pairs[slot, i] = stp * d[i]
        y_pairs[slot, i] = g_start[i]
    rho[slot] = 1.0 / curvature
    floats[THETA] = y_squared / curvature

"""The compiled L-BFGS-B's state layout and its Moré-Thuente line search.

The state of :func:`fastmlp._kernels.lbfgs.lbfgs_step` lives in two arrays,
``ints`` and ``floats``, read by the named positions below; the line search
(MINPACK-2's ``dcsrch``/``dcstep``) reads and writes them in place.
"""

import numpy as np

from .jit import inlined_kernel, kernel

# What lbfgs_step returns (scipy's task codes)
NEW_X = 1
FG = 3
CONVERGENCE = 4
ABNORMAL = 8
# scipy's detail codes, kept in ints[DETAIL]
PGTOL_REACHED = 401
REL_REDUCTION = 402

# ints: what the next call brings, and the counters of L-BFGS-B's mainlb
PHASE, ITERATION, COUNT, OLDEST, TRIALS, SEARCH_STAGE, BRACKETED, DETAIL = range(8)
N_INTS = 8
# the phases
FIRST_POINT, TRIAL_POINT, ACCEPTED_POINT = 0, 1, 2
# floats
(
    THETA, F_OLD, SLOPE, SLOPE_OLD, STEP, GRAD_NORM,
    STX, FX, GX, STY, FY, GY, STEP_MIN_B, STEP_MAX_B, WIDTH, WIDTH_OLD,
    F_INIT, G_INIT, G_TEST,
) = range(19)  # fmt: skip
N_FLOATS = 19

MAX_LINE_SEARCH = 20
_FTOL, _GTOL, _XTOL = 1e-3, 0.9, 0.1
_BIG = 1e10
_EPS = np.finfo(np.float64).eps


@inlined_kernel
def _cubic(f0, f1, st0, st1, da, db, clip):
    """``(theta, gamma)`` of dcstep's cubic through two points, as it adds them.

    ``theta = 3 (f0 - f1) / (st1 - st0) + da + db``; ``gamma`` the scaled
    root of ``theta^2 - da db`` (its radicand floored at 0 if ``clip``).
    """
    theta = 3.0 * (f0 - f1) / (st1 - st0) + da + db
    s = max(abs(theta), abs(da), abs(db))
    radicand = (theta / s) ** 2 - (da / s) * (db / s)
    if clip:
        radicand = max(0.0, radicand)
    return theta, s * np.sqrt(radicand)


@inlined_kernel
def _cubic_from_trial(stp, dp, other, d_other, theta, gamma):
    """The cubic's minimizer between the trial and ``other`` (dcstep's form)."""
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + d_other
    return stp + (p / q) * (other - stp)


@kernel
def interpolate_step(floats, ints, stp, fp, dp, stpmin, stpmax):
    """MINPACK-2's ``dcstep``: a safeguarded step and the updated interval.

    The interval ends ``(stx, fx, dx)`` and ``(sty, fy, dy)`` are in
    ``floats``, whether it brackets a minimizer in ``ints[BRACKETED]``; the
    trial is ``(stp, fp, dp)``. Returns the next step.
    """
    stx, fx, dx = floats[STX], floats[FX], floats[GX]
    sty, fy, dy = floats[STY], floats[FY], floats[GY]
    brackt = ints[BRACKETED] != 0
    sgnd = dp * (dx / abs(dx))
    if fp > fx:
        # higher function value: the minimum is bracketed
        theta, gamma = _cubic(fx, fp, stx, stp, dx, dp, False)
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        if abs(stpc - stx) < abs(stpq - stx):
            stpf = stpc
        else:
            stpf = stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:
        # derivatives of opposite sign: bracketed
        theta, gamma = _cubic(fx, fp, stx, stp, dx, dp, False)
        if stp > stx:
            gamma = -gamma
        stpc = _cubic_from_trial(stp, dp, stx, dx, theta, gamma)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if abs(stpc - stp) > abs(stpq - stp):
            stpf = stpc
        else:
            stpf = stpq
        brackt = True
    elif abs(dp) < abs(dx):
        # same sign, the derivative's magnitude decreases
        theta, gamma = _cubic(fx, fp, stx, stp, dx, dp, True)
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0.0 and gamma != 0.0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            if abs(stpc - stp) < abs(stpq - stp):
                stpf = stpc
            else:
                stpf = stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            if abs(stpc - stp) > abs(stpq - stp):
                stpf = stpc
            else:
                stpf = stpq
            stpf = min(stpmax, stpf)
            stpf = max(stpmin, stpf)
    else:
        # same sign, the derivative's magnitude does not decrease
        if brackt:
            theta, gamma = _cubic(fp, fy, stp, sty, dy, dp, False)
            if stp > sty:
                gamma = -gamma
            stpf = _cubic_from_trial(stp, dp, sty, dy, theta, gamma)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        floats[STY], floats[FY], floats[GY] = stp, fp, dp
    else:
        if sgnd < 0.0:
            floats[STY], floats[FY], floats[GY] = stx, fx, dx
        floats[STX], floats[FX], floats[GX] = stp, fp, dp
    ints[BRACKETED] = 1 if brackt else 0
    return stpf


@inlined_kernel
def start_line_search(floats, ints, f, g, stp, stpmax):
    """MINPACK-2's ``dcsrch`` at ``task = 'START'`` (its inputs are valid here)."""
    ints[BRACKETED] = 0
    ints[SEARCH_STAGE] = 1
    floats[F_INIT] = f
    floats[G_INIT] = g
    floats[G_TEST] = _FTOL * g
    floats[WIDTH] = stpmax
    floats[WIDTH_OLD] = stpmax / 0.5
    floats[STX], floats[FX], floats[GX] = 0.0, f, g
    floats[STY], floats[FY], floats[GY] = 0.0, f, g
    floats[STEP_MIN_B] = 0.0
    floats[STEP_MAX_B] = stp + 4.0 * stp


@kernel
def search_line(floats, ints, f, g, stp, stpmax):
    """MINPACK-2's ``dcsrch`` after an evaluation at ``stp``.

    Returns ``(done, next_step)``: done when the step satisfies the strong
    Wolfe conditions or a warning ends the search (both accept ``stp``).
    """
    stpmin = 0.0
    ftest = floats[F_INIT] + stp * floats[G_TEST]
    gtest = floats[G_TEST]
    if ints[SEARCH_STAGE] == 1 and f <= ftest and g >= 0.0:
        ints[SEARCH_STAGE] = 2
    brackt = ints[BRACKETED] != 0
    stmin, stmax = floats[STEP_MIN_B], floats[STEP_MAX_B]
    done = (
        (brackt and (stp <= stmin or stp >= stmax))
        or (brackt and stmax - stmin <= _XTOL * stmax)
        or (stp == stpmax and f <= ftest and g <= gtest)
        or (stp == stpmin and (f > ftest or g >= gtest))
        or (f <= ftest and abs(g) <= _GTOL * (-floats[G_INIT]))
    )
    if done:
        return True, stp
    if ints[SEARCH_STAGE] == 1 and f <= floats[FX] and f > ftest:
        # the modified function psi(stp) = f - f_init - stp * gtest
        stx, sty = floats[STX], floats[STY]
        floats[FX] -= stx * gtest
        floats[FY] -= sty * gtest
        floats[GX] -= gtest
        floats[GY] -= gtest
        stp_new = interpolate_step(
            floats, ints, stp, f - stp * gtest, g - gtest, stmin, stmax
        )
        floats[FX] += floats[STX] * gtest
        floats[FY] += floats[STY] * gtest
        floats[GX] += gtest
        floats[GY] += gtest
    else:
        stp_new = interpolate_step(floats, ints, stp, f, g, stmin, stmax)
    stx, sty = floats[STX], floats[STY]
    if ints[BRACKETED]:
        if abs(sty - stx) >= 0.66 * floats[WIDTH_OLD]:
            stp_new = stx + 0.5 * (sty - stx)
        floats[WIDTH_OLD] = floats[WIDTH]
        floats[WIDTH] = abs(sty - stx)
        stmin, stmax = min(stx, sty), max(stx, sty)
    else:
        stmin = stp_new + 1.1 * (stp_new - stx)
        stmax = stp_new + 4.0 * (stp_new - stx)
    floats[STEP_MIN_B], floats[STEP_MAX_B] = stmin, stmax
    stp_new = min(max(stp_new, stpmin), stpmax)
    if ints[BRACKETED] and (
        stp_new <= stmin or stp_new >= stmax or stmax - stmin <= _XTOL * stmax
    ):
        stp_new = stx
    return False, stp_new

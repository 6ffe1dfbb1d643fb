"""scipy's L-BFGS-B routine, driven without ``scipy.optimize.minimize``.

scikit-learn fits ``solver="lbfgs"`` with ``scipy.optimize.minimize(...,
method="L-BFGS-B", jac=True)``. Around the compiled ``setulb`` step, that call
wraps the objective in a ``ScalarFunction`` and a ``MemoizeJac`` (copies of
``x``, equality checks, attribute lookups, an ``astype`` of the gradient per
call) and builds an inverse-Hessian operator at the end, which nobody here
reads. On breast_cancer (30 -> 50 -> 1, 50 iterations) that Python was ~1.2 ms
of fastmlp's 7.3 ms fit, as much as 20 of its gradient evaluations.

:func:`run_setulb` is the loop of scipy's ``_minimize_lbfgsb`` for unbounded
variables, step for step: the same ``setulb`` calls with the same workspace,
the same function-evaluation count (the first point evaluated once, a point
equal to the previous one not evaluated again), the same ``maxiter`` and
``maxfun`` tests, the same messages. So it lands on the same weights, bit for
bit (tested against ``minimize``). ``setulb`` is scipy's private extension;
its signature is the one of scipy 1.15 to 1.17 (the C translation of
L-BFGS-B), so :data:`AVAILABLE` is True only there, and fastmlp calls
``minimize`` on any other scipy.
"""

import numpy as np
import scipy
from scipy.optimize import OptimizeResult

# task codes of scipy's C L-BFGS-B (task[0]).
_FG = 3
_NEW_X = 1
_CONVERGENCE = 4
_STOP = 5
_MAX_FUN = 502
_MAX_ITER = 504

# The signature run_setulb calls is the one scipy 1.15-1.17 ship.
_TESTED_SCIPY = ((1, 15), (1, 17))


def _scipy_version():
    return tuple(int(part) for part in scipy.__version__.split(".")[:2])


def _load():
    if not _TESTED_SCIPY[0] <= _scipy_version() <= _TESTED_SCIPY[1]:
        return None
    try:
        from scipy.optimize import _lbfgsb
        from scipy.optimize._lbfgsb_py import status_messages, task_messages
    except ImportError:
        return None
    return _lbfgsb.setulb, status_messages, task_messages


_SCIPY_PARTS = _load()
AVAILABLE = _SCIPY_PARTS is not None


def run_setulb(
    fun_and_grad, x0, maxiter, maxfun, gtol, maxcor=10, ftol=2.2204460492503131e-09
):
    """Minimize ``fun_and_grad`` as ``minimize(method="L-BFGS-B", jac=True)``.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (loss, gradient)``; it must not keep ``x`` (the
        routine overwrites it) and the gradient is copied before the next call.
    x0 : ndarray of shape (n,)
        Starting point, float64.
    maxiter, maxfun : int
        As ``minimize``'s options of the same names.
    gtol : float
        Projected-gradient tolerance (``minimize``'s ``gtol``).
    maxcor : int, default=10
    ftol : float, default=2.2204460492503131e-09
        ``minimize``'s defaults, which scikit-learn keeps.

    Returns
    -------
    OptimizeResult
        With the fields scikit-learn reads and ``minimize`` sets: ``x``,
        ``fun``, ``jac``, ``nit``, ``nfev``, ``njev``, ``status``,
        ``message``, ``success`` (no ``hess_inv``).
    """
    setulb, status_messages, task_messages = _SCIPY_PARTS
    n = x0.shape[0]
    m = maxcor
    factr = ftol / np.finfo(float).eps
    maxls = 20
    x = np.array(x0, dtype=np.float64)
    nbd = np.zeros(n, np.int32)
    lower = np.zeros(n, np.float64)
    upper = np.zeros(n, np.float64)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, np.int32)
    task = np.zeros(2, np.int32)
    ln_task = np.zeros(2, np.int32)
    lsave = np.zeros(4, np.int32)
    isave = np.zeros(44, np.int32)
    dsave = np.zeros(29, np.float64)

    # minimize's ScalarFunction evaluates x0 before the loop; the routine's
    # first request is for x0 again, answered from that evaluation.
    f, g = _evaluate(fun_and_grad, x)
    g_buffer = g
    evaluated_at = x.copy()
    n_evaluations = 1
    f_arg = np.array(0.0)
    g_arg = np.zeros(n, np.float64)
    n_iterations = 0
    while True:
        setulb(m, x, lower, upper, nbd, f_arg, g_arg, factr, gtol, wa, iwa,
               task, lsave, isave, dsave, maxls, ln_task)  # fmt: skip
        if task[0] == _FG:
            if not (x == evaluated_at).all():  # np.array_equal, less Python
                f, g_buffer = _evaluate(fun_and_grad, x)
                evaluated_at[:] = x
                n_evaluations += 1
            f_arg = f
            g_arg = g_buffer
        elif task[0] == _NEW_X:
            n_iterations += 1
            if n_iterations >= maxiter:
                task[0] = _STOP
                task[1] = _MAX_ITER
            elif n_evaluations > maxfun:
                task[0] = _STOP
                task[1] = _MAX_FUN
        else:
            break

    if task[0] == _CONVERGENCE:
        status = 0
    elif n_evaluations > maxfun or n_iterations >= maxiter:
        status = 1
    else:
        status = 2
    message = status_messages[task[0]] + ": " + task_messages[task[1]]
    return OptimizeResult(
        fun=f_arg,
        jac=g_arg,
        nfev=n_evaluations,
        njev=n_evaluations,
        nit=n_iterations,
        status=status,
        message=message,
        x=x,
        success=status == 0,
    )


def _evaluate(fun_and_grad, x):
    """One evaluation, kept as ScalarFunction keeps it (a float, a copy)."""
    loss, grad = fun_and_grad(x)
    return float(loss), np.array(grad, dtype=np.float64)

"""``minimize(method="L-BFGS-B", jac=True)`` without bounds, on compiled steps.

scikit-learn's ``solver="lbfgs"`` calls ``scipy.optimize.minimize``. On
breast_cancer (30 -> 50 -> 1, 50 iterations, the benchmark's case) scipy's
part was half of fastmlp's 7.3 ms fit: ``setulb`` 2.46 ms (102 calls of
24 us) and ~1.2 ms of ``ScalarFunction`` / ``MemoizeJac`` Python around it,
against 2.9 ms of gradients. :func:`minimize` runs the same algorithm (see
``fastmlp._kernels.lbfgs``) with one compiled call per request for a
function value, and counts evaluations and iterations and stops as scipy's
driver does (``maxiter`` checked at each new iterate before ``maxfun``; a
point equal to the last one evaluated is not evaluated again). The result
has the fields scikit-learn reads, with scipy's messages. The same fit took
4.2-4.4 ms (3.3-3.5x scikit-learn's, measured alternating in one process).
"""

import numpy as np
from scipy.optimize import OptimizeResult

from .._kernels.lbfgs import lbfgs_step
from .._kernels.line_search import (
    CONVERGENCE,
    DETAIL,
    FG,
    N_FLOATS,
    N_INTS,
    NEW_X,
    PGTOL_REACHED,
    REL_REDUCTION,
)

# scipy's messages: by the kernel's reason for converging, by the driver's
# reason for stopping, and for a search that failed without pairs
_CONVERGED = {
    PGTOL_REACHED: "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    REL_REDUCTION: "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
}
_STOPPED = {
    "iterations": "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    "evaluations": "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
}
_ABNORMAL = "ABNORMAL: "


def minimize(
    fun_and_grad, x0, maxiter, maxfun, gtol, maxcor=10, ftol=2.2204460492503131e-09
):
    """Minimize ``fun_and_grad`` as ``minimize(method="L-BFGS-B", jac=True)``.

    Parameters
    ----------
    fun_and_grad : callable
        ``fun_and_grad(x) -> (loss, gradient)``; it must not keep ``x``, and
        may return the same gradient buffer each call (it is copied).
    x0 : ndarray of shape (n,)
        Starting point, float64.
    maxiter, maxfun : int
        As ``minimize``'s options of the same names.
    gtol : float
        Stop when ``max |g_i| <= gtol``.
    maxcor : int, default=10
        Pairs kept (``m``).
    ftol : float, default=2.2204460492503131e-09
        Stop when the relative reduction of the loss is at most ``ftol``.
        Both defaults are ``minimize``'s, which scikit-learn keeps.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``njev``, ``status``,
        ``message`` and ``success``, as ``minimize`` sets them.
    """
    n = x0.shape[0]
    x = np.array(x0, dtype=np.float64)
    ints = np.zeros(N_INTS, np.int64)
    floats = np.zeros(N_FLOATS, np.float64)
    s_pairs = np.zeros((maxcor, n))
    y_pairs = np.zeros((maxcor, n))
    rho = np.zeros(maxcor)
    alpha = np.zeros(maxcor)
    direction, x_start, g_start = np.zeros(n), np.zeros(n), np.zeros(n)
    factr = ftol / np.finfo(float).eps

    loss, grad = fun_and_grad(x)
    f = float(loss)
    g = np.array(grad, dtype=np.float64)
    last_x, last_f, last_g = x.copy(), f, g.copy()
    n_evaluations = 1
    n_iterations = 0
    stop = None
    while True:
        task = lbfgs_step(x, f, g, ints, floats, s_pairs, y_pairs, rho, alpha,
                          direction, x_start, g_start, gtol, factr)  # fmt: skip
        if task == FG:
            if not (x == last_x).all():  # scipy's ScalarFunction reuses it
                loss, grad = fun_and_grad(x)
                last_x[:] = x
                last_f = float(loss)
                last_g[:] = grad
                n_evaluations += 1
            f = last_f
            g[:] = last_g
        elif task == NEW_X:
            n_iterations += 1
            if n_iterations >= maxiter:
                stop = "iterations"
            elif n_evaluations > maxfun:
                stop = "evaluations"
            if stop:
                break
        else:
            break

    if task == CONVERGENCE:
        status = 0
        message = _CONVERGED[int(ints[DETAIL])]
    else:
        status = 1 if n_evaluations > maxfun or n_iterations >= maxiter else 2
        message = _STOPPED[stop] if stop else _ABNORMAL
    return OptimizeResult(
        fun=last_f,
        jac=g,
        nfev=n_evaluations,
        njev=n_evaluations,
        nit=n_iterations,
        status=status,
        message=message,
        x=x,
        success=status == 0,
    )

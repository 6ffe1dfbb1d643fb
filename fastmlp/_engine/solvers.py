"""Python side of the solvers: learning-rate schedules, plateau logic, L-BFGS.

The optimizer classes mirror scikit-learn's ``_stochastic_optimizers`` in
everything that happens once per epoch (schedules, stopping decisions, verbose
messages); their per-batch arithmetic lives in ``_kernels/optimizers.py`` and
their state in flat arrays with the parameter buffer's layout.
"""

import copy

import numpy as np
from sklearn.utils.optimize import _check_optimize_result

from .._kernels.optimizers import ADAM, SGD
from . import lbfgsb


class BaseOptimizer:
    """Learning rate and stopping decisions shared by SGD and Adam."""

    def __init__(self, learning_rate_init):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.step = 0

    def after_steps(self, step):
        """Record the step count after a run of mini-batch steps."""
        self.step = step

    def snapshot(self):
        """A copy to restore after a failed fit: its state arrays copied too.

        What ``copy.deepcopy`` gives for these flat attributes, in ~5 us
        instead of ~35 (a tenth of a ``partial_fit`` on one small batch).
        """
        saved = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(saved, name, value.copy())
        return saved

    def iteration_ends(self, time_step):
        """Called at the end of every epoch with the number of samples seen."""

    def trigger_stopping(self, msg, verbose):
        """Whether to stop after too many epochs without improvement."""
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with momentum (scikit-learn's schedules)."""

    def __init__(
        self,
        n_params,
        dtype,
        learning_rate_init=0.1,
        lr_schedule="constant",
        momentum=0.9,
        nesterov=True,
        power_t=0.5,
    ):
        super().__init__(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.velocities = np.zeros(n_params, dtype=dtype)

    def settings(self):
        return (
            SGD,
            float(self.learning_rate),
            float(self.momentum),
            bool(self.nesterov),
            0.0,
            0.0,
            0.0,
        )

    def state(self):
        return (self.velocities, self.velocities)

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t
            )

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class AdamOptimizer(BaseOptimizer):
    """Adam; ``step`` counts batches as scikit-learn's ``t``."""

    def __init__(
        self,
        n_params,
        dtype,
        learning_rate_init=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
    ):
        super().__init__(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.first_moments = np.zeros(n_params, dtype=dtype)
        self.second_moments = np.zeros(n_params, dtype=dtype)

    @property
    def t(self):
        return self.step

    def settings(self):
        return (
            ADAM,
            float(self.learning_rate_init),
            0.0,
            False,
            float(self.beta_1),
            float(self.beta_2),
            float(self.epsilon),
        )

    def state(self):
        return (self.first_moments, self.second_moments)

    def after_steps(self, step):
        """Record ``t`` and ``learning_rate`` as scikit-learn's Adam has them."""
        self.step = step
        if self.step:
            self.learning_rate = (
                self.learning_rate_init
                * np.sqrt(1 - self.beta_2**self.step)
                / (1 - self.beta_1**self.step)
            )


def minimize_lbfgs(loss_grad, params, max_fun, max_iter, tol):
    """Run L-BFGS-B as scikit-learn does (``minimize(method="L-BFGS-B")``).

    fastmlp's compiled L-BFGS-B (:func:`fastmlp._engine.lbfgsb.minimize`) makes
    scipy's decisions and stops where it stops. It prints nothing, as scipy
    >= 1.15 prints nothing for scikit-learn's ``verbose``.

    Parameters
    ----------
    loss_grad : callable
        ``loss_grad(params) -> (loss, gradient)`` on a float64 flat vector;
        the gradient may be a buffer that the next call overwrites.
    params : ndarray
        The starting point (flat, float64).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
    n_iter : int
        Iterations, as scikit-learn's ``_check_optimize_result`` reports them
        (warning with ConvergenceWarning when L-BFGS did not converge).
    """
    result = lbfgsb.minimize(loss_grad, params, max_iter, max_fun, tol)
    n_iter = _check_optimize_result("lbfgs", result, max_iter)
    return result, n_iter

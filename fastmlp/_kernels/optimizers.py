"""SGD (momentum, Nesterov) and Adam steps on the flat parameter buffer.

The arithmetic is scikit-learn's ``_stochastic_optimizers`` element by element,
in the same order, so that parity holds to the last bits BLAS allows.

``settings = (solver_code, learning_rate, momentum, nesterov, beta_1, beta_2,
epsilon)`` and ``state = (first, second)``: SGD keeps its velocities in
``first``; Adam keeps its first and second moments in ``first`` and ``second``.
"""

import numpy as np

from .jit import inlined_kernel, kernel

SGD = 0
ADAM = 1


@kernel
def sgd_step(params, grads, velocities, learning_rate, momentum, nesterov):
    """``v = momentum * v - lr * g``, then ``params += v``.

    With Nesterov momentum the step is ``momentum * v - lr * g`` instead.
    """
    momentum = params.dtype.type(momentum)
    learning_rate = params.dtype.type(learning_rate)
    for k in range(params.shape[0]):
        grad = grads[k]
        velocity = momentum * velocities[k] - learning_rate * grad
        velocities[k] = velocity
        if nesterov:
            params[k] += momentum * velocity - learning_rate * grad
        else:
            params[k] += velocity


@kernel
def adam_rate(step, learning_rate, beta_1, beta_2):
    """Adam's bias-corrected learning rate at time step ``step`` (>= 1)."""
    # float exponent: Python computes beta**t with pow(), as must we
    power = float(step)
    return learning_rate * np.sqrt(1.0 - beta_2**power) / (1.0 - beta_1**power)


@kernel
def adam_update(params, grads, first, second, rate, beta_1, beta_2, epsilon):
    """Adam's moment and parameter update with the step's ``rate``."""
    dtype = params.dtype.type
    # The step is computed in float64 and rounded once into the parameters, as
    # scikit-learn does in float32 too (its learning rate is a NumPy float64
    # scalar); the moments stay in the parameters' dtype, as scikit-learn's.
    neg_rate = -rate
    b1 = dtype(beta_1)
    b2 = dtype(beta_2)
    one_minus_b1 = dtype(1.0 - beta_1)
    one_minus_b2 = dtype(1.0 - beta_2)
    eps = dtype(epsilon)
    for k in range(params.shape[0]):
        grad = grads[k]
        m = b1 * first[k] + one_minus_b1 * grad
        v = b2 * second[k] + one_minus_b2 * (grad * grad)
        first[k] = m
        second[k] = v
        params[k] = params[k] + neg_rate * m / (np.sqrt(v) + eps)


@kernel
def adam_step(
    params, grads, first, second, step, learning_rate, beta_1, beta_2, epsilon
):
    """One Adam update at time step ``step`` (already incremented, >= 1)."""
    rate = adam_rate(step, learning_rate, beta_1, beta_2)
    adam_update(params, grads, first, second, rate, beta_1, beta_2, epsilon)


@inlined_kernel
def optimizer_step(params, grads, settings, state, step):
    """Apply the configured optimizer; returns the new Adam time step."""
    if settings[0] == ADAM:
        step += 1
    rate = step_rate(settings, step)
    # np.int64(0), not 0: a literal argument compiles a callee of its own
    step_range(params, grads, settings, state, rate, np.int64(0), params.shape[0])
    return step


@kernel
def step_rate(settings, step):
    """Adam's rate at time ``step``; SGD's learning rate (its rate is constant)."""
    if settings[0] == ADAM:
        return adam_rate(step, settings[1], settings[4], settings[5])
    return float(settings[1])


@kernel
def step_range(params, grads, settings, state, rate, start, stop):
    """The optimizer's update of parameters ``start:stop``.

    ``rate`` comes from :func:`step_rate`. The update is elementwise, so
    threads may update disjoint ranges in one step.
    """
    if settings[0] == ADAM:
        adam_update(
            params[start:stop],
            grads[start:stop],
            state[0][start:stop],
            state[1][start:stop],
            rate,
            settings[4],
            settings[5],
            settings[6],
        )
    else:
        sgd_step(
            params[start:stop],
            grads[start:stop],
            state[0][start:stop],
            settings[1],
            settings[2],
            settings[3],
        )

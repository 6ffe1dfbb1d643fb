"""SGD (momentum, Nesterov) and Adam steps on the flat parameter buffer.

The arithmetic is scikit-learn's ``_stochastic_optimizers`` element by element,
in the same order, so that parity holds to the last bits BLAS allows.

``settings = (solver_code, learning_rate, momentum, nesterov, beta_1, beta_2,
epsilon)`` and ``state = (first, second)``: SGD keeps its velocities in
``first``; Adam keeps its first and second moments in ``first`` and ``second``.
"""

import numpy as np

from .._numba import kernel

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
def adam_step(
    params, grads, first, second, step, learning_rate, beta_1, beta_2, epsilon
):
    """One Adam update at time step ``step`` (already incremented, >= 1)."""
    # float exponent: Python computes beta**t with pow(), as must we
    power = float(step)
    rate = learning_rate * np.sqrt(1.0 - beta_2**power) / (1.0 - beta_1**power)
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
def optimizer_step(params, grads, settings, state, step):
    """Apply the configured optimizer; returns the new Adam time step."""
    if settings[0] == ADAM:
        step += 1
        adam_step(
            params,
            grads,
            state[0],
            state[1],
            step,
            settings[1],
            settings[4],
            settings[5],
            settings[6],
        )
    else:
        sgd_step(params, grads, state[0], settings[1], settings[2], settings[3])
    return step

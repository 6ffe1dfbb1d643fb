"""Activation functions and their derivatives, in place, chosen by integer code.

Each function works on a C-contiguous 2-D array of one layer's values for a batch.
The derivative is taken from the activation's *output*, as scikit-learn does, so
the forward pass needs to keep only one array per layer.
"""

import numpy as np

from .._numba import kernel

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}


@kernel
def add_bias_activate(z, bias, code):
    """Add ``bias`` to each row of ``z`` and apply activation ``code``, in place."""
    n_rows, n_cols = z.shape
    one = z.dtype.type(1.0)
    zero = z.dtype.type(0.0)
    if code == SOFTMAX:
        for i in range(n_rows):
            row_max = z[i, 0] + bias[0]
            for j in range(n_cols):
                value = z[i, j] + bias[j]
                z[i, j] = value
                if value > row_max:
                    row_max = value
            total = zero
            for j in range(n_cols):
                value = np.exp(z[i, j] - row_max)
                z[i, j] = value
                total += value
            for j in range(n_cols):
                z[i, j] /= total
        return
    for i in range(n_rows):
        for j in range(n_cols):
            value = z[i, j] + bias[j]
            if code == RELU:
                if value < zero:
                    value = zero
            elif code == LOGISTIC:
                value = one / (one + np.exp(-value))
            elif code == TANH:
                value = np.tanh(value)
            elif code == EXP:
                value = np.exp(value)
            z[i, j] = value


@kernel
def multiply_derivative(activated, delta, code):
    """Multiply ``delta`` in place by the derivative of activation ``code``.

    ``activated`` holds the activation's output for the same rows.
    """
    n_rows, n_cols = delta.shape
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    if code == IDENTITY:
        return
    for i in range(n_rows):
        for j in range(n_cols):
            value = activated[i, j]
            if code == RELU:
                if value == zero:
                    delta[i, j] = zero
            elif code == LOGISTIC:
                delta[i, j] = delta[i, j] * value * (one - value)
            elif code == TANH:
                delta[i, j] *= one - value * value

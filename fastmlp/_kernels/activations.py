"""Activation functions and their derivatives, in place, chosen by integer code.

Each function works on a C-contiguous 2-D array of one layer's values for a batch.
The derivative is taken from the activation's *output*, as scikit-learn does, so
the forward pass needs to keep only one array per layer. The branch on ``code``
sits outside the loops so that each loop is simple enough to vectorize.
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
def add_bias(z, bias):
    """``z += bias`` row by row."""
    n_rows, n_cols = z.shape
    for i in range(n_rows):
        for j in range(n_cols):
            z[i, j] += bias[j]


@kernel
def softmax_rows(z):
    """Softmax of each row, in place (max subtracted first, as scikit-learn)."""
    n_rows, n_cols = z.shape
    zero = z.dtype.type(0.0)
    for i in range(n_rows):
        row_max = z[i, 0]
        for j in range(1, n_cols):
            if z[i, j] > row_max:
                row_max = z[i, j]
        total = zero
        for j in range(n_cols):
            value = np.exp(z[i, j] - row_max)
            z[i, j] = value
            total += value
        for j in range(n_cols):
            z[i, j] /= total


@kernel
def add_bias_activate(z, bias, code):
    """Add ``bias`` to each row of ``z`` and apply activation ``code``, in place."""
    n_rows, n_cols = z.shape
    one = z.dtype.type(1.0)
    zero = z.dtype.type(0.0)
    add_bias(z, bias)
    if code == SOFTMAX:
        softmax_rows(z)
    elif code == RELU:
        for i in range(n_rows):
            for j in range(n_cols):
                # keeps NaN, as np.maximum(z, 0) does
                if z[i, j] < zero:
                    z[i, j] = zero
    elif code == LOGISTIC:
        for i in range(n_rows):
            for j in range(n_cols):
                z[i, j] = one / (one + np.exp(-z[i, j]))
    elif code == TANH:
        for i in range(n_rows):
            for j in range(n_cols):
                z[i, j] = np.tanh(z[i, j])
    elif code == EXP:
        for i in range(n_rows):
            for j in range(n_cols):
                z[i, j] = np.exp(z[i, j])


@kernel
def multiply_derivative(activated, delta, code):
    """Multiply ``delta`` in place by the derivative of activation ``code``.

    ``activated`` holds the activation's output for the same rows.
    """
    n_rows, n_cols = delta.shape
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    if code == RELU:
        for i in range(n_rows):
            for j in range(n_cols):
                if activated[i, j] == zero:
                    delta[i, j] = zero
    elif code == LOGISTIC:
        for i in range(n_rows):
            for j in range(n_cols):
                value = activated[i, j]
                delta[i, j] = delta[i, j] * value * (one - value)
    elif code == TANH:
        for i in range(n_rows):
            for j in range(n_cols):
                value = activated[i, j]
                delta[i, j] *= one - value * value

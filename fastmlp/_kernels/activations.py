"""Activation functions and their derivatives, in place, chosen by integer code.

Each function works on a C-contiguous 2-D array of one layer's values for a batch.
The derivative is taken from the activation's *output*, as scikit-learn does, so
the forward pass needs to keep only one array per layer; GELU and SiLU are not
invertible, so for them the forward pass also keeps the pre-activation
(``needs_pre_activation``). The branch on ``code`` sits outside the loops so that
each loop is simple enough to vectorize.

Beyond scikit-learn's four hidden activations: ``leaky_relu`` (slope 0.01 for
negative inputs), ``elu`` (alpha 1), ``gelu`` (exact, with erf), ``silu``
(``x * sigmoid(x)``) and ``softplus`` (``log(1 + exp(x))``, computed stably).
"""

import math

import numpy as np

from .._numba import kernel

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5
LEAKY_RELU = 6
ELU = 7
GELU = 8
SILU = 9
SOFTPLUS = 10

LEAKY_SLOPE = 0.01

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "gelu": GELU,
    "silu": SILU,
    "softplus": SOFTPLUS,
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
def needs_pre_activation(code):
    """Whether activation ``code``'s derivative needs its input, not its output."""
    return code == GELU or code == SILU


@kernel
def add_bias_activate(z, bias, code, pre):
    """Add ``bias`` to each row of ``z`` and apply activation ``code``, in place.

    If ``pre`` is not empty (GELU and SiLU, whose derivatives need their
    input), it receives ``z + bias`` before the activation. ReLU runs in the
    same loop as the bias: apart, its loop kept the values it did not change
    with a masked store (slow on AVX2: 0.77 us for 32 x 32 values, measured),
    where here every value is stored anyway. One kernel for all of it, since
    each kernel a pass calls costs compile time.
    """
    n_rows, n_cols = z.shape
    if code == RELU:
        zero = z.dtype.type(0.0)
        for i in range(n_rows):
            for j in range(n_cols):
                value = z[i, j] + bias[j]
                # keeps NaN, as np.maximum(z, 0) does
                z[i, j] = zero if value < zero else value
        return
    add_bias(z, bias)
    if pre.shape[0] > 0:
        for i in range(n_rows):
            for j in range(n_cols):
                pre[i, j] = z[i, j]
    activate(z, code)


@kernel
def activate(z, code):
    """Apply activation ``code`` to ``z`` in place."""
    n_rows, n_cols = z.shape
    one = z.dtype.type(1.0)
    zero = z.dtype.type(0.0)
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
    else:
        apply_extra_activation(z, code)


@kernel
def apply_extra_activation(z, code):
    """The activations scikit-learn does not have, in place."""
    n_rows, n_cols = z.shape
    one = z.dtype.type(1.0)
    zero = z.dtype.type(0.0)
    half = z.dtype.type(0.5)
    slope = z.dtype.type(LEAKY_SLOPE)
    inv_sqrt2 = z.dtype.type(1.0 / math.sqrt(2.0))
    for i in range(n_rows):
        for j in range(n_cols):
            x = z[i, j]
            if code == LEAKY_RELU:
                if x < zero:
                    z[i, j] = slope * x
            elif code == ELU:
                if x < zero:
                    z[i, j] = np.expm1(x)
            elif code == GELU:
                z[i, j] = half * x * (one + math.erf(x * inv_sqrt2))
            elif code == SILU:
                z[i, j] = x / (one + np.exp(-x))
            elif code == SOFTPLUS:
                z[i, j] = max(x, zero) + np.log1p(np.exp(-abs(x)))


@kernel
def multiply_derivative(activated, pre_activated, delta, code):
    """Multiply ``delta`` in place by the derivative of activation ``code``.

    ``activated`` holds the activation's output for the same rows;
    ``pre_activated`` its input, read only for ``NEEDS_PRE_ACTIVATION`` codes.
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
    elif code != IDENTITY:
        multiply_extra_derivative(activated, pre_activated, delta, code)


@kernel
def multiply_extra_derivative(activated, pre_activated, delta, code):
    """Derivatives of the activations scikit-learn does not have."""
    n_rows, n_cols = delta.shape
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    half = delta.dtype.type(0.5)
    slope = delta.dtype.type(LEAKY_SLOPE)
    inv_sqrt2 = delta.dtype.type(1.0 / math.sqrt(2.0))
    inv_sqrt_2pi = delta.dtype.type(1.0 / math.sqrt(2.0 * math.pi))
    for i in range(n_rows):
        for j in range(n_cols):
            if code == LEAKY_RELU:
                if activated[i, j] <= zero:
                    delta[i, j] *= slope
            elif code == ELU:
                if activated[i, j] <= zero:
                    delta[i, j] *= activated[i, j] + one
            elif code == SOFTPLUS:
                # d/dx log(1 + e^x) = sigmoid(x) = 1 - exp(-softplus(x))
                delta[i, j] *= -np.expm1(-activated[i, j])
            elif code == GELU:
                x = pre_activated[i, j]
                cdf = half * (one + math.erf(x * inv_sqrt2))
                delta[i, j] *= cdf + x * inv_sqrt_2pi * np.exp(-half * x * x)
            elif code == SILU:
                x = pre_activated[i, j]
                sig = one / (one + np.exp(-x))
                delta[i, j] *= sig * (one + x * (one - sig))

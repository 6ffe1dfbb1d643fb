"""The activations scikit-learn does not have, and their derivatives.

``leaky_relu`` (slope 0.01 for negative inputs), ``elu`` (alpha 1), ``gelu``
(exact, with erf), ``silu`` (``x * sigmoid(x)``) and ``softplus``
(``log(1 + exp(x))``, computed stably). They work on flat arrays of values, and
are compiled apart from the passes that use them
(``fastmlp._kernels.extra_callbacks``): the
passes reach them through ``activations.apply_extra_activation`` and
``activations.multiply_extra_derivative``.
"""

import math

from . import vecmath
from .jit import kernel

LEAKY_RELU = 6
ELU = 7
GELU = 8
SILU = 9
SOFTPLUS = 10
EXTRA_CODES = (LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS)
# the activations whose derivative needs their input: not invertible
PRE_ACTIVATION_CODES = (GELU, SILU)

LEAKY_SLOPE = 0.01


@kernel
def extra_activation_values(values, code):
    """Apply extra activation ``code`` to the 1-D array ``values`` in place."""
    one = values.dtype.type(1.0)
    zero = values.dtype.type(0.0)
    half = values.dtype.type(0.5)
    slope = values.dtype.type(LEAKY_SLOPE)
    inv_sqrt2 = values.dtype.type(1.0 / math.sqrt(2.0))
    # one loop per activation, so that each is simple enough to vectorize
    if code == LEAKY_RELU:
        for i in range(values.shape[0]):
            if values[i] < zero:
                values[i] = slope * values[i]
    elif code == ELU:
        for i in range(values.shape[0]):
            x = values[i]
            values[i] = vecmath.expm1(x) if x < zero else x
    elif code == GELU:
        for i in range(values.shape[0]):
            x = values[i]
            values[i] = half * x * (one + vecmath.erf(x * inv_sqrt2))
    elif code == SILU:
        for i in range(values.shape[0]):
            x = values[i]
            values[i] = x / (one + vecmath.exp(-x))
    elif code == SOFTPLUS:
        for i in range(values.shape[0]):
            x = values[i]
            values[i] = max(x, zero) + vecmath.log1p(vecmath.exp(-abs(x)))


@kernel
def extra_derivative_values(activated, pre_activated, delta, code):
    """Multiply the 1-D ``delta`` in place by extra activation ``code``'s derivative.

    ``activated`` holds the activation's output for the same values,
    ``pre_activated`` its input (read for GELU and SiLU only).
    """
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    half = delta.dtype.type(0.5)
    slope = delta.dtype.type(LEAKY_SLOPE)
    inv_sqrt2 = delta.dtype.type(1.0 / math.sqrt(2.0))
    inv_sqrt_2pi = delta.dtype.type(1.0 / math.sqrt(2.0 * math.pi))
    if code == LEAKY_RELU:
        for i in range(delta.shape[0]):
            if activated[i] <= zero:
                delta[i] *= slope
    elif code == ELU:
        for i in range(delta.shape[0]):
            if activated[i] <= zero:
                delta[i] *= activated[i] + one
    elif code == SOFTPLUS:
        # d/dx log(1 + e^x) = sigmoid(x) = 1 - exp(-softplus(x))
        for i in range(delta.shape[0]):
            delta[i] *= -vecmath.expm1(-activated[i])
    elif code == GELU:
        for i in range(delta.shape[0]):
            x = pre_activated[i]
            cdf = half * (one + vecmath.erf(x * inv_sqrt2))
            delta[i] *= cdf + x * inv_sqrt_2pi * vecmath.exp(-half * x * x)
    elif code == SILU:
        for i in range(delta.shape[0]):
            x = pre_activated[i]
            sig = one / (one + vecmath.exp(-x))
            delta[i] *= sig * (one + x * (one - sig))

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
from .jit import wide_kernel

LEAKY_RELU = 6
ELU = 7
GELU = 8
SILU = 9
SOFTPLUS = 10
EXTRA_CODES = (LEAKY_RELU, ELU, GELU, SILU, SOFTPLUS)
# the activations whose derivative the forward pass of a fit stores
# (extra_activation_and_derivative): GELU's and SiLU's need their input, which
# the output does not give back; softplus's comes from the same exp term
PRE_ACTIVATION_CODES = (GELU, SILU, SOFTPLUS)

LEAKY_SLOPE = 0.01


@wide_kernel
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


@wide_kernel
def extra_activation_and_derivative(values, derivative, code):
    """:func:`extra_activation_values`, and for GELU, SiLU, softplus their derivative.

    ``derivative`` (1-D, as ``values``) receives the derivative at each
    input, computed from the same terms as the activation (erf, exp), so
    that the backward pass multiplies by it instead of evaluating them again.
    Other codes: the activation only.
    """
    one = values.dtype.type(1.0)
    zero = values.dtype.type(0.0)
    half = values.dtype.type(0.5)
    inv_sqrt2 = values.dtype.type(1.0 / math.sqrt(2.0))
    inv_sqrt_2pi = values.dtype.type(1.0 / math.sqrt(2.0 * math.pi))
    if code == GELU:
        for i in range(values.shape[0]):
            x = values[i]
            erf_term = one + vecmath.erf(x * inv_sqrt2)
            values[i] = half * x * erf_term
            gauss = x * inv_sqrt_2pi * vecmath.exp(-half * x * x)
            derivative[i] = half * erf_term + gauss
    elif code == SILU:
        for i in range(values.shape[0]):
            x = values[i]
            exp_term = one + vecmath.exp(-x)
            values[i] = x / exp_term
            sig = one / exp_term
            derivative[i] = sig * (one + x * (one - sig))
    elif code == SOFTPLUS:
        for i in range(values.shape[0]):
            x = values[i]
            small = vecmath.exp(-abs(x))
            values[i] = max(x, zero) + vecmath.log1p(small)
            # sigmoid(x) from the same term: 1 / (1 + e^-|x|), times e^-|x| below 0
            sig = one / (one + small)
            derivative[i] = sig if x >= zero else small * sig
    else:
        extra_activation_values(values, code)


@wide_kernel
def extra_derivative_values(activated, stored, delta, code):
    """Multiply the 1-D ``delta`` in place by extra activation ``code``'s derivative.

    ``activated`` holds the activation's output for the same values;
    ``stored`` the derivative :func:`extra_activation_and_derivative` stored
    (read for GELU, SiLU and softplus only).
    """
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    slope = delta.dtype.type(LEAKY_SLOPE)
    if code == LEAKY_RELU:
        for i in range(delta.shape[0]):
            if activated[i] <= zero:
                delta[i] *= slope
    elif code == ELU:
        for i in range(delta.shape[0]):
            if activated[i] <= zero:
                delta[i] *= activated[i] + one
    elif code == GELU or code == SILU or code == SOFTPLUS:
        for i in range(delta.shape[0]):
            delta[i] *= stored[i]

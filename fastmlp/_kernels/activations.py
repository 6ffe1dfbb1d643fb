"""Activation functions and their derivatives, in place, chosen by integer code.

Each function works on a C-contiguous 2-D array of one layer's values for a batch.
The derivative is taken from the activation's *output*, as scikit-learn does, so
the forward pass needs to keep only one array per layer; GELU and SiLU are not
invertible, so for them (and softplus, whose derivative comes from the same
exp) a fit's forward pass also stores the derivative at the pre-activation
(``needs_pre_activation``). The branch on ``code`` sits
outside the loops so that each loop is simple enough to vectorize.

Beyond scikit-learn's four hidden activations, five more (see
``extra_activations``), compiled apart and called through
``fastmlp._kernels.extra_callbacks``.
"""

import numpy as np
from numba import config

from . import vecmath
from .extra_activations import (
    ELU,
    GELU,
    LEAKY_RELU,
    PRE_ACTIVATION_CODES,
    SILU,
    SOFTPLUS,
    extra_activation_and_derivative,
    extra_activation_values,
    extra_derivative_values,
)
from .extra_callbacks import (
    call_element_map,
    call_extra_activation,
    call_extra_activation_and_derivative,
    call_extra_derivative,
)
from .jit import kernel

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
def copy_values(source, target):
    """``target[:, :] = source`` for two 2-D arrays of one shape.

    A loop: numba's slice assignment compiles a shape-mismatch error message
    (string formatting and joins), 3.1 of the 16.1 s of CPU a cold first fit
    took (2-core Zen 4).
    """
    for i in range(source.shape[0]):
        for j in range(source.shape[1]):
            target[i, j] = source[i, j]


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
        for j in range(n_cols):
            z[i, j] = z[i, j] - row_max
    # the exponentials in one loop over all values, which vectorizes (per row,
    # the last n_cols % 8 of each row would run one at a time); the sums after
    # it, in order
    rows = np.ascontiguousarray(z)  # z itself if C-contiguous, else a copy
    apply_element_map(rows, EXP)
    if rows.ctypes.data != z.ctypes.data:
        copy_values(rows, z)
    for i in range(n_rows):
        total = zero
        for j in range(n_cols):
            total += z[i, j]
        for j in range(n_cols):
            z[i, j] /= total


@kernel
def needs_pre_activation(code):
    """Whether activation ``code``'s derivative needs its input, not its output.

    For those (GELU, SiLU), a fit's forward pass stores the derivative in
    the work tuple's ``pre_activations`` buffer (:func:`add_bias_activate`).
    """
    return code in PRE_ACTIVATION_CODES


@kernel
def add_bias_activate(z, bias, code, pre):
    """Add ``bias`` to each row of ``z`` and apply activation ``code``, in place.

    If ``pre`` is not empty and the code is GELU, SiLU or softplus (whose
    derivatives need their input or its exp), it receives the activation's
    derivative at ``z + bias``, computed with the activation from the same
    terms (:func:`multiply_derivative` then multiplies by it: fewer
    transcendental functions per value). ReLU runs in the
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
    if pre.shape[0] > 0 and needs_pre_activation(code):
        apply_extra_activation_and_derivative(z, pre, code)
    else:
        activate(z, code)


@kernel
def activate(z, code):
    """Apply activation ``code`` to ``z`` in place.

    logistic, tanh and exp run in one loop over all values (a copy if ``z``
    is not C-contiguous), so that the vectorized loop leaves only the last
    few values of all, not of each row, to its scalar remainder: with 100
    columns, per row, 4 of every 100 values ran one at a time.
    """
    n_rows, n_cols = z.shape
    zero = z.dtype.type(0.0)
    if code == SOFTMAX:
        softmax_rows(z)
    elif code == RELU:
        for i in range(n_rows):
            for j in range(n_cols):
                # keeps NaN, as np.maximum(z, 0) does
                if z[i, j] < zero:
                    z[i, j] = zero
    elif code == LOGISTIC or code == TANH or code == EXP:
        rows = np.ascontiguousarray(z)  # z itself if C-contiguous, else a copy
        apply_element_map(rows, code)
        if rows.ctypes.data != z.ctypes.data:
            copy_values(rows, z)
    elif code != IDENTITY:
        apply_extra_activation(z, code)


@kernel
def apply_element_map(z, code):
    """exp, logistic or tanh (activation ``code``) of C-contiguous ``z``, in place.

    Compiled apart (``extra_callbacks``): NaN if not prepared for this dtype.
    """
    if not call_element_map(z, code):
        fill_nan(z)


@kernel
def apply_extra_activation(z, code):
    """The activations scikit-learn does not have, on C-contiguous ``z`` in place.

    They run compiled apart (``fastmlp._kernels.extra_callbacks``); if
    ``prepare`` has not
    run, ``z`` becomes NaN rather than staying unchanged.
    """
    if not call_extra_activation(z, code):
        fill_nan(z)


@kernel
def apply_extra_activation_and_derivative(z, derivative, code):
    """An extra activation of ``z`` in place, its derivative into ``derivative``.

    Both C-contiguous, of one shape; compiled apart as
    :func:`apply_extra_activation`, with NaN in both if not prepared.
    """
    if not call_extra_activation_and_derivative(z, derivative, code):
        fill_nan(z)
        fill_nan(derivative)


@kernel
def fill_nan(z):
    """Set every value of the 2-D ``z`` to NaN."""
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = np.nan


@kernel
def multiply_derivative(activated, pre_activated, delta, code):
    """Multiply ``delta`` in place by the derivative of activation ``code``.

    ``activated`` holds the activation's output for the same rows;
    ``pre_activated`` the derivative :func:`add_bias_activate` stored, read
    only for the codes :func:`needs_pre_activation` names.
    """
    n_rows, n_cols = delta.shape
    one = delta.dtype.type(1.0)
    zero = delta.dtype.type(0.0)
    if code == RELU:
        # a select and a store every time, not a branch: the loop vectorizes
        for i in range(n_rows):
            for j in range(n_cols):
                kept = delta[i, j]
                delta[i, j] = zero if activated[i, j] == zero else kept
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
    """Derivatives of the activations scikit-learn does not have.

    All three arrays C-contiguous and of one shape; compiled apart as
    :func:`apply_extra_activation`, with NaN in ``delta`` if not prepared.
    """
    if not call_extra_derivative(activated, pre_activated, delta, code):
        fill_nan(delta)


if config.DISABLE_JIT:  # the table is for compiled code only

    def apply_element_map(z, code):  # noqa: F811
        """Python stand-in of the call above (``NUMBA_DISABLE_JIT=1``)."""
        values = z.reshape(-1)
        name = {LOGISTIC: "logistic", TANH: "tanh", EXP: "exp"}[code]
        vecmath.map_values(values, values, vecmath.FUNCTIONS.index(name))

    def apply_extra_activation(z, code):  # noqa: F811
        """Python stand-in of the call above (``NUMBA_DISABLE_JIT=1``)."""
        extra_activation_values(z.reshape(-1), code)

    def apply_extra_activation_and_derivative(z, derivative, code):  # noqa: F811
        """Python stand-in of the call above (``NUMBA_DISABLE_JIT=1``)."""
        extra_activation_and_derivative(z.reshape(-1), derivative.reshape(-1), code)

    def multiply_extra_derivative(activated, pre_activated, delta, code):  # noqa: F811
        """Python stand-in of the call above (``NUMBA_DISABLE_JIT=1``)."""
        extra_derivative_values(
            activated.reshape(-1), pre_activated.reshape(-1), delta.reshape(-1), code
        )

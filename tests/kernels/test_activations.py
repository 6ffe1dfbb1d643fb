"""Activation kernels (``fastmlp._kernels.activations``, extra activations)."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastmlp._kernels import activations as activations_kernels
from fastmlp._kernels import extra_activations
from fastmlp._kernels.activations import ACTIVATION_CODES
from tests import reference as ref
from tests.kernels._helpers import DTYPES, assert_close

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (6, 4)])
def test_add_bias_activate(dtype, name, shape):
    rng = np.random.default_rng(1)
    z = rng.normal(0.0, 3.0, shape).astype(dtype)
    bias = rng.normal(0.0, 1.0, shape[1]).astype(dtype)
    want = ref.activate(z + bias, name)
    got = z.copy()
    activations_kernels.add_bias_activate(got, bias, ACTIVATION_CODES[name], got[:0])
    assert got.dtype == dtype
    assert_close(got, want, dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_extreme_values(dtype, name):
    z = np.array(
        [[-800.0, -100.0, -1.0, 0.0, 1.0, 100.0, 800.0], [0.0] * 7], dtype=np.float64
    )
    z = z.astype(dtype)
    bias = np.zeros(7, dtype=dtype)
    with np.errstate(over="ignore", under="ignore"):
        want = ref.activate(z + bias, name)
        got = z.copy()
        activations_kernels.add_bias_activate(
            got, bias, ACTIVATION_CODES[name], got[:0]
        )
    assert not np.isnan(got).any()
    assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite], dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_propagates_nan(dtype, name):
    # NaN stays NaN (np.maximum(nan, 0) is nan): fit's finiteness check sees it.
    z = np.array([[np.nan, 0.5, -0.5], [0.3, -0.2, 0.1]], dtype=dtype)
    bias = np.array([0.1, np.nan, 0.0], dtype=dtype)
    with np.errstate(invalid="ignore"):
        want = ref.activate(z + bias, name)
        got = z.copy()
        activations_kernels.add_bias_activate(
            got, bias, ACTIVATION_CODES[name], got[:0]
        )
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[0, 0]) and np.isnan(got[1, 1])
    finite = ~np.isnan(want)
    assert_close(got[finite], want[finite], dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_add_bias_activate_stores_the_derivative_when_asked(dtype, name):
    # the work tuple's pre-activation buffer is given only for GELU and SiLU
    # (needs_pre_activation), and receives their derivative at z + bias
    rng = np.random.default_rng(2)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    bias = rng.normal(0.0, 1.0, 3).astype(dtype)
    got = z.copy()
    pre = np.full_like(z, np.nan)
    activations_kernels.add_bias_activate(got, bias, ACTIVATION_CODES[name], pre)
    activated = ref.activate(z + bias, name)
    assert_close(got, activated, dtype)
    if name in ref.NEEDS_PRE_ACTIVATION:
        ones = np.ones_like(z)
        derivative = ref.derivative(activated, ones, name, z + bias)
        assert_close(pre, derivative, dtype)
        # the same bits as multiplying by the derivative computed afterwards
        delta = rng.normal(size=z.shape).astype(dtype)
        stored = delta.copy()
        activations_kernels.multiply_derivative(
            got, pre, stored, ACTIVATION_CODES[name]
        )
        assert_array_equal(stored, delta * pre)
    else:  # no derivative to store: the buffer left alone
        assert np.isnan(pre).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (6, 4)])
def test_add_bias(dtype, shape):
    rng = np.random.default_rng(25)
    z = rng.normal(size=shape).astype(dtype)
    bias = rng.normal(size=shape[1]).astype(dtype)
    got = z.copy()
    activations_kernels.add_bias(got, bias)
    want = z.copy()
    want += bias  # _forward_pass: activations[i + 1] += self.intercepts_[i]
    assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (6, 1), (6, 4)])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_softmax_rows(dtype, shape, scale):
    rng = np.random.default_rng(26)
    z = (scale * rng.normal(size=shape)).astype(dtype)
    got = z.copy()
    with np.errstate(under="ignore"):
        activations_kernels.softmax_rows(got)
        want = ref.activate(z, "softmax")
    assert not np.isnan(got).any()
    assert_close(got, want, dtype)
    assert_close(got.sum(axis=1), np.ones(shape[0]), dtype)


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (6, 4)])
def test_multiply_derivative(dtype, name, shape):
    rng = np.random.default_rng(2)
    z = rng.normal(0.0, 2.0, size=shape).astype(dtype)
    activated = ref.activate(z, name)
    delta = rng.normal(size=shape).astype(dtype)
    want = ref.derivative(activated, delta, name, z)
    got = delta.copy()
    # The stored derivative is read only by the activations that store one.
    if name in ref.NEEDS_PRE_ACTIVATION:
        pre = ref.derivative(activated, np.ones_like(z), name, z)
    else:
        pre = np.full(shape, np.nan, dtype)
    activations_kernels.multiply_derivative(activated, pre, got, ACTIVATION_CODES[name])
    assert_close(got, want, dtype)
    if name == "relu":
        assert_array_equal(got == 0, (activated == 0) | (delta == 0))


def test_activation_codes():
    assert ACTIVATION_CODES == {name: code for code, name in enumerate(ref.ACTIVATIONS)}
    for name in ref.ACTIVATIONS:
        needs = activations_kernels.needs_pre_activation(ACTIVATION_CODES[name])
        assert needs == (name in ref.NEEDS_PRE_ACTIVATION), name


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ref.ACTIVATIONS)
def test_activate(dtype, name):
    rng = np.random.default_rng(27)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    got = z.copy()
    activations_kernels.activate(got, ACTIVATION_CODES[name])
    assert_close(got, ref.activate(z, name), dtype)


EXTRA_ACTIVATIONS = [
    name
    for name in ref.HIDDEN_ACTIVATIONS
    if name not in ref.SKLEARN_HIDDEN_ACTIVATIONS
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_extra_activation_and_derivative_values(dtype, name):
    # the flat loops themselves, called directly rather than through the table
    rng = np.random.default_rng(29)
    z = rng.normal(0.0, 3.0, 17).astype(dtype)
    z[:3] = [-40.0, 0.0, 40.0]
    code = ACTIVATION_CODES[name]
    activated = z.copy()
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_activation_values(activated, code)
        want = ref.activate(z[None], name)[0]
    assert_close(activated, want, dtype)
    # with the derivative stored: the same activation, bit for bit
    also = z.copy()
    stored = np.full_like(z, np.nan)
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_activation_and_derivative(also, stored, code)
    assert_array_equal(also, activated)
    delta = rng.normal(size=17).astype(dtype)
    got = delta.copy()
    with np.errstate(over="ignore", under="ignore"):
        extra_activations.extra_derivative_values(activated, stored, got, code)
        want = ref.derivative(want[None], delta[None], name, z[None])[0]
    assert_close(got, want, dtype)
    if name in ref.NEEDS_PRE_ACTIVATION:
        ones = np.ones_like(z)
        assert_close(
            stored, ref.derivative(activated[None], ones[None], name, z[None])[0], dtype
        )
    else:
        assert np.isnan(stored).all()


@pytest.mark.usefixtures("extra_activations_ready")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", EXTRA_ACTIVATIONS)
def test_apply_extra_activation_and_derivative(dtype, name):
    rng = np.random.default_rng(28)
    z = rng.normal(0.0, 3.0, (5, 3)).astype(dtype)
    z[0, :] = [-40.0, 0.0, 40.0]  # far tails and the origin
    code = ACTIVATION_CODES[name]
    activated = z.copy()
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.apply_extra_activation(activated, code)
        want = ref.activate(z, name)
    assert np.isfinite(activated).all()
    assert_close(activated, want, dtype)
    also = z.copy()
    stored = np.zeros_like(z)
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.apply_extra_activation_and_derivative(also, stored, code)
    assert_array_equal(also, activated)
    delta = rng.normal(size=z.shape).astype(dtype)
    got = delta.copy()
    with np.errstate(over="ignore", under="ignore"):
        activations_kernels.multiply_extra_derivative(activated, stored, got, code)
        want = ref.derivative(want, delta, name, z)
    assert np.isfinite(got).all()
    assert_close(got, want, dtype)

"""Loss kernels (``fastmlp._kernels.losses``): values, clipping, output deltas."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import xlogy as scipy_xlogy

from fastmlp._kernels import losses as losses_kernels
from fastmlp._kernels.losses import LOSS_CODES
from tests import reference as ref
from tests.kernels._helpers import DTYPES, OUTPUT_SIZES, assert_close, make_targets

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


@pytest.mark.parametrize("dtype", DTYPES)
def test_xlogy(dtype):
    xs = [0.0, 0.5, 2.0]
    ys = [0.0, 1e-30, 0.5, 3.0, np.inf, np.nan]
    with np.errstate(divide="ignore", invalid="ignore"):
        for x, y in itertools.product(xs, ys):
            want = scipy_xlogy(dtype(x), dtype(y))
            got = losses_kernels.xlogy(dtype(x), dtype(y))
            if np.isnan(want):
                assert np.isnan(got), (x, y)
            else:
                assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ref.LOSSES)
@pytest.mark.parametrize("output_index", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_rows", [1, 6])
def test_loss_value(dtype, loss_name, output_index, weighted, n_rows):
    rng = np.random.default_rng(3)
    n_outputs = OUTPUT_SIZES[loss_name][output_index]
    z = rng.normal(size=(n_rows, n_outputs)).astype(dtype)
    y_pred = ref.activate(z, ref.OUTPUT_ACTIVATION[loss_name])
    y_true = make_targets(rng, loss_name, n_rows, n_outputs, dtype)
    sample_weight = rng.uniform(0.2, 2.0, n_rows).astype(dtype) if weighted else None
    kernel_weight = sample_weight if weighted else np.full(n_rows, np.nan, dtype)
    want = ref.loss(loss_name, y_true, y_pred, sample_weight)
    got = losses_kernels.loss_value(
        y_true, y_pred, kernel_weight, weighted, LOSS_CODES[loss_name]
    )
    assert np.isfinite(got)
    assert_close(got, want, dtype)


@pytest.mark.parametrize("loss_name", ref.LOSSES)
def test_loss_value_accumulates_in_float64(loss_name):
    """losses.py: "Loss values are accumulated in float64 whatever the data's
    dtype". Float32 terms summed in float64 stay within ~1e-9 of the float64
    loss of the same inputs; summed in float32 they drift by ~1e-7."""
    rng = np.random.default_rng(32)
    n_rows, n_outputs = 4000, 3
    z = rng.normal(size=(n_rows, n_outputs)).astype(np.float32)
    y_pred = ref.activate(z, ref.OUTPUT_ACTIVATION[loss_name])
    y_true = make_targets(rng, loss_name, n_rows, n_outputs, np.float32)
    sample_weight = rng.uniform(0.2, 2.0, n_rows).astype(np.float32)
    got = losses_kernels.loss_value(
        y_true, y_pred, sample_weight, True, LOSS_CODES[loss_name]
    )
    want = ref.loss(
        loss_name,
        y_true.astype(np.float64),
        y_pred.astype(np.float64),
        sample_weight.astype(np.float64),
    )
    assert isinstance(got, float), type(got)
    assert_allclose(got, want, rtol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ["log_loss", "binary_log_loss"])
def test_loss_value_clips_probabilities(dtype, loss_name):
    # Probabilities of exactly 0 and 1 are clipped to [eps, 1 - eps].
    y_pred = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]], dtype)
    y_true = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype)
    sample_weight = np.array([1.0, 2.0, 0.5], dtype)
    for weighted in (False, True):
        want = ref.loss(loss_name, y_true, y_pred, sample_weight if weighted else None)
        got = losses_kernels.loss_value(
            y_true, y_pred, sample_weight, weighted, LOSS_CODES[loss_name]
        )
        assert np.isfinite(got)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1, 1), (5, 3)])
def test_output_delta(dtype, weighted, shape):
    rng = np.random.default_rng(4)
    y_true = rng.normal(size=shape).astype(dtype)
    y_pred = rng.normal(size=shape).astype(dtype)
    sample_weight = rng.uniform(0.2, 2.0, shape[0]).astype(dtype)
    want = ref.output_delta(y_true, y_pred, sample_weight if weighted else None)
    got = np.full(shape, np.nan, dtype)
    kernel_weight = sample_weight if weighted else np.full(shape[0], np.nan, dtype)
    losses_kernels.output_delta(y_true, y_pred, kernel_weight, weighted, got)
    assert_array_equal(got, want)

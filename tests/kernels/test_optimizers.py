"""Optimizer steps (``fastmlp._kernels.optimizers``) against scikit-learn's."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.neural_network._stochastic_optimizers import (
    AdamOptimizer as SkAdam,
)
from sklearn.neural_network._stochastic_optimizers import (
    SGDOptimizer as SkSGD,
)

from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import optimizers as optimizer_kernels
from tests import reference as ref
from tests.kernels._helpers import (
    DTYPES,
    adam_settings,
    assert_close,
    pack_list,
    sgd_settings,
)

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


def split(layout, flat):
    """``coefs + intercepts`` views of ``flat``, the list the optimizers take."""
    coefs, intercepts = layout.views(flat)
    return coefs + intercepts


def random_grads(rng, layout, dtype, n_steps):
    return [rng.normal(size=layout.size).astype(dtype) for _ in range(n_steps)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_step(dtype, momentum, nesterov):
    rng = np.random.default_rng(12)
    layout = ParameterLayout([3, 4, 2])
    params = rng.normal(size=layout.size).astype(dtype)
    reference_params = split(layout, params.copy())
    optimizer = ref.SGD(reference_params, 0.05, momentum, nesterov)
    velocities = np.zeros(layout.size, dtype)
    for grads in random_grads(rng, layout, dtype, 4):
        optimizer.update_params(reference_params, split(layout, grads))
        optimizer_kernels.sgd_step(params, grads, velocities, 0.05, momentum, nesterov)
        assert_close(params, pack_list(layout, reference_params, dtype), dtype)
        assert_close(velocities, pack_list(layout, optimizer.velocities, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("learning_rate", [0.001, 0.1])
def test_adam_step(dtype, learning_rate):
    rng = np.random.default_rng(13)
    layout = ParameterLayout([3, 4, 2])
    params = rng.normal(size=layout.size).astype(dtype)
    reference_params = split(layout, params.copy())
    optimizer = ref.Adam(reference_params, learning_rate, 0.9, 0.999, 1e-8)
    first = np.zeros(layout.size, dtype)
    second = np.zeros(layout.size, dtype)
    for step, grads in enumerate(random_grads(rng, layout, dtype, 5), start=1):
        optimizer.update_params(reference_params, split(layout, grads))
        optimizer_kernels.adam_step(
            params, grads, first, second, step, learning_rate, 0.9, 0.999, 1e-8
        )
        assert optimizer.t == step
        assert_close(params, pack_list(layout, reference_params, dtype), dtype)
        assert_close(first, pack_list(layout, optimizer.ms, dtype), dtype)
        assert_close(second, pack_list(layout, optimizer.vs, dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_optimizer_step(dtype, solver):
    rng = np.random.default_rng(14)
    size = 7
    params = rng.normal(size=size).astype(dtype)
    want_params = params.copy()
    state = (np.zeros(size, dtype), np.zeros(size, dtype))
    want_state = (np.zeros(size, dtype), np.zeros(size, dtype))
    step = 3
    for _ in range(3):
        grads = rng.normal(size=size).astype(dtype)
        if solver == "sgd":
            new_step = optimizer_kernels.optimizer_step(
                params, grads, sgd_settings(0.05, 0.8, False), state, step
            )
            assert new_step == step
            optimizer_kernels.sgd_step(
                want_params, grads, want_state[0], 0.05, 0.8, False
            )
            assert (state[1] == 0).all()
        else:
            new_step = optimizer_kernels.optimizer_step(
                params, grads, adam_settings(0.01, 0.8, 0.99, 1e-7), state, step
            )
            assert new_step == step + 1
            optimizer_kernels.adam_step(
                want_params, grads, *want_state, step + 1, 0.01, 0.8, 0.99, 1e-7
            )
        step = new_step
        assert_array_equal(params, want_params)
        assert_array_equal(state[0], want_state[0])
        assert_array_equal(state[1], want_state[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "sgd-nesterov", "adam"])
def test_optimizer_steps_match_sklearn_bit_for_bit(dtype, solver):
    """optimizers.py promises sklearn's arithmetic "element by element, in the same
    order": with no BLAS involved, the results must be identical."""
    rng = np.random.default_rng(15)
    size = 400
    params = rng.normal(size=size).astype(dtype)
    sk_params = [params.copy()]
    if solver == "adam":
        optimizer = SkAdam(sk_params, 0.01, 0.9, 0.999, 1e-8)
    else:
        optimizer = SkSGD(sk_params, 0.05, "constant", 0.9, solver == "sgd-nesterov")
    first = np.zeros(size, dtype)
    second = np.zeros(size, dtype)
    for step in range(1, 6):
        grads = rng.normal(size=size).astype(dtype)
        optimizer.update_params(sk_params, [grads])
        if solver == "adam":
            optimizer_kernels.adam_step(
                params, grads, first, second, step, 0.01, 0.9, 0.999, 1e-8
            )
        else:
            optimizer_kernels.sgd_step(
                params, grads, first, 0.05, 0.9, solver == "sgd-nesterov"
            )
        mismatched = np.flatnonzero(params != sk_params[0])
        assert mismatched.size == 0, (
            f"step {step}: {mismatched.size} of {size} parameters differ from "
            f"sklearn's, by up to {np.abs(params - sk_params[0]).max():.3g}"
        )

"""Every function of every kernel module has a test.

``TESTED_KERNELS`` lists every function of every module of ``fastmlp._kernels``
(but its support modules): a new kernel fails ``test_every_kernel_is_tested``
until it is listed here and a test module under ``tests/`` calls it by name (or
calls the function ``TESTED_THROUGH`` names for it).
"""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import fastmlp._kernels

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("extra_activations_ready")]


TESTED_KERNELS = {
    # tested in tests/kernels/test_vecmath.py
    "float_bits": {
        "float_type",
        "fma",
        "is_single",
        "pow2",
        "scale_pow2",
        "split_exponent",
    },
    "polynomials": {
        "polynomial3",
        "polynomial5",
        "polynomial6",
        "polynomial7",
        "polynomial10",
        "polynomial11",
        "polynomial12",
        "polynomial15",
    },
    "vecmath": {
        "exp",
        "erf",
        "exp_parts",
        "exp_series",
        "clamp_exp_input",
        "expm1",
        "log",
        "log1p",
        "log_reduced",
        "logistic",
        "map_values",
        "reduce_exp",
        "reduce_exp_from",
        "reduce_exp_nearest",
        "tanh",
        "tanh_single",
    },
    # tested in tests/kernels/test_<family>.py: activations, layers, passes, ...
    "activations": {
        "add_bias",
        "softmax_rows",
        "needs_pre_activation",
        "add_bias_activate",
        "activate",
        "apply_extra_activation",
        "apply_element_map",
        "apply_extra_activation_and_derivative",
        "copy_values",
        "fill_nan",
        "multiply_derivative",
        "multiply_extra_derivative",
    },
    "losses": {
        "xlogy",
        "row_loss",
        "finish_loss",
        "loss_value",
        "weighted_row_losses",
        "output_delta",
    },
    "layers": {
        "borrow_net",
        "borrow_work",
        "coef_view",
        "intercept_view",
        "layer_view",
        "transpose_dot",
        "small_transpose_dot",
        "transpose_dot_column",
        "column_sums",
        "dot_transpose",
        "sparse_rows_dot",
        "sparse_rows_transpose_dot",
    },
    "to_csr": {"row_nonzeros", "fill_csr"},
    "passes": {
        "finish_forward",
        "forward_rows",
        "drop_units",
        "undo_dropout",
        "forward_dense",
        "forward_sparse",
        "finish_coef_grad",
        "intercept_grad",
        "squared_coef_sum",
        "loss_and_deltas",
        "backward_hidden",
        "propagate_delta",
        "loss_grad_dense",
        "loss_grad_sparse",
    },
    "optimizers": {
        "sgd_step",
        "adam_rate",
        "adam_update",
        "adam_step",
        "optimizer_step",
        "step_rate",
        "step_range",
    },
    "epoch": {
        "gather_rows",
        "gather_values",
        "batch_weights",
        "run_epoch_dense",
        "run_epoch_sparse",
    },
    "predict": {"all_finite", "copy_block", "predict_dense", "predict_sparse"},
    # tested in tests/kernels/test_threaded.py, test_blas.py and test_sync.py
    "blas": {"transpose_dot_rows", "product"},
    "threaded": {
        "chunk",
        "aligned_chunk",
        "borrow_csr",
        "sparse_part_product",
        "sparse_first_layer",
        "sparse_first_gradient",
        "_bound",
        "rows_align",
        "units_block",
        "gather_part",
        "rows_part",
        "by_rows",
        "rows_of",
        "chunk_gradients",
        "chunk_gradient",
        "columns_part",
        "finish_chunked_coef_grad",
        "finish_chunked_intercept_grad",
        "_step",
        "batch_loss",
        "epoch_part",
        "gradient_part",
    },
    "sync": {
        "barrier",
        "compare_swap",
        "fire_armed",
        "report_then_wait",
        "wait_for_at_least",
        "wait_for_hand_over",
    },
    # tested in tests/test_lbfgsb.py
    "line_search": {
        "_cubic",
        "_cubic_from_trial",
        "interpolate_step",
        "start_line_search",
        "search_line",
    },
    "lbfgs": {
        "two_loop_direction",
        "_dot",
        "_max_abs",
        "_norm",
        "_begin_iteration",
        "_restore_start",
        "_next_trial",
        "lbfgs_step",
        "_store_pair",
        "_forget_pairs",
    },
    # tested in tests/kernels/test_shuffle.py
    "shuffle": {"_twist", "refill", "temper", "shuffle_in_place"},
    "extra_activations": {
        "extra_activation_values",
        "extra_activation_and_derivative",
        "extra_derivative_values",
    },
    # tested in tests/kernels/test_tiles.py
    "tiles": {
        "use_tiles",
        "tiled_product",
        "product_rows",
        "column_product",
        "repeated_product",
        "use_tiles_transposed",
        "in_blas",
        "transposed_in_blas",
    },
}


# Kernels no test calls by name, and the function whose tests run them
TESTED_THROUGH = {
    "logistic": "map_values",  # test_vecmath runs every FUNCTIONS name through it
    "adam_update": "adam_step",
    "_bound": "chunk",
    "gather_part": "epoch_part",
    "borrow_csr": "epoch_part",
    "sparse_part_product": "epoch_part",
    "sparse_first_layer": "epoch_part",
    "rows_part": "epoch_part",
    "columns_part": "epoch_part",
    "rows_of": "chunk_gradient",
    "batch_loss": "epoch_part",
    "gradient_part": "loss_grad_parallel",
    "_cubic": "interpolate_step",
    "_cubic_from_trial": "interpolate_step",
    "_begin_iteration": "minimize",
    "_next_trial": "minimize",
    "_forget_pairs": "minimize",
    "_store_pair": "minimize",
    # lbfgs_step and its helpers: through fastmlp._engine.lbfgsb.minimize, its caller
    "lbfgs_step": "minimize",
    "_twist": "refill",
}


def _called_in_tests(name):
    """Whether a test module under tests/ names ``name`` outside a string."""
    pattern = re.compile(rf'(?<!["\w]){re.escape(name)}(?!["\w])')
    return any(
        pattern.search(path.read_text())
        for path in Path(__file__).parents[1].rglob("test_*.py")
    )


def test_every_kernel_is_tested():
    found = {}
    for info in pkgutil.iter_modules(fastmlp._kernels.__path__):
        if info.name in fastmlp._kernels.SUPPORT_MODULES:
            continue
        module = importlib.import_module(f"fastmlp._kernels.{info.name}")
        names = set()
        for name, obj in vars(module).items():
            function = getattr(obj, "py_func", obj)
            if inspect.isfunction(function) and function.__module__ == module.__name__:
                names.add(name)
        found[info.name] = names
    assert found == TESTED_KERNELS
    untested = [
        f"{module}.{name}"
        for module, names in TESTED_KERNELS.items()
        for name in names
        if not _called_in_tests(TESTED_THROUGH.get(name, name))
    ]
    assert not untested, f"no test calls {untested}"

"""Kernels compiled apart, called through a table (``extra_callbacks``).

The extra activations, and the element maps (exp, logistic, tanh).

Each test runs in a new process: whether the table is filled depends on
what the process did before, and a kernel loaded from numba's cache must
find this process's table.
"""

import subprocess
import sys

import numba
import numpy as np
import pytest

pytestmark = pytest.mark.timeout(600)

needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: no table, plain Python"
)


def run(script, *arguments):
    proc = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()


UNPREPARED = """
import numpy as np
from fastmlp._kernels.activations import (
    ACTIVATION_CODES, apply_extra_activation, multiply_extra_derivative)
from fastmlp._kernels import extra_callbacks
z = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
code = ACTIVATION_CODES["gelu"]
got = z.copy()
apply_extra_activation(got, code)
delta = np.ones_like(z)
multiply_extra_derivative(got, z, delta, code)
print(np.isnan(got).all(), np.isnan(delta).all())
extra_callbacks.prepare()
got = z.copy()
apply_extra_activation(got, code)
delta = np.ones_like(z)
multiply_extra_derivative(got, z, delta, code)
print(np.isfinite(got).all(), np.isfinite(delta).all())
"""


@needs_jit
def test_unprepared_calls_give_nan_and_prepared_ones_values():
    assert run(UNPREPARED) == ["True True", "True True"]


FIT = """
import pickle, sys
import numpy as np
from fastmlp import MLPRegressor
from fastmlp._kernels import extra_callbacks
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 5))
y = X @ rng.normal(size=5) + 0.1 * rng.normal(size=120)
print(len(extra_callbacks._callbacks))
model = MLPRegressor(
    hidden_layer_sizes=(8,), activation=sys.argv[2], max_iter=30, random_state=0
)
model.fit(X.astype(sys.argv[3]), y)
print(len(extra_callbacks._callbacks))
print(extra_callbacks.prepared_element_maps())
with open(sys.argv[1], "wb") as file:
    pickle.dump((model, X), file)
print(repr(model.predict(X.astype(sys.argv[3])).tolist()))
"""

PREDICT = """
import pickle, sys
import numpy as np
from fastmlp._kernels import extra_callbacks
with open(sys.argv[1], "rb") as file:
    model, X = pickle.load(file)
predicted = model.predict(X.astype(sys.argv[3]))
print(len(extra_callbacks._callbacks))
print(repr(predicted.tolist()))
"""


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_new_processes_fit_and_predict_with_an_extra_activation(tmp_path):
    # float64 only: the float32 slots are used in-process by tests/kernels/
    path = str(tmp_path / "model.pkl")
    before, after, maps, fitted = run(FIT, path, "silu", "float64")
    callbacks = "0" if numba.config.DISABLE_JIT else "6"
    assert (before, after) == ("0", callbacks)
    assert maps == "[]"  # a regressor's silu net: no exp, logistic or tanh
    assert "nan" not in fitted
    # a new process, which loads every kernel from numba's cache
    prepared, predicted = run(PREDICT, path, "silu", "float64")
    assert prepared == callbacks  # predict made them ready
    assert predicted == fitted


@needs_jit
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fits_without_extra_activations_compile_none(tmp_path):
    before, after, maps, _ = run(FIT, str(tmp_path / "model.pkl"), "tanh", "float64")
    assert (before, after) == ("0", "0")
    # and of the element maps, only the one the net uses, in its dtype
    assert maps == "[('tanh', 'float64')]"


THREADS = """
import threading
from fastmlp._kernels import extra_callbacks
start = threading.Barrier(4)
def go():
    start.wait()
    extra_callbacks.prepare()
threads = [threading.Thread(target=go) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
table, slots = extra_callbacks._table, extra_callbacks._EXTRA_SLOTS
print(len(extra_callbacks._callbacks), all(table[s] for s in slots))
"""


@needs_jit
def test_prepare_from_several_threads_compiles_once():
    assert run(THREADS) == ["6 True"]


@needs_jit
def test_callbacks_have_the_kernel_policy():
    from fastmlp._kernels import extra_callbacks, jit

    extra_callbacks.prepare()
    assert len(extra_callbacks._callbacks) == 6
    options = {k: v for k, v in jit.JIT_OPTIONS.items() if k != "cache"}
    for callback in extra_callbacks._callbacks.values():
        assert callback._compiler.targetoptions == options
        assert isinstance(callback._cache, numba.core.caching.FunctionCache)
        assert callback._cache._cache_file._source_stamp == (jit.kernels_source_stamp())


@needs_jit
def test_a_cleared_table_is_refilled_without_compiling_again():
    from fastmlp._kernels import extra_callbacks

    extra_callbacks.prepare()
    addresses = list(extra_callbacks._table)
    callbacks = dict(extra_callbacks._callbacks)
    extra_callbacks.clear_table()
    assert not any(extra_callbacks._table)
    extra_callbacks.prepare()
    assert list(extra_callbacks._table) == addresses
    assert extra_callbacks._callbacks == callbacks


MAPS_UNPREPARED = """
import numpy as np
from fastmlp._kernels.activations import ACTIVATION_CODES, activate
from fastmlp._kernels import extra_callbacks
code = ACTIVATION_CODES["tanh"]
z = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
got = z.copy()
activate(got, code)
print(np.isnan(got).all())
extra_callbacks.prepare_element_maps([code], np.float32)  # another dtype's: still NaN
got = z.copy()
activate(got, code)
print(np.isnan(got).all())
extra_callbacks.prepare_element_maps([code], np.float64)
got = z.copy()
activate(got, code)
print(np.isfinite(got).all(), extra_callbacks.prepared_element_maps())
"""


@needs_jit
def test_element_maps_unprepared_give_nan_and_are_made_per_dtype():
    assert run(MAPS_UNPREPARED) == [
        "True",
        "True",
        "True [('tanh', 'float32'), ('tanh', 'float64')]",
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["exp", "logistic", "tanh", "softmax"])
def test_element_maps_called_apart_give_the_inlined_loops_bits(name, dtype):
    from fastmlp._kernels import extra_callbacks, vecmath
    from fastmlp._kernels.activations import ACTIVATION_CODES, activate

    rng = np.random.default_rng(0)
    tiny = np.finfo(dtype).tiny
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, tiny, -tiny, 88.0, -104.0]
    values = np.concatenate([rng.normal(scale=20, size=997), specials])
    z = values.astype(dtype).reshape(-1, 1)  # one column: softmax gives all 1
    extra_callbacks.prepare_element_maps([ACTIVATION_CODES[name]], dtype)
    got = z.copy()
    activate(got, ACTIVATION_CODES[name])
    expected = np.empty_like(z.ravel())
    if name == "softmax":
        with np.errstate(invalid="ignore"):
            finite = z.ravel() - z.ravel()  # max subtracted: 0, or NaN
        vecmath.map_values(finite, expected, vecmath.FUNCTIONS.index("exp"))
        expected /= expected  # each row's sum is its one value
    else:
        function = vecmath.FUNCTIONS.index(name)
        vecmath.map_values(z.ravel().copy(), expected, function)
    np.testing.assert_array_equal(got.ravel(), expected)


def test_wide_vector_ir_marks_every_definition():
    from llvmlite import binding, ir

    from fastmlp._kernels.linking import wide_vector_ir

    module = ir.Module()
    for name in ("first", "second"):
        function = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name)
        ir.IRBuilder(function.append_basic_block()).ret_void()
    ir.Function(module, ir.FunctionType(ir.VoidType(), []), "declared")
    parsed = binding.parse_assembly(wide_vector_ir(str(module)))
    for function in parsed.functions:
        marked = '"prefer-vector-width"="512"' in str(function)
        assert marked is not function.is_declaration, str(function)


@needs_jit
def test_wide_callbacks_loop_in_512_bits_where_the_tiles_do():
    """The callbacks' libraries ask LLVM for 512-bit loops on AVX-512 (where the
    tiles are 512-bit), and get them; elsewhere they are numba's own."""
    from numba import carray, types
    from numba.core.ccallback import CFunc

    from fastmlp._kernels import extra_callbacks, jit, vecmath
    from fastmlp._kernels.linking import WideCallbackCompiler
    from fastmlp._kernels.simd import VECTOR_BYTES

    def exp_loop(values, n_values):
        flat = carray(values, (n_values,))
        for k in range(n_values):
            flat[k] = vecmath.exp(flat[k])

    signature = types.void(types.CPointer(types.float64), types.intp)
    pipeline = jit.WIDE_CALLBACK_COMPILER
    assert (pipeline is WideCallbackCompiler) is (VECTOR_BYTES == 64)
    callback = CFunc(
        exp_loop, (signature.args, signature.return_type), {}, {}, pipeline
    )
    callback.compile()  # not cached: compiled here
    ir_text = callback._library.get_llvm_str()
    assert ('"prefer-vector-width"="512"' in ir_text) is (VECTOR_BYTES == 64)
    if VECTOR_BYTES == 64:
        assert "zmm" in callback._library.get_asm_str()
    extra_callbacks.prepare()
    for kept in extra_callbacks._callbacks.values():
        assert kept._compiler.pipeline_class is pipeline

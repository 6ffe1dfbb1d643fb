"""Every compiled kernel is built with ``fastmlp._kernels.jit.JIT_OPTIONS``.

Each module under ``fastmlp._kernels`` (but the ``SUPPORT_MODULES``, which make
kernels) is imported and every function it
defines must be a numba ``CPUDispatcher`` whose options are the policy of
``jit.py``: ``nogil=True``, ``fastmath=False`` (in particular never the
``nnan``/``ninf`` flags, so NaN and inf checks keep working),
``error_model="numpy"``, nopython mode, no ``inline`` (but for the kernels
that compose others, made by ``jit.inlined_kernel``), no ``parallel``, no
eager signatures, and ``cache=True``. ``cache`` is consumed by the decorator
rather than stored in ``targetoptions``: it shows as a ``FunctionCache``
(instead of a ``NullCache``) on the dispatcher. ``boundscheck`` must be left
unset so that ``NUMBA_BOUNDSCHECK=1`` can turn it on for the whole package.

With ``NUMBA_DISABLE_JIT=1`` the kernels are plain Python functions; the
dispatcher checks are skipped and only the policy itself is checked.
"""

import importlib
import inspect
import pkgutil

import numba
import numpy as np
import pytest

import fastmlp._kernels
from fastmlp._kernels import jit, linking
from fastmlp._kernels.simd import VECTOR_BYTES

pytestmark = pytest.mark.kernel

needs_jit = pytest.mark.skipif(
    numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT=1: kernels are plain Python"
)

EXPECTED_MODULES = {
    "activations",
    "losses",
    "passes",
    "optimizers",
    "epoch",
    "predict",
    "blas",
    "threaded",
    "sync",
    "tiles",
    "extra_activations",
}
# Kernels inlined into their callers to save compile time (those that compose
# others, and the L-BFGS and shuffle helpers measured in their modules)
# (``jit.inlined_kernel``); any other kernel keeps a library of its own.
WIDE_KERNELS = {
    f"extra_activations.{name}"
    for name in (
        "extra_activation_values",
        "extra_activation_and_derivative",
        "extra_derivative_values",
    )
}
INLINED_KERNELS = {
    "passes.finish_forward",
    "passes.forward_dense",
    "passes.forward_sparse",
    "passes.loss_and_deltas",
    "passes.backward_hidden",
    "passes.propagate_delta",
    "layers.small_transpose_dot",
    "passes.loss_grad_dense",
    "passes.loss_grad_sparse",
    "optimizers.optimizer_step",
    "threaded.rows_part",
    "threaded.chunk_gradients",
    "threaded.columns_part",
    "tiles.product_rows",
    # the products' tiles-or-BLAS predicates: one-liners with five callers
    "tiles.in_blas",
    "tiles.transposed_in_blas",
    "line_search._cubic",
    "line_search._cubic_from_trial",
    "line_search.start_line_search",
    "lbfgs._begin_iteration",
    "lbfgs._restore_start",
    "lbfgs._next_trial",
    "lbfgs._forget_pairs",
    "lbfgs._store_pair",
    "shuffle._twist",
    "shuffle.refill",
    "shuffle.temper",
    # element functions: inlined so that the loops calling them vectorize
    "polynomials.polynomial3",
    "polynomials.polynomial5",
    "polynomials.polynomial6",
    "polynomials.polynomial7",
    "polynomials.polynomial10",
    "polynomials.polynomial11",
    "polynomials.polynomial12",
    "polynomials.polynomial15",
    "vecmath.reduce_exp",
    "vecmath.reduce_exp_nearest",
    "vecmath.reduce_exp_from",
    "vecmath.exp_parts",
    "vecmath.exp_series",
    "vecmath.clamp_exp_input",
    "vecmath.exp",
    "vecmath.expm1",
    "vecmath.logistic",
    "vecmath.tanh",
    "vecmath.tanh_single",
    "vecmath.log_reduced",
    "vecmath.log",
    "vecmath.log1p",
    "vecmath.erf",
}


def kernel_modules():
    return [
        importlib.import_module(f"{fastmlp._kernels.__name__}.{info.name}")
        for info in pkgutil.iter_modules(fastmlp._kernels.__path__)
        if info.name not in fastmlp._kernels.SUPPORT_MODULES
    ]


def own_functions(module):
    """``(name, object)`` of every function or dispatcher ``module`` defines."""
    found = []
    for name, obj in sorted(vars(module).items()):
        function = getattr(obj, "py_func", obj)
        if inspect.isfunction(function) and function.__module__ == module.__name__:
            found.append((name, obj))
    return found


KERNELS = [
    (f"{module.__name__.rsplit('.', 1)[1]}.{name}", obj)
    for module in kernel_modules()
    for name, obj in own_functions(module)
]


def test_policy():
    assert jit.JIT_OPTIONS == {
        "cache": True,
        "nogil": True,
        "fastmath": False,
        "error_model": "numpy",
    }
    assert not jit.JIT_OPTIONS.get("parallel", False)


def test_kernel_modules_are_found():
    names = {module.__name__.rsplit(".", 1)[1] for module in kernel_modules()}
    assert EXPECTED_MODULES <= names
    for module in kernel_modules():
        assert own_functions(module), f"{module.__name__} defines no kernel"


@needs_jit
@pytest.mark.parametrize(("name", "kernel"), KERNELS, ids=[k[0] for k in KERNELS])
def test_kernel_is_a_dispatcher_with_the_policy(name, kernel):
    assert isinstance(kernel, numba.core.registry.CPUDispatcher), (
        f"{name} is not compiled (a plain helper in a kernel module?)"
    )
    options = kernel.targetoptions
    for key in ("nogil", "fastmath", "error_model"):
        assert options.get(key) == jit.JIT_OPTIONS[key], (name, key, options)
    fastmath = options.get("fastmath")
    assert fastmath is False, f"{name}: fastmath={fastmath!r}"
    assert options.get("nopython", False) is True, name
    assert options.get("no_cpython_wrapper") is True, name
    assert options.get("no_cfunc_wrapper") is True, name
    # the extra activations' element loops: 512 bits wide on AVX-512
    wide = name in WIDE_KERNELS and VECTOR_BYTES == 64
    pipeline = linking.WideKernelCompiler if wide else linking.KernelCompiler
    assert kernel._compiler.pipeline_class is pipeline, name
    assert "parallel" not in options, (name, options["parallel"])
    inline = options.get("inline", "never")
    assert inline == ("always" if name in INLINED_KERNELS else "never"), name
    assert options.get("boundscheck") is None, (
        f"{name} fixes boundscheck; NUMBA_BOUNDSCHECK could not override it"
    )
    assert isinstance(kernel._cache, numba.core.caching.FunctionCache), (
        f"{name} is not cached (cache=True missing)"
    )
    # Lazy compilation: no signature given at decoration time.
    assert kernel._can_compile


@needs_jit
def test_kernels_are_built_by_fastmlp_numba_kernel():
    # Same options dict as a dispatcher made by jit.kernel right now.
    reference = jit.kernel(lambda x: x)
    inlined = jit.inlined_kernel(lambda x: x)

    for name, kernel in KERNELS:
        want = inlined if name in INLINED_KERNELS else reference
        assert kernel.targetoptions == want.targetoptions, name


@needs_jit
def test_python_calls_run_a_twin_with_a_wrapper_and_its_own_cache():
    from fastmlp._kernels import layers

    kernel = layers.layer_view
    assert isinstance(kernel, jit.KernelDispatcher)
    buffer = np.arange(12.0)
    net = (np.array([2, 3, 2]), np.zeros(2, np.int64), np.zeros(2, np.int64))
    starts = np.array([0, 6])
    compiled = list(kernel.signatures)  # by compiled callers in other tests
    got = kernel(buffer, net, starts, 1, 3)  # a call from Python
    np.testing.assert_array_equal(got, buffer[6:12].reshape(3, 2))
    twin = kernel.python_twin()
    assert twin is kernel.python_twin()  # made once
    assert twin.py_func.__code__ is kernel.py_func.__code__
    assert twin.signatures and kernel.signatures == compiled  # the twin compiled
    reference = jit.kernel(lambda x: x)
    want = dict(reference.targetoptions, boundscheck=None)  # njit sets it unset
    del want["no_cpython_wrapper"]  # Python calls the CPython wrapper, not a C one
    assert twin.targetoptions == want
    assert isinstance(twin._cache, numba.core.caching.FunctionCache)
    assert twin._cache._cache_file._source_stamp == jit.kernels_source_stamp()
    # numba's cache key ignores the options: the twin's files must be its own
    assert twin._cache._impl.filename_base != kernel._cache._impl.filename_base


@needs_jit
def test_kernels_and_twins_compile_with_the_collector_off():
    """Automatic garbage collection is off during a compile and back on after."""
    import gc

    from numba.core import event

    seen = []

    class Listener(event.Listener):
        def on_start(self, ev):
            seen.append(gc.isenabled())

        def on_end(self, ev):
            pass

    def add_two(x):
        return x + 2.0

    kernel = jit.kernel(add_two)
    kernel._cache = numba.core.caching.NullCache()  # compiled here, not loaded
    twin = kernel.python_twin()
    twin._cache = numba.core.caching.NullCache()
    assert gc.isenabled()
    with event.install_listener("numba:compile", Listener()):
        kernel.compile((numba.float64,))
        assert gc.isenabled()
        assert twin(1.0) == 3.0  # the twin compiles, and a failed compile:
        with pytest.raises(numba.core.errors.TypingError):
            twin("a")
    assert seen == [False, False, False] and gc.isenabled()


def _uncached_twin(function):
    twin = jit.kernel(function).python_twin()
    twin._cache = numba.core.caching.NullCache()
    return twin


@needs_jit
def test_constant_arguments_share_one_compile():
    """A kernel called with constants compiles once, for their plain types."""

    def scaled(x, factor):
        return x * factor

    callee = jit.kernel(scaled)
    callee._cache = numba.core.caching.NullCache()

    def caller(x):
        return callee(x, 2) + callee(x, 16) + callee(x, x)

    assert _uncached_twin(caller)(3) == 3 * 2 + 3 * 16 + 3 * 3
    assert callee.signatures == [(numba.int64, numba.int64)]


@needs_jit
def test_a_kernel_that_needs_a_constant_still_gets_it():
    """Typing that needs the literal (an index into a tuple of mixed types)."""

    def pick(values, index):
        return values[index]

    callee = jit.kernel(pick)
    callee._cache = numba.core.caching.NullCache()

    def caller(x):
        return callee((x, 1.5), 1) + callee((x, 1.5), 0)

    assert _uncached_twin(caller)(2) == 3.5
    literal = numba.types.literal
    assert sorted(str(sig[1]) for sig in callee.signatures) == [
        str(literal(0)),
        str(literal(1)),
    ]


@needs_jit
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_no_kernel_compiles_a_copy_for_a_constant():
    """Fits of every kind leave no kernel compiled for a literal argument."""
    import scipy.sparse as sp
    from sklearn.datasets import load_iris

    from fastmlp import MLPClassifier, MLPRegressor

    X, y = load_iris(return_X_y=True)
    for dtype in (np.float64, np.float32):
        for data in (X.astype(dtype), sp.csr_matrix(X.astype(dtype))):
            for solver in ("adam", "lbfgs"):
                for n_jobs in (1, 2):
                    params = dict(solver=solver, max_iter=2, n_jobs=n_jobs)
                    MLPClassifier(**params).fit(data, y).predict_proba(data)
                    MLPRegressor(**params).fit(data, X[:, 0]).predict(data)
    literal = [
        (name, signature)
        for name, kernel in KERNELS
        if isinstance(kernel, numba.core.registry.CPUDispatcher)
        for signature in kernel.signatures
        if any(isinstance(arg, numba.types.Literal) for arg in signature)
    ]
    assert literal == []


def test_the_collector_comes_back_as_it_was():
    import gc

    from fastmlp._kernels.collector import collector_paused

    assert gc.isenabled()
    with collector_paused():
        with collector_paused():  # nested, as a kernel compiled by its caller
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(KeyError), collector_paused():
        raise KeyError
    assert gc.isenabled()
    gc.disable()  # a program that keeps it off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@needs_jit
def test_c_callbacks_compile_with_the_collector_off(monkeypatch):
    import gc

    from numba.core.ccallback import CFunc

    seen = []
    monkeypatch.setattr(CFunc, "compile", lambda self: seen.append(gc.isenabled()))

    def negate(x):
        return -x

    jit.c_callback(negate, numba.float64(numba.float64))
    assert seen == [False] and gc.isenabled()


@needs_jit
def test_kernels_are_linked_not_emitted():
    """A kernel's library holds IR for its callers; only its callers are emitted."""

    def add_one(x):
        return x + 1.0

    kernel = jit.kernel(add_one)
    kernel._cache = numba.core.caching.NullCache()  # compiled here, not loaded
    kernel.compile((numba.float64,))
    result = kernel.overloads[(numba.float64,)]
    assert isinstance(result.library, linking.LinkedOnlyLibrary)
    name = result.fndesc.llvm_func_name
    assert not result.library.get_pointer_to_function(name)  # no machine code
    linked = result.library._get_module_for_linking()
    assert not linked.get_function(name).is_declaration  # the IR callers link
    # the cache stores the stub's object code and that IR
    _, kind, (object_code, _) = result.library.serialize_using_object_code()
    assert kind == "object" and object_code

    @numba.njit(cache=False)
    def caller(x):
        return kernel(x) * 2.0

    assert caller(1.0) == 4.0
    assert kernel(2.0) == 3.0  # from Python: the twin


@needs_jit
def test_module_pipelines_run_where_code_is_emitted(monkeypatch):
    """numba's module pipelines (cheap, then full) run on a caller's linked
    module, not on each kernel's: except for wide kernels, whose loops need
    more than one round of them."""
    codegen = numba.core.registry.cpu_target.target_context.codegen()
    runs = []
    original = codegen._module_pass_manager

    def counted(**options):
        runs.append(options.get("cost", "full"))
        return original(**options)

    monkeypatch.setattr(codegen, "_module_pass_manager", counted)

    def add_two(x):
        return x + 2.0

    def compiled_alone(make):
        kernel = make(add_two)
        kernel._cache = numba.core.caching.NullCache()  # compiled here, not loaded
        kernel.compile((numba.float64,))
        return kernel

    kernel = compiled_alone(jit.kernel)
    assert runs == []
    assert isinstance(
        kernel.overloads[(numba.float64,)].library, linking.LinkedOnlyLibrary
    )

    @numba.njit(cache=False)
    def caller(x):
        return kernel(x) * 2.0

    assert caller(1.0) == 6.0
    assert runs == ["cheap", "full"]
    runs.clear()
    wide = compiled_alone(jit.wide_kernel)
    assert runs == ["cheap", "full"]
    library = wide.overloads[(numba.float64,)].library
    assert isinstance(library, linking.OptimizedLinkedOnlyLibrary)
    assert isinstance(library, linking.WideLinkedOnlyLibrary) == (VECTOR_BYTES == 64)


def test_disable_jit_gives_plain_functions():
    if not numba.config.DISABLE_JIT:
        pytest.skip("only meaningful with NUMBA_DISABLE_JIT=1")
    for name, kernel in KERNELS:
        assert inspect.isfunction(kernel), name


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="no cache without the JIT")
def test_cache_is_stamped_with_every_kernel_source():
    """A change in any kernel file must invalidate every cached kernel."""
    from fastmlp._kernels.jit import kernels_source_stamp

    stamps = {dispatcher._cache._cache_file._source_stamp for _, dispatcher in KERNELS}
    assert stamps == {kernels_source_stamp()}

"""The one place numba options live.

Every compiled function in fastmlp is made by :func:`kernel` or
:func:`inlined_kernel`, so these hold for all of them
(``tests/test_numba_options.py`` reads every dispatcher's options to prove it):
``cache=True``; ``nogil=True``; ``fastmath=False`` (never ``nnan``/``ninf``: NaN
and inf checks must keep working); ``error_model="numpy"``; no eager signatures
(float32, float64, dense and CSR compile lazily; the engine passes its inputs
read-only, so memmaps share the writable arrays' kernels);
``no_cpython_wrapper=True`` (a call from Python runs a wrapped twin,
:class:`KernelDispatcher`) and ``no_cfunc_wrapper=True`` (nothing calls a
kernel through C); kernels lowered for linking only, their machine code
emitted in their callers alone (``fastmlp._kernels.linking``); ``inline="always"``
only for :func:`inlined_kernel`; no ``parallel=True`` (split batches run serial
kernels in Python threads, ``fastmlp._kernels.threaded``). Why each, and what
it cost or saved: ``docs/design/compile_time.md``.
"""

import functools
import hashlib
import threading
import types
from pathlib import Path

from numba import config
from numba.core import compiler, errors, sigutils
from numba.core import types as numba_types
from numba.core.caching import IndexDataCacheFile
from numba.core.ccallback import CFunc
from numba.core.registry import CPUDispatcher

from .collector import collector_paused
from .linking import (
    KernelCompiler,
    OptimizedKernelCompiler,
    WideCallbackCompiler,
    WideKernelCompiler,
)
from .simd import VECTOR_BYTES

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": False,
    "error_model": "numpy",
}


# every file of this folder: a kernel file added later is stamped without a change here
_KERNEL_SOURCES = sorted(Path(__file__).parent.glob("*.py"))


def kernels_source_stamp():
    """What every cached kernel is stamped with: a hash of its sources.

    Of every kernel source file (and of this one): numba stamps a cached
    function with its own file only, so a change in a kernel it calls from
    another file would load stale machine code (numba issue #1833). Stamping
    every kernel with all of them makes any change recompile everything.
    The tile limits measured on the machine are data the kernels read at run
    time (``limit_table``), not part of their code.
    """
    return _sources_digest()


@functools.cache
def _sources_digest():
    digest = hashlib.sha256()
    for path in _KERNEL_SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def _settle_tile_limits(arguments):
    # imported here: the limits are settled when a kernel of their dtype first
    # compiles or loads, not when fastmlp is imported (measuring runs kernels)
    from .._runtime.tile_calibration import settle_signature

    settle_signature(arguments)


def kernel(function):
    """Compile ``function`` with fastmlp's numba options.

    Parameters
    ----------
    function : callable
        A pure function of arrays and scalars.

    Returns
    -------
    dispatcher : KernelDispatcher
        The lazily compiled function (the function itself under
        ``NUMBA_DISABLE_JIT=1``).
    """
    return _kernel_dispatcher(function)


def wide_kernel(function):
    """:func:`kernel` for element loops of transcendental functions.

    Its library runs numba's module pipelines as well as its callers' do
    (``linking.OptimizedLinkedOnlyLibrary``: those loops vectorize fully only
    after more than one round), and LLVM vectorizes its loops 512 bits wide
    where the tiles are 512-bit (``simd.VECTOR_BYTES``), so the core already
    runs 512-bit code (measured in ``docs/design/vector_math.md``). The same
    operations on every lane, so the same values.
    """
    return _kernel_dispatcher(function, pipeline_class=WIDE_KERNEL_COMPILER)


# the pipelines of wide kernels and wide C callbacks on this machine: 512-bit
# libraries where the tiles are 512-bit, else ones of numba's usual width
_WIDE = VECTOR_BYTES == 64
WIDE_KERNEL_COMPILER = WideKernelCompiler if _WIDE else OptimizedKernelCompiler
WIDE_CALLBACK_COMPILER = WideCallbackCompiler if _WIDE else compiler.Compiler


def inlined_kernel(function):
    """:func:`kernel` that numba inlines, as IR, into the kernels that call it.

    For kernels that mostly call other kernels (a forward pass, a whole
    gradient, one optimizer step). numba compiles every dispatcher into a
    library of its own that links the libraries of its callees, and then
    optimizes and emits machine code for the whole linked tree again: each
    layer of compiled callers costs about as much compile time as all the code
    beneath it. Inlining the composing layers removes those layers, and costs
    nothing at run time, since LLVM inlined them anyway. Not the small leaf
    helpers, which have many call sites, each a copy to optimize
    (``docs/design/compile_time.md``).
    Called from Python, these compile as ordinary kernels.
    """
    return _kernel_dispatcher(function, inline="always")


class _CompilingDispatcher(CPUDispatcher):
    """numba's dispatcher, compiling with the garbage collector held off.

    What that saves and costs: :mod:`fastmlp._kernels.collector`. Before a
    signature first compiles or loads, the tile limits of its dtypes are
    settled (``fastmlp._runtime.tile_calibration``): a kernel of a dtype
    never runs before they are. A call with constant arguments compiles once
    for their plain types, whatever the constants, unless only their literal
    values type.
    """

    def compile(self, sig):
        args, return_type = sigutils.normalize_signature(sig)
        plain = tuple(numba_types.unliteral(arg) for arg in args)
        if plain != args:
            # a constant argument (a flag, an alignment) would compile a copy
            # of the kernel for its value; callers' LLVM inlining folds the
            # constant in either way. The literal copy only if typing needs it.
            plain_sig = plain if return_type is None else return_type(*plain)
            try:
                return self.compile(plain_sig)
            except errors.TypingError:
                pass
        _settle_tile_limits(args)
        with collector_paused():
            return super().compile(sig)


class KernelDispatcher(_CompilingDispatcher):
    """A kernel compiled without a CPython wrapper; a call from Python runs its twin.

    numba gives every compiled function a wrapper that unboxes its arguments
    from Python objects, although a kernel called by another kernel never
    uses it. The wrapper of a kernel taking the ``net`` and ``work`` tuples is
    much code, and each caller links it and optimizes it again. So kernels are
    compiled without one (``no_cpython_wrapper=True``; the compile time this
    saves: ``docs/design/compile_time.md``). The entry
    points, and the tests, call kernels from Python: such a call goes to a
    twin, the same function compiled with a wrapper the first time it is
    needed, and cached under a name of its own (numba's cache key does not
    include the options, so the two must not share one).
    """

    _twin = None

    def __call__(self, *args, **kwargs):
        twin = self._twin
        if twin is None:
            twin = self.python_twin()
        return twin(*args, **kwargs)

    def python_twin(self):
        """The dispatcher that Python calls of this kernel run."""
        with _twin_lock:
            if self._twin is None:
                function = self.py_func
                twin = types.FunctionType(
                    function.__code__,
                    function.__globals__,
                    function.__name__,
                    function.__defaults__,
                    function.__closure__,
                )
                twin.__qualname__ = function.__qualname__ + "_from_python"
                twin.__module__ = function.__module__
                twin.__doc__ = function.__doc__
                self._twin = _twin_dispatcher(twin)
        return self._twin


_twin_lock = threading.Lock()
# JIT_OPTIONS as compiler options: "cache" is a call to enable_caching instead
_COMPILER_OPTIONS = {key: value for key, value in JIT_OPTIONS.items() if key != "cache"}


def _cached_dispatcher(dispatcher_class, function, pipeline_class, **options):
    """A ``dispatcher_class`` of ``function`` with JIT_OPTIONS, cached and stamped."""
    dispatcher = dispatcher_class(
        py_func=function,
        locals={},
        targetoptions={"nopython": True, **_COMPILER_OPTIONS, **options},
        pipeline_class=pipeline_class,
    )
    dispatcher.enable_caching()  # JIT_OPTIONS["cache"]
    return _stamped(dispatcher)


def _twin_dispatcher(function):
    # what njit(**JIT_OPTIONS) makes, compiling as kernels do
    return _cached_dispatcher(
        _CompilingDispatcher,
        function,
        compiler.Compiler,
        boundscheck=None,
        no_cfunc_wrapper=True,  # Python calls the CPython wrapper
    )


def _kernel_dispatcher(function, pipeline_class=KernelCompiler, **options):
    if config.DISABLE_JIT:
        return function
    return _cached_dispatcher(
        KernelDispatcher,
        function,
        pipeline_class,  # no machine code of its own
        no_cpython_wrapper=True,
        # numba's C wrapper, lowered and optimized for every kernel, is
        # called by nothing: the twins and the callbacks have their own
        no_cfunc_wrapper=True,
        **options,
    )


def c_callback(function, signature, wide=False):
    """Compile ``function`` as a C callback with fastmlp's numba options.

    Parameters
    ----------
    function : callable
        A pure function of pointers and scalars.
    signature : numba.core.typing.templates.Signature
        Its C signature.
    wide : bool, default=False
        Loops 512 bits wide on AVX-512, as :func:`wide_kernel`.

    Returns
    -------
    callback : numba.core.ccallback.CFunc
        Compiled now (or loaded from the cache, stamped as the kernels are);
        its ``address`` is valid while it lives.
    """
    arguments, return_type = sigutils.normalize_signature(signature)
    callback = CFunc(
        function,
        (arguments, return_type),
        locals={},
        options=_COMPILER_OPTIONS,
        pipeline_class=WIDE_CALLBACK_COMPILER if wide else compiler.Compiler,
    )
    callback.enable_caching()
    _stamped(callback)
    with collector_paused():
        callback.compile()
    return callback


def _stamped(dispatcher):
    cache = getattr(dispatcher, "_cache", None)
    cache_file = getattr(cache, "_cache_file", None)
    if isinstance(cache_file, IndexDataCacheFile):
        cache._cache_file = _StampedCacheFile(cache_file)
    return dispatcher


class _StampedCacheFile(IndexDataCacheFile):
    """numba's index and data files of one kernel, stamped with every kernel source.

    The stamp (:func:`kernels_source_stamp`) is computed when numba first
    reads or writes the index, not at import.
    """

    def __init__(self, cache_file):
        state = dict(vars(cache_file))
        state.pop("_source_stamp", None)
        vars(self).update(state)

    @property
    def _source_stamp(self):
        return kernels_source_stamp()

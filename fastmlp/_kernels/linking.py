"""Kernels compiled for linking only: IR for callers, no machine code of their own.

A kernel has no CPython wrapper: Python runs its twin, and compiled callers
link the kernel's LLVM IR into their own library and emit it there. So a
kernel's library runs numba's function passes on its own functions but not
numba's module pipelines, which a caller runs over everything it links
(:class:`OptimizedLinkedOnlyLibrary` runs them too), and gives the JIT engine
only a stub that defines its environment globals (the code that callers emit
reads a kernel's environment through them); its cache entry is the stub's
object code and the IR, which numba's loader reads as any entry. Invariants:
only twins and C callbacks are emitted, and their libraries run numba's
module pipelines (cheap, then full) over the whole linked module. What each
step saves, and how the emitted code and its speed were compared:
``docs/design/cold_start.md``.
"""

import re
import weakref

from llvmlite import binding
from numba.core import cgutils, compiler, typed_passes
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler_machinery import LoweringPass, register_pass

_ENVIRONMENT_PREFIX = "_ZN08NumbaEnv"


class LinkedOnlyLibrary(JITCodeLibrary):
    """A kernel's code library: IR for callers to link, a stub for the JIT."""

    def _optimize_final_module(self):
        # every caller runs them over all it links, and only callers emit code:
        # running them here too was a fifth of a cold first fit's CPU
        pass

    def _finalize_final_module(self):
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        stub = binding.parse_assembly(_stub_ir(self._final_module))
        # numba's object cache hooks find the library through this attribute,
        # so the stub's object code is what the cache stores
        stub._CPUCodeLibrary__library = weakref.proxy(self)
        self._codegen._add_module(stub)
        self._codegen._engine.finalize_object()
        self._finalized = True


def _stub_ir(module):
    """IR of a module defining ``module``'s environment globals, nothing else."""
    lines = [f'target triple = "{module.triple}"']
    lines.append(f'target datalayout = "{module.data_layout}"')
    for variable in module.global_variables:
        if variable.name.startswith(_ENVIRONMENT_PREFIX) and not (
            variable.is_declaration
        ):
            lines.append(str(variable))
    return "\n".join(lines) + "\n"


def _library_pass(name, library_class):
    """A pass that gives the compile a ``library_class`` library before lowering."""

    @register_pass(mutates_CFG=False, analysis_only=False)
    class _Pass(LoweringPass):
        _name = name

        def __init__(self):
            LoweringPass.__init__(self)

        def run_pass(self, state):
            if state.library is None:
                codegen = state.targetctx.codegen()
                state.library = library_class(codegen, state.func_id.func_qualname)
                state.library.enable_object_caching()  # as numba's lowering does
            return False

    _Pass.__name__ = _Pass.__qualname__ = f"_{library_class.__name__}Pass"
    return _Pass


class KernelCompiler(compiler.Compiler):
    """numba's nopython pipeline, lowering into a :class:`LinkedOnlyLibrary`."""

    _library_pass = _library_pass("fastmlp_linked_only_library", LinkedOnlyLibrary)

    def define_pipelines(self):
        manager = compiler.DefaultPassBuilder.define_nopython_pipeline(self.state)
        manager.add_pass_after(self._library_pass, typed_passes.AnnotateTypes)
        manager.finalize()
        return [manager]


class OptimizedLinkedOnlyLibrary(LinkedOnlyLibrary):
    """A :class:`LinkedOnlyLibrary` that runs numba's module pipelines itself too.

    For the element loops of transcendental functions (the extra
    activations): they vectorize fully only after more than one round of
    those pipelines, and a caller gives them one.
    """

    _optimize_final_module = JITCodeLibrary._optimize_final_module


class OptimizedKernelCompiler(KernelCompiler):
    """:class:`KernelCompiler` into an :class:`OptimizedLinkedOnlyLibrary`."""

    _library_pass = _library_pass(
        "fastmlp_optimized_linked_only", OptimizedLinkedOnlyLibrary
    )


# Wide vectors: the element loops of transcendental functions (the extra
# activations, the exp/logistic/tanh maps) in full AVX-512 registers. LLVM
# vectorizes loops 256 bits wide on every Intel AVX-512 CPU unless a function
# asks otherwise; the tiles already run 512-bit FMAs there, so these loops
# use the width the core is already clocked for. The same operations on every
# lane: the same bits (docs/design/vector_math.md).
_WIDE = '"prefer-vector-width"="512"'
# llvmlite writes a definition's header on one line, its "{" on the next
_DEFINE = re.compile(r"^(define [^\n]*)\n\{$", re.MULTILINE)


def wide_vector_ir(text):
    """LLVM IR ``text`` (as llvmlite writes it) with every function defined in
    it asking for 512-bit loops."""
    return _DEFINE.sub(lambda m: f"{m.group(1)} {_WIDE}\n{{", text)


class _WideVectors:
    """A code library whose functions ask LLVM for 512-bit vectorized loops."""

    def add_ir_module(self, ir_module):
        self._raise_if_finalized()
        text = wide_vector_ir(cgutils.normalize_ir_text(str(ir_module)))
        module = binding.parse_assembly(text)
        module.name = ir_module.name
        module.verify()
        self.add_llvm_module(module)


class WideLinkedOnlyLibrary(_WideVectors, OptimizedLinkedOnlyLibrary):
    """An :class:`OptimizedLinkedOnlyLibrary` of 512-bit loops (see
    :func:`wide_vector_ir`)."""


class WideLibrary(_WideVectors, JITCodeLibrary):
    """numba's JIT code library, of 512-bit loops (for C callbacks)."""


class WideKernelCompiler(KernelCompiler):
    """:class:`KernelCompiler` into a :class:`WideLinkedOnlyLibrary`."""

    _library_pass = _library_pass("fastmlp_wide_linked_only", WideLinkedOnlyLibrary)


class WideCallbackCompiler(KernelCompiler):
    """numba's nopython pipeline into a :class:`WideLibrary` (C callbacks)."""

    _library_pass = _library_pass("fastmlp_wide_callback", WideLibrary)

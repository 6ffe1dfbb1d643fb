"""Kernels compiled for linking only: optimized IR, no machine code of their own.

A kernel has no CPython wrapper: Python runs its twin, and compiled callers
link the kernel's optimized LLVM IR into their own library and emit it there.
So a kernel's library is optimized as numba does it, but gives the JIT engine
only a stub that defines its environment globals (the code that callers emit
reads a kernel's environment through them); its cache entry is the stub's
object code and the IR, which numba's loader reads as any entry. Invariants:
the IR callers link is the kernel's optimized module, as before; only
twins and C callbacks are emitted. What it saves, and why the kernels' own
module passes are kept: ``docs/design/cold_start.md``.
"""

import weakref

from llvmlite import binding
from numba.core import compiler, typed_passes
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler_machinery import LoweringPass, register_pass

_ENVIRONMENT_PREFIX = "_ZN08NumbaEnv"


class LinkedOnlyLibrary(JITCodeLibrary):
    """A kernel's code library: IR for callers to link, a stub for the JIT."""

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


@register_pass(mutates_CFG=False, analysis_only=False)
class _LinkedOnlyLibraryPass(LoweringPass):
    """Gives the compile a :class:`LinkedOnlyLibrary` before it is lowered."""

    _name = "fastmlp_linked_only_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        if state.library is None:
            codegen = state.targetctx.codegen()
            state.library = LinkedOnlyLibrary(codegen, state.func_id.func_qualname)
            state.library.enable_object_caching()  # as numba's lowering does
        return False


class KernelCompiler(compiler.Compiler):
    """numba's nopython pipeline, lowering into a :class:`LinkedOnlyLibrary`."""

    def define_pipelines(self):
        manager = compiler.DefaultPassBuilder.define_nopython_pipeline(self.state)
        manager.add_pass_after(_LinkedOnlyLibraryPass, typed_passes.AnnotateTypes)
        manager.finalize()
        return [manager]

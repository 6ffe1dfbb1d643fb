"""Every compiled function of fastmlp, and what builds them; nothing else.

Kernel modules define only kernels: pure functions of preallocated arrays and
scalars, each made by ``jit.kernel`` or ``jit.inlined_kernel`` with the one set
of numba options. The modules in :data:`SUPPORT_MODULES` make kernels rather than
being ones: ``jit`` (the options and the cache stamp, which covers every file of
this folder), ``linking`` (kernels compiled for their callers to link, never
emitted on their own), ``collector`` (the garbage collector held off while
they compile), the LLVM IR numba cannot write itself (vector tiles, the BLAS
call, borrowed views, atomics, the tables of extra activations and of tile
limits), and ``tunables``, every tunable constant of the package.
"""

SUPPORT_MODULES = (
    "jit",
    "simd",
    "gemm",
    "views",
    "atomics",
    "extra_callbacks",
    "limit_table",
    "tunables",
    "linking",
    "collector",
)

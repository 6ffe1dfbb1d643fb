"""The tile limits as run-time data: a C table the kernels read, not constants.

:func:`tile_limit` reads one limit of one dtype from a table registered with
LLVM under :data:`TABLE_SYMBOL` at import, before any kernel compiles or loads
(as ``extra_callbacks`` does with its table), so a kernel's machine code is
the same whatever the limits, and caches as usual. Invariant: a dtype's
slots are written (``fastmlp._runtime.tile_calibration``) before any kernel
that could read them first runs in the process, and never again after
(tests excepted); until then they hold the built-in limits.

Why: frozen into the code, every kernel depended on both dtypes' limits, so
both had to be measured before the first kernel compiled, and every other
set of limits compiled everything again: ``docs/design/tiles_calibration.md``.
"""

import ctypes

from llvmlite import binding, ir
from numba import config, types
from numba.extending import intrinsic, overload, register_jitable

TABLE_SYMBOL = "fastmlp_tile_limits"

DTYPES = ("float64", "float32")

LIMIT_NAMES = (
    "max_macs",
    "narrow_max_macs",
    "max_right",
    "transposed_max_macs",
    "transposed_narrow_max_macs",
    "transposed_max_right",
)
(
    MAX_MACS,
    NARROW_MAX_MACS,
    MAX_RIGHT,
    TRANSPOSED_MAX_MACS,
    TRANSPOSED_NARROW_MAX_MACS,
    TRANSPOSED_MAX_RIGHT,
) = range(len(LIMIT_NAMES))

_table = (ctypes.c_int64 * (len(DTYPES) * len(LIMIT_NAMES)))()
binding.add_symbol(TABLE_SYMBOL, ctypes.addressof(_table))
_generation = 0  # set_limits calls so far (plans made from the limits check it)


@register_jitable
def _base(itemsize):
    # the first slot of the dtype of ``itemsize`` (float32's second)
    return len(LIMIT_NAMES) if itemsize == 4 else 0


def _first_slot(dtype):
    return DTYPES.index(dtype) * len(LIMIT_NAMES)


def tile_limit(itemsize, name):
    """Limit ``name`` (an index of :data:`LIMIT_NAMES`) of the dtype of ``itemsize``.

    4 bytes is float32, anything else float64. Compiled code loads it from
    the table at run time.
    """
    return _table[_base(itemsize) + name]


@intrinsic
def _load_limit(typingctx, slot):
    if not isinstance(slot, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        entry = ir.IntType(64)
        table = builder.module.globals.get(TABLE_SYMBOL)
        if table is None:
            table_type = ir.ArrayType(entry, len(_table))
            table = ir.GlobalVariable(builder.module, table_type, TABLE_SYMBOL)
            table.linkage = "external"
        index = context.cast(builder, args[0], signature.args[0], types.intp)
        position = [ir.Constant(index.type, 0), index]
        return builder.load(builder.gep(table, position))

    return types.int64(slot), codegen


if not config.DISABLE_JIT:

    @overload(tile_limit)
    def _tile_limit_compiled(itemsize, name):
        def implementation(itemsize, name):
            return _load_limit(_base(itemsize) + name)

        return implementation


def set_limits(dtype, limits):
    """Write ``limits`` (a dict of :data:`LIMIT_NAMES`) as ``dtype``'s slots."""
    global _generation
    base = _first_slot(dtype)
    for position, name in enumerate(LIMIT_NAMES):
        _table[base + position] = int(limits[name])
    _generation += 1


def generation():
    """How many times limits were written: what was planned from them is stale
    once it changes."""
    return _generation


def limits_in_table(dtype):
    """``dtype``'s slots as a dict of :data:`LIMIT_NAMES`."""
    base = _first_slot(dtype)
    return {name: int(_table[base + i]) for i, name in enumerate(LIMIT_NAMES)}

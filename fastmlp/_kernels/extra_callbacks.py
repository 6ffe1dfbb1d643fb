"""The activations scikit-learn lacks, compiled apart and called by address.

numba links every kernel's callees into its own library and optimizes the
whole tree again, so code that sits under a forward or backward pass is
compiled once per kernel above it. The five extra activations (their loops
and their derivatives: ``erf``, ``expm1``, ``log1p`` in both dtypes) cost a
first fit ~2 s of compile time that way (measured on a cold cache, 2-core Zen
1, with them stubbed out: 18.7 against 20.4 s), although few fits use them.
Compiled apart as here, a cold small fit took 20.3 s against 21.3 s (the
table call and its NaN fallback remain in the kernels).

Here they are compiled on their own, as C callbacks, only when a net uses
one (:func:`prepare`, called by ``fastmlp._engine.buffers.make_net``), and kernels
call them through a table of four addresses (activation and derivative, for
float32 and float64). The table is a C array whose address is registered
with LLVM under :data:`TABLE_SYMBOL` when this module is imported, before
any kernel is compiled or loaded; kernels refer to it by that name, so they
are cached like any other and find this process's table when loaded.

The calls are :func:`call_extra_activation` and :func:`call_extra_derivative`,
intrinsics that only compiled code can call. Each returns whether a callback
was there; the callers fill their output with NaN if it was not, so that a
path that forgot :func:`prepare` fails loudly instead of leaving values
unchanged.
"""

import ctypes
import threading

from llvmlite import binding, ir
from numba import carray, config, types
from numba.extending import intrinsic

from .extra_activations import extra_activation_values, extra_derivative_values
from .jit import c_callback

TABLE_SYMBOL = "fastmlp_extra_activations"
_DTYPES = (types.float32, types.float64)
_ACTIVATION = 0  # table slots: kind * len(_DTYPES) + dtype's position
_DERIVATIVE = 1
_table = (ctypes.c_void_p * (2 * len(_DTYPES)))()
binding.add_symbol(TABLE_SYMBOL, ctypes.addressof(_table))

_lock = threading.Lock()
# slot -> compiled callback; the callbacks' code lives as long as they do
_callbacks = {}


def _slot(kind, dtype):
    return kind * len(_DTYPES) + _DTYPES.index(dtype)


def _activation_entry(values, n_values, code):
    extra_activation_values(carray(values, (n_values,)), code)


def _derivative_entry(activated, pre_activated, delta, n_values, code):
    extra_derivative_values(
        carray(activated, (n_values,)),
        carray(pre_activated, (n_values,)),
        carray(delta, (n_values,)),
        code,
    )


def prepare():
    """Compile (or load from the cache) the extra activations' callbacks.

    Both dtypes at once: callers need not know which one a net will use.
    Thread-safe, and nothing to do after the first call.
    """
    if config.DISABLE_JIT or _table[-1]:
        return
    with _lock:
        if _table[-1]:
            return
        if not _callbacks:
            for dtype in _DTYPES:
                pointer = types.CPointer(dtype)
                _callbacks[_slot(_ACTIVATION, dtype)] = c_callback(
                    _activation_entry, types.void(pointer, types.intp, types.intp)
                )
                _callbacks[_slot(_DERIVATIVE, dtype)] = c_callback(
                    _derivative_entry,
                    types.void(pointer, pointer, pointer, types.intp, types.intp),
                )
        # the last slot last: prepare's check without the lock reads it
        for slot in sorted(_callbacks):
            _table[slot] = _callbacks[slot].address


def clear_table():
    """Empty the table, keeping the compiled callbacks (for tests).

    The test suite clears it after each test, so that every test starts as a
    new process does and a path that runs kernels without :func:`prepare`
    shows (as NaN) whatever ran before it.
    """
    with _lock:
        for slot in range(len(_table)):
            _table[slot] = None


def _call_through_table(kind, context, builder, arrays, code):
    """Call table slot ``kind`` for the arrays' dtype; return whether it was set."""
    arrays_data = [context.make_array(t)(context, builder, v) for t, v in arrays]
    pointer_type = ir.IntType(8).as_pointer()
    table_type = ir.ArrayType(pointer_type, len(_table))
    table = builder.module.globals.get(TABLE_SYMBOL)
    if table is None:
        table = ir.GlobalVariable(builder.module, table_type, TABLE_SYMBOL)
        table.linkage = "external"
    dtype = arrays[0][0].dtype
    index = ir.IntType(32)
    position = [ir.Constant(index, 0), ir.Constant(index, _slot(kind, dtype))]
    address = builder.load(builder.gep(table, position))
    is_set = builder.icmp_unsigned("!=", address, ir.Constant(pointer_type, None))
    with builder.if_then(is_set, likely=True):
        data = [array.data for array in arrays_data]
        size = arrays_data[-1].nitems  # the output's
        function_type = ir.FunctionType(
            ir.VoidType(), [d.type for d in data] + [size.type, size.type]
        )
        function = builder.bitcast(address, function_type.as_pointer())
        builder.call(function, [*data, size, code])
    return is_set


def _contiguous(*arrays):
    """Whether ``arrays`` are C-contiguous float arrays of one dtype."""
    first = arrays[0]
    return (
        all(isinstance(a, types.Array) and a.layout == "C" for a in arrays)
        and first.dtype in _DTYPES
        and all(a.dtype == first.dtype for a in arrays)
    )


@intrinsic
def call_extra_activation(typingctx, values, code):
    """``extra_activation_values(values, code)`` through the table.

    ``values`` is a C-contiguous float array, taken as flat; returns False
    (and does nothing) if :func:`prepare` has not run.
    """
    if not (_contiguous(values) and isinstance(code, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        code_value = context.cast(builder, args[1], signature.args[1], types.intp)
        return _call_through_table(
            _ACTIVATION, context, builder, [(values, args[0])], code_value
        )

    return types.boolean(values, code), codegen


@intrinsic
def call_extra_derivative(typingctx, activated, pre_activated, delta, code):
    """``extra_derivative_values(...)`` through the table (see above).

    The three arrays are taken as flat, of ``delta``'s size.
    """
    arrays = (activated, pre_activated, delta)
    if not (_contiguous(*arrays) and isinstance(code, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        code_value = context.cast(builder, args[3], signature.args[3], types.intp)
        typed = list(zip(arrays, args[:3], strict=True))
        return _call_through_table(_DERIVATIVE, context, builder, typed, code_value)

    return types.boolean(*arrays, code), codegen

"""The activations scikit-learn lacks, compiled apart and called by address.

The five extra activations (values and derivatives) and the element maps (exp,
logistic, tanh over an array) are compiled as C callbacks, one per function and
dtype, only when a net needs one (:func:`prepare`, :func:`prepare_element_maps`).
Kernels call them through a C table registered with LLVM under
:data:`TABLE_SYMBOL` at import, before any kernel compiles or loads, so kernels
cache as usual. Invariants: each call returns whether the callback was there and
callers fill NaN when it was not, so a path that forgot :func:`prepare` fails
loudly; called apart or inlined, the same bits.

Why: inlined, this code is compiled again into every kernel above it. Who
prepares what, and the measurements: ``docs/design/compile_time.md``.
"""

import ctypes
import functools
import threading

import numpy as np
from llvmlite import binding, ir
from numba import carray, config, types
from numba.extending import intrinsic

from . import vecmath
from .extra_activations import (
    extra_activation_and_derivative,
    extra_activation_values,
    extra_derivative_values,
)
from .jit import c_callback

TABLE_SYMBOL = "fastmlp_extra_activations"
_DTYPES = (types.float32, types.float64)
_ACTIVATION = 0  # table slots: kind * len(_DTYPES) + dtype's position
_DERIVATIVE = 1
_ACTIVATION_AND_DERIVATIVE = 2
# element maps: kind _MAPS + activation code (activations.LOGISTIC, TANH, EXP)
_MAPS = 3
_MAP_CODES = {"logistic": 1, "tanh": 2, "exp": 5}
_N_KINDS = _MAPS + max(_MAP_CODES.values()) + 1
_table = (ctypes.c_void_p * (_N_KINDS * len(_DTYPES)))()
_EXTRA_SLOTS = range(_MAPS * len(_DTYPES))
binding.add_symbol(TABLE_SYMBOL, ctypes.addressof(_table))

_lock = threading.Lock()
# clear_table calls so far (readied predictions check it: fastmlp._engine.prediction)
_generation = 0
# slot -> compiled callback; the callbacks' code lives as long as they do
_callbacks = {}  # the extra activations'
_map_callbacks = {}  # the element maps'


def _slot(kind, dtype):
    return kind * len(_DTYPES) + _DTYPES.index(dtype)


def _activation_entry(values, n_values, code):
    extra_activation_values(carray(values, (n_values,)), code)


def _activation_and_derivative_entry(values, derivative, n_values, code):
    extra_activation_and_derivative(
        carray(values, (n_values,)), carray(derivative, (n_values,)), code
    )


def _derivative_entry(activated, pre_activated, delta, n_values, code):
    extra_derivative_values(
        carray(activated, (n_values,)),
        carray(pre_activated, (n_values,)),
        carray(delta, (n_values,)),
        code,
    )


def _exp_entry(values, n_values):
    flat = carray(values, (n_values,))
    for k in range(n_values):
        flat[k] = vecmath.exp(flat[k])


def _logistic_entry(values, n_values):
    flat = carray(values, (n_values,))
    for k in range(n_values):
        flat[k] = vecmath.logistic(flat[k])


def _tanh_entry(values, n_values):
    flat = carray(values, (n_values,))
    for k in range(n_values):
        flat[k] = vecmath.tanh(flat[k])


_MAP_ENTRIES = {"exp": _exp_entry, "logistic": _logistic_entry, "tanh": _tanh_entry}


def prepared_element_maps():
    """``(name, dtype name)`` of each element map compiled in this process."""
    names = {_slot(_MAPS + code, t): (name, str(t)) for name, code in
             _MAP_CODES.items() for t in _DTYPES}  # fmt: skip
    return sorted(names[slot] for slot in _map_callbacks)


def prepare_element_maps(codes, dtype):
    """Compile (or load) the element maps activation ``codes`` need, in ``dtype``.

    ``codes`` are activation codes (``activations.ACTIVATION_CODES``); those
    without an element map (relu, identity, the extras...) need nothing,
    softmax needs exp. Thread-safe; nothing to do for maps already there.
    Called before every prediction and fit: the maps a net needs are worked
    out once per ``(codes, dtype)``.
    """
    if config.DISABLE_JIT:
        return
    numba_dtype, needed = _needed_maps(tuple(codes), np.dtype(dtype))
    if all(_table[slot] for _, slot in needed):
        return
    with _lock:
        for name, slot in needed:
            if slot not in _map_callbacks:
                _map_callbacks[slot] = c_callback(
                    _MAP_ENTRIES[name],
                    types.void(types.CPointer(numba_dtype), types.intp),
                    wide=True,
                )
            _table[slot] = _map_callbacks[slot].address


@functools.cache
def _needed_maps(codes, dtype):
    """``(numba dtype, ((map name, table slot), ...))``: what a net needs."""
    from .activations import EXP, LOGISTIC, SOFTMAX, TANH  # imports this module

    by_code = {LOGISTIC: "logistic", TANH: "tanh", EXP: "exp", SOFTMAX: "exp"}
    numba_dtype = types.float32 if dtype == np.float32 else types.float64
    names = sorted({by_code[int(code)] for code in codes if int(code) in by_code})
    slots = [_slot(_MAPS + _MAP_CODES[name], numba_dtype) for name in names]
    return numba_dtype, tuple(zip(names, slots, strict=True))


def prepare():
    """Compile (or load from the cache) the extra activations' callbacks.

    Both dtypes at once: callers need not know which one a net will use.
    Thread-safe, and nothing to do after the first call.
    """
    last = _EXTRA_SLOTS[-1]
    if config.DISABLE_JIT or _table[last]:
        return
    with _lock:
        if _table[last]:
            return
        if not _callbacks:
            for dtype in _DTYPES:
                pointer = types.CPointer(dtype)
                _callbacks[_slot(_ACTIVATION, dtype)] = c_callback(
                    _activation_entry,
                    types.void(pointer, types.intp, types.intp),
                    wide=True,
                )
                _callbacks[_slot(_ACTIVATION_AND_DERIVATIVE, dtype)] = c_callback(
                    _activation_and_derivative_entry,
                    types.void(pointer, pointer, types.intp, types.intp),
                    wide=True,
                )
                _callbacks[_slot(_DERIVATIVE, dtype)] = c_callback(
                    _derivative_entry,
                    types.void(pointer, pointer, pointer, types.intp, types.intp),
                    wide=True,
                )
        # the last slot last: prepare's check without the lock reads it
        for slot in _EXTRA_SLOTS:
            _table[slot] = _callbacks[slot].address


def clear_table():
    """Empty the table, keeping the compiled callbacks (for tests).

    The test suite clears it after each test, so that every test starts as a
    new process does and a path that runs kernels without :func:`prepare`
    shows (as NaN) whatever ran before it.
    """
    global _generation
    with _lock:
        for slot in range(len(_table)):
            _table[slot] = None
        _generation += 1


def generation():
    """How many times :func:`clear_table` ran: what was prepared before may be gone."""
    return _generation


def _call_through_table(kind, context, builder, arrays, code, pass_code=True):
    """Call table slot ``kind`` for the arrays' dtype; return whether it was set.

    ``kind`` is an LLVM integer (a run-time value); ``code`` is passed on
    after the size when ``pass_code``.
    """
    arrays_data = [context.make_array(t)(context, builder, v) for t, v in arrays]
    pointer_type = ir.IntType(8).as_pointer()
    table_type = ir.ArrayType(pointer_type, len(_table))
    table = builder.module.globals.get(TABLE_SYMBOL)
    if table is None:
        table = ir.GlobalVariable(builder.module, table_type, TABLE_SYMBOL)
        table.linkage = "external"
    dtype = arrays[0][0].dtype
    index = ir.IntType(32)
    slot = builder.add(
        builder.mul(builder.trunc(kind, index), ir.Constant(index, len(_DTYPES))),
        ir.Constant(index, _DTYPES.index(dtype)),
    )
    position = [ir.Constant(index, 0), slot]
    address = builder.load(builder.gep(table, position))
    is_set = builder.icmp_unsigned("!=", address, ir.Constant(pointer_type, None))
    with builder.if_then(is_set, likely=True):
        data = [array.data for array in arrays_data]
        size = arrays_data[-1].nitems  # the output's
        extra = [code] if pass_code else []
        function_type = ir.FunctionType(
            ir.VoidType(), [d.type for d in data] + [size.type] * (1 + len(extra))
        )
        function = builder.bitcast(address, function_type.as_pointer())
        builder.call(function, [*data, size, *extra])
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
        kind = ir.Constant(code_value.type, _ACTIVATION)
        return _call_through_table(
            kind, context, builder, [(values, args[0])], code_value
        )

    return types.boolean(values, code), codegen


@intrinsic
def call_extra_activation_and_derivative(typingctx, values, derivative, code):
    """``extra_activation_and_derivative(values, derivative, code)`` through the table.

    Both arrays C-contiguous, of one size, taken as flat.
    """
    arrays = (values, derivative)
    if not (_contiguous(*arrays) and isinstance(code, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        code_value = context.cast(builder, args[2], signature.args[2], types.intp)
        kind = ir.Constant(code_value.type, _ACTIVATION_AND_DERIVATIVE)
        typed = list(zip(arrays, args[:2], strict=True))
        return _call_through_table(kind, context, builder, typed, code_value)

    return types.boolean(*arrays, code), codegen


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
        kind = ir.Constant(code_value.type, _DERIVATIVE)
        return _call_through_table(kind, context, builder, typed, code_value)

    return types.boolean(*arrays, code), codegen


@intrinsic
def call_element_map(typingctx, values, code):
    """Map the flat C-contiguous ``values`` in place through the table.

    ``code`` is the activation code of the map (LOGISTIC, TANH or EXP);
    returns False (and does nothing) if :func:`prepare_element_maps` has not
    compiled it for this dtype.
    """
    if not (_contiguous(values) and isinstance(code, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        code_value = context.cast(builder, args[1], signature.args[1], types.intp)
        kind = builder.add(code_value, ir.Constant(code_value.type, _MAPS))
        typed = [(values, args[0])]
        return _call_through_table(kind, context, builder, typed, None, False)

    return types.boolean(values, code), codegen

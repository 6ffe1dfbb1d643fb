"""Atomic operations on int64 arrays, for kernels that threads run at once.

numba has none, so they are LLVM intrinsics: a sequentially consistent
``atomicrmw add``, compare-and-swap and atomic load (each also a memory fence,
so what a thread wrote before the barrier of ``fastmlp._kernels.sync`` is what
the others read after it) and ``sched_yield``. Under ``NUMBA_DISABLE_JIT``
plain Python with a lock stands in for them.
"""

import sys
import threading
import time

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic


def _item_pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index])


@intrinsic
def _atomic_add(typingctx, array, index, value):
    def codegen(context, builder, signature, args):
        pointer = _item_pointer(context, builder, signature.args[0], *args[:2])
        return builder.atomic_rmw("add", pointer, args[2], "seq_cst")

    return array.dtype(array, index, value), codegen


@intrinsic
def _atomic_compare_swap(typingctx, array, index, expected, new):
    def codegen(context, builder, signature, args):
        pointer = _item_pointer(context, builder, signature.args[0], *args[:2])
        pair = builder.cmpxchg(pointer, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return array.dtype(array, index, expected, new), codegen


@intrinsic
def _atomic_load(typingctx, array, index):
    def codegen(context, builder, signature, args):
        pointer = _item_pointer(context, builder, signature.args[0], *args)
        return builder.load_atomic(pointer, "seq_cst", array.dtype.bitwidth // 8)

    return array.dtype(array, index), codegen


@intrinsic
def _yield_cpu(typingctx):
    def codegen(context, builder, signature, args):
        if sys.platform != "win32":  # POSIX; on Windows the wait only spins
            function_type = ir.FunctionType(ir.IntType(32), [])
            function = cgutils.get_or_insert_function(
                builder.module, function_type, "sched_yield"
            )
            builder.call(function, [])
        return context.get_dummy_value()

    return types.none(), codegen


_python_lock = threading.Lock()


def _python_atomic_add(array, index, value):
    with _python_lock:
        old = array[index]
        array[index] = old + value
    return old


def _python_atomic_compare_swap(array, index, expected, new):
    with _python_lock:
        old = array[index]
        if old == expected:
            array[index] = new
    return old


def _python_atomic_load(array, index):
    with _python_lock:
        return array[index]


def _python_yield_cpu():
    time.sleep(0)  # lets the GIL go to the thread being waited for


if numba.config.DISABLE_JIT:
    atomic_add, atomic_compare_swap, atomic_load, yield_cpu = (
        _python_atomic_add,
        _python_atomic_compare_swap,
        _python_atomic_load,
        _python_yield_cpu,
    )
else:
    atomic_add, atomic_compare_swap, atomic_load, yield_cpu = (
        _atomic_add,
        _atomic_compare_swap,
        _atomic_load,
        _yield_cpu,
    )

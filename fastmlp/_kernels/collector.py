"""Python's cyclic garbage collector held off while numba compiles.

numba's compile of a kernel tree allocates millions of short-lived objects
(IR, types, LLVM wrappers), so the collector's automatic passes run over and
over during it, a full pass walking a heap that the compile has grown:
about a tenth of a cold first fit's CPU time (``docs/design/cold_start.md``).
While :func:`collector_paused` is held, in any thread, automatic collection
is off; it comes back on when the last holder leaves, if it was on when the
first came in (a program that turned it off keeps it off). Garbage made
meanwhile, the compile's or other threads', is collected by the next
automatic pass after that. Invariant: compiled code and the values it
computes do not depend on it; only compile time and peak memory do.
"""

import contextlib
import gc
import threading

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused():
    """Automatic garbage collection off for the ``with`` block (re-entrant)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()

"""Hashes of the machine code a process emits, to show a compile change keeps it.

Run from a checkout, once before a change and once after, and compare::

    .venv/bin/python -m bench.machine_code > before.txt
    ...
    .venv/bin/python -m bench.machine_code > after.txt && diff before.txt after.txt

A new process, with an empty kernel cache of its own and the builtin tiles,
runs the fits of :mod:`bench.fit_hashes` (every activation, dtype, solver and
input format), then prints one line for each piece of code numba emitted for
them: the SHA-1 of the assembly of every kernel's twin (what Python calls)
and of every C callback (extra activations, element maps), by name and
signature. Kernels beneath are linked into these, so a change in how kernels
are compiled shows here or nowhere. ``fit_hashes`` shows that the values stay
the same; this, whether the code computing them does (where it does not,
its speed is for ``bench.steady_state`` to compare). numba's symbol names
carry a per-process count of the functions it has compiled (``B2v17``), which
depends on the order of compiles, and that on timing (the sync kernels
compile when a fit first splits): the counts are taken out before hashing.
"""

import argparse
import gc
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import warnings

# numba's mangled names end their function part with an ABI tag "B<n>v<id>",
# the id counting the functions compiled in the process so far
_COMPILE_COUNT = re.compile(r"B\d+v\d+")


def without_compile_counts(assembly):
    """``assembly`` with numba's per-process function counts taken out of names."""
    return _COMPILE_COUNT.sub("Bv", assembly)


def emitted_code():
    """``{name and signature: assembly}`` of every twin and C callback compiled.

    The assembly as :func:`without_compile_counts` gives it.
    """
    from fastmlp._kernels import extra_callbacks, jit

    code = {}
    for kernel in gc.get_objects():
        if isinstance(kernel, jit.KernelDispatcher) and kernel._twin is not None:
            for signature, assembly in kernel._twin.inspect_asm().items():
                name = f"{kernel.py_func.__qualname__}{signature}"
                code[name] = without_compile_counts(assembly)
    for kind, table in (
        ("extra activation", extra_callbacks._callbacks),
        ("element map", extra_callbacks._map_callbacks),
    ):
        for slot, callback in table.items():
            assembly = callback._library.get_asm_str()
            code[f"{kind} callback {slot}"] = without_compile_counts(assembly)
    return code


def measure():
    from bench.fit_hashes import cases, model_digest

    warnings.filterwarnings("ignore")  # ConvergenceWarning of the short fits
    for _, estimator, params, X, y in cases():
        model_digest(estimator(**params).fit(X, y), X)  # fit_hashes' calls
    for name, assembly in sorted(emitted_code().items()):
        digest = hashlib.sha1(assembly.encode()).hexdigest()[:16]
        print(f"{digest}  {name}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure:
        measure()
        return
    # numba gives the assembly only of code it compiled in the process
    with tempfile.TemporaryDirectory() as cache:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTMLP_TILES="builtin")
        subprocess.run(
            [sys.executable, "-m", "bench.machine_code", "--measure"],
            env=environment,
            check=True,
        )


if __name__ == "__main__":
    main()

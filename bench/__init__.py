"""Benchmarks of fastmlp against scikit-learn and PyTorch: ``python -m bench``.

Usage::

    make bench                      # default suite (< 10 min on 2 cores)
    make bench-quick                # python -m bench --quick (< 2 min)
    .venv/bin/python -m bench --full --reps 7 --threads 2
    .venv/bin/python -m bench --filter wide --no-subprocess
    .venv/bin/python -m bench --filter matrix   # the configuration matrix alone
    .venv/bin/python -m bench --custom --data my.csv --target y \
        --param hidden_layer_sizes=256,128 --epochs 5   # your net, your data

Results go to ``bench/results/``: ``latest.md`` (tables), ``latest.json`` (all
numbers) and PNG plots. PyTorch is an optional contestant, measured only when
``import torch`` works; add it with ``.venv/bin/pip install torch==2.13.0``
(a CPU build). ``FASTMLP_BENCH_FAKE=1`` lets sklearn's classes stand in for
fastmlp, to exercise the harness without it.

Modules, one job each: :mod:`bench.cases` (what is measured),
:mod:`bench.datasets` (bundled or generated data), :mod:`bench.contestants`
and :mod:`bench.torch_mlp` (who competes), :mod:`bench.timing` and
:mod:`bench.measure` (timing in this process), :mod:`bench.gemm` (the GEMM
floor), :mod:`bench.subproc` and :mod:`bench.worker` (fresh-process compile,
latency and memory), :mod:`bench.concurrency` (two fits in two threads),
:mod:`bench.sweeps`, :mod:`bench.matrix` (the configuration matrix:
activations x solvers x dtypes x depth x target x dense/CSR, see
``docs/design/bench_matrix.md``), :mod:`bench.threads`, :mod:`bench.envinfo`,
:mod:`bench.results_model` (the results they pass on, as records),
:mod:`bench.report` (markdown), :mod:`bench.plots` (PNG), :mod:`bench.cli`,
and for ``--custom`` (one case from the command line) :mod:`bench.custom` and
:mod:`bench.userdata` (reading the user's file).

This file imports nothing, so that ``python -m bench.worker`` times only the
contestant's own import.
"""

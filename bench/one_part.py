"""The split epoch kernel run as one part against the serial one, on small nets.

Dense fits without dropout run ``threaded.epoch_part`` in one part when a call
is not split (``fastmlp._engine.training.Engine.in_parts``), so that a process
compiles one epoch kernel; ``epoch.run_epoch_dense`` is what they ran before
and what dropout fits run. Both give the same values; this shows what the
one-part kernel costs where the per-batch work is smallest. Run::

    .venv/bin/python -m bench.one_part [--rounds 15]

One engine per net runs its epochs alternately through both kernels (the
engine's ``in_parts`` switched); thread CPU seconds per epoch, median over
the rounds, and the ratio one part / serial. Nets: iris-sized (4 -> 10 -> 3)
with batches of 1, 8 and 150 rows, a 10 -> 16 -> 16 -> 16 -> 1 regressor
with batches of 4, and 64 -> 64 -> 64 -> 10 with batches of 32 and 200.
"""

import argparse
import time

import numpy as np

NETS = (
    # (name, layer units, rows, batch size, dtype)
    ("4-10-3, batch 1, float32", (4, 10, 3), 150, 1, "float32"),
    ("4-10-3, batch 8", (4, 10, 3), 150, 8, "float64"),
    ("4-10-3, batch 150", (4, 10, 3), 150, 150, "float64"),
    ("10-16-16-16-1, batch 4", (10, 16, 16, 16, 1), 442, 4, "float64"),
    ("64-64-64-10, batch 32", (64, 64, 64, 10), 1437, 32, "float64"),
    ("64-64-64-10, batch 200", (64, 64, 64, 10), 1437, 200, "float64"),
)


def _engine(units, n_rows, batch_size, dtype):
    from fastmlp._engine.buffers import make_net
    from fastmlp._engine.param_layout import ParameterLayout
    from fastmlp._engine.training import Engine
    from fastmlp._kernels.activations import ACTIVATION_CODES
    from fastmlp._kernels.losses import LOSS_CODES

    rng = np.random.default_rng(0)
    layout = ParameterLayout(list(units))
    X = rng.normal(size=(n_rows, units[0])).astype(dtype)
    if units[-1] == 1:
        Y = rng.normal(size=(n_rows, 1)).astype(dtype)
        output, loss = ACTIVATION_CODES["identity"], LOSS_CODES["squared_error"]
    else:
        Y = np.eye(units[-1], dtype=dtype)[rng.integers(0, units[-1], n_rows)]
        output, loss = ACTIVATION_CODES["softmax"], LOSS_CODES["log_loss"]
    net = make_net(layout, ACTIVATION_CODES["relu"], output, loss, 1e-4)
    engine = Engine(X, Y, None, layout, net, dtype, batch_size)
    params = (rng.normal(size=layout.size) * 0.1).astype(dtype)
    return engine, params


def measure(rounds=15):
    """``{net: (serial seconds, one-part seconds)}`` per epoch, medians.

    BLAS threads as a fit with ``n_jobs=1`` sets them (``thread_plan``).
    """
    from fastmlp._runtime.thread_plan import thread_plan

    results = {}
    for name, units, n_rows, batch_size, dtype in NETS:
        engine, params = _engine(units, n_rows, batch_size, dtype)
        with thread_plan(engine.layout.layer_units, batch_size, 1):
            results[name] = _alternate(engine, params, batch_size, dtype, rounds)
    return results


def _alternate(engine, params, batch_size, dtype, rounds):
    from fastmlp._engine.solvers import AdamOptimizer

    order = np.arange(engine.n_samples, dtype=np.int64)
    epochs = max(1, int(3e4 // engine.n_samples))
    times = {False: [], True: []}
    for repeat in range(rounds + 1):
        for in_parts in (True, False) if repeat % 2 else (False, True):
            engine.in_parts = in_parts
            # each block from the same start: Adam's moments of dead units
            # would otherwise decay into subnormals, slow on either kernel
            start = params.copy()
            optimizer = AdamOptimizer(params.size, dtype, 1e-3, 0.9, 0.999, 1e-8)
            started = time.thread_time()
            for _ in range(epochs):
                engine.run_epoch(start, order, batch_size, optimizer)
            if repeat:  # the first round compiles or loads
                times[in_parts].append((time.thread_time() - started) / epochs)
    return np.median(times[False]), np.median(times[True])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args(argv)
    print(f"{'net':28s} {'serial us':>10s} {'one part us':>12s} {'ratio':>6s}")
    for name, (serial, one_part) in measure(options.rounds).items():
        print(
            f"{name:28s} {serial * 1e6:10.2f} {one_part * 1e6:12.2f} "
            f"{one_part / serial:6.3f}"
        )


if __name__ == "__main__":
    main()

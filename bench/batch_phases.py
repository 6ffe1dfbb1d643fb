"""Where one mini-batch's forward and backward pass spends its time, by phase.

``python -m bench.batch_phases --activation tanh --dtype float32`` times
``passes.loss_grad_dense`` on one batch of a net (the matrix's base net by
default: 64 -> 64 -> 64 -> 10, 200 rows, log loss) and each of its phases
alone, each in a compiled loop (no Python per call), in the thread's CPU time
(time a hypervisor steals from the vCPU is not counted), BLAS on one thread:
the products of the forward pass, bias and activation, the loss, the backward
products, the gradient finishing steps. The phases' products are also given
in multiply-adds per second against a 1024^2 GEMM on one thread, measured in
the same process: how far the products are from one core's peak, and what
is left for the rest. Rounds alternate the phases; medians are printed.
Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from numba import njit
from threadpoolctl import threadpool_info, threadpool_limits

from fastmlp._engine.buffers import make_net, make_work
from fastmlp._engine.param_layout import ParameterLayout
from fastmlp._kernels import activations, passes
from fastmlp._kernels.activations import ACTIVATION_CODES
from fastmlp._kernels.extra_activations import PRE_ACTIVATION_CODES
from fastmlp._kernels.extra_callbacks import prepare_element_maps
from fastmlp._kernels.layers import (
    NET_HIDDEN,
    NET_LOSS,
    NET_OUTPUT,
    NET_UNITS,
    WORK_ACTIVATIONS,
    WORK_DELTAS,
    WORK_LAYER_STARTS,
    WORK_TRANSPOSED,
    coef_view,
    dot_transpose,
    intercept_view,
    layer_view,
    transpose_dot,
)
from fastmlp._kernels.losses import LOSS_CODES, loss_value
from fastmlp._kernels.tiles import product_rows
from fastmlp._runtime.thread_plan import forward_macs

ROWS = 200  # a batch, as the matrix's


@njit(cache=True)
def _whole(x, y, weight, params, grads, net, work, repeats):
    total = 0.0
    for _ in range(repeats):
        total += passes.loss_grad_dense(x, y, weight, False, params, grads, net, work)
    return total


@njit(cache=True)
def _forward_products(x, params, net, work, repeats):
    n_rows = x.shape[0]
    acts, starts = work[WORK_ACTIVATIONS], work[WORK_LAYER_STARTS]
    for _ in range(repeats):
        for layer in range(net[NET_UNITS].shape[0] - 1):
            previous = x
            if layer > 0:
                previous = layer_view(acts, net, starts, layer - 1, n_rows)
            out = layer_view(acts, net, starts, layer, n_rows)
            product_rows(previous, coef_view(params, net, layer), out, 0, n_rows)


@njit(cache=True)
def _bias_and_activation(x, params, net, work, repeats):
    n_rows = x.shape[0]
    acts, starts = work[WORK_ACTIVATIONS], work[WORK_LAYER_STARTS]
    n_layers = net[NET_UNITS].shape[0]
    for _ in range(repeats):
        for layer in range(n_layers - 1):
            z = layer_view(acts, net, starts, layer, n_rows)
            code = net[NET_HIDDEN] if layer < n_layers - 2 else net[NET_OUTPUT]
            bias = intercept_view(params, net, layer)
            activations.add_bias_activate(z, bias, code, z[:0])


@njit(cache=True)
def _loss(y, weight, params, net, work, n_rows, repeats):
    acts, starts = work[WORK_ACTIVATIONS], work[WORK_LAYER_STARTS]
    output = layer_view(acts, net, starts, net[NET_UNITS].shape[0] - 2, n_rows)
    total = 0.0
    for _ in range(repeats):
        total += loss_value(y, output, weight, False, net[NET_LOSS])
        total += passes.squared_coef_sum(params, net)
    return total


@njit(cache=True)
def _backward_products(x, params, grads, net, work, repeats):
    n_rows = x.shape[0]
    acts, deltas = work[WORK_ACTIVATIONS], work[WORK_DELTAS]
    starts, scratch = work[WORK_LAYER_STARTS], work[WORK_TRANSPOSED][0]
    for _ in range(repeats):
        for layer in range(net[NET_UNITS].shape[0] - 2, 0, -1):
            delta = layer_view(deltas, net, starts, layer, n_rows)
            previous = layer_view(acts, net, starts, layer - 1, n_rows)
            transpose_dot(previous, delta, coef_view(grads, net, layer))
            below = layer_view(deltas, net, starts, layer - 1, n_rows)
            coef = coef_view(params, net, layer)
            dot_transpose(delta, coef, below, 0, n_rows, scratch)
        first = layer_view(deltas, net, starts, 0, n_rows)
        transpose_dot(x, first, coef_view(grads, net, 0))


@njit(cache=True)
def _gradient_steps(params, grads, net, work, n_rows, repeats):
    deltas, starts = work[WORK_DELTAS], work[WORK_LAYER_STARTS]
    for _ in range(repeats):
        for layer in range(net[NET_UNITS].shape[0] - 1):
            grad = coef_view(grads, net, layer)
            passes.finish_coef_grad(grad, coef_view(params, net, layer), 1e-4, 200.0)
            delta = layer_view(deltas, net, starts, layer, n_rows)
            intercept = intercept_view(grads, net, layer)
            passes.intercept_grad(delta, intercept, 200.0, 0, intercept.shape[0])


def product_macs(units, n_rows):
    """Multiply-adds of one batch's products: forward, and backward (every
    layer's ``a.T @ delta``, and ``delta @ W.T`` for all but the first)."""
    forward = forward_macs(units, n_rows)
    return forward, 2 * forward - n_rows * units[0] * units[1]


def _gemm_rate(dtype, size=1024):
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    out = a @ a
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        np.dot(a, a, out=out)
        best = min(best, time.thread_time() - started)
    return size**3 / best


def problem(units, activation, dtype, n_rows=ROWS, seed=0):
    """Arguments of the phase loops: a random net, batch and one-hot targets."""
    rng = np.random.default_rng(seed)
    layout = ParameterLayout(list(units))
    code = ACTIVATION_CODES[activation]
    output_code = ACTIVATION_CODES["softmax"]
    net = make_net(layout, code, output_code, LOSS_CODES["log_loss"], 1e-4)
    # as a fit does (training.Engine): without them the exp, logistic and
    # tanh loops fill NaN, and the phases time that instead
    prepare_element_maps((code, output_code), dtype)
    work = make_work(
        layout, n_rows, dtype, pre_activations=code in PRE_ACTIVATION_CODES
    )
    params = rng.normal(0.0, 0.3, layout.size).astype(dtype)
    grads = np.zeros_like(params)
    x = rng.normal(size=(n_rows, units[0])).astype(dtype)
    y = np.eye(units[-1], dtype=dtype)[rng.integers(0, units[-1], n_rows)]
    weight = np.full(n_rows, np.nan, dtype=dtype)
    return x, y, weight, params, grads, net, work


def measure(units, activation, dtype, rounds=5, repeats=200):
    """Median seconds of each phase of one batch; rounds alternate phases."""
    x, y, weight, params, grads, net, work = problem(units, activation, dtype)
    n_rows = x.shape[0]
    phases = {
        "whole pass (loss_grad_dense)": lambda k: _whole(
            x, y, weight, params, grads, net, work, k
        ),
        "forward products": lambda k: _forward_products(x, params, net, work, k),
        "bias + activation (+ softmax)": lambda k: _bias_and_activation(
            x, params, net, work, k
        ),
        "loss + squared weights": lambda k: _loss(
            y, weight, params, net, work, n_rows, k
        ),
        "backward products": lambda k: _backward_products(
            x, params, grads, net, work, k
        ),
        "gradient finish + intercepts": lambda k: _gradient_steps(
            params, grads, net, work, n_rows, k
        ),
    }
    times = {name: [] for name in phases}
    for phase in phases.values():
        phase(2)  # compile and warm up
    for _ in range(rounds):
        for name, phase in phases.items():
            started = time.thread_time()
            phase(repeats)
            times[name].append((time.thread_time() - started) / repeats)
    for name, values in (("activations", work[WORK_ACTIVATIONS]), ("gradient", grads)):
        if not np.isfinite(values).all():
            raise RuntimeError(f"the {name} hold NaN or inf: no real pass was timed")
    return {name: statistics.median(values) for name, values in times.items()}


def report(units, activation, dtype, rounds=5, repeats=200):
    """The phase table, as text lines."""
    with threadpool_limits(1, user_api="blas"):
        seconds = measure(units, activation, dtype, rounds, repeats)
        rate = _gemm_rate(dtype)
    forward, backward = product_macs(units, ROWS)
    whole = seconds["whole pass (loss_grad_dense)"]
    lines = [
        f"{' -> '.join(map(str, units))}, {activation}, {np.dtype(dtype).name}, "
        f"{ROWS} rows, log loss; thread CPU time, medians of "
        f"{rounds} alternated rounds of {repeats} calls",
    ]
    for name, value in seconds.items():
        share = f"{value / whole:5.0%}" if value is not whole else "     "
        line = f"  {name:32s} {value * 1e6:8.1f} us {share}"
        macs = {"forward products": forward, "backward products": backward}.get(name)
        if macs:
            line += f"  {macs / value / 1e9:5.1f} G multiply-adds/s"
        lines.append(line)
    products = seconds["forward products"] + seconds["backward products"]
    lines.append(
        f"  products {products / whole:.0%} of the pass, at "
        f"{(forward + backward) / products / rate:.0%} of a 1024^2 GEMM on one "
        f"thread ({rate / 1e9:.1f} G multiply-adds/s)"
    )
    blas = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    lines.append(f"  BLAS (held to 1 thread here): {', '.join(blas)}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="64,64,64,10")
    parser.add_argument("--activation", default="identity")
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=200)
    options = parser.parse_args(argv)
    units = [int(u) for u in options.units.split(",")]
    lines = report(
        units, options.activation, np.dtype(options.dtype), options.rounds,
        options.repeats,
    )  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Prediction: the network's output for any number of rows, a block at a time.

:func:`forward` validates the shapes, plans threads for the whole call, and
forwards rows in blocks whose workspace stays a few MB however many rows are
predicted. A split call's parts are runs of the blocks a whole call computes
(:func:`part_bounds`), so the two compute every product alike, whatever
computes it, and give the same values: timing chooses.
"""

import threading
import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .._kernels import extra_callbacks, limit_table, threaded
from .._kernels.extra_callbacks import prepare_element_maps
from .._kernels.layers import NET_ALPHA, NET_HIDDEN, NET_LOSS, NET_OUTPUT
from .._kernels.losses import loss_value
from .._kernels.passes import squared_coef_sum
from .._kernels.predict import predict_dense, predict_sparse
from .._kernels.threaded import ALIGN
from .._kernels.tunables import (
    BLAS_THREADED_MACS,
    DIRECT_ROW_COUNTS,
    PREDICT_BLOCK_ROWS,
    PREDICT_SPLIT_BLOCKS,
    PREDICT_SPLIT_MACS,
    PREDICT_WORKSPACE_BYTES,
    PREDICTION_PATHS,
    REUSED_WORKSPACES,
    SPARSE_PREDICT_WORKSPACE_BYTES,
)
from .._runtime import thread_plan as plans
from .._runtime.cpu_watch import PREDICTION_WINDOW_SECONDS
from .._runtime.split_chooser import FasterPath, keep_recent
from .._runtime.thread_plan import forward_macs, parts_follow_blas, thread_limits
from .._runtime.tile_calibration import tile_choice
from .._runtime.worker_threads import NO_FIRE, in_threads, ready_for_trial
from .buffers import (
    _use_tiles_in_python,
    as_kernel_input,
    contiguous_read_only,
    kernel_weights,
    make_work,
    read_only,
)
from .entry_checks import (
    KernelInputError,
    check_array,
    check_output,
    check_params,
    check_rows_input,
)

_prediction_paths = {}
_call_plans = {}
_thread_workspaces = threading.local()


def _settled_limits(dtype):
    """Settle ``dtype``'s tile limits; the table's generation, which plans
    made from them keep and check."""
    tile_choice(dtype)
    return limit_table.generation()


def predict_block_rows(
    units, itemsize, n_samples, budget=PREDICT_WORKSPACE_BYTES, splits=False
):
    """Rows per block for :func:`forward`, from the workspace budget in bytes.

    ``units``: the layer sizes, input first (``layout.layer_units``). With
    ``splits`` (a call that threads may share), the rows are cut into a
    multiple of ``PREDICT_SPLIT_BLOCKS`` blocks (of 2 for calls of fewer
    rows than ``PREDICT_SPLIT_BLOCKS`` least blocks, ``PREDICT_BLOCK_ROWS[0]``
    rows each), their size rounded to ``ALIGN``: the parts of a split call
    are runs of whole blocks (:func:`part_bounds`), as even as that allows
    for two parts, and for four where there are four blocks. Depends on
    the call alone, never on the threads that run it.
    """
    bytes_per_row = int(units[1:].sum()) * itemsize
    low, high = PREDICT_BLOCK_ROWS
    rows = min(max(budget // bytes_per_row, low), high)
    rows -= rows % ALIGN  # whole tiles of rows, but the last block's
    if splits:
        per = PREDICT_SPLIT_BLOCKS if n_samples >= PREDICT_SPLIT_BLOCKS * low else 2
        blocks = per * -(-n_samples // (per * rows))
        even = (n_samples // blocks + ALIGN // 2) // ALIGN * ALIGN
        rows = min(rows, max(even, ALIGN))
    return max(1, min(rows, n_samples))


def part_bounds(n_samples, n_parts, block_rows):
    """Row bounds of each part of a split call: runs of whole blocks.

    A part starts at a multiple of ``block_rows`` and computes its rows in
    blocks of ``block_rows`` from there, so it computes the blocks a whole
    call computes: a product's rows are summed alike however BLAS groups
    them (OpenBLAS's float32 Haswell kernel sums a row by its place in the
    block).
    """
    return [
        threaded.aligned_chunk(n_samples, part, n_parts, block_rows)
        for part in range(n_parts)
    ]


def split_units(units, X):
    """The layer sizes that price a call on ``X`` for splitting.

    ``units`` itself for dense rows; for sparse ones, the first layer's size
    is the stored values per row, rounded up to a power of two (a sparse
    row's first product costs a multiply-add per value and unit), so calls of
    similar density share their plans.
    """
    if not sp.issparse(X) or X.shape[0] == 0:
        return units
    per_row = max(-(-X.nnz // X.shape[0]), 1)
    priced = units.copy()
    priced[0] = 1 << (per_row - 1).bit_length()
    return priced


def forward_calls_blas(layer_units, n_rows, itemsize, dense=True):
    """Whether a forward pass over blocks of ``n_rows`` rows makes a BLAS call
    that BLAS could run on several threads (of ``dense`` rows, or sparse ones,
    whose first layer's product is fastmlp's own loop).

    As :func:`fastmlp._kernels.tiles.product_rows` decides for each layer's
    product: products with one output column and small ones go to fastmlp's
    own loops, and BLAS runs products under ``BLAS_THREADED_MACS`` on one
    thread whatever its thread count: neither concerns BLAS's threads, and
    setting them through threadpoolctl costs ~13-35 us a call (a 10-row
    ``predict_proba`` of 64 -> 100 -> 10 took 82 us with the limit, 47
    without, on the 2-core Zen 4 VM).
    """
    units = [int(u) for u in layer_units]
    decide = _use_tiles_in_python(itemsize)
    layers = list(zip(units[:-1], units[1:], strict=True))
    return any(
        fan_out > 1
        and n_rows * fan_in * fan_out >= BLAS_THREADED_MACS
        and not decide(n_rows, fan_in, fan_out, itemsize)
        for fan_in, fan_out in (layers if dense else layers[1:])
    )


def forward(X, params, layout, net, n_jobs=None, estimator_name="The network"):
    """Output-layer values for every row of ``X`` (dense or sparse).

    ``X`` must already have ``params``' dtype; ``n_jobs`` as in
    :func:`fastmlp._runtime.thread_plan.thread_plan`. ``X`` with other than the
    first
    layer's number of features raises scikit-learn's ``ValueError``, naming
    ``estimator_name``.
    """
    n_samples, n_features = X.shape
    expected = int(layout.layer_units[0])
    if n_features != expected:
        raise ValueError(
            f"X has {n_features} features, but {estimator_name} is expecting "
            f"{expected} features as input."
        )
    check_params(params, layout)
    units = split_units(layout.layer_units, X)
    dense = not sp.issparse(X)
    plan = _call_plan(units, params.dtype, n_samples, n_jobs, dense)
    block_rows, blas, alone, splits = plan
    if alone:  # one thread, BLAS's threads left as they are: nothing to set
        return _forward_blocks(X, params, layout, net, block_rows)
    n_parts, limit = thread_limits(
        units, n_samples, n_jobs, True, block_rows, PREDICT_SPLIT_MACS, blas
    )
    if not splits:  # whatever n_jobs: blocks as a whole call's
        n_parts = 1
    args = (X, params, layout, net, block_rows, n_parts, n_jobs, units, dense)
    if limit is None:  # thread_plan without its context manager (~1 us)
        return _forward_parts(*args)
    with plans.blas_threads_held(limit):
        return _forward_parts(*args)


def _forward_parts(X, params, layout, net, block_rows, n_parts, n_jobs, units, dense):
    """:func:`forward` in ``n_parts``, or as timing chooses with ``n_jobs=None``.

    ``units`` as :func:`split_units` gives them for ``X``; ``dense``: whether
    ``X`` is.
    """
    if n_parts == 1 or n_jobs is not None:
        return _forward_blocks(X, params, layout, net, block_rows, n_parts)
    # both ways give the same values: timing chooses (see _prediction_path)
    n_samples = X.shape[0]
    path = _prediction_path(units, n_samples, params.dtype, n_parts, dense)
    split = path.split()
    if path.timing:
        ready_for_trial(split, n_parts)
    started = time.perf_counter()
    out = _forward_blocks(X, params, layout, net, block_rows, n_parts if split else 1)
    path.record(split, time.perf_counter() - started, n_samples)
    return out


class DirectPrediction(NamedTuple):
    """A fitted net readied for :func:`direct_forward`: what each call re-checks.

    Made by :func:`direct_prediction`; immutable, so threads may share it.
    ``plans`` maps a row count to ``(block_rows, chooses)``, ``block_rows``
    0 where such a call takes :func:`forward`'s planning (filled as counts are
    seen, at most ``DIRECT_ROW_COUNTS``).
    """

    params: np.ndarray
    layout: object
    net: tuple
    n_jobs: object
    dtype: np.dtype
    n_features: int
    n_outputs: int
    tiles: dict  # the tile choice in force when made
    callbacks: int  # extra_callbacks.generation() when made
    workspace_key: tuple
    row_values: int  # workspace values per row
    plans: dict


def direct_prediction(params, layout, net, n_jobs):
    """Ready ``net`` with ``params`` for :func:`direct_forward` (checks them once)."""
    check_params(params, layout)
    prepare_element_maps((net[NET_HIDDEN], net[NET_OUTPUT]), params.dtype)
    units = layout.layer_units
    return DirectPrediction(
        params, layout, net, n_jobs, params.dtype, int(units[0]), int(units[-1]),
        _settled_limits(params.dtype), extra_callbacks.generation(),
        _workspace_key(layout, params.dtype), int(units[1:].sum()), {},
    )  # fmt: skip


def direct_call(direct, X):
    """How :func:`direct_forward` runs ``X``'s call, or None if it does not.

    For ``X`` a non-empty C-contiguous 2-D array of the net's dtype and
    feature count whose call :func:`forward` would run with no BLAS limit:
    calls it runs whole in the calling thread anyway (``_call_plan``'s
    ``alone``), and calls that timing chooses to split or not (``n_jobs=None``,
    no BLAS product), either way. None for any other call, and when the tile
    choice or the compiled activations changed since ``direct`` was made.
    Cheap: callers ask before they validate ``X``, so a call that goes on to
    :func:`forward` is not validated twice.
    """
    if not (
        X.ndim == 2
        and X.dtype is direct.dtype
        and X.flags.c_contiguous
        and X.shape[1] == direct.n_features
        and X.shape[0] > 0
        and direct.tiles == limit_table.generation()
        and direct.callbacks == extra_callbacks.generation()
    ):
        return None
    n_samples = X.shape[0]
    plan = direct.plans.get(n_samples)
    if plan is None:
        plan = _direct_plan(direct, n_samples)
        if len(direct.plans) < DIRECT_ROW_COUNTS:
            direct.plans[n_samples] = plan
    block_rows, chooses = plan
    if not block_rows:
        return None
    path, n_parts = None, 1
    if chooses:
        n_parts = plans.blas_parts()
        if n_parts > 1:
            units = direct.layout.layer_units
            path = _prediction_path(units, n_samples, direct.dtype, n_parts)
    return block_rows, path, n_parts


def direct_forward(direct, X, call):
    """:func:`forward` of ``X`` without its planning, as :func:`direct_call` says.

    The same kernel on the same blocks, whole or split, as :func:`forward`,
    so the same values; a call the split chooser times is timed here as
    there. What this skips costs 5-20 us a call. Returns None if ``X`` holds
    a NaN or an infinity (the kernel tests each block), for the caller to
    validate ``X`` as scikit-learn does.
    """
    block_rows, path, n_parts = call
    split = path is not None and path.split()
    if path is not None and path.timing:
        ready_for_trial(split, n_parts)
    started = time.perf_counter()
    n_samples = X.shape[0]
    out = np.empty((n_samples, direct.n_outputs), dtype=direct.dtype)
    if split:
        finite = predict_in_threads(
            read_only(X), direct.params, direct.layout, direct.net, out, n_parts,
            block_rows, True,
        )  # fmt: skip
    else:
        work = _kept_workspace(
            direct.workspace_key, direct.row_values, direct.layout, direct.dtype,
            block_rows,
        )  # fmt: skip
        finite = predict_dense(
            read_only(X), direct.params, direct.net, work, block_rows, out, True,
            NO_FIRE,
        )  # fmt: skip
    if path is not None:
        path.record(split, time.perf_counter() - started, n_samples)
    return out if finite else None


def _direct_plan(direct, n_samples):
    units = direct.layout.layer_units
    block_rows, blas, alone, splits = _call_plan(
        units, direct.dtype, n_samples, direct.n_jobs, True
    )
    # split or not by timing: what parts_follow_blas says of this call
    chooses = not (alone or blas) and splits and direct.n_jobs is None
    return (block_rows if alone or chooses else 0, chooses)


def _call_plan(units, dtype, n_samples, n_jobs, dense):
    """``(block_rows, blas, alone, splits)`` of a prediction; see :func:`forward`.

    ``alone``: the call runs in the calling thread and sets no BLAS limit,
    whatever BLAS's thread count, so it needs no thread plan; ``splits``:
    threads may share it (:func:`_splits`, whatever ``n_jobs``). Worked out once
    per kind of call (the sums over the layers cost ~10 us of a 1-row call)
    for the tile limits in force.
    """
    itemsize = np.dtype(dtype).itemsize
    key = (units.tobytes(), itemsize, n_samples, n_jobs, dense, _settled_limits(dtype))
    plan = _call_plans.get(key)
    if plan is None:
        splits = _splits(units, n_samples)
        # large sparse blocks serve BLAS's threads; calls that may split hold
        # BLAS to one, and take blocks the thread's kept workspace holds
        sparse_budget = not (dense or splits)
        budget = (
            SPARSE_PREDICT_WORKSPACE_BYTES if sparse_budget else PREDICT_WORKSPACE_BYTES
        )
        block_rows = predict_block_rows(units, itemsize, n_samples, budget, splits)
        blas = forward_calls_blas(units, block_rows, itemsize, dense)
        settled = not parts_follow_blas(
            units, n_samples, n_jobs, True, PREDICT_SPLIT_MACS
        )
        parts, limit = thread_limits(
            units, n_samples, n_jobs, True, block_rows, PREDICT_SPLIT_MACS, blas
        )
        if not splits:
            parts = 1
        plan = (block_rows, blas, settled and parts == 1 and limit is None, splits)
        keep_recent(_call_plans, key, plan, PREDICTION_PATHS)
    return plan


def _splits(units, n_samples):
    """Whether threads may share a call of ``n_samples`` rows (its blocks follow).

    ``units`` as :func:`split_units` gives them. Smaller calls cost less than
    handing a part to a worker, whatever ``n_jobs`` asks.
    """
    return forward_macs(units, n_samples) >= PREDICT_SPLIT_MACS


def _prediction_path(units, n_samples, dtype, n_parts, dense=True):
    """The :class:`FasterPath` of predictions of this net, dtype and size.

    A prediction is one call that hands its row parts to the workers and
    hears them back (~25-70 us on the 2-core VMs), so splitting pays only
    for large ones, by how much depending on the CPU and on how far apart
    the host puts the cores: like a fit, predictions of one kind (net,
    dtype, threads, rows within a factor of two) time a few calls each way
    and keep the faster. Kept per kind for the process, at most
    ``PREDICTION_PATHS`` kinds (the oldest forgotten first).
    """
    key = (units.tobytes(), np.dtype(dtype).char, int(n_parts),
           int(n_samples).bit_length(), dense)  # fmt: skip
    path = _prediction_paths.get(key) or FasterPath(
        True, True, parts=int(n_parts), watch_window=PREDICTION_WINDOW_SECONDS
    )
    keep_recent(_prediction_paths, key, path, PREDICTION_PATHS)
    return path


def _forward_blocks(X, params, layout, net, block_rows, n_parts=1):
    n_samples = X.shape[0]
    out = np.empty((n_samples, int(layout.layer_units[-1])), dtype=params.dtype)
    prepare_element_maps((net[NET_HIDDEN], net[NET_OUTPUT]), params.dtype)
    data = as_kernel_input(X, params.dtype)
    check_rows_input(data, layout, params.dtype, n_samples)
    if n_parts > 1:
        predict_in_threads(data, params, layout, net, out, n_parts, block_rows)
        return out
    _predict_rows(data, 0, n_samples, params, layout, net, block_rows, out)
    return out


def _predict_rows(data, start, stop, params, layout, net, block_rows, out,
                  check_finite=False, fire=NO_FIRE):  # fmt: skip
    """Rows ``start:stop`` of dense or CSR ``data`` into ``out``, in blocks.

    Returns whether those rows are finite (dense with ``check_finite``; True
    otherwise), as :func:`fastmlp._kernels.predict.predict_dense` does.
    """
    if isinstance(data, tuple):
        try:  # the dense predictions' workspace, where its blocks fit
            work = thread_workspace(layout, params.dtype, block_rows)
        except KernelInputError:
            work = make_work(layout, block_rows, params.dtype, n_parts=0)
        rows = np.arange(start, stop, dtype=np.int64)
        out = out[start:stop]
        predict_sparse(data, rows, params, net, work, block_rows, out, fire)
        return True
    work = thread_workspace(layout, params.dtype, block_rows)
    return predict_dense(
        data[start:stop], params, net, work, block_rows, out[start:stop],
        check_finite, fire,
    )  # fmt: skip


def thread_workspace(layout, dtype, block_rows=1):
    """The calling thread's workspace for predictions of this net.

    Room for blocks of ``predict_block_rows(..., PREDICT_WORKSPACE_BYTES)``
    rows, the most a dense prediction's block has (sparse blocks use it
    where they fit); kept for the thread's next calls (at most
    ``REUSED_WORKSPACES`` nets). Safe to reuse: a thread runs one prediction
    at a time, and a forward pass, dense or sparse, writes every value of
    the workspace it reads. Raises ``KernelInputError`` if blocks of
    ``block_rows`` rows would not fit (the kernels do not check).
    """
    dtype = np.dtype(dtype)
    row_values = int(layout.layer_units[1:].sum())
    key = _workspace_key(layout, dtype)
    return _kept_workspace(key, row_values, layout, dtype, block_rows)


def _workspace_key(layout, dtype):
    return (layout.layer_units.tobytes(), np.dtype(dtype).char)


def _kept_workspace(key, row_values, layout, dtype, block_rows):
    kept = getattr(_thread_workspaces, "kept", None)
    if kept is None:
        kept = _thread_workspaces.kept = {}
    work = kept.get(key)
    if work is None:
        units, itemsize = layout.layer_units, dtype.itemsize
        rows = predict_block_rows(units, itemsize, 2**62, PREDICT_WORKSPACE_BYTES)
        work = make_work(layout, rows, dtype, n_parts=0)
        keep_recent(kept, key, work, REUSED_WORKSPACES)
    check_array(work[0], "the workspace", ndim=1)
    if work[0].size < block_rows * row_values:
        raise KernelInputError(f"the workspace has no room for {block_rows} rows")
    return work


def validation_loss(output, Y, sample_weight, params, layout, net):
    """The training objective on a whole data set, from its network output.

    Data loss (weighted as in training) plus ``0.5 * alpha * ||W||^2`` divided by
    the weight sum, as one batch of all rows would give.
    """
    Y = contiguous_read_only(np.asarray(Y).reshape(output.shape), output.dtype)
    has_weight, weights = kernel_weights(sample_weight, output.dtype)
    check_output(output, Y.shape[0], layout, output.dtype)
    check_params(params, layout, output.dtype)
    if has_weight and weights.shape != (output.shape[0],):
        raise ValueError(f"{weights.shape[0]} sample weights for {Y.shape[0]} rows")
    loss = loss_value(Y, output, weights, has_weight, net[NET_LOSS])
    weight_sum = float(weights.sum()) if has_weight else float(output.shape[0])
    return float(
        loss + 0.5 * net[NET_ALPHA] * squared_coef_sum(params, net) / weight_sum
    )


def predict_in_threads(data, params, layout, net, out, n_parts, block_rows,
                       check_finite=False):  # fmt: skip
    """The forward pass of dense or CSR ``data`` on ``n_parts`` row ranges.

    Each range a run of whole blocks of ``block_rows`` (:func:`part_bounds`),
    so the output is a whole call's in blocks of ``block_rows``, bit for bit.
    Row ranges need no synchronisation, so plain Python threads run the
    serial (nogil) kernels on one each: no parallel kernel to compile (a
    numba parallel loop around the forward pass cost ~6 s of compile time on
    the 2-core machine for the same speed). Returns whether every value of
    dense ``data`` is finite with ``check_finite`` (True without, and for
    sparse data), as ``predict_dense`` does.
    """
    n_samples = out.shape[0]
    bounds = part_bounds(n_samples, n_parts, block_rows)
    # fewer blocks than parts: no thread woken for no rows
    bounds = [(start, stop) for start, stop in bounds if stop > start]
    bounds = bounds or [(0, n_samples)]
    n_parts = len(bounds)
    finite = [True] * n_parts

    def run(part, fire):
        start, stop = bounds[part]
        finite[part] = _predict_rows(
            data, start, stop, params, layout, net, block_rows, out, check_finite,
            fire,
        )  # fmt: skip

    in_threads(run, n_parts, armed=True)
    return all(finite)

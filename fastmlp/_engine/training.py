"""The bridge from estimator to kernels: data packing, workspaces, calls.

An :class:`Engine` is built once per ``fit``/``partial_fit`` call for one
training set; it owns every buffer the kernels write, so that no batch allocates.
"""

import time

import numpy as np
import scipy.sparse as sp

from .._kernels import threaded
from .._kernels.epoch import run_epoch_dense, run_epoch_sparse
from .._kernels.extra_activations import EXTRA_CODES, PRE_ACTIVATION_CODES
from .._kernels.extra_callbacks import prepare as prepare_extra_activations
from .._kernels.extra_callbacks import prepare_element_maps
from .._kernels.losses import loss_value
from .._kernels.passes import loss_grad_dense, loss_grad_sparse, squared_coef_sum
from .._kernels.predict import predict_dense, predict_sparse
from .._kernels.sync import ABORTED, SYNC_SIZE
from .._kernels.threaded import ALIGN
from .._kernels.tiles import use_tiles
from .._runtime.split_chooser import FasterPath, keep_recent
from .._runtime.thread_plan import forward_macs, thread_plan
from .._runtime.worker_threads import in_threads
from .entry_checks import (
    check_output,
    check_params,
    check_rows_input,
    check_state,
)

# Work per kernel call, in multiply-adds: ~2-10 ms on the 2-core Zen 5 machine
# (~4x that on Zen 1). Between calls Python sees KeyboardInterrupt. A call
# costs ~10 us serial and ~60 us split in two threads (waking the worker and
# hearing back); at 5e7, ~1 ms calls there, epochs were 1.02-1.10x slower
# (measured alternating, small_adam to wide_f32).
_WORK_PER_CALL = 4e8
# While ``FasterPath`` times split against whole calls, calls are cut to about
# this much work (~70-90 batches of a 64-unit net at batch 64: about one
# epoch of 5000 rows, ~2 ms). Not less: a split call costs ~70 us more than
# its batches (waking the worker, hearing back, its caches warming), so a
# short split trial looks slower than the long calls it stands for; per batch
# of 20 -> 64 -> 64 -> 5 at batch 64, split 42 / 30 / 26.4 / 24.5 / 23.5 us in
# calls of 4 / 10 / 23 / 46 / 80 batches, whole 31.5 us at every length.
_TRIAL_WORK = 1e8
# A prediction forwards rows a block at a time, with a workspace of about this
# many bytes: a few MB however many rows are predicted, where scikit-learn holds
# every layer for all rows at once (84 MiB against our 9 MiB on 100k x 784 ->
# 256 -> 128 -> 10). Blocks must still be large: each block's products are
# separate BLAS calls whose threads synchronise, and on a loaded machine 512-row
# blocks made predict_proba 2x slower than scikit-learn's whole-matrix products.
_PREDICT_WORKSPACE_BYTES = 16 * 2**20
# Split across threads, each block's products run on single-threaded BLAS and
# nothing synchronises between blocks: small blocks whose layers stay in cache
# win. Measured (100k rows, 64 -> 100 -> 10, 2 threads): 110 ms per call with
# 16 MB per thread, 85 ms with 4 MB, 70 ms with 1 MB, 68 ms with 256 KB.
_THREADED_PREDICT_WORKSPACE_BYTES = 2**20
_PREDICT_BLOCK_ROWS = (512, 32768)
# A prediction under this many multiply-adds never splits: ~10-20 us of
# arithmetic on one core, less than handing parts to a worker and hearing
# back costs (~25-70 us, measured on the 2-core Zen 1/4/5 VMs). Above it,
# timing chooses (_prediction_path).
PREDICT_SPLIT_MACS = 1_000_000
_PREDICTION_PATHS = 64
# OpenBLAS runs a GEMM of fewer multiply-adds on one thread whatever its
# thread count (interface/gemm.c: SMP_THRESHOLD_MIN 65536 times
# GEMM_MULTITHREAD_THRESHOLD 4), the BLAS NumPy and SciPy wheels carry
BLAS_THREADED_MACS = 65536 * 4
_prediction_paths = {}


def predict_block_rows(layout, itemsize, n_samples, budget=_PREDICT_WORKSPACE_BYTES):
    """Rows per block for :func:`forward`, from the workspace budget in bytes."""
    bytes_per_row = int(layout.layer_units[1:].sum()) * itemsize
    low, high = _PREDICT_BLOCK_ROWS
    rows = min(max(budget // bytes_per_row, low), high)
    # blocks start at multiples of ALIGN rows, as the parts of a threaded
    # prediction do: BLAS then sums every row's values in the same order
    rows -= rows % ALIGN
    return max(1, min(rows, n_samples))


def as_kernel_input(X, dtype):
    """``X`` as the kernels read it: C-contiguous dense, or CSR parts.

    Returns
    -------
    data : ndarray or tuple
        A C-contiguous array of ``dtype``, or ``(indptr, indices, values)`` of a
        CSR matrix with 32-bit indices where they fit.
    """
    if sp.issparse(X):
        csr = X.tocsr()
        index_dtype = np.int32 if max(csr.nnz, csr.shape[1]) < 2**31 - 1 else np.int64
        return (
            np.ascontiguousarray(csr.indptr, dtype=index_dtype),
            np.ascontiguousarray(csr.indices, dtype=index_dtype),
            np.ascontiguousarray(csr.data, dtype=dtype),
        )
    return np.ascontiguousarray(X, dtype=dtype)


def make_net(layout, hidden_code, output_code, loss_code, alpha, dropout=0.0):
    """The ``net`` tuple of :mod:`fastmlp._kernels.passes`.

    Every net passes here before kernels run it, so this is where the
    activations compiled apart are made ready when the net uses one.
    """
    if hidden_code in EXTRA_CODES or output_code in EXTRA_CODES:
        prepare_extra_activations()
    return (
        layout.layer_units,
        layout.coef_starts,
        layout.intercept_starts,
        int(hidden_code),
        int(output_code),
        int(loss_code),
        float(alpha),
        float(dropout),
    )


def make_work(layout, max_rows, dtype, pre_activations=False, masks=False, n_parts=1):
    """The ``work`` tuple: layer buffers for ``max_rows`` rows.

    ``pre_activations`` and ``masks`` buffers are allocated only when asked
    for (GELU/SiLU training, dropout), and are empty otherwise. ``n_parts``
    rows of room for transposed coefficients, one per thread a batch is split
    across: 0 for prediction, which has no backward pass.
    """
    units = layout.layer_units[1:]
    layer_starts = np.concatenate(([0], np.cumsum(units * max_rows)[:-1])).astype(
        np.int64
    )
    size = int(units.sum()) * max_rows
    dtype = np.dtype(dtype)
    transposed_size = 0
    if n_parts:
        transposed_size = transposed_scratch_size(layout.layer_units, dtype.itemsize)
    return (
        np.empty(size, dtype=dtype),
        np.empty(size, dtype=dtype),
        layer_starts,
        np.empty(size if pre_activations else 0, dtype=dtype),
        np.empty(size if masks else 0, dtype=dtype),
        np.empty((n_parts, transposed_size), dtype=dtype),
    )


def transposed_scratch_size(layer_units, itemsize):
    """Room, in values, for one transposed copy of coefficients in a workspace.

    The copies are :func:`fastmlp._kernels.passes.dot_transpose`'s:
    the largest coefficient matrix, among layers after the first with more
    than one output unit, whose back-propagated product may go to tiles (with
    a batch of one row, the least work it can have).
    """
    units = [int(u) for u in layer_units]
    decide = _use_tiles_in_python()
    sizes = [
        fan_in * fan_out
        for fan_in, fan_out in zip(units[1:-1], units[2:], strict=True)
        if fan_out > 1 and decide(1, fan_out, fan_in, itemsize)
    ]
    return max(sizes, default=0)


def _use_tiles_in_python():
    # the kernel's Python function (a call of the kernel compiles its twin),
    # once the limits it reads are settled (measured on a machine's first run);
    # tile_choice looked up once: an import statement per call cost ~1 us
    global _tile_choice
    if _tile_choice is None:
        from .._runtime.tile_calibration import tile_choice

        _tile_choice = tile_choice
    _tile_choice()
    return _USE_TILES


_tile_choice = None
_USE_TILES = getattr(use_tiles, "py_func", use_tiles)


def forward_calls_blas(layer_units, n_rows, itemsize):
    """Whether a forward pass over blocks of ``n_rows`` rows makes a BLAS call
    that BLAS could run on several threads.

    As :func:`fastmlp._kernels.tiles.product_rows` decides for each layer's
    product: products with one output column and small ones go to fastmlp's
    own loops, and BLAS runs products under ``BLAS_THREADED_MACS`` on one
    thread whatever its thread count: neither concerns BLAS's threads, and
    setting them through threadpoolctl costs ~13-35 us a call (a 10-row
    ``predict_proba`` of 64 -> 100 -> 10 took 82 us with the limit, 47
    without, on the 2-core Zen 4 VM).
    """
    units = [int(u) for u in layer_units]
    decide = _use_tiles_in_python()
    return any(
        fan_out > 1
        and n_rows * fan_in * fan_out >= BLAS_THREADED_MACS
        and not decide(n_rows, fan_in, fan_out, itemsize)
        for fan_in, fan_out in zip(units[:-1], units[1:], strict=True)
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
    units = layout.layer_units
    block_rows = predict_block_rows(layout, params.dtype.itemsize, n_samples)
    dense = not sp.issparse(X)
    blas = forward_calls_blas(units, block_rows, params.dtype.itemsize)
    plan = thread_plan(
        units, n_samples, n_jobs, dense, block_rows, PREDICT_SPLIT_MACS, blas
    )
    with plan as n_parts:
        if n_parts == 1 or n_jobs is not None:
            return _forward_blocks(X, params, layout, net, block_rows, n_parts)
        # both ways give the same values: timing chooses (see _prediction_path)
        path = _prediction_path(units, n_samples, params.dtype, n_parts)
        split = path.split()
        started = time.perf_counter()
        out = _forward_blocks(
            X, params, layout, net, block_rows, n_parts if split else 1
        )
        path.record(split, time.perf_counter() - started, n_samples)
        return out


def _prediction_path(units, n_samples, dtype, n_parts):
    """The :class:`FasterPath` of predictions of this net, dtype and size.

    A prediction is one call that hands its row parts to the workers and
    hears them back (~25-70 us on the 2-core VMs), so splitting pays only
    for large ones, by how much depending on the CPU and on how far apart
    the host puts the cores: like a fit, predictions of one kind (net,
    dtype, threads, rows within a factor of two) time a few calls each way
    and keep the faster. Kept per kind for the process, at most
    ``_PREDICTION_PATHS`` kinds (the oldest forgotten first).
    """
    key = (tuple(int(u) for u in units), np.dtype(dtype).str, int(n_parts),
           int(n_samples).bit_length())  # fmt: skip
    path = _prediction_paths.get(key) or FasterPath(True, True)
    keep_recent(_prediction_paths, key, path, _PREDICTION_PATHS)
    return path


def _forward_blocks(X, params, layout, net, block_rows, n_parts=1):
    n_samples = X.shape[0]
    out = np.empty((n_samples, int(layout.layer_units[-1])), dtype=params.dtype)
    prepare_element_maps(net[3:5], params.dtype)
    data = as_kernel_input(X, params.dtype)
    check_rows_input(data, layout, params.dtype, n_samples)
    if n_parts > 1:
        predict_in_threads(data, params, layout, net, out, n_parts)
        return out
    work = make_work(layout, block_rows, params.dtype, n_parts=0)
    if isinstance(data, tuple):
        rows = np.arange(n_samples, dtype=np.int64)
        predict_sparse(data, rows, params, net, work, block_rows, out)
    else:
        predict_dense(data, params, net, work, block_rows, out)
    return out


def validation_loss(output, Y, sample_weight, params, layout, net):
    """The training objective on a whole data set, from its network output.

    Data loss (weighted as in training) plus ``0.5 * alpha * ||W||^2`` divided by
    the weight sum, as one batch of all rows would give.
    """
    Y = np.ascontiguousarray(np.asarray(Y).reshape(output.shape), dtype=output.dtype)
    has_weight, weights = kernel_weights(sample_weight, output.dtype)
    check_output(output, Y.shape[0], layout, output.dtype)
    check_params(params, layout, output.dtype)
    if has_weight and weights.shape != (output.shape[0],):
        raise ValueError(f"{weights.shape[0]} sample weights for {Y.shape[0]} rows")
    loss = loss_value(Y, output, weights, has_weight, net[5])
    weight_sum = float(weights.sum()) if has_weight else float(output.shape[0])
    return float(loss + 0.5 * net[6] * squared_coef_sum(params, net) / weight_sum)


def kernel_weights(sample_weight, dtype):
    """``(has_weight, weights)`` as the kernels take them.

    Without sample weights the kernels neither multiply by weights nor read
    them: they are handed one 1.0, which keeps one compiled signature for both
    cases without an array of ``n_samples`` ones (40 KB of a 5000-row fit,
    most of the margin of its peak memory under scikit-learn's).
    """
    if sample_weight is None:
        return False, np.ones(1, dtype=dtype)
    return True, np.array(sample_weight, dtype=dtype, order="C")


def compact_targets(Y, dtype):
    """The training targets as an epoch's kernels take them.

    A classifier's binarized targets stay boolean, one byte a value as in
    scikit-learn, where the parameters' dtype would take eight (a copy of
    n_samples x n_classes values, most of a small fit's memory): each batch's
    rows are converted as they are gathered. Other targets are converted to
    ``dtype``.
    """
    if Y.dtype == np.bool_:
        return np.ascontiguousarray(Y)
    return np.ascontiguousarray(Y, dtype=dtype)


class Engine:
    """Training data and workspace for one fit.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
    sample_weight : ndarray of shape (n_samples,) or None
    layout : ParameterLayout
    net : tuple
        See :func:`make_net`.
    dtype : numpy dtype
        The dtype of the parameters and every buffer.
    max_rows : int
        The largest batch: ``batch_size`` for SGD/Adam, ``n_samples`` for L-BFGS.
    n_parts : int, default=1
        Threads each batch is split across
        (``fastmlp._runtime.thread_plan.thread_plan``);
        with more than one, ``X`` must be dense and ``net`` without dropout.
    choose_split : bool, default=False
        With ``n_parts > 1``, whether calls may run whole instead when
        timing shows that faster
        (:class:`fastmlp._runtime.split_chooser.FasterPath`); the model is
        the same either way.
    """

    def __init__(
        self,
        X,
        Y,
        sample_weight,
        layout,
        net,
        dtype,
        max_rows,
        n_parts=1,
        choose_split=False,
    ):
        self.dtype = np.dtype(dtype)
        self.n_samples = X.shape[0]
        self.layout = layout
        self.net = net
        prepare_element_maps(net[3:5], self.dtype)
        self.x = as_kernel_input(X, self.dtype)
        self.sparse = isinstance(self.x, tuple)
        self.y = compact_targets(Y, self.dtype)
        self._all_rows = None
        self._batches_per_call = {}
        self.has_weight, self.sample_weight = kernel_weights(sample_weight, self.dtype)
        self.max_rows = int(max_rows)
        self.n_parts = int(n_parts)
        # a decision holds for the next fits of the same shape (split_chooser)
        key = (
            tuple(int(u) for u in layout.layer_units),
            self.max_rows,
            self.dtype.str,
            self.n_parts,
            net[3:6],
        )
        self.path = FasterPath(
            self.n_parts > 1, choose_split and self.n_parts > 1, key=key
        )
        self.work = make_work(
            layout,
            self.max_rows,
            self.dtype,
            # not the kernel needs_pre_activation: from Python, a kernel
            # compiles a twin with a wrapper (jit.KernelDispatcher)
            pre_activations=net[3] in PRE_ACTIVATION_CODES,
            masks=net[7] > 0.0,
            n_parts=self.n_parts,
        )
        self.grads = np.zeros(layout.size, dtype=self.dtype)
        n_features = int(layout.layer_units[0])
        n_outputs = int(layout.layer_units[-1])
        check_rows_input(self.x, layout, self.dtype, self.n_samples)
        if self.y.shape != (self.n_samples, n_outputs):
            raise ValueError(
                f"targets of shape {self.y.shape} for {self.n_samples} rows and "
                f"{n_outputs} outputs"
            )
        if self.has_weight and self.sample_weight.shape != (self.n_samples,):
            raise ValueError(
                f"{self.sample_weight.shape[0]} sample weights for "
                f"{self.n_samples} rows"
            )
        if self.max_rows < 1:
            raise ValueError(f"batches of {self.max_rows} rows")
        # the buffers below are made here from the same layout: not checked
        self.buffers = (
            np.empty(0 if self.sparse else self.max_rows * n_features, self.dtype),
            np.empty(self.max_rows * n_outputs, self.dtype),
            np.empty(self.max_rows, self.dtype),
        )
        if self.n_parts > 1:
            self.extra = (
                np.empty(self.max_rows, np.float64),
                np.zeros(1, np.float64),
            )

    def batches_per_call(self, batch_size):
        """How many batches one kernel call runs (see ``_WORK_PER_CALL``).

        Fewer while :attr:`path` times its trial calls (``_TRIAL_WORK``); a
        whole trial a quarter of a split one, as its time per batch does not
        depend on the length of the call (so the trials of the way that loses,
        often the whole one, cost less). Worked out once per batch size: it
        was 2% of a small net's fit.
        """
        sizes = self._batches_per_call.get(batch_size)
        if sizes is None:
            # forward_macs is plain Python: NumPy's call overhead cost ~60 us
            per_batch = float(forward_macs(self.layout.layer_units, batch_size)) * 3.0
            per_call = max(1, int(_WORK_PER_CALL // max(per_batch, 1.0)))
            split_trial = min(per_call, max(1, int(_TRIAL_WORK // max(per_batch, 1.0))))
            sizes = (per_call, split_trial, max(1, split_trial // 4))
            self._batches_per_call[batch_size] = sizes
        if not self.path.deciding:
            return sizes[0]
        return sizes[1] if self.path.split() else sizes[2]

    def whole_parts(self, split):
        """Parts a call of a fit with ``n_parts > 1`` runs in: 1 unless ``split``.

        A whole call of such a fit runs the split kernel as one part, in the
        calling thread, rather than the serial kernel: the same values bit for
        bit and the same speed (1.000-1.011x, four nets), and its first fit
        compiles one epoch kernel, not two (~3 s less on the 2-core machine).
        """
        return self.n_parts if split else 1

    def run_epoch(self, params, order, batch_size, optimizer, dropout_seed=0):
        """One epoch of mini-batches; returns the sum of batch loss times rows.

        The epoch runs in parts of :meth:`batches_per_call` batches, so that a
        KeyboardInterrupt is raised between parts, as in scikit-learn's loop;
        ``optimizer`` (``fastmlp._engine.solvers``) is brought up to date after
        every
        part, so an interrupted epoch leaves it consistent with the weights.
        """
        data = (self.x, self.y, self.sample_weight)
        n_batches = -(-self.n_samples // batch_size)
        order = np.ascontiguousarray(order, dtype=np.int64)
        settings = optimizer.settings()
        state = optimizer.state()
        self.check_params(params)
        check_state(state, self.layout.size, self.dtype)
        if order.shape != (self.n_samples,) or not 1 <= batch_size <= self.max_rows:
            raise ValueError(
                f"an order of {order.shape} rows in batches of {batch_size}, for "
                f"{self.n_samples} rows in batches of at most {self.max_rows}"
            )
        accumulated = 0.0
        first = 0
        while first < n_batches:
            stop = min(first + self.batches_per_call(batch_size), n_batches)
            batches = (
                order,
                int(first),
                int(stop),
                int(batch_size),
                self.has_weight,
                int(dropout_seed),
            )
            args = (batches, self.buffers, params, self.grads, self.net, self.work)
            split = self.path.split()
            started = time.perf_counter()
            if self.n_parts > 1:
                # whole calls too: see whole_parts
                part, step = run_epoch_parallel(
                    data, *args, self.extra, settings, state, int(optimizer.step),
                    self.whole_parts(split),
                )  # fmt: skip
            else:
                kernel = run_epoch_sparse if self.sparse else run_epoch_dense
                part, step = kernel(data, *args, settings, state, int(optimizer.step))
            self.path.record(split, time.perf_counter() - started, stop - first)
            optimizer.after_steps(step)
            accumulated += part
            first = stop
        return accumulated

    def all_rows(self):
        """Every row's index: L-BFGS's one batch of sparse data (made once)."""
        if self._all_rows is None:
            self._all_rows = np.arange(self.n_samples, dtype=np.int64)
        return self._all_rows

    def float_targets(self):
        """``Y`` in the parameters' dtype, for kernels that take it whole.

        Converted once, in place of the compact targets (L-BFGS's gradient
        takes every row as one batch, so there is no gather to convert them).
        """
        if self.y.dtype != self.dtype:
            self.y = np.ascontiguousarray(self.y, dtype=self.dtype)
        return self.y

    def check_params(self, params):
        """``params`` fits this fit's layout and dtype (its own buffers do)."""
        check_params(params, self.layout, self.dtype)

    def loss_grad(self, params):
        """Loss and gradient over all rows (one batch), for L-BFGS."""
        if self.max_rows < self.n_samples:
            raise ValueError("L-BFGS's one batch needs room for every row")
        self.check_params(params)
        y = self.float_targets()
        split = self.path.split()
        started = time.perf_counter()
        if self.sparse:
            loss = loss_grad_sparse(
                self.x,
                self.all_rows(),
                y,
                self.sample_weight,
                self.has_weight,
                params,
                self.grads,
                self.net,
                self.work,
            )
        elif self.n_parts > 1:
            loss = loss_grad_parallel(
                self.x, y, self.sample_weight, self.has_weight, params,
                self.grads, self.net, self.work, self.extra, self.whole_parts(split),
            )  # fmt: skip
        else:
            loss = loss_grad_dense(
                self.x,
                y,
                self.sample_weight,
                self.has_weight,
                params,
                self.grads,
                self.net,
                self.work,
            )
        self.path.record(split, time.perf_counter() - started, 1)
        return loss, self.grads


def predict_in_threads(x, params, layout, net, out, n_parts):
    """:func:`fastmlp._kernels.predict.predict_dense` on ``n_parts`` row ranges.

    Row ranges need no synchronisation, so plain Python threads run the serial
    (nogil) kernel on one each, in 1 MB blocks: no parallel kernel to compile
    (a numba parallel loop around the forward pass cost ~6 s of compile time
    on the 2-core machine for the same speed).
    """
    n_samples = x.shape[0]
    bounds = [threaded.chunk(n_samples, part, n_parts) for part in range(n_parts)]
    block_rows = predict_block_rows(
        layout,
        params.dtype.itemsize,
        max(stop - start for start, stop in bounds),
        _THREADED_PREDICT_WORKSPACE_BYTES,
    )

    def run(part):
        start, stop = bounds[part]
        if stop > start:
            work = make_work(layout, block_rows, params.dtype, n_parts=0)
            predict_dense(x[start:stop], params, net, work, block_rows, out[start:stop])

    in_threads(run, n_parts)


def run_parts(kernel, n_parts, *args):
    """``kernel(part, n_parts, sync, *args)`` for every part at once, in threads.

    The parts meet at ``fastmlp._kernels.sync.barrier`` on ``sync``; if one
    raises, the barrier releases the others and the error is raised here.
    Returns part 0's result (every part returns the same).
    """
    sync = np.zeros(SYNC_SIZE, np.int64)

    def abort():
        sync[ABORTED] = 1

    return in_threads(
        lambda part: kernel(np.int64(part), n_parts, sync, *args), n_parts, abort
    )


def run_epoch_parallel(data, batches, buffers, params, grads, net, work, extra,
                       settings, state, step, n_parts):  # fmt: skip
    """:func:`fastmlp._kernels.epoch.run_epoch_dense` split into ``n_parts``.

    Same arguments, plus ``extra = (row_losses, scalars)``: float64
    ``(batch_size,)`` and ``(1,)`` buffers.
    """
    return run_parts(
        threaded.epoch_part, n_parts, data, batches, buffers, params, grads, net,
        work, extra, settings, state, step,
    )  # fmt: skip


def loss_grad_parallel(x, y, sample_weight, has_weight, params, grads, net, work,
                       extra, n_parts):  # fmt: skip
    """:func:`fastmlp._kernels.passes.loss_grad_dense` split into ``n_parts``."""
    return run_parts(
        threaded.gradient_part, n_parts, x, y, sample_weight, has_weight, params,
        grads, net, work, extra,
    )  # fmt: skip

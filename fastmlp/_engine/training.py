"""The bridge from estimator to kernels: data packing, workspaces, calls.

An :class:`Engine` is built once per ``fit``/``partial_fit`` call for one
training set; it owns every buffer the kernels write, so that no batch allocates.
"""

import time

import numpy as np

from .._kernels import threaded
from .._kernels.epoch import run_epoch_dense, run_epoch_sparse
from .._kernels.extra_activations import PRE_ACTIVATION_CODES
from .._kernels.extra_callbacks import prepare_element_maps
from .._kernels.layers import NET_DROPOUT, NET_HIDDEN, NET_LOSS, NET_OUTPUT
from .._kernels.sync import ABORTED, SYNC_SIZE
from .._kernels.tunables import TRIAL_WORK, WORK_PER_CALL
from .._runtime.split_chooser import FasterPath
from .._runtime.thread_plan import forward_macs
from .._runtime.worker_threads import in_threads, ready_for_trial
from .buffers import (
    as_kernel_input,
    compact_targets,
    contiguous_read_only,
    kernel_weights,
    make_work,
)
from .entry_checks import (
    check_params,
    check_rows_input,
    check_state,
)


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
        with more than one, ``net`` must be without dropout.
    choose_split : bool, default=False
        With ``n_parts > 1``, whether calls may run whole instead when
        timing shows that faster
        (:class:`fastmlp._runtime.split_chooser.FasterPath`); the model is
        the same either way.

    Notes
    -----
    A fit without dropout always runs the split kernels
    (``fastmlp._kernels.threaded``), in one part when a call is not split:
    one epoch kernel and one gradient kernel serve split and unsplit fits,
    dense and CSR data, with the same values bit for bit. Dropout (never
    split) runs ``fastmlp._kernels.epoch.run_epoch_dense`` or ``_sparse``.
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
        prepare_element_maps((net[NET_HIDDEN], net[NET_OUTPUT]), self.dtype)
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
            net[NET_HIDDEN : NET_LOSS + 1],
        )
        self.path = FasterPath(
            self.n_parts > 1,
            choose_split and self.n_parts > 1,
            key=key,
            parts=self.n_parts,
        )
        self.work = make_work(
            layout,
            self.max_rows,
            self.dtype,
            # not the kernel needs_pre_activation: from Python, a kernel
            # compiles a twin with a wrapper (jit.KernelDispatcher)
            pre_activations=net[NET_HIDDEN] in PRE_ACTIVATION_CODES,
            masks=net[NET_DROPOUT] > 0.0,
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
        # the split kernels: any rows without dropout (see Notes)
        self.in_parts = net[NET_DROPOUT] == 0.0
        if self.in_parts:
            self.extra = (
                np.empty(self.max_rows, np.float64),
                np.zeros(1, np.float64),
                np.empty(layout.size, self.dtype),
            )
            self.parts_rows = parts_rows(self.x, n_features, self.dtype)

    def batches_per_call(self, batch_size):
        """How many batches one kernel call runs (see ``WORK_PER_CALL``).

        Fewer while :attr:`path` times its trial calls (``TRIAL_WORK``); a
        whole trial a quarter of a split one, as its time per batch does not
        depend on the length of the call (so the trials of the way that loses,
        often the whole one, cost less). Worked out once per batch size: it
        was 2% of a small net's fit.
        """
        sizes = self._batches_per_call.get(batch_size)
        if sizes is None:
            # forward_macs is plain Python: NumPy's call overhead cost ~60 us
            per_batch = float(forward_macs(self.layout.layer_units, batch_size)) * 3.0
            per_call = max(1, int(WORK_PER_CALL // max(per_batch, 1.0)))
            split_trial = min(per_call, max(1, int(TRIAL_WORK // max(per_batch, 1.0))))
            sizes = (per_call, split_trial, max(1, split_trial // 4))
            self._batches_per_call[batch_size] = sizes
        if not self.path.timing:
            return sizes[0]
        return sizes[1] if self.path.split() else sizes[2]

    def whole_parts(self, split):
        """Parts a call runs in: ``n_parts`` if ``split``, else 1.

        A call that is not split runs the split kernel as one part, in the
        calling thread, rather than the serial kernel: the same values bit
        for bit, and a process compiles one epoch kernel for fits that split
        and fits that do not (one of 4 -> 10 -> 3 then one of 64 -> 100 ->
        10: 9.4 s of CPU, then 5.5 s more for the second kernel, on the
        2-vCPU Xeon before this was so).
        """
        return self.n_parts if split else 1

    def _wake_for_trial(self, split):
        """Before a timed trial: workers as the way's own calls find them
        (``fastmlp._runtime.worker_threads.ready_for_trial``)."""
        if self.n_parts > 1 and self.path.timing:
            ready_for_trial(split, self.n_parts)

    def run_epoch(self, params, order, batch_size, optimizer, dropout_seed=0):
        """One epoch of mini-batches; returns the sum of batch loss times rows.

        The epoch runs in parts of :meth:`batches_per_call` batches, so that a
        KeyboardInterrupt is raised between parts, as in scikit-learn's loop;
        ``optimizer`` (``fastmlp._engine.solvers``) is brought up to date after
        every
        part, so an interrupted epoch leaves it consistent with the weights.
        """
        x = self.parts_rows[0] if self.in_parts else self.x
        data = (x, self.y, self.sample_weight)
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
            self._wake_for_trial(split)
            started = time.perf_counter()
            if self.in_parts:
                # whole calls too: see whole_parts
                part, step = run_epoch_parallel(
                    data, self.parts_rows[1], *args, self.extra, settings, state,
                    int(optimizer.step), self.whole_parts(split),
                )  # fmt: skip
            else:
                kernel = run_epoch_sparse if self.sparse else run_epoch_dense
                part, step = kernel(data, *args, settings, state, int(optimizer.step))
            # per row, not per batch: an epoch's last batch is often short,
            # and a trial that holds it would look faster per batch
            rows = min(stop * batch_size, self.n_samples) - first * batch_size
            self.path.record(split, time.perf_counter() - started, rows)
            optimizer.after_steps(step)
            accumulated += part
            first = stop
        return accumulated

    def all_rows(self):
        """Every row's index: L-BFGS's one batch of CSR data (made once)."""
        if self._all_rows is None:
            self._all_rows = np.arange(self.n_samples, dtype=np.int64)
        return self._all_rows

    def float_targets(self):
        """``Y`` in the parameters' dtype, for kernels that take it whole.

        Converted once, in place of the compact targets (L-BFGS's gradient
        takes every row as one batch, so there is no gather to convert them).
        """
        if self.y.dtype != self.dtype:
            self.y = contiguous_read_only(self.y, self.dtype)
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
        self._wake_for_trial(split)
        started = time.perf_counter()
        x, csr = self.parts_rows
        rows = self.all_rows() if self.sparse else _NO_ROWS
        loss = loss_grad_parallel(
            x, csr, rows, y, self.sample_weight, self.has_weight, params,
            self.grads, self.net, self.work, self.extra, self.whole_parts(split),
        )  # fmt: skip
        self.path.record(split, time.perf_counter() - started, 1)
        return loss, self.grads


def run_parts(kernel, n_parts, *args):
    """``kernel(part, n_parts, sync, *args)`` for every part at once, in threads.

    The parts meet at ``fastmlp._kernels.sync.barrier`` on ``sync``; if one
    raises, the barrier releases the others and the error is raised here.
    Returns part 0's result (every part returns the same). One part runs in
    the calling thread without the hand-over (a few us a call, which a small
    net's epoch of one batch would feel).
    """
    sync = np.zeros(SYNC_SIZE, np.int64)
    if n_parts == 1:
        return kernel(np.int64(0), 1, sync, *args)

    def abort():
        sync[ABORTED] = 1

    return in_threads(
        lambda part: kernel(np.int64(part), n_parts, sync, *args), n_parts, abort
    )


_NO_ROWS = np.empty(0, np.int64)


def parts_rows(x, n_features, dtype):
    """``(X, csr)`` as the split kernels take the rows ``x`` (kernel input).

    Dense ``x`` and None, or an ``X`` of no rows and CSR ``x``
    (``fastmlp._kernels.threaded``).
    """
    if isinstance(x, tuple):
        return contiguous_read_only(np.empty((0, n_features)), dtype), x
    return x, None


def run_epoch_parallel(data, csr, batches, buffers, params, grads, net, work, extra,
                       settings, state, step, n_parts):  # fmt: skip
    """:func:`fastmlp._kernels.epoch.run_epoch_dense` split into ``n_parts``.

    Same arguments, but ``data, csr`` as :func:`parts_rows` gives them
    (``data`` with its ``X``), plus ``extra = (row_losses, scalars,
    partial)``: float64 ``(batch_size,)`` and ``(1,)`` buffers, and one of
    ``grads``'s shape and dtype.
    """
    return run_parts(
        threaded.epoch_part, n_parts, data, csr, batches, buffers, params, grads,
        net, work, extra, settings, state, step,
    )  # fmt: skip


def loss_grad_parallel(x, csr, rows, y, sample_weight, has_weight, params, grads, net,
                       work, extra, n_parts):  # fmt: skip
    """:func:`fastmlp._kernels.passes.loss_grad_dense` (or ``_sparse``, on rows
    ``rows`` of ``csr``) split into ``n_parts``; ``x, csr`` as :func:`parts_rows`
    gives them."""
    return run_parts(
        threaded.gradient_part, n_parts, x, csr, rows, y, sample_weight, has_weight,
        params, grads, net, work, extra,
    )  # fmt: skip

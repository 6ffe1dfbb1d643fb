"""Mini-batches and L-BFGS gradients split across threads.

``n_parts`` Python threads (``fastmlp._engine.training.run_parts``) run the same
serial kernel, :func:`epoch_part` or :func:`gradient_part`, on their part of every
batch with single-threaded BLAS, in two phases that end at a barrier (:mod:`.sync`):
rows (forward, losses and deltas of rows ``chunk(t)``), then columns (every layer's
gradient and step for a block of input units). Invariant: every value is computed
by the same operations in the same order whatever the number of parts, one
included (tested). Dense rows, or CSR rows (``csr`` not None: the first
layer's products are ``layers.sparse_rows_dot`` and ``sparse_rows_transpose_dot``,
and the dense rows ``x`` hold none); no dropout (its draws depend on the thread).
Dense fits pass ``csr=None``, so numba leaves the CSR code out of their kernels
(compile time).

Why: most networks' products are too small for BLAS's own threads, and ``prange``
cost ~13 s more compile time. The phases in full: ``docs/design/threading.md``.
"""

import numpy as np

from .blas import transpose_dot_rows
from .jit import inlined_kernel, kernel
from .layers import (
    NET_ALPHA,
    NET_COEF_STARTS,
    NET_INTERCEPT_STARTS,
    NET_LOSS,
    NET_UNITS,
    WORK_ACTIVATIONS,
    WORK_DELTAS,
    WORK_LAYER_STARTS,
    WORK_TRANSPOSED,
    borrow_net,
    borrow_work,
    coef_view,
    column_sums,
    intercept_view,
    layer_view,
    small_transpose_dot,
    sparse_rows_dot,
    sparse_rows_transpose_dot,
)
from .losses import finish_loss, output_delta, weighted_row_losses
from .optimizers import ADAM, step_range, step_rate
from .passes import (
    finish_coef_grad,
    forward_rows,
    intercept_grad,
    propagate_delta,
    squared_coef_sum,
)
from .sync import barrier
from .tiles import in_blas, transposed_in_blas
from .views import borrowed, flat_view, matrix_view, typed_writable

GRADIENT_ONLY = -1  # solver code of L-BFGS's gradient: no optimizer step

# A batch's gradient is the sum of the gradients of its rows chunk(n_rows, c,
# GRADIENT_CHUNKS), c = 0, 1, added in that order, whatever the thread count:
# with two parts each computes its own rows' share in the rows phase (the
# rows and deltas it already holds), and the columns phase only adds the
# other part's share of its block of parameters (docs/design/threading.md).
GRADIENT_CHUNKS = 2


# Parts of a product start at multiples of this many rows or units: the
# tiles then tile each part as they tile the whole product (8-row tiles), so
# every value is summed in the same order.
ALIGN = 16
# BLAS's kernels compute a product in groups of rows (columns, as column-major
# BLAS sees them) fixed by the kernel, and the groups left at the end sum in
# another order: OpenBLAS's float32 Haswell kernel (every AVX2 CPU) takes 12
# at a time, then 8 or 4, so a part starting at row 16 summed rows 12-15
# unlike the whole product. Parts of a product BLAS computes start at
# multiples of this many (OpenBLAS's groups: 2 to 24).
BLAS_ALIGN = 48


@kernel
def chunk(total, part, n_parts):
    """Bounds of part ``part`` of ``range(total)`` cut into ``n_parts``.

    Bounds are multiples of ``ALIGN`` (but the last), as even as that allows.
    """
    return aligned_chunk(total, part, n_parts, ALIGN)


@kernel
def aligned_chunk(total, part, n_parts, align):
    """:func:`chunk` with bounds at multiples of ``align`` (but the last)."""
    return _bound(total, part, n_parts, align), _bound(total, part + 1, n_parts, align)


@kernel
def _bound(total, part, n_parts, align):
    if part >= n_parts:
        return total
    if part <= 0:  # what the division gives; one part runs ~8 bounds a batch
        return 0
    aligned = (total * part // n_parts + align // 2) // align * align
    return min(aligned, total)


@kernel
def rows_align(net, work, n_rows, itemsize, lowest):
    """Where a batch of ``n_rows`` splits into parts and gradient chunks.

    ``BLAS_ALIGN`` if BLAS computes one of the rows phase's products for it
    (a layer's output, ``passes.forward_rows``, from layer ``lowest`` up: 1
    for CSR rows; a delta propagated back, ``layers.dot_transpose``), else
    ``ALIGN``. A function of the net and the batch, not of the number of
    parts: parts and chunks of one batch agree, and the chunks are the same in
    a whole batch as in a split one.
    """
    units = net[NET_UNITS]
    room = work[WORK_TRANSPOSED].shape[1]
    for layer in range(units.shape[0] - 1):
        fan_in, fan_out = units[layer], units[layer + 1]
        if layer >= lowest and in_blas(n_rows, fan_in, fan_out, itemsize):
            return BLAS_ALIGN
        if layer > 0 and transposed_in_blas(n_rows, fan_out, fan_in, room, itemsize):
            return BLAS_ALIGN
    return ALIGN


@kernel
def units_block(net, layer, n_rows, row_align, itemsize, block, n_blocks):
    """Block ``block`` of ``n_blocks`` of ``layer``'s input units (gradient rows).

    At multiples of ``BLAS_ALIGN`` if BLAS computes the layer's coefficient
    gradient (``layers.small_transpose_dot``) for either chunk of the batch's
    rows, else of ``ALIGN``.
    """
    units = net[NET_UNITS]
    fan_in, fan_out = units[layer], units[layer + 1]
    align = ALIGN
    for c in range(GRADIENT_CHUNKS):
        begin, end = aligned_chunk(n_rows, c, GRADIENT_CHUNKS, row_align)
        if end > begin and in_blas(fan_in, end - begin, fan_out, itemsize):
            align = BLAS_ALIGN
    return aligned_chunk(fan_in, block, n_blocks, align)


@kernel
def gather_part(part, n_parts, x, y, sample_weight, has_weight, rows, x_rows, y_rows,
                w_rows, row_align):  # fmt: skip
    """Rows of part ``part`` of ``x[rows]``, ``y[rows]``, ``sample_weight[rows]``.

    The part's rows as :func:`rows_part` takes them (``row_align`` from
    :func:`rows_align`); ``x``'s only if ``x_rows`` has rows (not for CSR
    data), the weights only ``if has_weight`` (else ``sample_weight`` is one
    1.0).
    """
    start, stop = aligned_chunk(rows.shape[0], part, n_parts, row_align)
    dense = x_rows.shape[0] > 0
    for r in range(start, stop):
        row = rows[r]
        for j in range(x.shape[1] if dense else 0):
            x_rows[r, j] = x[row, j]
        for j in range(y.shape[1]):
            y_rows[r, j] = y[row, j]
        if has_weight:
            w_rows[r] = sample_weight[row]


@inlined_kernel
def rows_part(part, n_parts, x, y, sample_weight, has_weight, params, grads, net,
              work, extra, row_align, lowest):  # fmt: skip
    """Phase 1 for part ``part`` of the batch's rows: forward, losses, deltas.

    The batch is ``x``, its targets ``y``; ``x`` of no rows: CSR rows, whose
    first layer's product :func:`sparse_part_product` made, and whose first
    layer's gradient is :func:`sparse_first_layer`'s (``lowest`` 1, else 0:
    the gradients of layers from ``lowest`` up are made here or in
    :func:`columns_part`). The part's rows are ``aligned_chunk(n_rows, part,
    n_parts, row_align)``, ``row_align`` from :func:`rows_align`.

    ``extra = (row_losses, scalars, partial)``: writes ``row_losses[r]``
    (the weighted loss of row ``r``); part 0 also writes the squared norm of
    the coefficients into ``scalars[0]``. With at most ``GRADIENT_CHUNKS``
    parts, also the unscaled gradient of the part's chunks of rows: chunk 0's
    into ``grads``, chunk 1's into ``partial``.
    """
    activations, deltas, layer_starts = (
        work[WORK_ACTIVATIONS],
        work[WORK_DELTAS],
        work[WORK_LAYER_STARTS],
    )
    n_rows = y.shape[0]
    start, stop = aligned_chunk(n_rows, part, n_parts, row_align)
    last = net[NET_UNITS].shape[0] - 2
    forward_rows(x, params, net, work, n_rows, start, stop)
    output = layer_view(activations, net, layer_starts, last, n_rows)[start:stop]
    y_part = y[start:stop]
    w_part = sample_weight[start:stop]
    weighted_row_losses(
        y_part, output, w_part, has_weight, net[NET_LOSS], extra[0][start:]
    )
    delta = layer_view(deltas, net, layer_starts, last, n_rows)
    output_delta(y_part, output, w_part, has_weight, delta[start:stop])
    for layer in range(last, -1, -1):
        if layer >= lowest and by_rows(net, layer, n_rows, n_parts):
            # while the layer's delta is in this core's cache
            chunk_gradients(x, net, work, layer, n_rows, row_align, grads,
                            extra[2], part, n_parts, np.int64(0),
                            np.int64(1))  # fmt: skip
        if layer > 0:
            propagate_delta(params, net, work, layer, n_rows, start, stop, part)
    if part == 0:
        extra[1][0] = squared_coef_sum(params, net)


@kernel
def by_rows(net, layer, n_rows, n_parts):
    """Whether each part computes its own rows' chunk of ``layer``'s gradient.

    Else each part computes both chunks for its block of the layer's units,
    in the columns phase. The same sums either way: this decides only what
    crosses between the cores, the other part's share of this part's block of
    parameters (``fan_in * fan_out / 2`` values) against the other part's rows
    of the layer's input block and delta (``n_rows / 2 * (fan_in / 2 +
    fan_out)``); with more parts than chunks, always the latter. (Not for a
    CSR first layer: :func:`sparse_first_layer`.)
    """
    if n_parts == 1:
        return True
    if n_parts > GRADIENT_CHUNKS:
        return False
    units = net[NET_UNITS]
    fan_in, fan_out = units[layer], units[layer + 1]
    return fan_in * fan_out <= n_rows * (fan_in // 2 + fan_out)


@kernel
def rows_of(matrix, begin, end):
    """Rows ``begin:end`` of a C-contiguous matrix, typed as the matrix is."""
    n_cols = matrix.shape[1]
    return matrix_view(flat_view(matrix), begin * n_cols, end - begin, n_cols)


@inlined_kernel
def chunk_gradients(x, net, work, layer, n_rows, row_align, grads, partial, first,
                    step, block, n_blocks):  # fmt: skip
    """Chunks ``first, first + step, ...`` of ``layer``'s unscaled gradient.

    Each by :func:`chunk_gradient`, over rows ``aligned_chunk(n_rows, c,
    GRADIENT_CHUNKS, row_align)`` and block ``block`` of ``n_blocks``: chunk
    0 into ``grads``, chunk 1 into ``partial``.
    """
    for c in range(first, GRADIENT_CHUNKS, step):
        target = grads if c == 0 else partial
        rows_begin, rows_end = aligned_chunk(n_rows, c, GRADIENT_CHUNKS, row_align)
        chunk_gradient(x, net, work, layer, n_rows, row_align, target, rows_begin,
                       rows_end, block, n_blocks)  # fmt: skip


@kernel
def chunk_gradient(x, net, work, layer, n_rows, row_align, target, rows_begin,
                   rows_end, block, n_blocks):  # fmt: skip
    """Unscaled gradient of ``layer`` over rows ``rows_begin:rows_end`` into ``target``.

    Of the coefficients of input units ``units_block(..., block, n_blocks)``
    and the intercepts of output units ``chunk(fan_out, block, n_blocks)``:
    ``A.T @ delta`` and ``delta``'s column sums over those rows, summed as the
    whole layer's are, so blocks computed apart equal the whole.
    """
    units = net[NET_UNITS]
    a = x
    if layer > 0:
        a = layer_view(work[WORK_ACTIVATIONS], net, work[WORK_LAYER_STARTS],
                       layer - 1, n_rows)  # fmt: skip
    delta = layer_view(work[WORK_DELTAS], net, work[WORK_LAYER_STARTS], layer, n_rows)
    a, delta = rows_of(a, rows_begin, rows_end), rows_of(delta, rows_begin, rows_end)
    coef_grad = coef_view(target, net, layer)
    start, stop = units_block(
        net, layer, n_rows, row_align, a.itemsize, block, n_blocks
    )
    if rows_end <= rows_begin:  # a batch of under 8 rows: BLAS might not zero
        coef_grad[start:stop] = 0.0
    elif not small_transpose_dot(a, delta, coef_grad, start, stop):
        transpose_dot_rows(a, delta, coef_grad, start, stop)
    start, stop = chunk(units[layer + 1], block, n_blocks)
    intercept = intercept_view(target, net, layer)
    column_sums(delta, intercept[:0], intercept, start, stop)


@inlined_kernel
def columns_part(part, n_parts, x, n_rows, params, grads, net, work, extra,
                 weight_sum, step, row_align, lowest):  # fmt: skip
    """Phase 2: part ``part``'s share of every layer's gradient, and its step.

    The batch of ``n_rows`` rows and ``lowest`` as :func:`rows_part` took
    them; layers under ``lowest`` are left to :func:`sparse_first_layer`, run
    before.

    A part takes a block of each layer's input units (rows of the coefficient
    gradient: contiguous, so no two threads write one cache line but at the
    block's ends) and a block of its output units' intercepts, adds the
    chunks' gradients there (computing them first with more than
    ``GRADIENT_CHUNKS`` parts) and scales them. ``step = (settings, state,
    rate)``; with solver ``GRADIENT_ONLY`` the gradient is left in ``grads``,
    otherwise the optimizer then updates the parameters whose gradient this
    part computed; with one part, every parameter at once after the last
    gradient (elementwise, so the same values; two calls a layer cost a small
    net's batch ~0.3 us more).
    """
    units = net[NET_UNITS]
    partial = extra[2]
    for layer in range(lowest, units.shape[0] - 1):
        if not by_rows(net, layer, n_rows, n_parts):
            chunk_gradients(x, net, work, layer, n_rows, row_align, grads,
                            partial, np.int64(0), np.int64(1), part,
                            n_parts)  # fmt: skip
        fan_out = units[layer + 1]
        start, stop = units_block(
            net, layer, n_rows, row_align, params.itemsize, part, n_parts
        )
        finish_chunked_coef_grad(
            coef_view(grads, net, layer)[start:stop],
            coef_view(partial, net, layer)[start:stop],
            coef_view(params, net, layer)[start:stop],
            net[NET_ALPHA],
            weight_sum,
        )
        first = net[NET_COEF_STARTS][layer]
        if n_parts > 1:
            _step(params, grads, step, first + start * fan_out, first + stop * fan_out)
        start, stop = chunk(fan_out, part, n_parts)
        first = net[NET_INTERCEPT_STARTS][layer]
        finish_chunked_intercept_grad(
            grads, partial, weight_sum, first + start, first + stop
        )
        if n_parts > 1:
            _step(params, grads, step, first + start, first + stop)
    if n_parts == 1:
        _step(params, grads, step, np.int64(0), params.shape[0])


@kernel
def sparse_part_product(part, n_parts, csr, rows, params, net, work, row_align):
    """Phase 1's first product for part ``part`` of rows ``rows`` of CSR ``csr``.

    ``X[rows] @ W0`` for the part's rows (as :func:`rows_part` takes them), into
    the first layer's activations, where :func:`rows_part` finds it.
    """
    n_rows = rows.shape[0]
    start, stop = aligned_chunk(n_rows, part, n_parts, row_align)
    first = layer_view(work[WORK_ACTIVATIONS], net, work[WORK_LAYER_STARTS],
                       np.int64(0), n_rows)  # fmt: skip
    sparse_rows_dot(csr[0], csr[1], csr[2], rows[start:stop],
                    coef_view(params, net, np.int64(0)),
                    rows_of(first, start, stop))  # fmt: skip


@kernel
def sparse_first_layer(part, n_parts, csr, rows, params, grads, net, work, weight_sum,
                       step):  # fmt: skip
    """Phase 2 of a CSR first layer: part ``part``'s gradient, and its step.

    The gradient of input units ``chunk(n_features, part, n_parts)`` by
    :func:`sparse_first_gradient`, and of intercepts ``chunk(fan_out, part,
    n_parts)``; each stepped at once with more than one part, as
    :func:`columns_part` does for the other layers.
    """
    units = net[NET_UNITS]
    fan_out = units[1]
    n_rows = rows.shape[0]
    start, stop = chunk(units[0], part, n_parts)
    sparse_first_gradient(csr, rows, n_rows, params, grads, net, work, weight_sum,
                          start, stop)  # fmt: skip
    first = net[NET_COEF_STARTS][0]
    if n_parts > 1:
        _step(params, grads, step, first + start * fan_out, first + stop * fan_out)
    start, stop = chunk(fan_out, part, n_parts)
    delta = layer_view(work[WORK_DELTAS], net, work[WORK_LAYER_STARTS], np.int64(0),
                       n_rows)  # fmt: skip
    intercept_grad(delta, intercept_view(grads, net, np.int64(0)), weight_sum, start,
                   stop)  # fmt: skip
    first = net[NET_INTERCEPT_STARTS][0]
    if n_parts > 1:
        _step(params, grads, step, first + start, first + stop)


@kernel
def sparse_first_gradient(csr, rows, n_rows, params, grads, net, work, weight_sum,
                          start, stop):  # fmt: skip
    """A CSR first layer's coefficient gradient for input units ``start:stop``.

    ``X[rows].T @ delta`` over the batch's rows in one chunk, in row order,
    then sklearn's finish: the serial kernels' values
    (``passes.loss_grad_sparse``), whatever the block. Not by rows' chunks,
    as the other layers: each part would zero and fill a whole
    ``n_features x units`` buffer, and the columns phase read both, where a
    block of units costs each part a pass over the batch's stored values and
    the other part's rows of the delta (``docs/design/threading.md``).
    """
    delta = layer_view(work[WORK_DELTAS], net, work[WORK_LAYER_STARTS], np.int64(0),
                       n_rows)  # fmt: skip
    coef_grad = coef_view(grads, net, np.int64(0))
    sparse_rows_transpose_dot(csr[0], csr[1], csr[2], rows, delta, coef_grad, start,
                              stop)  # fmt: skip
    finish_coef_grad(coef_grad[start:stop],
                     coef_view(params, net, np.int64(0))[start:stop], net[NET_ALPHA],
                     weight_sum)  # fmt: skip


@kernel
def finish_chunked_coef_grad(grad, partial, coef, alpha, weight_sum):
    """``grad = (grad + partial + alpha * coef) / weight_sum`` in place.

    The two chunks' sums, then sklearn's order.
    """
    n_rows, n_cols = grad.shape
    scaled_alpha = grad.dtype.type(alpha)
    for i in range(n_rows):
        for j in range(n_cols):
            total = grad[i, j] + partial[i, j]
            grad[i, j] = (total + scaled_alpha * coef[i, j]) / weight_sum


@kernel
def finish_chunked_intercept_grad(grads, partial, weight_sum, start, stop):
    """``grads[start:stop] = (grads + partial)[start:stop] / weight_sum``."""
    for k in range(start, stop):
        grads[k] = (grads[k] + partial[k]) / weight_sum


@kernel
def _step(params, grads, step, start, stop):
    settings, state, rate = step
    if settings[0] != GRADIENT_ONLY:
        step_range(params, grads, settings, state, rate, start, stop)


@kernel
def batch_loss(y, sample_weight, has_weight, params, net, extra):
    """``(loss, weight_sum)`` of the batch phase 1 ran on, as the serial kernel's.

    Sums the row losses and the weights in row order in one thread, so the
    values equal :func:`fastmlp._kernels.passes.loss_and_deltas`'s.
    """
    n_rows = y.shape[0]
    total = np.float64(0.0)
    total_weight = np.float64(0.0)
    for i in range(n_rows):
        total += extra[0][i]
        total_weight += sample_weight[i] if has_weight else 1.0
    loss = finish_loss(total, total_weight, net[NET_LOSS], y.shape[1])
    if not has_weight:
        total_weight = float(n_rows)
    weight_sum = params.dtype.type(total_weight)
    loss += (0.5 * net[NET_ALPHA]) * extra[1][0] / weight_sum
    return loss, weight_sum


@kernel
def borrow_csr(csr):
    """``csr = (indptr, indices, values)``, each array borrowed (see epoch_part)."""
    return borrowed(csr[0]), borrowed(csr[1]), borrowed(csr[2])


@kernel
def epoch_part(part, n_parts, sync, data, csr, batches, buffers, params, grads, net,
               work, extra, settings, state, step):  # fmt: skip
    """Part ``part`` of :func:`fastmlp._kernels.epoch.run_epoch_dense`'s batches.

    ``n_parts`` threads run this at once on the same arguments, one per part,
    and meet at :func:`fastmlp._kernels.sync.barrier` (on ``sync``, zeroed
    before) after each phase of a batch. ``data = (X, Y, sample_weight)``
    with ``csr`` None, or with an ``X`` of no rows and CSR rows ``csr =
    (indptr, indices, values)`` (``buffers[0]`` then holds nothing).
    ``extra = (row_losses, scalars, partial)``: float64 ``(batch_size,)`` and
    ``(1,)`` buffers, and one of ``grads``'s shape. Every part returns ``(sum
    of batch_loss * batch_rows, adam_step)``, the same; ``(nan, -1)`` if a
    part failed.
    """
    x, y, sample_weight = borrowed(data[0]), borrowed(data[1]), borrowed(data[2])
    # ``csr is None`` and ``is not None``, tested on the argument itself: numba
    # then compiles a dense fit's kernel without the CSR code
    lowest = np.int64(0)
    if csr is not None:
        sparse = borrow_csr(csr)
        lowest = np.int64(1)
    order, first_batch, stop_batch, batch_size, has_weight, _ = batches
    # borrowed: every thread views these arrays, and numba's reference counts
    # would be one cache line passed between the cores at each view
    order, sync = borrowed(order), borrowed(sync)
    buffers = (borrowed(buffers[0]), borrowed(buffers[1]), borrowed(buffers[2]))
    params, grads = borrowed(params), borrowed(grads)
    net, work = borrow_net(net), borrow_work(work)
    extra = (borrowed(extra[0]), borrowed(extra[1]), borrowed(extra[2]))
    state = (borrowed(state[0]), borrowed(state[1]))
    n_samples, n_outputs = y.shape
    n_features = x.shape[1]
    generation = np.int64(0)
    accumulated = 0.0
    for batch in range(first_batch, stop_batch):
        start = batch * batch_size
        stop = min(start + batch_size, n_samples)
        n_rows = stop - start
        rows = order[start:stop]
        x_count = n_rows
        if csr is not None:
            x_count = np.int64(0)  # no dense rows to gather
        x_rows = matrix_view(buffers[0], np.int64(0), x_count, n_features)
        y_rows = matrix_view(buffers[1], np.int64(0), n_rows, n_outputs)
        w_rows = buffers[2][:n_rows]
        row_align = rows_align(net, work, n_rows, params.itemsize, lowest)
        gather_part(part, n_parts, x, y, sample_weight, has_weight, rows, x_rows,
                    y_rows, w_rows, row_align)  # fmt: skip
        if csr is not None:
            sparse_part_product(part, n_parts, sparse, rows, params, net, work,
                                row_align)  # fmt: skip
        rows_part(part, n_parts, x_rows, y_rows, w_rows, has_weight, params, grads,
                  net, work, extra, row_align, lowest)  # fmt: skip
        generation = barrier(sync, n_parts, generation)
        if generation < 0:
            return np.nan, np.int64(-1)
        # every part sums the same row losses in the same order: no third wait
        loss, weight_sum = batch_loss(y_rows, w_rows, has_weight, params, net, extra)
        if settings[0] == ADAM:
            step += 1
        rate = step_rate(settings, step)
        optimizer = (settings, state, rate)
        if csr is not None:
            sparse_first_layer(part, n_parts, sparse, rows, params, grads, net, work,
                               weight_sum, optimizer)  # fmt: skip
        columns_part(
            part,
            n_parts,
            x_rows,
            n_rows,
            params,
            grads,
            net,
            work,
            extra,
            weight_sum,
            optimizer,
            row_align,
            lowest,
        )
        # the next batch overwrites rows that other parts' columns still read
        generation = barrier(sync, n_parts, generation)
        if generation < 0:
            return np.nan, np.int64(-1)
        accumulated += loss * n_rows
    return accumulated, step


@kernel
def gradient_part(part, n_parts, sync, x, csr, rows, y, sample_weight, has_weight,
                  params, grads, net, work, extra):  # fmt: skip
    """Part ``part`` of :func:`fastmlp._kernels.passes.loss_grad_dense`.

    Run as :func:`epoch_part` is, on all rows as one batch: dense ``x`` (and
    ``csr`` None), or rows ``rows`` (every row, in order) of CSR ``csr`` (and
    an ``x`` of no rows); returns the loss (nan if a part failed).
    """
    # typed as the epoch's gathered batch: the same rows_part and columns_part
    x, y = typed_writable(x), typed_writable(y)
    sample_weight = typed_writable(sample_weight)
    lowest = np.int64(0)
    if csr is not None:  # see epoch_part
        sparse = borrow_csr(csr)
        lowest = np.int64(1)
    params, grads, sync = borrowed(params), borrowed(grads), borrowed(sync)
    net, work = borrow_net(net), borrow_work(work)
    extra = (borrowed(extra[0]), borrowed(extra[1]), borrowed(extra[2]))
    n_rows = y.shape[0]
    row_align = rows_align(net, work, n_rows, params.itemsize, lowest)
    if csr is not None:
        sparse_part_product(part, n_parts, sparse, rows, params, net, work, row_align)
    rows_part(part, n_parts, x, y, sample_weight, has_weight, params, grads, net, work,
              extra, row_align, lowest)  # fmt: skip
    if barrier(sync, n_parts, np.int64(0)) < 0:
        return np.nan
    loss, weight_sum = batch_loss(y, sample_weight, has_weight, params, net, extra)
    # typed as the epoch's settings (no literals): one columns_part
    no = np.bool_(False)
    settings = (np.int64(GRADIENT_ONLY), 0.0, 0.0, no, 0.0, 0.0, 0.0)
    optimizer = (settings, (grads, grads), 0.0)
    if csr is not None:
        sparse_first_layer(part, n_parts, sparse, rows, params, grads, net, work,
                           weight_sum, optimizer)  # fmt: skip
    columns_part(part, n_parts, x, n_rows, params, grads, net, work, extra,
                 weight_sum, optimizer, row_align, lowest)  # fmt: skip
    return loss

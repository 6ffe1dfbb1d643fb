"""Forward and backward passes over all layers of one batch.

``net`` and ``work`` are the tuples of ``fastmlp._engine.buffers.make_net`` and
``make_work``, read by field name (``layers.NET_*``, ``layers.WORK_*``, where each
field is described); ``params`` and ``grads`` share one flat layout (sklearn's
L-BFGS packing: all coefs raveled, then all intercepts). A batch of ``n_rows``
uses the first ``n_rows`` rows of each layer's buffers. Invariant: dropout acts
only where ``work``'s masks are not empty, so prediction never drops units.
Products go through ``fastmlp._kernels.layers`` (register tiles when small, else
BLAS through ``gemm.xxgemm``); everything around them is a loop that touches each
array once. The buffers in full: ``docs/design/how_it_works.md``.
"""

import numpy as np

from .activations import (
    RELU,
    add_bias_activate,
    multiply_derivative,
    needs_pre_activation,
)
from .jit import inlined_kernel, kernel
from .layers import (
    NET_ALPHA,
    NET_DROPOUT,
    NET_HIDDEN,
    NET_INTERCEPT_STARTS,
    NET_LOSS,
    NET_OUTPUT,
    NET_UNITS,
    WORK_ACTIVATIONS,
    WORK_DELTAS,
    WORK_LAYER_STARTS,
    WORK_MASKS,
    WORK_PRE_ACTIVATIONS,
    coef_view,
    column_sums,
    dot_transpose,
    intercept_view,
    layer_view,
    sparse_rows_dot,
    sparse_rows_transpose_dot,
    transpose_dot,
)
from .losses import loss_value, output_delta
from .tiles import product_rows
from .views import flat_view, matrix_view, typed_writable


@inlined_kernel
def finish_forward(params, net, work, n_rows):
    """Complete a forward pass whose first product ``X @ W0`` is already in place.

    Adds biases, applies activations and runs the products of the later layers.
    """
    no_rows = matrix_view(work[WORK_ACTIVATIONS], np.int64(0), np.int64(0), np.int64(0))
    # np.int64(0), not 0: a literal argument compiles a callee of its own
    forward_rows(no_rows, params, net, work, n_rows, np.int64(0), n_rows)
    return layer_view(
        work[WORK_ACTIVATIONS],
        net,
        work[WORK_LAYER_STARTS],
        net[NET_UNITS].shape[0] - 2,
        n_rows,
    )


@kernel
def forward_rows(x, params, net, work, n_rows, start, stop):
    """Forward pass of rows ``start:stop`` of a batch of ``n_rows``.

    ``x`` holds the batch's dense rows; empty, it means that the first product
    is already in place (sparse input, :func:`finish_forward`). Rows are
    independent, so threads may take disjoint ranges of one batch. Every
    layer's product is made here, at one call site, since each site of a
    product costs compile time (the tiles and BLAS both).
    """
    activations, layer_starts = work[WORK_ACTIVATIONS], work[WORK_LAYER_STARTS]
    pre_activations, masks = work[WORK_PRE_ACTIVATIONS], work[WORK_MASKS]
    n_layers = net[NET_UNITS].shape[0]
    dropout = net[NET_DROPOUT] > 0.0 and masks.shape[0] > 0
    for layer in range(n_layers - 1):
        whole = layer_view(activations, net, layer_starts, layer, n_rows)
        z = whole[start:stop]
        if layer > 0 or x.shape[0] > 0:
            previous = x
            if layer > 0:
                previous = layer_view(activations, net, layer_starts, layer - 1, n_rows)
            product_rows(previous, coef_view(params, net, layer), whole, start, stop)
        hidden = layer < n_layers - 2
        code = net[NET_HIDDEN] if hidden else net[NET_OUTPUT]
        bias = intercept_view(params, net, layer)
        pre = z[:0]  # empty: no derivative to store
        if hidden and needs_pre_activation(code) and pre_activations.shape[0] > 0:
            pre = layer_view(pre_activations, net, layer_starts, layer, n_rows)
            pre = pre[start:stop]
        add_bias_activate(z, bias, code, pre)
        if hidden and dropout:
            mask = layer_view(masks, net, layer_starts, layer, n_rows)
            drop_units(z, mask[start:stop], net[NET_DROPOUT])


@kernel
def drop_units(z, mask, rate):
    """Inverted dropout: zero each unit with probability ``rate``, scale the rest.

    ``mask`` keeps each unit's factor (0 or ``1 / (1 - rate)``) for the backward
    pass. Draws come from numba's per-thread generator, seeded per epoch from the
    estimator's ``random_state``.
    """
    n_rows, n_cols = z.shape
    scale = z.dtype.type(1.0 / (1.0 - rate))
    zero = z.dtype.type(0.0)
    for i in range(n_rows):
        for j in range(n_cols):
            if np.random.random() < rate:  # noqa: NPY002 - numba, per thread
                mask[i, j] = zero
                z[i, j] = zero
            else:
                mask[i, j] = scale
                z[i, j] *= scale


@kernel
def undo_dropout(activated, mask, delta):
    """Gradient through dropout: ``delta *= mask``; ``activated`` back to f(z)."""
    n_rows, n_cols = delta.shape
    zero = delta.dtype.type(0.0)
    for i in range(n_rows):
        for j in range(n_cols):
            factor = mask[i, j]
            if factor == zero:
                delta[i, j] = zero
            else:
                delta[i, j] *= factor
                activated[i, j] /= factor


@inlined_kernel
def forward_dense(x, params, net, work):
    """Forward pass of dense rows ``x``; returns the output layer's view.

    Read-only ``x`` (a prediction's rows) runs the forward pass compiled for
    the epoch's writable batch buffer (``views.typed_writable``).
    """
    x = typed_writable(x)
    n_rows = x.shape[0]
    forward_rows(x, params, net, work, n_rows, np.int64(0), n_rows)
    return layer_view(
        work[WORK_ACTIVATIONS],
        net,
        work[WORK_LAYER_STARTS],
        net[NET_UNITS].shape[0] - 2,
        n_rows,
    )


@inlined_kernel
def forward_sparse(csr, rows, params, net, work):
    """Forward pass of rows ``rows`` of CSR ``csr = (indptr, indices, data)``."""
    first = layer_view(
        work[WORK_ACTIVATIONS], net, work[WORK_LAYER_STARTS], np.int64(0), rows.shape[0]
    )
    sparse_rows_dot(
        csr[0], csr[1], csr[2], rows, coef_view(params, net, np.int64(0)), first
    )
    return finish_forward(params, net, work, rows.shape[0])


@kernel
def finish_coef_grad(grad, coef, alpha, weight_sum):
    """``grad = (grad + alpha * coef) / weight_sum`` in place (sklearn's order)."""
    n_rows, n_cols = grad.shape
    scaled_alpha = grad.dtype.type(alpha)
    for i in range(n_rows):
        for j in range(n_cols):
            grad[i, j] = (grad[i, j] + scaled_alpha * coef[i, j]) / weight_sum


@kernel
def intercept_grad(delta, grad, weight_sum, start, stop):
    """``grad[start:stop] = delta[:, start:stop].sum(axis=0) / weight_sum``.

    Rows are summed in order. The column range (threads take one each) is
    given as numbers rather than as a view, which would be a strided array:
    a second compiled version of this kernel.
    """
    column_sums(delta, grad[:0], grad, start, stop)
    for j in range(start, stop):
        grad[j] /= weight_sum


@kernel
def squared_coef_sum(params, net):
    """Sum of squares of all coefficients (the intercepts are not penalised).

    Eight running sums let the loop vectorize without fast-math; the value
    enters only the reported loss, where the changed rounding is invisible.
    """
    n_coefs = net[NET_INTERCEPT_STARTS][0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = np.float64(0.0)
    n_blocked = n_coefs - n_coefs % 8
    for base in range(0, n_blocked, 8):
        s0 += params[base] * params[base]
        s1 += params[base + 1] * params[base + 1]
        s2 += params[base + 2] * params[base + 2]
        s3 += params[base + 3] * params[base + 3]
        s4 += params[base + 4] * params[base + 4]
        s5 += params[base + 5] * params[base + 5]
        s6 += params[base + 6] * params[base + 6]
        s7 += params[base + 7] * params[base + 7]
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for k in range(n_blocked, n_coefs):
        total += params[k] * params[k]
    return total


@inlined_kernel
def loss_and_deltas(y, sample_weight, has_weight, params, net, work, n_rows):
    """Loss of the batch just forwarded, and every layer's delta.

    Also writes the gradients of all layers but the first's coefficients, which
    depend on how the input is stored; returns ``(loss, weight_sum)``.
    """
    activations, deltas, layer_starts = (
        work[WORK_ACTIVATIONS],
        work[WORK_DELTAS],
        work[WORK_LAYER_STARTS],
    )
    n_layers = net[NET_UNITS].shape[0]
    last = n_layers - 2
    output = layer_view(activations, net, layer_starts, last, n_rows)
    loss = loss_value(y, output, sample_weight, has_weight, net[NET_LOSS])
    total_weight = np.float64(0.0)
    if has_weight:
        for i in range(n_rows):
            total_weight += sample_weight[i]
    else:
        total_weight = float(n_rows)
    weight_sum = params.dtype.type(total_weight)
    loss += (0.5 * net[NET_ALPHA]) * squared_coef_sum(params, net) / weight_sum
    output_delta(
        y,
        output,
        sample_weight,
        has_weight,
        layer_view(deltas, net, layer_starts, last, n_rows),
    )
    return loss, weight_sum


@inlined_kernel
def backward_hidden(params, grads, net, work, n_rows, weight_sum):
    """Back-propagate from the output delta down to the first layer's delta.

    Writes the coefficient gradients of layers ``1..last`` and every intercept
    gradient; the first layer's coefficient gradient is left to the caller.
    """
    activations, deltas, layer_starts = (
        work[WORK_ACTIVATIONS],
        work[WORK_DELTAS],
        work[WORK_LAYER_STARTS],
    )
    n_layers = net[NET_UNITS].shape[0]
    alpha = net[NET_ALPHA]
    for layer in range(n_layers - 2, 0, -1):
        delta = layer_view(deltas, net, layer_starts, layer, n_rows)
        previous = layer_view(activations, net, layer_starts, layer - 1, n_rows)
        coef_grad = coef_view(grads, net, layer)
        transpose_dot(previous, delta, coef_grad)
        finish_coef_grad(coef_grad, coef_view(params, net, layer), alpha, weight_sum)
        intercept = intercept_view(grads, net, layer)
        intercept_grad(delta, intercept, weight_sum, np.int64(0), intercept.shape[0])
        zero = np.int64(0)
        propagate_delta(params, net, work, layer, n_rows, zero, n_rows, zero)
    first_delta = layer_view(deltas, net, layer_starts, np.int64(0), n_rows)
    intercept = intercept_view(grads, net, np.int64(0))
    intercept_grad(first_delta, intercept, weight_sum, np.int64(0), intercept.shape[0])
    return first_delta


@inlined_kernel
def propagate_delta(params, net, work, layer, n_rows, start, stop, part):
    """Rows ``start:stop`` of layer ``layer - 1``'s delta from layer ``layer``'s.

    With dropout, this also turns layer ``layer - 1``'s activations back into
    the activation's output: call it after that layer's coefficient gradient.
    ``part`` is the caller's row of the workspace's transposed coefficients
    (0 in the serial kernels; one per thread when a batch is split).
    """
    activations, deltas, layer_starts, pre_activations, masks, transposed = work
    delta = layer_view(deltas, net, layer_starts, layer, n_rows)
    previous = layer_view(activations, net, layer_starts, layer - 1, n_rows)
    previous = previous[start:stop]
    previous_delta = layer_view(deltas, net, layer_starts, layer - 1, n_rows)
    coef = coef_view(params, net, layer)
    dropout = net[NET_DROPOUT] > 0.0 and masks.shape[0] > 0
    if coef.shape[1] == 1 and net[NET_HIDDEN] == RELU and not dropout:
        # one output unit (binary, one target) under ReLU: the outer product
        # and the derivative's select in one pass, the same values as the two
        # passes below (20 -> 32 -> 1 nets: epochs 1.08-1.11x, alternated)
        weights = flat_view(coef)
        zero = previous_delta.dtype.type(0.0)
        for i in range(start, stop):
            scale = delta[i, 0]
            activated = previous[i - start]
            row = previous_delta[i]
            for p in range(weights.shape[0]):
                value = scale * weights[p]
                row[p] = zero if activated[p] == zero else value
        return
    # no row for this part (a workspace made for fewer threads): BLAS, not
    # a read past the buffer; the threads' tests compare every bit
    scratch = flat_view(transposed)[:0]
    if part < transposed.shape[0]:
        scratch = transposed[part]
    dot_transpose(delta, coef, previous_delta, start, stop, scratch)
    previous_delta = previous_delta[start:stop]
    if dropout:
        mask = layer_view(masks, net, layer_starts, layer - 1, n_rows)
        undo_dropout(previous, mask[start:stop], previous_delta)
    pre = previous
    if needs_pre_activation(net[NET_HIDDEN]):
        pre = layer_view(pre_activations, net, layer_starts, layer - 1, n_rows)
        pre = pre[start:stop]
    multiply_derivative(previous, pre, previous_delta, net[NET_HIDDEN])


@inlined_kernel
def loss_grad_dense(x, y, sample_weight, has_weight, params, grads, net, work):
    """Loss and full gradient (into ``grads``) of dense batch ``x``.

    Read-only ``x``, ``y`` and ``sample_weight`` (L-BFGS's, all rows) run the
    passes compiled for the epoch's writable batch (``views.typed_writable``).
    """
    x, y = typed_writable(x), typed_writable(y)
    sample_weight = typed_writable(sample_weight)
    n_rows = x.shape[0]
    forward_dense(x, params, net, work)
    loss, weight_sum = loss_and_deltas(
        y, sample_weight, has_weight, params, net, work, n_rows
    )
    first_delta = backward_hidden(params, grads, net, work, n_rows, weight_sum)
    first_grad = coef_view(grads, net, np.int64(0))
    transpose_dot(x, first_delta, first_grad)
    finish_coef_grad(
        first_grad, coef_view(params, net, np.int64(0)), net[NET_ALPHA], weight_sum
    )
    return loss


@inlined_kernel
def loss_grad_sparse(csr, rows, y, sample_weight, has_weight, params, grads, net, work):
    """Loss and full gradient of rows ``rows`` of CSR matrix ``csr``.

    ``y`` and ``sample_weight`` typed as :func:`loss_grad_dense` types them.
    """
    y, sample_weight = typed_writable(y), typed_writable(sample_weight)
    n_rows = rows.shape[0]
    forward_sparse(csr, rows, params, net, work)
    loss, weight_sum = loss_and_deltas(
        y, sample_weight, has_weight, params, net, work, n_rows
    )
    first_delta = backward_hidden(params, grads, net, work, n_rows, weight_sum)
    first_grad = coef_view(grads, net, np.int64(0))
    sparse_rows_transpose_dot(csr[0], csr[1], csr[2], rows, first_delta, first_grad,
                              np.int64(0), first_grad.shape[0])  # fmt: skip
    finish_coef_grad(
        first_grad, coef_view(params, net, np.int64(0)), net[NET_ALPHA], weight_sum
    )
    return loss

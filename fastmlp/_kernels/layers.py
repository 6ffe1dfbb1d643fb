"""One layer at a time: views of its parameters and buffers, and its products.

Views of one layer in the flat buffers (``coef_view``, ``intercept_view``,
``layer_view``), and the products a pass makes: ``a.T @ delta`` and
``delta @ coef.T``, on one-column loops, register tiles or BLAS by the
product's shape (:func:`small_transpose_dot` is the one place that chooses,
for serial and threaded kernels alike), column sums, and sparse rows.
"""

import numpy as np
from numba import config

from .blas import product
from .jit import inlined_kernel, kernel
from .simd import VECTOR_BYTES, VECTORS, edge_column_sums, full_column_sums
from .tiles import in_blas, tiled_product, transposed_in_blas
from .views import borrowed, flat_view, matrix_view

# The fields of the ``net`` tuple (``fastmlp._engine.buffers.make_net``), by
# name: kernels read ``net[NET_ALPHA]``, never a bare position. Module-level
# ints, so numba folds each index to a constant.
(
    NET_UNITS,  # units per layer, input first (int64 array)
    NET_COEF_STARTS,  # where each coefficient matrix starts in ``params``
    NET_INTERCEPT_STARTS,  # where each intercept vector starts in ``params``
    NET_HIDDEN,  # hidden activation code (activations.ACTIVATION_CODES)
    NET_OUTPUT,  # output activation code
    NET_LOSS,  # loss code (losses.LOSS_CODES)
    NET_ALPHA,  # L2 penalty
    NET_DROPOUT,  # dropout rate of hidden units (0.0: none)
) = range(8)
# The fields of the ``work`` tuple (``fastmlp._engine.buffers.make_work``)
(
    WORK_ACTIVATIONS,  # each layer's outputs, max_rows rows from LAYER_STARTS
    WORK_DELTAS,  # each layer's deltas, the same layout
    WORK_LAYER_STARTS,  # where each layer starts in the two buffers above
    WORK_PRE_ACTIVATIONS,  # GELU/SiLU/softplus: derivative, stored by the forward pass
    WORK_MASKS,  # dropout's kept-unit scales (training only)
    WORK_TRANSPOSED,  # per thread, room for one transposed coefficient matrix
) = range(6)


@kernel
def borrow_net(net):
    """``net`` with its arrays borrowed (``fastmlp._kernels.views.borrowed``)."""
    return (
        borrowed(net[NET_UNITS]),
        borrowed(net[NET_COEF_STARTS]),
        borrowed(net[NET_INTERCEPT_STARTS]),
        net[NET_HIDDEN],
        net[NET_OUTPUT],
        net[NET_LOSS],
        net[NET_ALPHA],
        net[NET_DROPOUT],
    )


@kernel
def borrow_work(work):
    """``work`` with its arrays borrowed (``fastmlp._kernels.views.borrowed``)."""
    return (
        borrowed(work[WORK_ACTIVATIONS]),
        borrowed(work[WORK_DELTAS]),
        borrowed(work[WORK_LAYER_STARTS]),
        borrowed(work[WORK_PRE_ACTIVATIONS]),
        borrowed(work[WORK_MASKS]),
        borrowed(work[WORK_TRANSPOSED]),
    )


@kernel
def coef_view(params, net, layer):
    """Layer ``layer``'s coefficient matrix, a (fan_in, fan_out) view of ``params``."""
    units = net[NET_UNITS]
    start = net[NET_COEF_STARTS][layer]
    fan_in = units[layer]
    fan_out = units[layer + 1]
    return matrix_view(params, start, fan_in, fan_out)


@kernel
def intercept_view(params, net, layer):
    """Layer ``layer``'s intercept vector, a view of ``params``."""
    start = net[NET_INTERCEPT_STARTS][layer]
    return params[start : start + net[NET_UNITS][layer + 1]]


@kernel
def layer_view(buffer, net, layer_starts, layer, n_rows):
    """The (n_rows, units) block of layer ``layer + 1`` in a workspace buffer."""
    start = layer_starts[layer]
    n_units = net[NET_UNITS][layer + 1]
    return matrix_view(buffer, start, n_rows, n_units)


@kernel
def transpose_dot(a, delta, out):
    """``out = a.T @ delta``.

    With one output column the product is a sum of scaled rows, a loop that
    vectorizes and costs a fifth of a BLAS call at the small shapes where it
    matters (binary classification, single-output regression). Other small
    products go to register tiles (``fastmlp._kernels.tiles``).
    """
    if not small_transpose_dot(a, delta, out, np.int64(0), a.shape[1]):
        product(a, True, delta, False, out)


@inlined_kernel
def small_transpose_dot(a, delta, out, start, stop):
    """Rows ``start:stop`` of ``out = a.T @ delta``, unless it is BLAS's.

    Returns False, writing nothing, for a product large enough for BLAS. The
    one place that chooses between the one-column loop, the tiles and BLAS,
    for the serial kernel and for threads alike: they must choose the same,
    from the whole product's shape, to compute the same sums.
    """
    n_rows, fan_in = a.shape
    if delta.shape[1] == 1:
        transpose_dot_column(a, delta, out, start, stop)
    elif in_blas(fan_in, n_rows, delta.shape[1], a.itemsize):
        return False
    else:
        tiled_product(a, (np.int64(1), fan_in), n_rows, delta, out, start, stop)
    return True


@kernel
def transpose_dot_column(a, delta, out, start, stop):
    """Rows ``start:stop`` of ``out = a.T @ delta`` when ``delta`` has one column.

    Each value is summed over ``a``'s rows in order whatever the range, so
    threads taking disjoint ranges compute what one call would.
    """
    column_sums(a, flat_view(delta), flat_view(out), start, stop)


@kernel
def column_sums(a, scale, out, start, stop):
    """``out[p] = sum(a[i, p] * scale[i] for i in rows)`` for ``p`` in ``start:stop``.

    Without ``scale`` (empty), the plain column sums (times 1.0, which is
    exact). Each sum runs over the rows in order, a multiply then an add per
    row: vectors of columns at a time (``fastmlp._kernels.simd``), each lane the
    scalar sum of its column, bit for bit. LLVM leaves a loop of these
    scalar, since it cannot tell that ``out`` and ``a`` do not overlap
    (measured on the Zen 5 machine, float64: 32 x 32 took 0.61 us adding
    into ``out`` row after row, 0.25 us in eight scalar running sums, 0.03 us
    in vectors; 455 x 50 12.8, 5.2 and 1.4 us).
    """
    n_rows, n_cols = a.shape
    a_flat = flat_view(a)
    scaled = scale.shape[0] > 0
    lanes = VECTOR_BYTES // a.itemsize
    width = VECTORS * lanes
    p = start
    while p + width <= stop:
        full_column_sums(a_flat, scale, scaled, out, p, n_cols, n_rows, lanes)
        p += width
    while p < stop:
        count = min(lanes, stop - p)
        edge_column_sums(a_flat, scale, scaled, out, p, n_cols, n_rows, count)
        p += lanes


@kernel
def dot_transpose(delta, coef, out, start, stop, scratch):
    """Rows ``start:stop`` of ``out = delta @ coef.T``.

    An outer product when ``coef`` has one column. Otherwise the tiles, which
    read rows of their right operand, take it when the whole product is small
    and ``scratch`` can hold a copy of ``coef.T`` (a layer's coefficients:
    a few thousand values against ``delta``'s rows times as many
    multiply-adds); else BLAS. Every caller with the same workspace and
    shapes decides alike. One kernel for the three, since each kernel costs a
    cold first fit ~0.3 s of compile time; the copy and its tiles still cost
    ~0.9 s (small net, empty cache, alternated: 16.5-17.4 s -> 17.4-18.4 s)
    for 1.06-1.13x faster epochs of 64-100-unit nets.
    """
    n_rows, depth = delta.shape
    n_cols = coef.shape[0]
    if coef.shape[1] == 1:
        weights = flat_view(coef)
        for i in range(start, stop):
            scale = delta[i, 0]
            row = out[i]
            for p in range(n_cols):
                row[p] = scale * weights[p]
    elif not transposed_in_blas(
        n_rows, depth, n_cols, scratch.shape[0], delta.itemsize
    ):
        coef_t = matrix_view(scratch, np.int64(0), depth, n_cols)
        # row by row of coef_t, reading down coef's columns: 0.70 us for
        # 64 x 64 on Zen 5, where eight-row blocks of coef took 2.43 us
        for j in range(depth):
            for i in range(n_cols):
                coef_t[j, i] = coef[i, j]
        tiled_product(delta, (depth, np.int64(1)), depth, coef_t, out, start, stop)
    else:
        product(delta[start:stop], False, coef, True, out[start:stop])


@kernel
def sparse_rows_dot(indptr, indices, data, rows, weights, out):
    """``out = X[rows] @ weights`` for CSR ``X``, without densifying ``X``.

    A row's nonzeros are taken four at a time, ``out += (a + b) + (c + d)``:
    one read and write of the output row per four weight rows instead of per
    one (the store-to-load round trip bounded the loop: 1.3-2.2x faster).
    """
    n_out = out.shape[1]
    zero = out.dtype.type(0.0)
    for r in range(rows.shape[0]):
        total = out[r]
        for j in range(n_out):
            total[j] = zero
        row = rows[r]
        k = indptr[row]
        stop = indptr[row + 1]
        while k + 4 <= stop:
            w0 = weights[indices[k]]
            w1 = weights[indices[k + 1]]
            w2 = weights[indices[k + 2]]
            w3 = weights[indices[k + 3]]
            v0, v1, v2, v3 = data[k], data[k + 1], data[k + 2], data[k + 3]
            for j in range(n_out):
                total[j] += (v0 * w0[j] + v1 * w1[j]) + (v2 * w2[j] + v3 * w3[j])
            k += 4
        while k < stop:
            w0 = weights[indices[k]]
            v0 = data[k]
            for j in range(n_out):
                total[j] += v0 * w0[j]
            k += 1


@kernel
def sparse_rows_transpose_dot(indptr, indices, data, rows, delta, out, start, stop):
    """``out[start:stop] = (X[rows].T @ delta)[start:stop]`` for CSR ``X``.

    Rows ``start:stop`` of ``out`` (columns of ``X``) only; each value sums its
    rows' terms in the order of ``rows``, so blocks computed apart (a split
    batch's parts, ``fastmlp._kernels.threaded``) equal the whole.
    """
    out[start:stop] = 0.0
    n_out = out.shape[1]
    for r in range(rows.shape[0]):
        row = rows[r]
        for k in range(indptr[row], indptr[row + 1]):
            col = indices[k]
            if col < start or col >= stop:
                continue
            value = data[k]
            for j in range(n_out):
                out[col, j] += value * delta[r, j]


if config.DISABLE_JIT:  # intrinsics cannot be called from Python

    def column_sums(a, scale, out, start, stop):  # noqa: F811
        """Python stand-in of the vector sums above (``NUMBA_DISABLE_JIT=1``)."""
        dtype = out.dtype.type
        for p in range(start, stop):
            total = dtype(0.0)
            for i in range(a.shape[0]):
                factor = scale[i] if scale.shape[0] else dtype(1.0)
                total = dtype(total + dtype(a[i, p] * factor))
            out[p] = total

"""The arrays kernels take: rows, targets, weights, the ``net`` and ``work`` tuples.

Every net passes through :func:`make_net` (which readies the extra activations
it uses) and every workspace through :func:`make_work`, sized here for the
largest batch, so that no kernel call allocates.
"""

import numpy as np
import scipy.sparse as sp

from .._kernels.extra_activations import EXTRA_CODES
from .._kernels.extra_callbacks import prepare as prepare_extra_activations
from .._kernels.tiles import use_tiles


def read_only(array):
    """``array`` itself if read-only, else a read-only view of it (no copy).

    Numba compiles a kernel apart for read-only arrays (memmaps, joblib's
    workers, ``setflags(write=False)``); the data the kernels only read is
    handed to them read-only always, so one compiled kernel serves both (a
    cold digits fit on read-only rows compiled 7.9 s more before). The
    machine code is the same either way: the flag only forbids writes.
    """
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def contiguous_read_only(array, dtype=None):
    """``np.ascontiguousarray(array, dtype)`` (a copy only if needed), read-only."""
    return read_only(np.ascontiguousarray(array, dtype=dtype))


def as_kernel_input(X, dtype):
    """``X`` as the kernels read it: C-contiguous dense, or CSR parts, read-only.

    Returns
    -------
    data : ndarray or tuple
        A C-contiguous read-only array of ``dtype``, or ``(indptr, indices,
        values)`` of a CSR matrix with 32-bit indices where they fit, each
        read-only (:func:`read_only`).
    """
    if sp.issparse(X):
        csr = X.tocsr()
        index_dtype = np.int32 if max(csr.nnz, csr.shape[1]) < 2**31 - 1 else np.int64
        return (
            contiguous_read_only(csr.indptr, index_dtype),
            contiguous_read_only(csr.indices, index_dtype),
            contiguous_read_only(csr.data, dtype),
        )
    return contiguous_read_only(X, dtype)


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
    for (GELU/SiLU/softplus training, dropout), and are empty otherwise. ``n_parts``
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
    decide = _use_tiles_in_python(itemsize)
    sizes = [
        fan_in * fan_out
        for fan_in, fan_out in zip(units[1:-1], units[2:], strict=True)
        if fan_out > 1 and decide(1, fan_out, fan_in, itemsize)
    ]
    return max(sizes, default=0)


def _use_tiles_in_python(itemsize):
    # the kernel's Python function (a call of the kernel compiles its twin),
    # once the limits it reads are settled (measured on a machine's first
    # run); tile_choice looked up once: an import statement per call cost ~1 us
    global _tile_choice
    if _tile_choice is None:
        from .._runtime.tile_calibration import tile_choice

        _tile_choice = tile_choice
    _tile_choice("float32" if itemsize == 4 else "float64")
    return _USE_TILES


_tile_choice = None


_USE_TILES = getattr(use_tiles, "py_func", use_tiles)


def kernel_weights(sample_weight, dtype):
    """``(has_weight, weights)`` as the kernels take them.

    Without sample weights the kernels neither multiply by weights nor read
    them: they are handed one 1.0, which keeps one compiled signature for both
    cases without an array of ``n_samples`` ones (40 KB of a 5000-row fit,
    most of the margin of its peak memory under scikit-learn's).
    """
    if sample_weight is None:
        return False, read_only(np.ones(1, dtype=dtype))
    return True, read_only(np.array(sample_weight, dtype=dtype, order="C"))


def compact_targets(Y, dtype):
    """The training targets as an epoch's kernels take them.

    A classifier's binarized targets stay boolean, one byte a value as in
    scikit-learn, where the parameters' dtype would take eight (a copy of
    n_samples x n_classes values, most of a small fit's memory): each batch's
    rows are converted as they are gathered. Other targets are converted to
    ``dtype``.
    """
    return contiguous_read_only(Y, None if Y.dtype == np.bool_ else dtype)

"""Forward pass over many rows, a block of rows at a time.

Working in blocks keeps the intermediate layers in cache and the workspace
small (``block_rows * sum(units)``) however many rows are predicted; scikit-learn
allocates each whole intermediate layer instead.
"""

from .jit import kernel
from .passes import forward_dense, forward_sparse
from .sync import fire_armed
from .views import typed_writable


@kernel
def copy_block(source, target, start):
    """``target[start : start + len(source)] = source``."""
    n_rows, n_cols = source.shape
    for i in range(n_rows):
        for j in range(n_cols):
            target[start + i, j] = source[i, j]


@kernel
def all_finite(block):
    """Whether every value of 2-D ``block`` is finite (neither NaN nor inf)."""
    n_rows, n_cols = block.shape
    finite = True
    for i in range(n_rows):
        for j in range(n_cols):
            value = block[i, j]
            finite &= value - value == 0  # NaN for NaN and +-inf
    return finite


@kernel
def predict_dense(x, params, net, work, block_rows, out, check_finite, fire):
    """Write the output layer for every row of dense ``x`` into ``out``.

    With ``check_finite``, returns whether every value of ``x`` is finite,
    tested on each block while it is in cache (True without): a caller that
    skipped scikit-learn's finiteness check
    (``fastmlp._engine.prediction.direct_forward``) learns here that it must
    run it (``np.isfinite(x).all()`` cost a one-row call ~1.6 us). First
    fires the worker mailboxes ``fire`` (:func:`fastmlp._kernels.sync.fire_armed`;
    empty when no part waits for this one).
    """
    fire_armed(fire)
    n_samples = x.shape[0]
    finite = True
    for start in range(0, n_samples, block_rows):
        stop = min(start + block_rows, n_samples)
        block = x[start:stop]
        if check_finite:  # typed as the passes type rows: one compile
            finite &= all_finite(typed_writable(block))
        copy_block(forward_dense(block, params, net, work), out, start)
    return finite


@kernel
def predict_sparse(csr, rows, params, net, work, block_rows, out, fire):
    """Write the output layer for rows ``rows`` of CSR ``csr`` into ``out``.

    First fires ``fire``, as :func:`predict_dense` does.
    """
    fire_armed(fire)
    n_samples = rows.shape[0]
    for start in range(0, n_samples, block_rows):
        stop = min(start + block_rows, n_samples)
        copy_block(forward_sparse(csr, rows[start:stop], params, net, work), out, start)

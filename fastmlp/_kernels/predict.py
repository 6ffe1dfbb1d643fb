"""Forward pass over many rows, a block of rows at a time.

Working in blocks keeps the intermediate layers in cache and the workspace
small (``block_rows * sum(units)``) however many rows are predicted; scikit-learn
allocates each whole intermediate layer instead.
"""

from .jit import kernel
from .passes import forward_dense, forward_sparse


@kernel
def copy_block(source, target, start):
    """``target[start : start + len(source)] = source``."""
    n_rows, n_cols = source.shape
    for i in range(n_rows):
        for j in range(n_cols):
            target[start + i, j] = source[i, j]


@kernel
def predict_dense(x, params, net, work, block_rows, out):
    """Write the output layer for every row of dense ``x`` into ``out``."""
    n_samples = x.shape[0]
    for start in range(0, n_samples, block_rows):
        stop = min(start + block_rows, n_samples)
        copy_block(forward_dense(x[start:stop], params, net, work), out, start)


@kernel
def predict_sparse(csr, rows, params, net, work, block_rows, out):
    """Write the output layer for rows ``rows`` of CSR ``csr`` into ``out``."""
    n_samples = rows.shape[0]
    for start in range(0, n_samples, block_rows):
        stop = min(start + block_rows, n_samples)
        copy_block(forward_sparse(csr, rows[start:stop], params, net, work), out, start)

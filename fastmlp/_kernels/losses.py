"""Loss values and output-layer deltas, as scikit-learn defines them.

Each loss is paired with its canonical output activation (identity for
squared_error, exp for poisson, softmax for log_loss, logistic for
binary_log_loss), so the output delta is always ``(p - y) * sample_weight``.
Loss values are accumulated in float64 whatever the data's dtype.
"""

import numpy as np

from . import vecmath
from .jit import kernel

SQUARED_ERROR = 0
POISSON = 1
LOG_LOSS = 2
BINARY_LOG_LOSS = 3

LOSS_CODES = {
    "squared_error": SQUARED_ERROR,
    "poisson": POISSON,
    "log_loss": LOG_LOSS,
    "binary_log_loss": BINARY_LOG_LOSS,
}


@kernel
def xlogy(x, y):
    """``x * log(y)``, with 0 where ``x == 0`` (scipy.special.xlogy)."""
    if x == 0.0 and not np.isnan(y):
        return 0.0
    return x * vecmath.log(y)


@kernel
def row_loss(y_true, y_pred, i, loss_code):
    """Unweighted loss of row ``i``, in float64 (the terms of :func:`loss_value`)."""
    n_outputs = y_pred.shape[1]
    eps = np.finfo(y_pred.dtype).eps
    one = y_pred.dtype.type(1.0)
    row = np.float64(0.0)
    for j in range(n_outputs):
        target = y_true[i, j]
        predicted = y_pred[i, j]
        if loss_code == SQUARED_ERROR:
            diff = target - predicted
            row += diff * diff
        elif loss_code == POISSON:
            row += xlogy(target, target / predicted) - target + predicted
        else:
            clipped = min(max(predicted, eps), one - eps)
            if loss_code == BINARY_LOG_LOSS:
                # xlogy(y, p) + xlogy(1 - y, 1 - p) with one log for 0/1
                # targets; xlogy(1, p) is log(p), and one inlined log (in
                # xlogy) compiles faster than three
                if target == 1.0:
                    row -= xlogy(1.0, clipped)
                elif target == 0.0:
                    row -= xlogy(1.0, one - clipped)
                else:
                    row -= xlogy(target, clipped) + xlogy(1.0 - target, one - clipped)
            elif target != 0.0:
                row -= xlogy(target, clipped)
    return row


@kernel
def finish_loss(total, weight_sum, loss_code, n_outputs):
    """The batch loss from the weighted sum of its row losses."""
    loss = total / weight_sum
    if loss_code == SQUARED_ERROR:
        loss = 0.5 * loss / n_outputs
    return loss


@kernel
def loss_value(y_true, y_pred, sample_weight, has_weight, loss_code):
    """Weighted loss of a batch, as scikit-learn's ``LOSS_FUNCTIONS``.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_rows, n_outputs)
    sample_weight : ndarray of shape (n_rows,)
        Read only when ``has_weight`` is true.
    has_weight : bool
    loss_code : int
        One of the codes in ``LOSS_CODES``.

    Returns
    -------
    loss : float
    """
    total = np.float64(0.0)
    weight_sum = np.float64(0.0)
    for i in range(y_pred.shape[0]):
        weight = sample_weight[i] if has_weight else 1.0
        weight_sum += weight
        total += weight * row_loss(y_true, y_pred, i, loss_code)
    return finish_loss(total, weight_sum, loss_code, y_pred.shape[1])


@kernel
def weighted_row_losses(y_true, y_pred, sample_weight, has_weight, loss_code, out):
    """``out[i] = weight_i * row_loss(i)``: the terms :func:`loss_value` sums.

    Threads fill disjoint rows; summing ``out`` in row order then gives
    :func:`loss_value`'s total bit for bit.
    """
    for i in range(y_pred.shape[0]):
        weight = sample_weight[i] if has_weight else 1.0
        out[i] = weight * row_loss(y_true, y_pred, i, loss_code)


@kernel
def output_delta(y_true, y_pred, sample_weight, has_weight, delta):
    """``delta = (y_pred - y_true) * sample_weight[:, None]``."""
    n_rows, n_outputs = y_pred.shape
    for i in range(n_rows):
        for j in range(n_outputs):
            value = y_pred[i, j] - y_true[i, j]
            if has_weight:
                value *= sample_weight[i]
            delta[i, j] = value

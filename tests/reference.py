"""Plain-NumPy twins of fastmlp's kernels, for the kernel tests.

Written from scikit-learn 1.9's own NumPy code, not from the numba kernels:
``sklearn/neural_network/_base.py`` (activations, derivatives, losses),
``_multilayer_perceptron.py`` (``_forward_pass``, ``_backprop``,
``_compute_loss_grad`` and the batch loop of ``_fit_stochastic``) and
``_stochastic_optimizers.py`` (SGD and Adam). Every function works on ordinary
lists of coefficient matrices and intercept vectors and returns new arrays (or
updates lists of arrays in place, as scikit-learn's optimizers do), so that the
tests can compare it with the kernels' flat buffers through
:class:`fastmlp._engine.param_layout.ParameterLayout`.

Names follow the kernels' integer codes: ``ACTIVATIONS[code]`` and
``LOSSES[code]`` are the names of ``fastmlp._kernels.activations`` and
``fastmlp._kernels.losses`` codes.

fastmlp's additions beyond scikit-learn (the ``leaky_relu``, ``elu``, ``gelu``,
``silu`` and ``softplus`` hidden activations, and inverted dropout of hidden
units) are written here from their mathematical definitions, in the same
style: the forward pass keeps each hidden layer's input ``z`` as well, for the
derivatives that need it (GELU, SiLU), and dropout multiplies each hidden
layer's output by a mask of 0 or ``1 / (1 - rate)``, drawn unit by unit, row
by row, layer after layer, from a ``RandomState`` (numba's generator, seeded
the same way, draws the same numbers).

The arithmetic is scikit-learn's, operation by operation, including its NumPy
type promotion: in float32 the Adam update is computed in float64 (the learning
rate is a NumPy float64 scalar) and rounded when added to the parameters, and
the multi-output squared error's gradient is ``n_outputs`` times the derivative
of its loss.
"""

from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from scipy.special import erf, expit, xlogy

ACTIVATIONS = (
    "identity",
    "logistic",
    "tanh",
    "relu",
    "softmax",
    "exp",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
)
SKLEARN_HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a not in ("softmax", "exp"))
# Activations whose derivative a fit's forward pass stores (the kernels'
# needs_pre_activation): GELU's and SiLU's are taken from the input here,
# softplus's from its output.
NEEDS_PRE_ACTIVATION = ("gelu", "silu", "softplus")
LEAKY_SLOPE = 0.01
LOSSES = ("squared_error", "poisson", "log_loss", "binary_log_loss")
# Each loss with its canonical output activation (the pairs scikit-learn uses,
# for which the output delta is ``y_pred - y_true``).
OUTPUT_ACTIVATION = {
    "squared_error": "identity",
    "poisson": "exp",
    "log_loss": "softmax",
    "binary_log_loss": "logistic",
}


# ----------------------------------------------------------------------------
# Activations (sklearn/neural_network/_base.py)
# ----------------------------------------------------------------------------


def activate(z, name):
    """A new array holding activation ``name`` of ``z`` (``ACTIVATIONS``)."""
    out = np.array(z, copy=True)
    if name == "identity":
        pass
    elif name == "logistic":
        expit(out, out=out)
    elif name == "tanh":
        np.tanh(out, out=out)
    elif name == "relu":
        np.maximum(out, 0, out=out)
    elif name == "softmax":
        tmp = out - out.max(axis=1)[:, np.newaxis]
        np.exp(tmp, out=out)
        out /= out.sum(axis=1)[:, np.newaxis]
    elif name == "exp":
        np.exp(out, out=out)
    elif name == "leaky_relu":
        out = np.where(out < 0, out.dtype.type(LEAKY_SLOPE) * out, out)
    elif name == "elu":
        out = np.where(out < 0, np.expm1(out), out)
    elif name == "gelu":
        out = 0.5 * out * (1 + erf(out / np.sqrt(2)))
    elif name == "silu":
        out = out * expit(out)
    elif name == "softplus":
        out = np.logaddexp(out.dtype.type(0), out)
    else:
        raise ValueError(name)
    return out.astype(np.result_type(z), copy=False)


def derivative(activated, delta, name, pre_activated=None):
    """``delta`` times the derivative of ``name`` at the layer's values.

    ``activated`` is the activation's output; ``pre_activated`` its input,
    needed only for ``NEEDS_PRE_ACTIVATION``.
    """
    out = np.array(delta, copy=True)
    if name == "identity":
        pass
    elif name == "logistic":
        out *= activated
        out *= 1 - activated
    elif name == "tanh":
        out *= 1 - activated**2
    elif name == "relu":
        out[activated == 0] = 0
    elif name == "leaky_relu":
        out[activated <= 0] *= out.dtype.type(LEAKY_SLOPE)
    elif name == "elu":
        # elu(x) + 1 = exp(x) for x < 0
        negative = activated <= 0
        out[negative] *= activated[negative] + 1
    elif name == "softplus":
        # sigmoid(x) = 1 - exp(-softplus(x))
        out *= -np.expm1(-activated)
    elif name == "gelu":
        x = pre_activated.astype(np.float64)
        cdf = 0.5 * (1 + erf(x / np.sqrt(2)))
        out *= (cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)).astype(out.dtype)
    elif name == "silu":
        x = pre_activated
        sig = expit(x)
        out *= sig * (1 + x * (1 - sig))
    else:
        raise ValueError(name)
    return out


# ----------------------------------------------------------------------------
# Losses (sklearn/neural_network/_base.py)
# ----------------------------------------------------------------------------


def loss(name, y_true, y_pred, sample_weight=None):
    """Loss ``name`` of a batch, without the L2 penalty."""
    if name == "squared_error":
        return (
            0.5
            * np.average((y_true - y_pred) ** 2, weights=sample_weight, axis=0).mean()
        )
    if name == "poisson":
        return np.average(
            xlogy(y_true, y_true / y_pred) - y_true + y_pred,
            weights=sample_weight,
            axis=0,
        ).sum()
    eps = np.finfo(y_pred.dtype).eps
    y_prob = np.clip(y_pred, eps, 1 - eps)
    if name == "log_loss":
        if y_prob.shape[1] == 1:
            y_prob = np.append(1 - y_prob, y_prob, axis=1)
        if y_true.shape[1] == 1:
            y_true = np.append(1 - y_true, y_true, axis=1)
        return -np.average(xlogy(y_true, y_prob), weights=sample_weight, axis=0).sum()
    if name == "binary_log_loss":
        return -np.average(
            xlogy(y_true, y_prob) + xlogy(1 - y_true, 1 - y_prob),
            weights=sample_weight,
            axis=0,
        ).sum()
    raise ValueError(name)


def output_delta(y_true, y_pred, sample_weight=None):
    """The output layer's delta, ``(y_pred - y_true) * sample_weight[:, None]``."""
    delta = y_pred - y_true
    if sample_weight is not None:
        delta *= sample_weight.reshape(-1, 1)
    return delta


def weight_sum(n_rows, sample_weight=None):
    """``sw_sum`` of ``_backprop``: the row count, or the sum of the weights."""
    return n_rows if sample_weight is None else sample_weight.sum()


def squared_coef_sum(coefs):
    """Sum of squares of all coefficients, as ``_backprop`` adds them up."""
    values = 0
    for s in coefs:
        s = s.ravel()
        values += np.dot(s, s)
    return values


def l2_penalty(coefs, alpha, sw_sum):
    """The L2 term ``_backprop`` adds to the loss."""
    return (0.5 * alpha) * squared_coef_sum(coefs) / sw_sum


# ----------------------------------------------------------------------------
# Passes (sklearn/neural_network/_multilayer_perceptron.py)
# ----------------------------------------------------------------------------


def fused_sum_in_order(left, right):
    """``fma(left[p], right[p], total)`` for p = 0, 1, ..., from zero, exactly.

    The sum the register tiles (and OpenBLAS's Haswell dgemm kernel) take for
    each value of a product, in float64.
    """
    total = 0.0
    for x, y in zip(left, right, strict=True):
        total = float(Fraction(float(x)) * Fraction(float(y)) + Fraction(total))
    return total


def sum_in_order(values, factors=None):
    """``total += values[p] * factors[p]`` for p = 0, 1, ..., from zero.

    Unfused, rounded to ``values``' dtype at each step: the sum the one-column
    products and the column sums of the kernels take. Without ``factors``,
    the plain running sum.
    """
    dtype = values.dtype.type
    total = dtype(0.0)
    for p in range(values.shape[0]):
        term = values[p] if factors is None else dtype(values[p] * factors[p])
        total = dtype(total + term)
    return total


def _dot(a, b):
    """``safe_sparse_dot`` for a dense or sparse left operand: a dense array."""
    if sp.issparse(a):
        return np.asarray(a @ b)
    return a @ b


class Forward:
    """A forward pass, layer by layer.

    Attributes
    ----------
    activations : list of ndarray
        ``[X, layer 1, ..., output]``: what each layer passes on (after dropout).
    outputs : list of ndarray
        ``outputs[i]``: layer ``i + 1``'s activation before dropout.
    pre_activations : list of ndarray
        ``pre_activations[i]``: layer ``i + 1``'s input ``a @ W + b``.
    """


def dropout_masks(random_state, shapes, rate, dtype):
    """Inverted-dropout masks (0 or ``1 / (1 - rate)``) for hidden layers ``shapes``.

    One uniform draw per unit, row by row, layer after layer.
    """
    scale = np.dtype(dtype).type(1.0 / (1.0 - rate))
    masks = []
    for shape in shapes:
        draws = random_state.random_sample(shape)
        masks.append(np.where(draws < rate, np.dtype(dtype).type(0), scale))
    return masks


def forward(X, coefs, intercepts, hidden, output, masks=None):
    """The forward pass of ``_forward_pass`` (see :class:`Forward`).

    ``masks``, one per hidden layer, multiply the hidden layers' outputs.
    """
    result = Forward()
    result.activations = [X]
    result.outputs = []
    result.pre_activations = []
    n_layers = len(coefs) + 1
    for i in range(n_layers - 1):
        z = _dot(result.activations[i], coefs[i])
        z += intercepts[i]
        is_hidden = (i + 1) != (n_layers - 1)
        a = activate(z, hidden if is_hidden else output)
        result.pre_activations.append(z)
        result.outputs.append(a)
        if is_hidden and masks is not None:
            a = a * masks[i]
        result.activations.append(a)
    return result


def forward_pass(X, coefs, intercepts, hidden, output, masks=None):
    """``[X, layer 1, ..., output layer]``, as ``_forward_pass``."""
    return forward(X, coefs, intercepts, hidden, output, masks).activations


def predict(X, coefs, intercepts, hidden, output):
    """The output layer for every row of ``X`` (``_forward_pass_fast``)."""
    return forward_pass(X, coefs, intercepts, hidden, output)[-1]


def coef_grad(activation, delta, coef, alpha, sw_sum):
    """One layer's coefficient gradient, as ``_compute_loss_grad``."""
    grad = _dot(activation.T, delta)
    grad += alpha * coef
    grad /= sw_sum
    return grad


def intercept_grad(delta, sw_sum):
    """One layer's intercept gradient, as ``_compute_loss_grad``."""
    return np.sum(delta, axis=0) / sw_sum


class Backprop:
    """Everything ``_backprop`` computes for one batch.

    Attributes
    ----------
    loss : float
        Loss with the L2 penalty.
    coef_grads, intercept_grads : list of ndarray
    activations : list of ndarray
        ``[X, layer 1, ..., output]``.
    deltas : list of ndarray
        ``deltas[i]`` is the delta of layer ``i + 1``.
    sw_sum : float
    forward : Forward
    """


def backprop(
    X,
    y,
    coefs,
    intercepts,
    hidden,
    output,
    loss_name,
    alpha,
    sample_weight,
    masks=None,
):
    """Loss and gradients of one batch, as ``_backprop`` (see :class:`Backprop`).

    With dropout ``masks`` (one per hidden layer) the hidden deltas are also
    multiplied by the masks.
    """
    n_samples = X.shape[0]
    n_layers = len(coefs) + 1
    passed = forward(X, coefs, intercepts, hidden, output, masks)
    activations = passed.activations
    value = loss(loss_name, y, activations[-1], sample_weight)
    sw_sum = weight_sum(n_samples, sample_weight)
    value += l2_penalty(coefs, alpha, sw_sum)

    last = n_layers - 2
    deltas = [None] * (n_layers - 1)
    coef_grads = [None] * (n_layers - 1)
    intercept_grads = [None] * (n_layers - 1)
    deltas[last] = output_delta(y, activations[-1], sample_weight)
    coef_grads[last] = coef_grad(
        activations[last], deltas[last], coefs[last], alpha, sw_sum
    )
    intercept_grads[last] = intercept_grad(deltas[last], sw_sum)
    for i in range(last, 0, -1):
        delta = _dot(deltas[i], coefs[i].T)
        if masks is not None:
            delta *= masks[i - 1]
        deltas[i - 1] = derivative(
            passed.outputs[i - 1], delta, hidden, passed.pre_activations[i - 1]
        )
        coef_grads[i - 1] = coef_grad(
            activations[i - 1], deltas[i - 1], coefs[i - 1], alpha, sw_sum
        )
        intercept_grads[i - 1] = intercept_grad(deltas[i - 1], sw_sum)

    result = Backprop()
    result.loss = value
    result.coef_grads = coef_grads
    result.intercept_grads = intercept_grads
    result.activations = activations
    result.deltas = deltas
    result.sw_sum = sw_sum
    result.forward = passed
    return result


def loss_grad(
    X,
    y,
    coefs,
    intercepts,
    hidden,
    output,
    loss_name,
    alpha,
    sample_weight,
    masks=None,
):
    """``(loss, coef_grads, intercept_grads)`` of one batch."""
    result = backprop(
        X, y, coefs, intercepts, hidden, output, loss_name, alpha, sample_weight, masks
    )
    return result.loss, result.coef_grads, result.intercept_grads


# ----------------------------------------------------------------------------
# Optimizers (sklearn/neural_network/_stochastic_optimizers.py)
# ----------------------------------------------------------------------------


class SGD:
    """SGD with momentum, ``SGDOptimizer``'s per-batch arithmetic.

    ``update_params`` adds the update to each array of ``params`` in place.
    """

    def __init__(self, params, learning_rate=0.1, momentum=0.9, nesterov=True):
        self.learning_rate = float(learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(param) for param in params]

    def update_params(self, params, grads):
        updates = [
            self.momentum * velocity - self.learning_rate * grad
            for velocity, grad in zip(self.velocities, grads, strict=True)
        ]
        self.velocities = updates
        if self.nesterov:
            updates = [
                self.momentum * velocity - self.learning_rate * grad
                for velocity, grad in zip(self.velocities, grads, strict=True)
            ]
        for param, update in zip(params, updates, strict=True):
            param += update


class Adam:
    """Adam, ``AdamOptimizer``'s per-batch arithmetic; ``t`` counts updates."""

    def __init__(
        self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8
    ):
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.t = 0
        self.ms = [np.zeros_like(param) for param in params]
        self.vs = [np.zeros_like(param) for param in params]

    def update_params(self, params, grads):
        self.t += 1
        self.ms = [
            self.beta_1 * m + (1 - self.beta_1) * grad
            for m, grad in zip(self.ms, grads, strict=True)
        ]
        self.vs = [
            self.beta_2 * v + (1 - self.beta_2) * (grad**2)
            for v, grad in zip(self.vs, grads, strict=True)
        ]
        self.learning_rate = (
            self.learning_rate_init
            * np.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )
        updates = [
            -self.learning_rate * m / (np.sqrt(v) + self.epsilon)
            for m, v in zip(self.ms, self.vs, strict=True)
        ]
        for param, update in zip(params, updates, strict=True):
            param += update


# ----------------------------------------------------------------------------
# One epoch (the batch loop of _fit_stochastic)
# ----------------------------------------------------------------------------


def gen_batches(n, batch_size):
    """Slices of consecutive rows, the last one short (as ``gen_batches``)."""
    start = 0
    for _ in range(n // batch_size):
        end = start + batch_size
        yield slice(start, end)
        start = end
    if start < n:
        yield slice(start, n)


def run_epoch(
    X,
    y,
    sample_weight,
    sample_idx,
    shuffle,
    batch_size,
    coefs,
    intercepts,
    hidden,
    output,
    loss_name,
    alpha,
    optimizer,
    first_batch=0,
    stop_batch=None,
    dropout=0.0,
    random_state=None,
):
    """Batches ``first_batch .. stop_batch - 1`` of one epoch of ``_fit_stochastic``.

    ``coefs`` and ``intercepts`` are updated in place by ``optimizer`` (an
    :class:`SGD` or :class:`Adam`). ``X`` may be dense or sparse. Returns the
    sum of ``batch_loss * batch_rows`` over the batches run. With ``dropout``,
    each batch draws its masks from ``random_state`` (a ``RandomState``).
    """
    n_samples = X.shape[0]
    params = coefs + intercepts
    accumulated_loss = 0.0
    batches = list(gen_batches(n_samples, batch_size))
    for batch_slice in batches[first_batch:stop_batch]:
        if shuffle:
            batch_idx = sample_idx[batch_slice]
            X_batch = X[batch_idx]
        else:
            batch_idx = batch_slice
            X_batch = X[batch_idx]
        y_batch = y[batch_idx]
        if sample_weight is None:
            sample_weight_batch = None
        else:
            sample_weight_batch = sample_weight[batch_idx]
        masks = None
        if dropout > 0:
            shapes = [(X_batch.shape[0], c.shape[1]) for c in coefs[:-1]]
            masks = dropout_masks(random_state, shapes, dropout, coefs[0].dtype)
        batch_loss, coef_grads, intercept_grads = loss_grad(
            X_batch,
            y_batch,
            coefs,
            intercepts,
            hidden,
            output,
            loss_name,
            alpha,
            sample_weight_batch,
            masks,
        )
        accumulated_loss += batch_loss * (batch_slice.stop - batch_slice.start)
        optimizer.update_params(params, coef_grads + intercept_grads)
    return accumulated_loss

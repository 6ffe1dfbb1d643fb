"""The PyTorch contestant: sklearn's MLP written the way a PyTorch user would.

Same architecture (dense layers, sklearn's activations and output units), same
loss including sklearn's L2 term ``0.5 * alpha * sum ||W||^2 / n_batch``
(coefficients only, no intercepts), same Glorot-uniform initialisation drawn
from the same ``RandomState`` in sklearn's order (so the starting weights are
identical), the same per-epoch shuffles (``sklearn.utils.shuffle`` on the same
stream, drawn up front into index batches), the same batch size, and a plain
loop: gather batch, forward, loss, ``backward``, ``optimizer.step``.

Optimizers are ``torch.optim.Adam(lr, betas=(beta_1, beta_2), eps)`` and
``torch.optim.SGD(lr, momentum, nesterov)``. With a constant learning rate
torch's SGD momentum is algebraically sklearn's (its velocity is sklearn's
divided by ``-lr``); torch's Adam adds ``eps`` to the bias-corrected
``sqrt(v)`` where sklearn adds it to the uncorrected one, a difference that
only shows in the first steps. ``solver="lbfgs"`` drives scipy's L-BFGS-B,
exactly as sklearn does, with loss and gradient computed by torch autograd on
a flat parameter vector (coefficients then intercepts, sklearn's packing).

The thread count is not set here: the harness calls ``torch.set_num_threads``
once for the whole run, matched to the BLAS thread count.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize
from sklearn.utils import check_random_state, gen_batches, shuffle

from bench.outputs import SklearnOutputs


def torch_version():
    """Version string of the installed torch, or None when it is missing.

    Returns
    -------
    str or None
    """
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


_SUPPORTED = {
    "learning_rate": ("constant",),
    "early_stopping": (False,),
}


def unsupported(params):
    """Why ``TorchMLP`` cannot run ``params`` (None when it can).

    Parameters
    ----------
    params : dict
        sklearn hyperparameters.

    Returns
    -------
    str or None
    """
    for key, allowed in _SUPPORTED.items():
        value = params.get(key, allowed[0])
        if value not in allowed:
            return f"this contestant does not implement {key}={value!r}"
    return None


class TorchMLP(SklearnOutputs):
    """sklearn-compatible subset (fit, predict, predict_proba, score) on torch.

    Parameters
    ----------
    task : {"binary", "multiclass", "multilabel", "regression"}
        What ``y`` holds; decides the output activation and the loss.
    **params
        sklearn ``MLPClassifier``/``MLPRegressor`` parameters. Only
        ``learning_rate="constant"`` and ``early_stopping=False`` are
        supported; ``shuffle``, ``tol`` and ``n_iter_no_change`` are ignored
        (the harness forces every epoch to run).
    """

    def __init__(self, task, **params):
        reason = unsupported(params)
        if reason is not None:
            raise ValueError(f"TorchMLP: {reason}")
        self.task = task
        self.hidden_layer_sizes = tuple(params.get("hidden_layer_sizes", (100,)))
        self.activation = params.get("activation", "relu")
        self.solver = params.get("solver", "adam")
        self.alpha = float(params.get("alpha", 1e-4))
        self.batch_size = params.get("batch_size", "auto")
        self.learning_rate_init = float(params.get("learning_rate_init", 1e-3))
        self.max_iter = int(params.get("max_iter", 200))
        self.max_fun = int(params.get("max_fun", 15000))
        self.tol = float(params.get("tol", 1e-4))
        self.random_state = params.get("random_state")
        self.momentum = float(params.get("momentum", 0.9))
        self.nesterovs_momentum = bool(params.get("nesterovs_momentum", True))
        self.beta_1 = float(params.get("beta_1", 0.9))
        self.beta_2 = float(params.get("beta_2", 0.999))
        self.epsilon = float(params.get("epsilon", 1e-8))

    # ----------------------------------------------------------------- model
    def _encode_targets(self, y, dtype):
        import torch

        if self.task == "multiclass":
            self.classes_, codes = np.unique(y, return_inverse=True)
            return torch.from_numpy(codes.astype(np.int64)), len(self.classes_)
        if self.task == "binary":
            self.classes_, codes = np.unique(y, return_inverse=True)
            return torch.from_numpy(codes.reshape(-1, 1).astype(dtype)), 1
        y2 = np.asarray(y, dtype=dtype)
        if y2.ndim == 1:
            y2 = y2.reshape(-1, 1)
        return torch.from_numpy(np.ascontiguousarray(y2)), y2.shape[1]

    def _init_params(self, layer_units, dtype):
        """Glorot-uniform, drawn like sklearn's ``_init_coef`` (same stream)."""
        import torch

        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coef = self._rng.uniform(-bound, bound, (fan_in, fan_out))
            intercept = self._rng.uniform(-bound, bound, fan_out)
            coefs.append(torch.from_numpy(coef.astype(dtype)))
            intercepts.append(torch.from_numpy(intercept.astype(dtype)))
        return coefs, intercepts

    def _hidden(self, h):
        import torch

        act = self.activation
        if act == "relu":
            return torch.relu(h)
        if act == "tanh":
            return torch.tanh(h)
        if act == "logistic":
            return torch.sigmoid(h)
        return h

    def _forward(self, x, coefs, intercepts):
        """Raw output (logits for classifiers) of the network."""
        import torch

        h = x
        last = len(coefs) - 1
        for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
            h = torch.addmm(intercept, h, coef)
            if i != last:
                h = self._hidden(h)
        return h

    def _data_loss(self, out, target):
        import torch.nn.functional as F

        if self.task == "multiclass":
            return F.cross_entropy(out, target)
        if self.task == "binary":
            return F.binary_cross_entropy_with_logits(out, target)
        if self.task == "multilabel":
            return (
                F.binary_cross_entropy_with_logits(out, target, reduction="sum")
                / out.shape[0]
            )
        return 0.5 * F.mse_loss(out, target)

    def _loss(self, x, target, coefs, intercepts):
        out = self._forward(x, coefs, intercepts)
        penalty = sum((coef * coef).sum() for coef in coefs)
        return self._data_loss(out, target) + (0.5 * self.alpha) * penalty / x.shape[0]

    # ------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Train from scratch for ``max_iter`` epochs (or L-BFGS iterations).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            float32 or float64; the network uses the same dtype.
        y : ndarray
            Labels, label indicator matrix or targets, matching ``task``.

        Returns
        -------
        self : TorchMLP
        """
        import torch

        X = np.ascontiguousarray(X)
        dtype = X.dtype
        self._rng = check_random_state(self.random_state)
        x_all = torch.from_numpy(X)
        target, n_out = self._encode_targets(y, dtype)
        layer_units = [X.shape[1], *self.hidden_layer_sizes, n_out]
        coefs, intercepts = self._init_params(layer_units, dtype)
        if self.solver == "lbfgs":
            self._fit_lbfgs(x_all, target, coefs, intercepts)
        else:
            self._fit_stochastic(x_all, target, coefs, intercepts)
        return self

    def _fit_stochastic(self, x_all, target, coefs, intercepts):
        import torch

        params = [*coefs, *intercepts]
        for p in params:
            p.requires_grad_(True)
        if self.solver == "adam":
            optimizer = torch.optim.Adam(
                params,
                lr=self.learning_rate_init,
                betas=(self.beta_1, self.beta_2),
                eps=self.epsilon,
            )
        else:
            optimizer = torch.optim.SGD(
                params,
                lr=self.learning_rate_init,
                momentum=self.momentum,
                nesterov=self.nesterovs_momentum and self.momentum > 0,
            )
        n_samples = x_all.shape[0]
        batch_size = (
            min(200, n_samples)
            if self.batch_size == "auto"
            else int(np.clip(self.batch_size, 1, n_samples))
        )
        # All shuffles up front, same stream and order as sklearn's epoch loop.
        sample_idx = np.arange(n_samples, dtype=np.int64)
        epochs = []
        for _ in range(self.max_iter):
            sample_idx = shuffle(sample_idx, random_state=self._rng)
            idx = torch.from_numpy(sample_idx)
            epochs.append([idx[s] for s in gen_batches(n_samples, batch_size)])
        self.loss_curve_ = []
        for batches in epochs:
            total = 0.0
            for idx in batches:
                xb = x_all[idx]
                yb = target[idx]
                loss = self._loss(xb, yb, coefs, intercepts)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * idx.shape[0]
            self.loss_curve_.append(total / n_samples)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        self.n_iter_ = len(self.loss_curve_)
        self.coefs_ = [c.detach() for c in coefs]
        self.intercepts_ = [b.detach() for b in intercepts]

    def _fit_lbfgs(self, x_all, target, coefs, intercepts):
        import torch

        shapes = [tuple(c.shape) for c in coefs]
        sizes = [c.numel() for c in coefs] + [b.numel() for b in intercepts]
        flat = torch.cat([c.reshape(-1) for c in coefs] + list(intercepts))
        flat.requires_grad_(True)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        n_layers = len(coefs)

        def unpack(vec):
            cs = [
                vec[bounds[i] : bounds[i + 1]].view(shapes[i]) for i in range(n_layers)
            ]
            bs = [
                vec[bounds[n_layers + i] : bounds[n_layers + i + 1]]
                for i in range(n_layers)
            ]
            return cs, bs

        def loss_grad(packed):
            with torch.no_grad():
                flat.copy_(torch.from_numpy(packed))
            flat.grad = None
            cs, bs = unpack(flat)
            loss = self._loss(x_all, target, cs, bs)
            loss.backward()
            return loss.item(), flat.grad.numpy().astype(np.float64)

        result = scipy.optimize.minimize(
            loss_grad,
            flat.detach().numpy().astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            options={
                "maxfun": self.max_fun,
                "maxiter": self.max_iter,
                "gtol": self.tol,
            },
        )
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        with torch.no_grad():
            flat.copy_(torch.from_numpy(result.x))
        cs, bs = unpack(flat.detach())
        self.coefs_, self.intercepts_ = cs, bs

    # --------------------------------------------------------------- predict
    def _output(self, X):
        import torch

        with torch.no_grad():
            out = self._forward(
                torch.from_numpy(np.ascontiguousarray(X)), self.coefs_, self.intercepts_
            )
            if self.task == "multiclass":
                out = torch.softmax(out, dim=1)
            elif self.task in ("binary", "multilabel"):
                out = torch.sigmoid(out)
        return out.numpy()

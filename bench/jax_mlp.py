"""The JAX contestant: sklearn's MLP with each epoch compiled by XLA.

What a JAX user who wants CPU speed writes: the whole epoch is one
``jax.jit`` call around a ``jax.lax.scan`` over the mini-batches (gather the
batch, forward, loss, ``jax.value_and_grad``, optimizer update), so no Python
runs between batches. The model is scikit-learn's, as far as the numbers go:

- **network**: dense layers, sklearn's hidden activations (identity,
  logistic, tanh, relu) and output units (softmax for several classes,
  logistic for binary and multilabel, identity for regression);
- **initialisation**: Glorot-uniform drawn exactly as sklearn's
  ``_init_coef`` (``uniform(-b, b)``, ``b = sqrt(6 / (fan_in + fan_out))``,
  factor 2 for logistic; coefficients then intercepts per layer) from the same
  ``RandomState``: identical starting weights;
- **batch order**: sklearn's per-epoch ``shuffle(sample_idx, random_state)``
  on the same stream, ``gen_batches`` order, batch size as sklearn clips it;
- **loss**: sklearn's, with its L2 term ``0.5 * alpha * sum ||W||^2 /
  n_batch`` (coefficients only). The gradient is taken of the logit form of
  the loss, which gives sklearn's ``delta = output - y``; the loss *reported*
  is sklearn's formula with its probability clipping to ``[eps, 1 - eps]``;
- **optimizers**: written out, not optax: sklearn's Adam (``eps`` added to
  the *uncorrected* ``sqrt(v)``, bias correction folded into the step size,
  as ``AdamOptimizer``) and SGD with momentum / Nesterov
  (``SGDOptimizer._get_updates``), with the learning-rate schedules
  ``constant``, ``invscaling`` (per epoch from ``t_`` samples seen) and
  ``adaptive`` (host-side, sklearn's no-improvement count on the training
  loss). Early stopping is declined (n/a), as for the torch contestant, and so
  is L-BFGS (no epoch to compile).
- **short last batch**: one scan over ``ceil(n / batch)`` equal batches, the
  last one padded with row 0 at weight 0; every loss and gradient term is
  weighted and divided by the batch's weight sum, so a padded row contributes
  exactly nothing (sklearn's ``sample_weight`` semantics) and the short batch
  is divided by its real row count. One compiled function per configuration.
- **dtype**: float32 or float64 as the data. float64 needs
  ``jax.config.update("jax_enable_x64", True)``, which is process-wide: it is
  switched on at the first float64 fit and stays on (float32 fits keep every
  array float32 either way).

Predictions (``predict_proba``, ``predict``, ``score``) run one jitted
forward pass over all rows.

Compile time is kept apart: the epoch function is lowered and compiled
ahead of time (``jit(...).lower(...).compile()``), timed, and cached per
configuration and shapes for the process; the estimator exposes
``compile_s_`` (seconds spent compiling in this fit, 0.0 when it found the
executable cached), ``first_epoch_s_`` (its first epoch, compile excluded)
and ``epoch_s_`` (every epoch). :data:`COMPILE_LOG` lists every compile.

Threads: XLA's CPU backend runs its own thread pool; when the bench asks for
one thread (BLAS at 1 thread when jax is first imported) the XLA flags
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` are set
before the import, if ``XLA_FLAGS`` is not set already.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np
from sklearn.utils import check_random_state, shuffle

from bench.outputs import SklearnOutputs

# (key, seconds) of every epoch function compiled in this process
COMPILE_LOG = []
_COMPILED = {}
_FORWARD = {}
_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _import_jax():
    if "jax" not in sys.modules and not os.environ.get("XLA_FLAGS"):
        try:
            from bench.threads import blas_threads

            if blas_threads() == 1:
                os.environ["XLA_FLAGS"] = (
                    "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                )
        except Exception:
            pass
    import jax

    return jax


def jax_version():
    """Version string of the installed jax, or None when it is missing.

    Looks jax and jaxlib up without importing them: the import is left to
    the first fit, after the harness has set its thread counts (see the
    module's note on threads).

    Returns
    -------
    str or None
    """
    import importlib.metadata
    import importlib.util

    try:
        for name in ("jax", "jaxlib"):
            if importlib.util.find_spec(name) is None:
                return None
        return importlib.metadata.version("jax")
    except Exception:  # ModuleNotFoundError from a finder, missing metadata
        return None


def unsupported(params):
    """Why ``JaxMLP`` cannot run ``params`` (None when it can).

    Parameters
    ----------
    params : dict
        sklearn hyperparameters.

    Returns
    -------
    str or None
    """
    if params.get("early_stopping", False):
        return "this contestant does not implement early_stopping=True"
    if params.get("solver", "adam") == "lbfgs":
        return "this contestant does not implement solver='lbfgs' (no epoch to compile)"
    activation = params.get("activation", "relu")
    if activation not in _ACTIVATIONS:
        return f"this contestant does not implement activation={activation!r}"
    return None


def _hidden(activation):
    import jax
    import jax.numpy as jnp

    return {
        "identity": lambda h: h,
        "logistic": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "relu": lambda h: jnp.maximum(h, 0),
    }[activation]


def _output_layer(coefs, intercepts, x, act):
    """The output layer's values before its output unit (traced by JAX)."""
    h = x
    last = len(coefs) - 1
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts)):
        h = h @ coef + intercept
        if i != last:
            h = act(h)
    return h


def _build_epoch(task, activation, solver, nesterov):
    """The epoch function ``(state, X, Y, idx, w, hyper) -> (state, losses)``.

    ``idx`` and ``w`` are ``(n_batches, batch)``: row indices and row weights
    (0 on padding). ``losses`` holds each batch's reported loss times its row
    count, so their sum over ``n_samples`` is sklearn's ``loss_``.
    """
    import jax
    import jax.numpy as jnp

    act = _hidden(activation)

    def loss_fn(params, x, y, w, sw, alpha):
        coefs, intercepts = params
        z = _output_layer(coefs, intercepts, x, act)
        eps = jnp.finfo(z.dtype).eps
        if task == "multiclass":
            logp = jax.nn.log_softmax(z, axis=1)
            train = -(w * (y * logp).sum(axis=1)).sum() / sw
            p = jnp.clip(jnp.exp(logp), eps, 1 - eps)
            report = -(w * (y * jnp.log(p)).sum(axis=1)).sum() / sw
        elif task in ("binary", "multilabel"):
            # log(1 + e^z) - y z, summed over outputs: binary cross-entropy
            train = (w[:, None] * (jax.nn.softplus(z) - y * z)).sum() / sw
            p = jnp.clip(jax.nn.sigmoid(z), eps, 1 - eps)
            bce = y * jnp.log(p) + (1 - y) * jnp.log(1 - p)
            report = -(w[:, None] * bce).sum() / sw
        else:
            train = 0.5 * (w[:, None] * (z - y) ** 2).sum() / (sw * z.shape[1])
            report = train
        penalty = sum((c * c).sum() for c in coefs)
        reg = (0.5 * alpha) * penalty / sw
        return train + reg, report + reg

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def epoch(state, X, Y, idx, w, hyper):
        def step(carry, batch):
            params, opt = carry
            bidx, bw = batch
            sw = bw.sum()
            (_, report), grads = grad_fn(
                params, X[bidx], Y[bidx], bw, sw, hyper["alpha"]
            )
            if solver == "adam":
                m, v, t = opt
                t = t + 1
                b1, b2 = hyper["beta_1"], hyper["beta_2"]
                m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
                v = jax.tree_util.tree_map(
                    lambda a, g: b2 * a + (1 - b2) * (g * g), v, grads
                )
                tf = t.astype(b1.dtype)
                lr = hyper["lr"] * jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
                eps = hyper["epsilon"]
                params = jax.tree_util.tree_map(
                    lambda p, a, b: p - lr * a / (jnp.sqrt(b) + eps), params, m, v
                )
                opt = (m, v, t)
            else:
                lr, mu = hyper["lr"], hyper["momentum"]
                vel = jax.tree_util.tree_map(lambda u, g: mu * u - lr * g, opt, grads)
                if nesterov:
                    upd = jax.tree_util.tree_map(
                        lambda u, g: mu * u - lr * g, vel, grads
                    )
                else:
                    upd = vel
                params = jax.tree_util.tree_map(lambda p, u: p + u, params, upd)
                opt = vel
            return (params, opt), report * sw

        return jax.lax.scan(step, state, (idx, w))

    return jax.jit(epoch, donate_argnums=(0,))


def _build_forward(task, activation):
    """Jitted ``(params, X) -> output`` with the output unit applied."""
    import jax

    act = _hidden(activation)

    def forward(params, x):
        h = _output_layer(*params, x, act)
        if task == "multiclass":
            return jax.nn.softmax(h, axis=1)
        if task in ("binary", "multilabel"):
            return jax.nn.sigmoid(h)
        return h

    return jax.jit(forward)


class JaxMLP(SklearnOutputs):
    """sklearn-compatible subset (fit, predict, predict_proba, score) on JAX.

    Parameters
    ----------
    task : {"binary", "multiclass", "multilabel", "regression"}
        What ``y`` holds; decides the output activation and the loss.
    **params
        sklearn ``MLPClassifier``/``MLPRegressor`` parameters (see
        :func:`unsupported` for what is declined).
    """

    def __init__(self, task, **params):
        reason = unsupported(params)
        if reason is not None:
            raise ValueError(f"JaxMLP: {reason}")
        self.task = task
        self.hidden_layer_sizes = tuple(params.get("hidden_layer_sizes", (100,)))
        self.activation = params.get("activation", "relu")
        self.solver = params.get("solver", "adam")
        self.alpha = float(params.get("alpha", 1e-4))
        self.batch_size = params.get("batch_size", "auto")
        self.learning_rate = params.get("learning_rate", "constant")
        self.learning_rate_init = float(params.get("learning_rate_init", 1e-3))
        self.power_t = float(params.get("power_t", 0.5))
        self.max_iter = int(params.get("max_iter", 200))
        self.shuffle = bool(params.get("shuffle", True))
        self.tol = float(params.get("tol", 1e-4))
        self.n_iter_no_change = params.get("n_iter_no_change", 10)
        self.random_state = params.get("random_state")
        self.momentum = float(params.get("momentum", 0.9))
        self.nesterovs_momentum = bool(params.get("nesterovs_momentum", True))
        self.beta_1 = float(params.get("beta_1", 0.9))
        self.beta_2 = float(params.get("beta_2", 0.999))
        self.epsilon = float(params.get("epsilon", 1e-8))

    # ----------------------------------------------------------------- data
    def _encode_targets(self, y, dtype):
        if self.task in ("multiclass", "binary"):
            self.classes_, codes = np.unique(y, return_inverse=True)
            if self.task == "binary":
                return codes.reshape(-1, 1).astype(dtype)
            return np.eye(len(self.classes_), dtype=dtype)[codes]
        y2 = np.asarray(y, dtype=dtype)
        return y2.reshape(-1, 1) if y2.ndim == 1 else np.ascontiguousarray(y2)

    def _init_params(self, layer_units, dtype):
        """Glorot-uniform, drawn like sklearn's ``_init_coef`` (same stream)."""
        factor = 2.0 if self.activation == "logistic" else 6.0
        coefs, intercepts = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(
                self._rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)
            )
            intercepts.append(self._rng.uniform(-bound, bound, fan_out).astype(dtype))
        return coefs, intercepts

    # ------------------------------------------------------------------- fit
    def fit(self, X, y):
        """Train from scratch for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            float32 or float64; the network uses the same dtype. Sparse input
            is densified once, before training.
        y : ndarray
            Labels, label indicator matrix or targets, matching ``task``.

        Returns
        -------
        self : JaxMLP
        """
        jax = _import_jax()
        import jax.numpy as jnp

        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.ascontiguousarray(X)
        dtype = X.dtype
        if dtype == np.float64 and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)  # process-wide
        self._rng = check_random_state(self.random_state)
        Y = self._encode_targets(y, dtype)
        n_samples = X.shape[0]
        layer_units = [X.shape[1], *self.hidden_layer_sizes, Y.shape[1]]
        coefs, intercepts = self._init_params(layer_units, dtype)
        if self.batch_size == "auto":
            batch = min(200, n_samples)
        else:
            batch = int(np.clip(self.batch_size, 1, n_samples))
        n_batches = -(-n_samples // batch)
        padded = n_batches * batch
        weights = np.zeros(padded, dtype=dtype)
        weights[:n_samples] = 1
        idx = np.zeros(padded, dtype=np.int32)

        params = (coefs, intercepts)
        if self.solver == "adam":
            zeros = tuple([np.zeros_like(a) for a in part] for part in params)
            opt = (zeros, tuple([np.zeros_like(a) for a in part] for part in params))
            opt += (np.int32(0),)
            hyper = {
                "lr": self.learning_rate_init,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "alpha": self.alpha,
            }
        else:
            opt = tuple([np.zeros_like(a) for a in part] for part in params)
            hyper = {
                "lr": self.learning_rate_init,
                "momentum": self.momentum,
                "alpha": self.alpha,
            }
        nesterov = self.solver == "sgd" and self.nesterovs_momentum

        def scalars(values):
            return jax.device_put(
                {k: np.asarray(v, dtype=dtype) for k, v in values.items()}
            )

        # everything to the device in one call (fewer dispatches per fit)
        state, x_dev, y_dev, w_dev, idx_dev = jax.device_put(
            (
                (params, opt),
                X,
                Y,
                weights.reshape(n_batches, batch),
                idx.reshape(n_batches, batch),
            )
        )
        hyper_dev = scalars(hyper)
        epoch = self._compiled_epoch(
            (self.task, self.activation, self.solver, nesterov),
            (state, x_dev, y_dev, idx_dev, w_dev, hyper_dev),
        )
        sample_idx = np.arange(n_samples, dtype=np.int32)
        lr = self.learning_rate_init
        best_loss, no_improvement, t_seen = np.inf, 0, 0
        self.loss_curve_, self.epoch_s_ = [], []
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            start = time.perf_counter()
            if self.shuffle:
                sample_idx = shuffle(sample_idx, random_state=self._rng)
            idx[:n_samples] = sample_idx
            if lr != hyper["lr"]:  # a schedule changed it: new device scalars
                hyper["lr"] = lr
                hyper_dev = scalars(hyper)
            state, losses = epoch(
                state,
                x_dev,
                y_dev,
                jnp.asarray(idx.reshape(n_batches, batch)),
                w_dev,
                hyper_dev,
            )
            loss = float(np.asarray(losses, dtype=np.float64).sum()) / n_samples
            self.epoch_s_.append(time.perf_counter() - start)
            self.n_iter_ += 1
            self.loss_curve_.append(loss)
            t_seen += n_samples
            # sklearn's _update_no_improvement_count (training loss) and
            # the optimizer's iteration_ends / trigger_stopping
            if loss > best_loss - self.tol:
                no_improvement += 1
            else:
                no_improvement = 0
            best_loss = min(best_loss, loss)
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                lr = self.learning_rate_init / (t_seen + 1) ** self.power_t
            if no_improvement > self.n_iter_no_change:
                if self.solver == "sgd" and self.learning_rate == "adaptive":
                    if lr <= 1e-6:
                        break
                    lr /= 5.0
                    no_improvement = 0
                else:
                    break
        self.first_epoch_s_ = self.epoch_s_[0] if self.epoch_s_ else None
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        params = jax.block_until_ready(state[0])
        self._params = params
        self.coefs_ = [np.asarray(c) for c in params[0]]
        self.intercepts_ = [np.asarray(b) for b in params[1]]
        return self

    def _compiled_epoch(self, static, args):
        """The compiled epoch for these arguments' shapes, compiled if new."""
        jax = _import_jax()

        shapes = tuple(
            (tuple(a.shape), str(a.dtype)) for a in jax.tree_util.tree_leaves(args)
        )
        key = (static, shapes, bool(jax.config.jax_enable_x64))
        compiled = _COMPILED.get(key)
        self.compile_s_ = 0.0
        if compiled is None:
            start = time.perf_counter()
            compiled = _build_epoch(*static).lower(*args).compile()
            self.compile_s_ = time.perf_counter() - start
            COMPILE_LOG.append((key, self.compile_s_))
            _COMPILED[key] = compiled
        return compiled

    # --------------------------------------------------------------- predict
    def _output(self, X):
        """Output probabilities (classifiers) or values, by a jitted forward."""
        jax = _import_jax()

        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.ascontiguousarray(X, dtype=self.coefs_[0].dtype)
        key = (self.task, self.activation)
        forward = _FORWARD.get(key)
        if forward is None:
            forward = _FORWARD[key] = _build_forward(self.task, self.activation)
        return np.asarray(jax.block_until_ready(forward(self._params, X)))


def compiles_since(mark):
    """Seconds of the compiles logged after ``len(COMPILE_LOG) == mark``.

    Parameters
    ----------
    mark : int

    Returns
    -------
    float
    """
    return math.fsum(seconds for _, seconds in COMPILE_LOG[mark:])

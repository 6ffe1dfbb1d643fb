"""BaseMultilayerPerceptron: validation, parameters, and the loop over epochs.

This module reads like scikit-learn's ``_multilayer_perceptron.py`` on purpose:
every decision taken once per fit or once per epoch (validation, random-number
draws, early stopping, schedules, warnings, verbose output) happens here in
Python in scikit-learn's order, which is what makes exact parity possible. What
scikit-learn does per mini-batch (forward, loss, backward, optimizer step) runs
in compiled kernels, a whole epoch per call (``fastmlp._engine``).
"""

import functools
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import _multilayer_perceptron as _sklearn_mlp
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_array, validate_data

from ._engine.param_layout import ParameterLayout
from ._engine.randomness import check_random_state, shuffled
from ._engine.solvers import AdamOptimizer, SGDOptimizer, minimize_lbfgs
from ._engine.training import Engine, forward, make_net, validation_loss
from ._kernels.activations import ACTIVATION_CODES
from ._kernels.losses import LOSS_CODES
from ._runtime.thread_plan import SPLIT_GRADIENT_MACS, thread_plan
from ._sklearn import originals as _sklearn_nn  # never the patched classes
from ._sklearn.checked_params import CheckedOnce
from ._sklearn.early_stopping import validation_split
from ._sklearn.interchange import SKLEARN_ACTIVATIONS, sklearn_copy
from ._sklearn.plain_input import plain_predict_data

_STOCHASTIC_SOLVERS = ["sgd", "adam"]
HIDDEN_ACTIVATIONS = SKLEARN_ACTIVATIONS + (
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "softplus",
)


class BaseMultilayerPerceptron(CheckedOnce, BaseEstimator, ABC):
    """Base class for MLP classification and regression.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    # scikit-learn's own constraint objects, not a copy: InvalidParameterError
    # messages list a StrOptions set in its iteration order, which only the
    # same set object reproduces exactly.
    _parameter_constraints: dict = {
        **_sklearn_mlp.BaseMultilayerPerceptron._parameter_constraints,
        # beyond scikit-learn: more hidden activations, dropout, BLAS threads
        "activation": [StrOptions(set(HIDDEN_ACTIVATIONS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "n_jobs": [Interval(Integral, 1, None, closed="left"), None],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        loss,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        dropout=0.0,
        n_jobs=None,
    ):
        self.dropout = dropout
        self.n_jobs = n_jobs
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------------
    # Parameters: one flat buffer, coefs_ and intercepts_ are views of it
    # ------------------------------------------------------------------
    def _current_params(self):
        """The flat parameters as ``coefs_``/``intercepts_`` hold them now.

        Returns ``(layout, flat)``; see :meth:`_model_snapshot`.
        """
        model = self._model_snapshot()
        return model.layout, model.params

    def _model_snapshot(self):
        """The fitted model as one consistent whole: a :class:`FittedModel`.

        ``coefs_[i]`` written in place is seen through the views; arrays put in
        their place by the user (or by unpickling) are packed into a new buffer,
        their shapes checked. The views :meth:`_set_params_flat` made, still in
        place and unreshaped, are known without a new layout and a look at
        their addresses (~20 us of a ``predict`` on a few rows).

        Another thread's fit publishes its whole fitted state in one step, with
        ``_params_views`` written last (:meth:`_publish`): the attributes are
        read between two reads of it, and read again if it changed, so they
        all belong to one fit.
        """
        for _ in range(_SNAPSHOT_TRIES):
            made = getattr(self, "_params_views", None)
            flat = getattr(self, "_params_flat", None)
            coefs = self.coefs_
            intercepts = self.intercepts_
            out_activation = self.out_activation_
            binarizer = getattr(self, "_label_binarizer", None)
            if getattr(self, "_params_views", None) is made:
                break
        if made is not None and made[1] is flat:
            owner = flat if flat.base is None else flat.base
            if _still_in_place(made[2], coefs, owner) and _still_in_place(
                made[3], intercepts, owner
            ):
                return FittedModel(made[0], flat, out_activation, binarizer)
        coefs, intercepts = list(coefs), list(intercepts)
        layout = ParameterLayout.of_coefs(coefs)
        if not layout.are_views_of(flat, coefs, intercepts):
            dtype = np.result_type(*coefs, *intercepts)
            flat = layout.pack(coefs, intercepts, dtype)
        return FittedModel(layout, flat, out_activation, binarizer)

    def _set_params_flat(self, flat, layout):
        """Make ``flat`` the parameter buffer and rebind the public views."""
        self._params_flat = flat
        self.coefs_, self.intercepts_ = layout.views(flat)
        self._params_views = (
            layout,
            flat,
            [(view, view.shape, view.dtype) for view in self.coefs_],
            [(view, view.shape, view.dtype) for view in self.intercepts_],
        )

    def _net(self, layout, training=False, out_activation=None):
        """The kernels' ``net`` tuple; dropout acts only in ``training`` nets.

        ``out_activation`` defaults to ``out_activation_``.
        """
        if out_activation is None:
            out_activation = self.out_activation_
        loss = self.loss
        if loss == "log_loss" and out_activation == "logistic":
            loss = "binary_log_loss"
        return make_net(
            layout,
            ACTIVATION_CODES[self.activation],
            ACTIVATION_CODES[out_activation],
            LOSS_CODES[loss],
            self.alpha,
            self.dropout if training else 0.0,
        )

    def __getstate__(self):
        state = super().__getstate__()
        # coefs_/intercepts_ are pickled as arrays of their own; the buffer they
        # view is rebuilt from them on load.
        state.pop("_params_flat", None)
        state.pop("_params_views", None)
        return state

    def __setstate__(self, state):
        # a scikit-learn model's state when its pickle is loaded patched
        super().__setstate__(_sklearn_nn.fastmlp_state(type(self), state))
        if getattr(self, "coefs_", None) is not None:
            layout, flat = self._current_params()
            self._set_params_flat(flat, layout)

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True, model=None):
        """Output-layer values for ``X`` (validated unless ``check_input`` is false).

        ``model`` is a :meth:`_model_snapshot` (taken here if not given): the
        output is that model's, whatever other threads fit meanwhile.
        """
        if model is None:
            model = self._model_snapshot()
        if check_input:
            plain = plain_predict_data(self, X)
            X = (
                plain
                if plain is not None
                else validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
            )
        return self._forward_with(X, model.layout, model.params, model.out_activation)

    def _predict(self, X, check_input=True):
        """Private predict method with optional input validation."""
        model = self._model_snapshot()
        output = self._forward_pass_fast(X, check_input=check_input, model=model)
        return self._output_to_prediction(output, model.label_binarizer)

    def _forward_with(self, X, layout, params, out_activation=None):
        """Output-layer values for validated ``X`` through parameters ``params``."""
        # NumPy's promotion, as scikit-learn's products give: a float32 model
        # keeps float32 for bool and small integer X
        dtype = np.result_type(X.dtype, params.dtype)
        if dtype not in (np.float32, np.float64):
            dtype = np.dtype(np.float64)
        if params.dtype != dtype:
            params = params.astype(dtype)
        if X.dtype != dtype:
            X = X.astype(dtype)
        net = self._net(layout, out_activation=out_activation)
        return forward(X, params, layout, net, self.n_jobs, type(self).__name__)

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def _initialize(self, y, layer_units, dtype):
        # set all attributes, allocate weights etc. for first call
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)

        if not is_classifier(self):
            if self.loss == "poisson":
                self.out_activation_ = "exp"
            else:
                self.out_activation_ = "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"

        layout = ParameterLayout(layer_units)
        flat = np.empty(layout.size, dtype=dtype)
        coefs, intercepts = layout.views(flat)
        for i in range(self.n_layers_ - 1):
            coef_init, intercept_init = self._init_coef(
                layer_units[i], layer_units[i + 1], dtype
            )
            coefs[i][...] = coef_init
            intercepts[i][...] = intercept_init
        self._set_params_flat(flat, layout)
        self._best_params = flat.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self.validation_loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _init_coef(self, fan_in, fan_out, dtype):
        # Glorot et al.'s initialization, drawn exactly as scikit-learn does.
        factor = 6.0
        if self.activation == "logistic":
            factor = 2.0
        init_bound = np.sqrt(factor / (fan_in + fan_out))
        coef_init = self._random_state.uniform(
            -init_bound, init_bound, (fan_in, fan_out)
        )
        intercept_init = self._random_state.uniform(-init_bound, init_bound, fan_out)
        coef_init = coef_init.astype(dtype, copy=False)
        intercept_init = intercept_init.astype(dtype, copy=False)
        return coef_init, intercept_init

    def _check_y_for_loss(self, y):
        """Hook for target checks that depend on the loss (see MLPRegressor)."""

    def _fit(self, X, y, sample_weight=None, incremental=False, validation=None):
        """Fit (or update, if ``incremental``) through :meth:`_transaction`."""

        def fit(est):
            est._fit_unguarded(X, y, sample_weight, incremental, validation)

        return self._transaction(fit, incremental)

    def _transaction(self, work, incremental):
        """``work(copy)`` on a private copy of this estimator, then publish it.

        A fit never changes the estimator while it runs: it works on a copy
        whose fitted state (parameter buffer, optimizer, curves) is its own,
        and when it succeeds its fitted attributes replace this estimator's in
        one step (:meth:`_publish`). So a failed call leaves the estimator as
        it was (scikit-learn can leave a half-made model behind: initial
        weights of a fit whose validation split failed, NaN weights after
        divergence), and calls racing on one estimator from several threads
        each work on one consistent model: the last to finish wins whole, and
        a prediction meanwhile uses the old model or the new one.
        """
        shadow = self._private_copy(incremental)
        work(shadow)
        self._publish(shadow)
        return self

    def _private_copy(self, incremental):
        """A copy of this estimator for a fit to change (see :meth:`_transaction`).

        Shares every attribute a fit replaces rather than changes; lists are
        copied, and the optimizer when an update goes on from it. The
        parameter buffer a warm fit continues from is copied when the fit
        takes it (:meth:`_fit_unguarded`).
        """
        state = self.__dict__.copy()  # one step: no publication half seen
        shadow = object.__new__(type(self))
        shadow.__dict__.update(
            (name, list(value) if isinstance(value, list) else value)
            for name, value in state.items()
        )
        optimizer = state.get("_optimizer")
        if incremental and optimizer is not None:  # its moments change in place
            shadow._optimizer = optimizer.snapshot()
        return shadow

    def _publish(self, shadow):
        """Make ``shadow``'s fitted attributes this estimator's, in one step.

        One ``dict.update`` (atomic under the GIL: no Python code runs during
        it), then the attributes the fit removed are removed.
        ``_params_views`` goes last, as :meth:`_model_snapshot` expects.
        Hyperparameters are not fitted state: ``set_params`` calls made
        meanwhile stay.
        """
        names = _param_names_of(type(self))
        state = shadow.__dict__
        fitted = {
            name: value
            for name, value in state.items()
            if name not in names and name != "_params_views"
        }
        if "_params_views" in state:
            fitted["_params_views"] = state["_params_views"]
        removed = [name for name in list(self.__dict__) if name not in state]
        self.__dict__.update(fitted)
        for name in removed:
            if name not in names:
                self.__dict__.pop(name, None)

    def _fit_unguarded(self, X, y, sample_weight, incremental, validation):
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)

        if np.any(np.array(hidden_layer_sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % hidden_layer_sizes
            )
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        self._check_y_for_loss(y)
        n_samples, n_features = X.shape
        if sample_weight is not None:
            # negative weights too, as scikit-learn (all-zero ones raise there)
            sample_weight = _check_sample_weight(sample_weight, X)
        sample_weight = self._with_class_weight(y, sample_weight, incremental)
        if self.dropout > 0 and self.solver == "lbfgs":
            raise ValueError(
                "dropout makes the loss random, which L-BFGS cannot minimize; use "
                "solver='sgd' or 'adam' with dropout > 0."
            )

        if y.ndim == 1:
            y = y.reshape((-1, 1))

        self.n_outputs_ = y.shape[1]

        layer_units = [n_features] + hidden_layer_sizes + [self.n_outputs_]

        self._random_state = check_random_state(self.random_state)

        if first_pass:
            self._initialize(y, layer_units, X.dtype)
            layout = self._params_views[0]
        else:
            layout, flat = self._current_params()
            if layout.layer_units.tolist() != layer_units:
                raise ValueError(
                    "The network's shape changed since the last fit: its layers have "
                    f"{layout.layer_units.tolist()} units, this call needs "
                    f"{layer_units}. Fit again with warm_start=False."
                )
            if flat is getattr(self, "_params_flat", None):
                flat = flat.copy()  # the published model stays as it is
            self._set_params_flat(flat, layout)

        if validation is not None:
            validation = self._validate_validation_set(X, *validation)
        dense = not sp.issparse(X)
        if self.solver in _STOCHASTIC_SOLVERS:
            batch_rows = 200 if self.batch_size == "auto" else self.batch_size
            rows = min(batch_rows, n_samples)
            splittable = dense and self.dropout == 0
            with thread_plan(layer_units, rows, self.n_jobs, splittable) as n_parts:
                self._fit_stochastic(
                    X, y, sample_weight, layout, incremental, validation, n_parts
                )
        elif self.solver == "lbfgs":
            plan = thread_plan(
                layer_units, n_samples, self.n_jobs, dense, min_macs=SPLIT_GRADIENT_MACS
            )
            with plan as n_parts:
                self._fit_lbfgs(X, y, sample_weight, layout, n_parts)

        if not np.isfinite(self._params_flat).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )

        return self

    def _with_class_weight(self, y, sample_weight, incremental):
        """Hook: sample weights times class weights (see MLPClassifier)."""
        return sample_weight

    def _validate_validation_set(self, X, X_val, y_val, sample_weight_val):
        """Check a user's validation set; returns ``(X_val, y_val, Y_val, sw_val)``.

        ``y_val`` is what the score compares predictions with, ``Y_val`` the 2-D
        target the loss compares the network's output with.
        """
        X_val = check_array(
            X_val, accept_sparse=["csr", "csc"], dtype=X.dtype, input_name="X_val"
        )
        if X_val.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_val has {X_val.shape[1]} features, but X has {X.shape[1]}."
            )
        y_val, Y_val = self._validate_validation_target(y_val)
        if Y_val.shape[0] != X_val.shape[0]:
            raise ValueError(
                f"X_val has {X_val.shape[0]} samples, but y_val has {Y_val.shape[0]}."
            )
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(sample_weight_val, X_val)
        return X_val, y_val, Y_val, sample_weight_val

    def _validation_step(self, X_val, y_val, Y_val, sample_weight_val):
        """Score and loss on validation data, from one forward pass.

        The score is scikit-learn's ``_score`` (accuracy or R2, NaN for
        non-finite outputs); the loss is the training objective on the whole
        validation set: data loss plus ``0.5 * alpha * ||W||^2 / weight_sum``.
        """
        layout, params = self._current_params()
        output = self._forward_with(X_val, layout, params)
        loss = validation_loss(
            output, Y_val, sample_weight_val, params, layout, self._net(layout)
        )
        y_pred = self._output_to_prediction(output)
        return self._score_prediction(y_val, y_pred, sample_weight_val), loss

    def _fit_lbfgs(self, X, y, sample_weight, layout, n_parts=1):
        # As scikit-learn with scipy >= 1.15: L-BFGS-B's own arithmetic is
        # float64, but each loss and gradient is computed in the parameters'
        # dtype (scipy hands the objective its x0's dtype), so a float32 model
        # sees float32 losses and gradients; its final weights are float64.
        dtype = self._params_flat.dtype
        if sample_weight is not None:
            _check_weight_sums(sample_weight, [slice(None)], dtype)
        params = self._params_flat.astype(np.float64)
        engine = Engine(
            X,
            y,
            sample_weight,
            layout,
            self._net(layout),
            dtype,
            X.shape[0],
            n_parts,
            choose_split=self.n_jobs is None,
        )

        result, self.n_iter_ = minimize_lbfgs(
            _objective_in(dtype, engine.loss_grad, layout.size),
            params,
            self.max_fun,
            self.max_iter,
            self.tol,
        )
        # private, for the benchmark's report: which way the calls went
        self._split_whole_calls = engine.path.calls_by_way()
        self.loss_ = result.fun if dtype == np.float64 else dtype.type(result.fun)
        self._set_params_flat(np.array(result.x, dtype=np.float64), layout)

    def _make_optimizer(self, n_params, dtype):
        if self.solver == "sgd":
            return SGDOptimizer(
                n_params,
                dtype,
                self.learning_rate_init,
                self.learning_rate,
                self.momentum,
                self.nesterovs_momentum,
                self.power_t,
            )
        return AdamOptimizer(
            n_params,
            dtype,
            self.learning_rate_init,
            self.beta_1,
            self.beta_2,
            self.epsilon,
        )

    def _fit_stochastic(
        self, X, y, sample_weight, layout, incremental, validation, n_parts=1
    ):
        params = self._params_flat
        if (
            not incremental
            or not hasattr(self, "_optimizer")
            or self._optimizer.state()[0].shape != params.shape
        ):
            self._optimizer = self._make_optimizer(params.size, params.dtype)
        optimizer = self._optimizer

        # early_stopping in partial_fit doesn't make sense
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if not hasattr(self, "validation_loss_curve_"):
            self.validation_loss_curve_ = []  # e.g. a model made by from_sklearn
        Y_val = None
        if validation is not None:
            # the user's own validation set replaces the random split
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val, y_val, Y_val, sample_weight_val = validation
        elif early_stopping:
            # don't stratify in multilabel classification
            should_stratify = is_classifier(self) and self.n_outputs_ == 1
            stratify = y if should_stratify else None
            arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
            X_train, X_val, y_train, y_val, *weights = validation_split(
                *arrays,
                random_state=self._random_state,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            sample_weight_train, sample_weight_val = weights or (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            Y_val = y_val
            if is_classifier(self):
                y_val = self._label_binarizer.inverse_transform(y_val)
        else:
            X_train, y_train, sample_weight_train = X, y, sample_weight
            X_val = y_val = sample_weight_val = None

        n_samples = X_train.shape[0]
        sample_idx = np.arange(n_samples, dtype=int)

        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        engine = Engine(
            X_train,
            y_train,
            sample_weight_train,
            layout,
            self._net(layout, training=True),
            params.dtype,
            batch_size,
            n_parts,
            choose_split=self.n_jobs is None,
        )

        # weights of either sign can sum to zero in a batch
        signed = sample_weight_train is not None and (sample_weight_train <= 0).any()
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    sample_idx = shuffled(sample_idx, self._random_state)
                if signed:
                    batches = gen_batches(n_samples, batch_size)
                    batch_rows = [sample_idx[batch] for batch in batches]
                    _check_weight_sums(sample_weight_train, batch_rows, params.dtype)
                dropout_seed = 0
                if self.dropout > 0:
                    # drawn only with dropout: the default stream stays sklearn's
                    dropout_seed = self._random_state.randint(np.iinfo(np.int32).max)

                accumulated_loss = engine.run_epoch(
                    params, sample_idx, batch_size, optimizer, dropout_seed
                )

                self.n_iter_ += 1
                self.loss_ = accumulated_loss / X_train.shape[0]

                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

                val_score = None
                if Y_val is not None:
                    val_score, val_loss = self._validation_step(
                        X_val, y_val, Y_val, sample_weight_val
                    )
                    self.validation_loss_curve_.append(val_loss)
                self._update_no_improvement_count(early_stopping, val_score)

                # for learning rate that needs to be updated at iteration end
                optimizer.iteration_ends(self.t_)

                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than "
                            "tol=%f for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f"
                            " for %d consecutive epochs."
                            % (self.tol, self.n_iter_no_change)
                        )

                    is_stopping = optimizer.trigger_stopping(msg, self.verbose)
                    if is_stopping:
                        break
                    else:
                        self._no_improvement_count = 0

                if incremental:
                    break

                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        # private, for the benchmark's report: which way the calls went
        self._split_whole_calls = engine.path.calls_by_way()

        if early_stopping:
            # restore best weights; as in scikit-learn, the best weights then are
            # the live ones until a later fit finds a better score
            if self._best_params is not None:
                params[...] = self._best_params
            self._best_params = None

    def _update_no_improvement_count(self, early_stopping, val_score):
        if early_stopping:
            # the validation score (can be NaN) decides when to stop
            self.validation_scores_.append(val_score)

            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last_valid_score = self.validation_scores_[-1]

            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0

            if last_valid_score > self.best_validation_score_:
                self.best_validation_score_ = last_valid_score
                self._best_params = self._params_flat.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
    ):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        X_val : {array-like, sparse matrix} of shape (n_val, n_features), \
                default=None
            fastmlp only: a validation set of your own. With
            ``early_stopping=True`` it replaces the random split of
            ``validation_fraction`` of the training data (which then all goes to
            training); either way the loss on it is recorded in
            ``validation_loss_curve_`` after every epoch (sgd and adam).

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val``; required with it.

        sample_weight_val : array-like of shape (n_val,), default=None
            Sample weights of the validation set.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together.")
        if X_val is None and sample_weight_val is not None:
            raise ValueError("sample_weight_val needs X_val and y_val.")
        validation = None if X_val is None else (X_val, y_val, sample_weight_val)
        return self._fit(
            X, y, sample_weight=sample_weight, incremental=False, validation=validation
        )

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver
            )
        return True

    def _score(self, X, y, sample_weight=None):
        """Private score method without input validation."""
        return self._score_prediction(
            y, self._predict(X, check_input=False), sample_weight
        )

    def _score_prediction(self, y, y_pred, sample_weight):
        """Accuracy or R2 of ``y_pred``; NaN when the network's output is not finite."""
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    def to_sklearn(self):
        """A fitted ``sklearn.neural_network`` estimator with this model's weights.

        Its predictions are identical, so scikit-learn's inspection tools,
        skl2onnx and deployments that expect scikit-learn's class work as they
        are; ``warm_start`` and ``partial_fit`` continue from the same state.

        Returns
        -------
        estimator : sklearn.neural_network.MLPClassifier or MLPRegressor

        Raises
        ------
        NotFittedError
            If this estimator is not fitted.
        ValueError
            If its hidden activation is one scikit-learn does not have.

        See Also
        --------
        fastmlp.from_sklearn : The conversion the other way.
        """
        if is_classifier(self):
            return sklearn_copy(self, _sklearn_nn.MLPClassifier)
        return sklearn_copy(self, _sklearn_nn.MLPRegressor)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_SNAPSHOT_TRIES = 8


def _check_weight_sums(sample_weight, batches, dtype):
    """scikit-learn's ZeroDivisionError for a batch whose weights sum to zero.

    ``batches`` are the rows of each batch, as indices into ``sample_weight``.

    Its losses take ``np.average`` over each batch with the sample weights,
    which raises when they sum to zero (possible only with weights of both
    signs): the same sum, in the same dtype, is checked before the batches run.
    """
    sum_dtype = np.result_type(dtype, sample_weight.dtype)
    for rows in batches:
        if np.sum(sample_weight[rows], dtype=sum_dtype) == 0.0:
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")


def _objective_in(dtype, loss_grad, n_params):
    """``loss_grad`` of float64 parameters, computed in ``dtype``.

    float64 is ``loss_grad`` itself. Otherwise each point is rounded to
    ``dtype``, and the loss to ``dtype`` too, as scipy's L-BFGS-B does for
    an objective whose starting point is float32; the gradient is returned
    in float64, the driver's dtype.
    """
    if dtype == np.float64:
        return loss_grad
    point = np.empty(n_params, dtype=dtype)
    gradient = np.empty(n_params, dtype=np.float64)

    def objective(params):
        point[...] = params
        loss, grad = loss_grad(point)
        gradient[...] = grad
        return float(dtype.type(loss)), gradient

    return objective


class FittedModel(NamedTuple):
    """What a prediction needs of a fitted estimator, from one fit."""

    layout: ParameterLayout
    params: np.ndarray
    out_activation: str
    label_binarizer: object  # None for a regressor


@functools.cache
def _param_names_of(cls):
    return frozenset(cls._get_param_names())


def _still_in_place(made, arrays, owner):
    """Whether ``arrays`` holds the very views in ``made``, as they were made.

    ``owner`` is the array whose memory the parameter buffer is: a deep copy
    of the estimator copies each view into an array of its own.
    """
    if not isinstance(arrays, list) or len(arrays) != len(made):
        return False
    return all(
        array is view
        and array.base is owner
        and array.shape == shape
        and array.dtype == dtype
        for array, (view, shape, dtype) in zip(arrays, made, strict=True)
    )

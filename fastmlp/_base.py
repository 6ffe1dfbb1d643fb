"""BaseMultilayerPerceptron: parameters, validation, initialization, fit and predict.

This module and its two mixins read like scikit-learn's
``_multilayer_perceptron.py`` on purpose: every decision taken once per fit or
once per epoch (validation, random-number draws, early stopping, schedules,
warnings, verbose output) happens in Python in scikit-learn's order, which is
what makes exact parity possible. The loops over epochs and L-BFGS iterations
are in ``_fit_loops``, the fitted state (one parameter buffer, published whole)
in ``_fitted_state``. What scikit-learn does per mini-batch (forward, loss,
backward, optimizer step) runs in compiled kernels (``fastmlp._engine``).
"""

from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.neural_network import _multilayer_perceptron as _sklearn_mlp
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._engine.buffers import make_net
from ._engine.input_form import fit_form
from ._engine.param_layout import ParameterLayout
from ._engine.prediction import forward, split_units
from ._engine.randomness import check_random_state
from ._fit_loops import FitLoops
from ._fitted_state import FittedState
from ._kernels.activations import ACTIVATION_CODES
from ._kernels.losses import LOSS_CODES
from ._kernels.tunables import SPLIT_GRADIENT_MACS
from ._quick_prediction import quick_output
from ._runtime.thread_plan import thread_plan, threads_asked
from ._sklearn import originals as _sklearn_nn  # never the patched classes
from ._sklearn.checked_params import CheckedOnce
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


class BaseMultilayerPerceptron(FitLoops, FittedState, CheckedOnce, BaseEstimator, ABC):
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
        "n_jobs": [
            Interval(Integral, 1, None, closed="left"),
            Interval(Integral, None, -1, closed="right"),
            None,
        ],
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

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _check_is_fitted(self):
        """scikit-learn's ``check_is_fitted(self)``, without its ~10 us when fitted.

        It passes for an estimator with any attribute ending in ``_``: a
        fitted one has ``coefs_``; for any other, it runs and raises its own
        error.
        """
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)

    def _forward_pass_fast(self, X, check_input=True, model=None):
        """Output-layer values for ``X`` (validated unless ``check_input`` is false).

        ``model`` is a :meth:`_model_snapshot` (taken here if not given): the
        output is that model's, whatever other threads fit meanwhile.
        """
        if model is None:
            if check_input:
                quick = quick_output(self, X)
                if quick is not None:
                    return quick[0]
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
        quick = quick_output(self, X) if check_input else None
        if quick is None:
            model = self._model_snapshot()
            output = self._forward_pass_fast(X, check_input=check_input, model=model)
        else:
            output, model = quick
        return self._output_to_prediction(output, model.label_binarizer)

    def _forward_with(self, X, layout, params, out_activation=None):
        """Output-layer values for validated ``X`` through parameters ``params``."""
        # NumPy's promotion, as scikit-learn's products give: a float32 model
        # keeps float32 for bool and small integer X
        if X.dtype is not params.dtype:  # the same dtype: nothing to convert
            dtype = np.result_type(X.dtype, params.dtype)
            if dtype not in (np.float32, np.float64):
                dtype = np.dtype(np.float64)
            if params.dtype != dtype:
                params = params.astype(dtype)
            if X.dtype != dtype:
                X = X.astype(dtype)
        net = self._net(layout, out_activation=out_activation)
        n_jobs = threads_asked(self.n_jobs)
        return forward(X, params, layout, net, n_jobs, type(self).__name__)

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
        X = fit_form(X, layer_units)  # mostly-zero dense X as CSR: the zeros skipped
        if self.solver in _STOCHASTIC_SOLVERS:
            splittable = self.dropout == 0
            self._fit_stochastic(
                X, y, sample_weight, layout, incremental, validation, splittable
            )
        elif self.solver == "lbfgs":
            plan = thread_plan(
                split_units(layout.layer_units, X),
                n_samples,
                threads_asked(self.n_jobs),
                min_macs=SPLIT_GRADIENT_MACS,
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

"""The loops of a fit: epochs of SGD and Adam, and L-BFGS, in scikit-learn's order.

Everything scikit-learn decides once per epoch (shuffling, the validation
split and score, early stopping, learning-rate schedules, warnings, verbose
output) happens here in Python, in scikit-learn's order and with its random
draws: that is what makes the same ``random_state`` give the same weights.
The mini-batches of an epoch run in compiled kernels, a call at a time
(``fastmlp._engine.training.Engine``).
"""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import gen_batches
from sklearn.utils.validation import _check_sample_weight, check_array

from ._engine.prediction import split_units, validation_loss
from ._engine.randomness import shuffled
from ._engine.solvers import AdamOptimizer, SGDOptimizer, minimize_lbfgs
from ._engine.training import Engine
from ._runtime.thread_plan import thread_plan, threads_asked
from ._sklearn.early_stopping import validation_split


class FitLoops:
    """Mixin of :class:`fastmlp._base.BaseMultilayerPerceptron`: its solvers' loops."""

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
        self, X, y, sample_weight, layout, incremental, validation, splittable
    ):
        """Epochs of SGD or Adam; batches split across threads if ``splittable``."""
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

        # CSR rows: priced by their stored values, as predictions are
        layer_units = split_units(layout.layer_units, X_train)
        n_jobs = threads_asked(self.n_jobs)
        with thread_plan(layer_units, batch_size, n_jobs, splittable) as n_parts:
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
            signed = (
                sample_weight_train is not None and (sample_weight_train <= 0).any()
            )
            try:
                self.n_iter_ = 0
                for _ in range(self.max_iter):
                    if self.shuffle:
                        sample_idx = shuffled(sample_idx, self._random_state)
                    if signed:
                        batches = gen_batches(n_samples, batch_size)
                        batch_rows = [sample_idx[batch] for batch in batches]
                        _check_weight_sums(
                            sample_weight_train, batch_rows, params.dtype
                        )
                    dropout_seed = 0
                    if self.dropout > 0:
                        # drawn only with dropout: the default stream stays sklearn's
                        dropout_seed = self._random_state.randint(
                            np.iinfo(np.int32).max
                        )

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

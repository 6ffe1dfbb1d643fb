"""Copying fitted state between fastmlp's and scikit-learn's MLP estimators.

The conversions behind ``fastmlp._interchange`` (which checks the types):
:func:`sklearn_copy` hands a fitted fastmlp model to the scikit-learn ecosystem,
:func:`fastmlp_copy` brings a fitted scikit-learn model to fastmlp's engine.
Invariant: both copy every fitted attribute the two share (the same predictions)
and convert the optimizer's state (SGD velocities, Adam moments and time step,
the current learning rate), so ``partial_fit`` on the copy continues exactly where
the original stopped. :class:`~fastmlp._engine.param_layout.ParameterLayout`
converts scikit-learn's list of arrays to fastmlp's flat buffer and back. What is
copied, and what does not convert: ``docs/interchange_and_dask.md``.
"""

import copy

import numpy as np
from sklearn.base import is_classifier
from sklearn.neural_network import _stochastic_optimizers as _sklearn_optimizers
from sklearn.utils.validation import check_is_fitted

from .._engine.param_layout import ParameterLayout
from .._engine.solvers import AdamOptimizer, SGDOptimizer

SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")

# Fitted attributes both libraries have, copied as they are (deep copies);
# each is copied only when the source has it (L-BFGS fits have no loss curve,
# unpickled old models may lack private ones).
_SHARED_FITTED_ATTRIBUTES = (
    "n_features_in_",
    "feature_names_in_",
    "n_outputs_",
    "n_layers_",
    "out_activation_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
    "_no_improvement_count",
)


def _check_fitted(estimator):
    check_is_fitted(estimator, attributes=["coefs_", "intercepts_"])


def _split(flat, layout):
    """``coefs + intercepts`` as a list of new arrays (scikit-learn's layout)."""
    coefs, intercepts = layout.views(flat)
    return [c.copy() for c in coefs] + [i.copy() for i in intercepts]


def _matches(arrays, layout):
    """Whether ``arrays`` (scikit-learn's list) has ``layout``'s shapes."""
    shapes = layout.shapes()
    expected = list(shapes) + [(fan_out,) for _, fan_out in shapes]
    return len(arrays) == len(expected) and all(
        np.shape(array) == shape for array, shape in zip(arrays, expected)
    )


def _pack(arrays, layout, dtype):
    """scikit-learn's ``coefs + intercepts`` list packed into a new flat array."""
    n_layers = layout.n_layers - 1
    return layout.pack(arrays[:n_layers], arrays[n_layers:], dtype)


def _copy_fitted_attributes(source, target):
    for name in _SHARED_FITTED_ATTRIBUTES:
        if hasattr(source, name):
            setattr(target, name, copy.deepcopy(getattr(source, name)))
    if is_classifier(source):
        binarizer = copy.deepcopy(source._label_binarizer)
        target._label_binarizer = binarizer
        if source.classes_ is source._label_binarizer.classes_:
            target.classes_ = binarizer.classes_
        else:
            target.classes_ = copy.deepcopy(source.classes_)


def _common_params(source, target_class):
    """``source``'s parameters that ``target_class`` accepts, deep-copied.

    Deep copies (as :func:`sklearn.base.clone` makes them) keep a
    ``RandomState`` passed as ``random_state`` from being shared, so that the
    two estimators draw the same numbers independently.
    """
    accepted = target_class().get_params(deep=False)
    return {
        name: copy.deepcopy(value)
        for name, value in source.get_params(deep=False).items()
        if name in accepted
    }


def _sklearn_optimizer(optimizer, layout):
    """scikit-learn's optimizer object holding fastmlp ``optimizer``'s state."""
    if isinstance(optimizer, SGDOptimizer):
        velocities = _split(optimizer.velocities, layout)
        converted = _sklearn_optimizers.SGDOptimizer(
            velocities,
            optimizer.learning_rate_init,
            optimizer.lr_schedule,
            optimizer.momentum,
            optimizer.nesterov,
            optimizer.power_t,
        )
        converted.velocities = velocities
    elif isinstance(optimizer, AdamOptimizer):
        first_moments = _split(optimizer.first_moments, layout)
        converted = _sklearn_optimizers.AdamOptimizer(
            first_moments,
            optimizer.learning_rate_init,
            optimizer.beta_1,
            optimizer.beta_2,
            optimizer.epsilon,
        )
        converted.ms = first_moments
        converted.vs = _split(optimizer.second_moments, layout)
        converted.t = int(optimizer.step)
    else:  # pragma: no cover - fastmlp makes only the two above
        raise TypeError(f"Unknown optimizer {type(optimizer).__name__}.")
    converted.learning_rate = optimizer.learning_rate
    return converted


def _fastmlp_optimizer(optimizer, layout, dtype):
    """fastmlp's optimizer holding scikit-learn ``optimizer``'s state."""
    if isinstance(optimizer, _sklearn_optimizers.SGDOptimizer):
        converted = SGDOptimizer(
            layout.size,
            dtype,
            optimizer.learning_rate_init,
            optimizer.lr_schedule,
            optimizer.momentum,
            optimizer.nesterov,
            optimizer.power_t,
        )
        converted.velocities = _pack(optimizer.velocities, layout, dtype)
    elif isinstance(optimizer, _sklearn_optimizers.AdamOptimizer):
        converted = AdamOptimizer(
            layout.size,
            dtype,
            optimizer.learning_rate_init,
            optimizer.beta_1,
            optimizer.beta_2,
            optimizer.epsilon,
        )
        converted.first_moments = _pack(optimizer.ms, layout, dtype)
        converted.second_moments = _pack(optimizer.vs, layout, dtype)
        converted.step = int(optimizer.t)
    else:
        raise TypeError(
            f"Cannot convert scikit-learn optimizer {type(optimizer).__name__}."
        )
    converted.learning_rate = optimizer.learning_rate
    return converted


def _sklearn_optimizer_state(optimizer):
    if isinstance(optimizer, _sklearn_optimizers.SGDOptimizer):
        return [optimizer.velocities]
    if isinstance(optimizer, _sklearn_optimizers.AdamOptimizer):
        return [optimizer.ms, optimizer.vs]
    return []


def sklearn_copy(estimator, target_class):
    """Fitted scikit-learn ``target_class`` with fitted fastmlp ``estimator``'s state.

    The conversion behind :func:`fastmlp._interchange.to_sklearn` (which checks
    the types) and ``to_sklearn`` methods.
    """
    _check_fitted(estimator)
    if estimator.activation not in SKLEARN_ACTIVATIONS:
        raise ValueError(
            f"This model uses activation={estimator.activation!r}, which "
            "scikit-learn's MLP estimators cannot compute (they support "
            f"{', '.join(map(repr, SKLEARN_ACTIVATIONS))}); it cannot be "
            "converted. Refit with one of those to export it."
        )

    converted = target_class(**_common_params(estimator, target_class))
    _copy_fitted_attributes(estimator, converted)

    layout, flat = estimator._current_params()
    n_layers = layout.n_layers - 1
    params = _split(flat, layout)
    converted.coefs_ = params[:n_layers]
    converted.intercepts_ = params[n_layers:]

    # scikit-learn keeps copies of the best weights for early stopping; after a
    # fit that stopped early they *are* coefs_/intercepts_ (the same lists),
    # which fastmlp records as _best_params = None.
    best = getattr(estimator, "_best_params", None)
    if best is None or best.shape != flat.shape:
        converted._best_coefs = converted.coefs_
        converted._best_intercepts = converted.intercepts_
    else:
        best_params = _split(best, layout)
        converted._best_coefs = best_params[:n_layers]
        converted._best_intercepts = best_params[n_layers:]

    optimizer = getattr(estimator, "_optimizer", None)
    if optimizer is not None and optimizer.state()[0].shape == flat.shape:
        converted._optimizer = _sklearn_optimizer(optimizer, layout)
    return converted


def fastmlp_copy(estimator, target_class):
    """Fitted fastmlp ``target_class`` with fitted scikit-learn ``estimator``'s state.

    The conversion behind :func:`fastmlp._interchange.from_sklearn`, which
    checks the types.
    """
    _check_fitted(estimator)

    converted = target_class(**_common_params(estimator, target_class))
    _copy_fitted_attributes(estimator, converted)

    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    layout = ParameterLayout.of_coefs(coefs)
    dtype = np.result_type(*coefs, *intercepts)
    converted._set_params_flat(layout.pack(coefs, intercepts, dtype), layout)

    best_coefs = getattr(estimator, "_best_coefs", None)
    best_intercepts = getattr(estimator, "_best_intercepts", None)
    if (
        best_coefs is None
        or best_intercepts is None
        or (best_coefs is estimator.coefs_ and best_intercepts is estimator.intercepts_)
        or not _matches(list(best_coefs) + list(best_intercepts), layout)
    ):
        # Aliased to the live weights (after an early-stopping fit): fastmlp
        # says so with None.
        converted._best_params = None
    else:
        converted._best_params = layout.pack(best_coefs, best_intercepts, dtype)

    optimizer = getattr(estimator, "_optimizer", None)
    state = _sklearn_optimizer_state(optimizer)
    # A stale optimizer (the network changed shape since it was made) is left
    # behind: fastmlp would make a new one at the next partial_fit anyway.
    if state and all(_matches(arrays, layout) for arrays in state):
        converted._optimizer = _fastmlp_optimizer(optimizer, layout, dtype)
    return converted

"""The public conversions between fastmlp's and scikit-learn's fitted MLP estimators.

:func:`to_sklearn` and :func:`from_sklearn` check what they are given and
hand the copy to :mod:`fastmlp._sklearn.interchange`, which knows both
libraries' fitted attributes and optimizer state (re-verified on every
scikit-learn release). This module sits above the estimators; the estimators'
``to_sklearn`` method calls the conversion directly, so nothing imports back up.
"""

from ._classes import MLPClassifier, MLPRegressor
from ._sklearn import originals as _sklearn_nn  # never the patched classes
from ._sklearn.interchange import fastmlp_copy, sklearn_copy


def to_sklearn(estimator):
    """Convert a fitted fastmlp estimator into scikit-learn's.

    The result is a fitted ``sklearn.neural_network.MLPClassifier`` (for
    :class:`fastmlp.MLPClassifier`) or ``MLPRegressor`` with the same
    scikit-learn parameters and copies of every fitted attribute scikit-learn
    has: weights, curves, counters, classes and, for the stochastic solvers,
    scikit-learn's own optimizer object rebuilt from fastmlp's state (SGD
    velocities, Adam moments and time step ``t``, the current learning rate).
    Its predictions are identical, and its ``partial_fit`` continues exactly
    where ``estimator``'s would; ``warm_start`` continues from the same weights.

    fastmlp-only training options (``class_weight``, ``dropout``, ``n_jobs``)
    have no scikit-learn counterpart and are not carried over; they do not
    affect predictions. The two models share no arrays.

    Parameters
    ----------
    estimator : fastmlp.MLPClassifier or fastmlp.MLPRegressor
        A fitted estimator.

    Returns
    -------
    sklearn_estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        The fitted scikit-learn estimator.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    ValueError
        If the model uses something scikit-learn cannot represent: a hidden
        activation other than ``'identity'``, ``'logistic'``, ``'tanh'`` and
        ``'relu'``.

    See Also
    --------
    from_sklearn : The reverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import MLPClassifier
    >>> X = np.random.RandomState(0).normal(size=(40, 3))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(X, y)
    >>> sk = clf.to_sklearn()
    >>> type(sk).__module__
    'sklearn.neural_network._multilayer_perceptron'
    >>> np.allclose(sk.predict_proba(X), clf.predict_proba(X), rtol=1e-12)
    True
    """
    if isinstance(estimator, MLPClassifier):
        target_class = _sklearn_nn.MLPClassifier
    elif isinstance(estimator, MLPRegressor):
        target_class = _sklearn_nn.MLPRegressor
    else:
        raise TypeError(
            "to_sklearn expects a fastmlp MLPClassifier or MLPRegressor, got "
            f"{type(estimator).__name__}."
        )
    return sklearn_copy(estimator, target_class)


def from_sklearn(estimator):
    """Convert a fitted scikit-learn MLP estimator into fastmlp's.

    The result is a fitted :class:`fastmlp.MLPClassifier` (for
    ``sklearn.neural_network.MLPClassifier``) or :class:`fastmlp.MLPRegressor`
    with the same parameters (fastmlp-only ones at their defaults), the same
    fitted attributes and the optimizer's state converted, so that its
    predictions are identical and ``partial_fit`` and ``warm_start`` continue
    exactly where ``estimator`` stopped, on fastmlp's compiled engine. The two
    models share no arrays.

    Parameters
    ----------
    estimator : sklearn.neural_network.MLPClassifier or MLPRegressor
        A fitted estimator.

    Returns
    -------
    fastmlp_estimator : fastmlp.MLPClassifier or fastmlp.MLPRegressor
        The fitted fastmlp estimator.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    fastmlp.MLPClassifier.to_sklearn : The reverse conversion.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> from fastmlp import from_sklearn
    >>> X = np.random.RandomState(0).normal(size=(40, 3))
    >>> sk = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    >>> sk = sk.fit(X, X[:, 0])
    >>> fast = from_sklearn(sk)
    >>> type(fast).__name__
    'MLPRegressor'
    >>> np.allclose(fast.predict(X), sk.predict(X), rtol=1e-12)
    True
    """
    if isinstance(estimator, _sklearn_nn.MLPClassifier):
        target_class = MLPClassifier
    elif isinstance(estimator, _sklearn_nn.MLPRegressor):
        target_class = MLPRegressor
    else:
        raise TypeError(
            "from_sklearn expects a sklearn.neural_network MLPClassifier or "
            f"MLPRegressor, got {type(estimator).__name__}."
        )
    return fastmlp_copy(estimator, target_class)

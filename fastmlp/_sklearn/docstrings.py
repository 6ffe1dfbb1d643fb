"""The estimators' docstrings: scikit-learn's own, after a preface on what fastmlp adds.

Taken from the installed scikit-learn at import, so they follow its release.
"""

_FASTMLP_PREFACE = """{name}, trained by fastmlp's compiled engine.

    A drop-in replacement for ``sklearn.neural_network.{name}``: the same
    parameters, methods, attributes, warnings and errors, and with the same
    ``random_state`` the same fitted weights (to floating-point tolerance),
    while each epoch of mini-batches runs in Numba-compiled code.

    Parameters beyond scikit-learn's (keyword-only, off by default):

    class_weight : dict, 'balanced' or None, default=None
        Classifier only: weights samples by class (multiplies ``sample_weight``),
        as in ``LogisticRegression``.
    dropout : float in [0, 1), default=0.0
        Inverted dropout on hidden units for sgd/adam, reproducible from
        ``random_state``.
    n_jobs : int or None, default=None
        Threads for one fit or prediction. ``None``: batches of at least 100k
        multiply-adds (forward pass) may be split across threads, as many as
        BLAS may use (so ``threadpoolctl`` and joblib's worker limits hold),
        each thread with single-threaded BLAS; the fit times a few calls split
        and whole, keeps the faster way, and times both again now and then
        (which wins depends on the machine, not only on the sizes). Smaller
        batches run in one thread with single-threaded BLAS. An int: that many
        threads (``1``: one thread; negative ones count back from the CPUs the
        process may use, as joblib's do: ``-1`` all of them); predictions
        under 1M multiply-adds run in one thread whatever ``n_jobs``. Fits
        with dropout are not split: ``n_jobs`` then sets BLAS's threads, and
        BLAS may round differently with another thread count. Otherwise
        models and predictions are the same whatever ``n_jobs``, bit for bit.

    ``fit`` also takes ``X_val``, ``y_val`` and ``sample_weight_val`` (a
    validation set of your own) and the fitted model has
    ``validation_loss_curve_``.

    scikit-learn's documentation follows.

    """


def adapted_docstring(sklearn_class):
    """scikit-learn's docstring for ``sklearn_class``, pointed at fastmlp."""
    doc = sklearn_class.__doc__ or ""
    doc = doc.replace("from sklearn.neural_network import", "from fastmlp import")
    return _FASTMLP_PREFACE.format(name=sklearn_class.__name__) + doc

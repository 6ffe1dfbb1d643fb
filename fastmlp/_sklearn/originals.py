"""scikit-learn's own MLP classes, whatever :func:`fastmlp.patch_sklearn` did since.

Captured when fastmlp is imported (before it can patch anything), so that the
code that needs scikit-learn's real classes (``to_sklearn``, ``from_sklearn``,
the ONNX registration, unpatching) never gets fastmlp's by looking them up in a
patched ``sklearn.neural_network``. Imported as ``_sklearn_nn`` by those
modules: ``_sklearn_nn.MLPClassifier`` is always scikit-learn's.

:func:`fastmlp_state` is how a pickled scikit-learn model loads as fastmlp's:
pickle finds a class by its module and name, so while scikit-learn is patched
a model pickled by scikit-learn (``sklearn.neural_network._multilayer_perceptron.
MLPClassifier``) is rebuilt as fastmlp's class, with scikit-learn's state.
"""

from sklearn.neural_network import _multilayer_perceptron as _sklearn_mlp

from .interchange import _common_params, fastmlp_copy

MLPClassifier = _sklearn_mlp.MLPClassifier
MLPRegressor = _sklearn_mlp.MLPRegressor

# Classes by the name both libraries give them
BY_NAME = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}


def fastmlp_state(fastmlp_class, state):
    """``state`` for an instance of ``fastmlp_class``: as it is if fastmlp's own.

    A scikit-learn model's state (it has no ``n_jobs``, which every fastmlp
    estimator has) is loaded into scikit-learn's class, then converted as
    :func:`fastmlp.from_sklearn` converts (same predictions, the optimizer's
    state carried over; fastmlp-only parameters at their defaults).
    """
    if not isinstance(state, dict) or "n_jobs" in state:
        return state
    names = [c.__name__ for c in fastmlp_class.__mro__ if c.__name__ in BY_NAME]
    if not names:
        return state
    original = BY_NAME[names[0]]
    model = original.__new__(original)
    model.__setstate__(state)  # scikit-learn's own checks (e.g. its version)
    if getattr(model, "coefs_", None) is not None:
        converted = fastmlp_copy(model, fastmlp_class)
    else:
        converted = fastmlp_class(**_common_params(model, fastmlp_class))
    return converted.__getstate__()

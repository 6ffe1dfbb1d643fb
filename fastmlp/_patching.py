"""Patching scikit-learn: its MLP estimators become fastmlp's, without editing code.

:func:`patch_sklearn` sets ``MLPClassifier`` and ``MLPRegressor`` in
``sklearn.neural_network`` and ``sklearn.neural_network._multilayer_perceptron``
(where scikit-learn defines them and pickle looks them up) to fastmlp's;
:func:`unpatch_sklearn` puts scikit-learn's back. Only names looked up after
patching change (hence ``python -m fastmlp run``). A fastmlp estimator pickles
under its own class path; while patched, a scikit-learn pickle loads as fastmlp's.
The switch is process-wide, serialized by a lock (safe and idempotent from two
threads), but not atomic for other threads. How and why, measured:
``docs/design/patching.md``.
"""

import contextlib
import copyreg
import importlib
import pkgutil
import threading
from abc import ABCMeta

from ._classes import MLPClassifier, MLPRegressor
from ._sklearn import originals

# Where the names are patched: the public module, and the one that defines the
# classes (the path in scikit-learn's pickles and in its classes' repr)
MODULES = ("sklearn.neural_network", "sklearn.neural_network._multilayer_perceptron")
REPLACEMENTS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

_lock = threading.RLock()


# scikit-learn's classes as pkgutil.resolve_name finds them
_PATHS = {c: f"{c.__module__}:{c.__qualname__}" for c in originals.BY_NAME.values()}
_replaced_reducer = []  # a reducer for ABCMeta found when patching (none usually)


def _reduce_class(cls):
    """How pickle refers to a class of metaclass ``ABCMeta`` while patched.

    scikit-learn's two MLP classes by ``pkgutil.resolve_name`` of their usual
    path (pickle's own reference would fail: that name now leads to fastmlp's
    class); every other class as pickle refers to it itself.
    """
    path = _PATHS.get(cls)
    if path is not None:
        return pkgutil.resolve_name, (path,)
    if _replaced_reducer:
        return _replaced_reducer[0](cls)
    return cls.__qualname__  # pickle's own reference (save_global)


def sklearn_is_patched():
    """Whether ``sklearn.neural_network``'s MLP estimators are fastmlp's now."""
    with _lock:
        return all(
            getattr(importlib.import_module(module), name) is cls
            for module in MODULES
            for name, cls in REPLACEMENTS.items()
        )


def patch_sklearn():
    """Make scikit-learn's ``MLPClassifier`` and ``MLPRegressor`` fastmlp's.

    ``sklearn.neural_network.MLPClassifier`` (and ``MLPRegressor``, and both
    in ``sklearn.neural_network._multilayer_perceptron``) looked up after this
    call are :class:`fastmlp.MLPClassifier` (``MLPRegressor``): they take the
    same parameters and, with the same ``random_state``, fit the same model.
    Names imported before the call are not changed. Calling it again does
    nothing; :func:`unpatch_sklearn` undoes it. To patch a whole program
    without editing it: ``python -m fastmlp run program.py [args]``.

    Examples
    --------
    >>> import fastmlp
    >>> fastmlp.patch_sklearn()
    >>> from sklearn.neural_network import MLPClassifier
    >>> MLPClassifier.__module__
    'fastmlp._classes'
    >>> fastmlp.unpatch_sklearn()
    >>> from sklearn.neural_network import MLPClassifier
    >>> MLPClassifier.__module__
    'sklearn.neural_network._multilayer_perceptron'
    """
    with _lock:
        current = copyreg.dispatch_table.get(ABCMeta)
        if current is not _reduce_class:
            _replaced_reducer[:] = [current] if current is not None else []
            copyreg.dispatch_table[ABCMeta] = _reduce_class
        for module_name in MODULES:
            module = importlib.import_module(module_name)
            for name, cls in REPLACEMENTS.items():
                setattr(module, name, cls)


def unpatch_sklearn():
    """Put scikit-learn's own ``MLPClassifier`` and ``MLPRegressor`` back.

    Undoes :func:`patch_sklearn` (nothing if not patched). A name that
    something else set since is left as it is. Estimators made while patched
    stay fastmlp's.
    """
    with _lock:
        for module_name in MODULES:
            module = importlib.import_module(module_name)
            for name, cls in REPLACEMENTS.items():
                if getattr(module, name, None) is cls:
                    setattr(module, name, originals.BY_NAME[name])
        if copyreg.dispatch_table.get(ABCMeta) is _reduce_class:
            if _replaced_reducer:
                copyreg.dispatch_table[ABCMeta] = _replaced_reducer.pop()
            else:
                del copyreg.dispatch_table[ABCMeta]


@contextlib.contextmanager
def sklearn_patched():
    """``with fastmlp.sklearn_patched():``: patched inside, as before after.

    Leaves scikit-learn patched on exit if it was patched on entry. The patch
    is process-wide: other threads see it too while the block runs.
    """
    with _lock:
        was_patched = sklearn_is_patched()
        patch_sklearn()
    try:
        yield
    finally:
        if not was_patched:
            unpatch_sklearn()

"""Shared helpers of the reliability and property tests."""

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn import neural_network as sknn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import fastmlp

REPO_ROOT = Path(__file__).resolve().parents[1]

# What a fit adds to an estimator besides input bookkeeping (n_features_in_,
# feature_names_in_, classes_): none of these may appear after a failed first fit.
MODEL_ATTRIBUTES = [
    "coefs_",
    "intercepts_",
    "n_iter_",
    "t_",
    "loss_",
    "loss_curve_",
    "n_layers_",
    "n_outputs_",
    "out_activation_",
    "best_loss_",
    "validation_scores_",
    "best_validation_score_",
]


# Every fitted attribute scikit-learn's MLPs have. fastmlp may add its own
# (e.g. a validation loss curve); after a successful fit only these are compared.
SKLEARN_ATTRIBUTES = sorted(
    MODEL_ATTRIBUTES + ["n_features_in_", "feature_names_in_", "classes_"]
)


def pair(cls_name, **params):
    """``(fastmlp estimator, scikit-learn estimator)`` with the same parameters."""
    return getattr(fastmlp, cls_name)(**params), getattr(sknn, cls_name)(**params)


def raised(func):
    """``(exception type, message)`` raised by ``func()``, or ``(None, None)``."""
    try:
        func()
    except Exception as exc:  # noqa: BLE001 - whatever is raised is compared
        return type(exc), str(exc)
    return None, None


def fitted_attributes(est):
    """Public attributes a fit sets: names ending in ``_`` in ``vars(est)``."""
    return sorted(
        name for name in vars(est) if name.endswith("_") and not name.startswith("_")
    )


def shared_attributes(est):
    """The fitted attributes of ``est`` that scikit-learn's estimators also have."""
    return [name for name in fitted_attributes(est) if name in SKLEARN_ATTRIBUTES]


def model_arrays(est):
    """Every fitted weight array, coefs first."""
    return list(est.coefs_) + list(est.intercepts_)


def assert_bitwise_equal_models(a, b):
    """Same layer shapes, dtypes and bit-identical weights."""
    arrays_a, arrays_b = model_arrays(a), model_arrays(b)
    assert len(arrays_a) == len(arrays_b)
    for x, y in zip(arrays_a, arrays_b):
        assert x.dtype == y.dtype
        assert_array_equal(x, y, strict=True)


def snapshot(est):
    """Copies of the weights, to check later that they did not change."""
    return [np.array(w, copy=True) for w in model_arrays(est)]


# Lists a stochastic fit appends to, epoch after epoch, when it continues a
# model (warm_start, partial_fit): see assert_restored's ``ignore``.
CURVES = ("loss_curve_", "validation_loss_curve_", "validation_scores_")


class SavedState:
    """Everything an estimator holds, before a call that may fail.

    ``attributes`` deep-copies ``vars(est)`` (weights, optimizer moments, label
    binarizer, curves); ``views`` keeps the weight arrays themselves, which a
    failed call must leave in place (the same objects, the old values).
    """

    def __init__(self, est):
        self.attributes = copy.deepcopy(vars(est))
        self.views = model_arrays(est) if hasattr(est, "coefs_") else []


def _same(a, b):
    """Whether ``a`` and ``b`` hold the same values; arrays bit for bit."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.kind in "biufc":
            return a.tobytes() == b.tobytes()
        return bool(np.array_equal(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.random.RandomState):
        return _same(a.get_state(), b.get_state())
    if isinstance(a, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return _same(vars(a), vars(b))
    return bool(a == b)


def _assert_same_names(now, expected):
    gained = sorted(set(now) - set(expected))
    lost = sorted(set(expected) - set(now))
    assert not gained and not lost, f"attributes gained {gained}, lost {lost}"


def assert_restored(est, saved, ignore=()):
    """``est`` is exactly as ``saved`` recorded it (a failed call undone).

    The same attribute names; every value equal to the saved one (arrays bit
    for bit, the optimizer's moments and step included), except the names in
    ``ignore``; and the weight arrays the same objects, views of the parameter
    buffer that training continues from.
    """
    _assert_same_names(vars(est), saved.attributes)
    for name, value in saved.attributes.items():
        if name not in ignore:
            assert _same(getattr(est, name), value), (
                f"{name} changed: {getattr(est, name)!r}, was {value!r}"
            )
    if saved.views:
        now = model_arrays(est)
        assert len(now) == len(saved.views)
        assert all(a is b for a, b in zip(now, saved.views)), "new weight arrays"
        assert all(np.shares_memory(w, est._params_flat) for w in now)


def assert_unfitted(est, saved=None):
    """No trace of a fit: only the attributes ``__init__`` sets, none fitted.

    With ``saved`` (a :class:`SavedState` of the estimator before the call),
    also the very parameter values it had.
    """
    _assert_same_names(vars(est), vars(clone(est)))
    assert fitted_attributes(est) == [], fitted_attributes(est)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    if saved is not None:
        assert_restored(est, saved)


def assert_partial_fit_undone(est, saved, ignore=()):
    """:func:`assert_restored` (or :func:`assert_unfitted`) after a partial_fit."""
    if saved.views:
        assert_restored(est, saved, ignore)
    else:
        assert_unfitted(est, saved)


def run_python(code, env_updates=None, timeout=240):
    """Run ``code`` in a fresh interpreter (this venv, repo root as cwd).

    Returns the completed process; fails the calling test with the child's
    output when it exits non-zero (an abort, a crash or an exception).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.update(env_updates or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, (
        f"child exited with {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
    return proc

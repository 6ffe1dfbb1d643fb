"""Estimators pickled before fastmlp was grouped by layer still load.

Up to commit 0016d64 the package was flat. Pickles of fitted estimators written
by that code name, from fastmlp, only ``fastmlp._classes.MLPClassifier`` or
``MLPRegressor`` and, for "sgd" and "adam", the optimizer as
``fastmlp._solvers.SGDOptimizer`` or ``AdamOptimizer`` (the rest is numpy and
scikit-learn's ``LabelBinarizer``): found with ``pickle.Unpickler.find_class``
on both estimators, every solver, with and without early stopping, after
``partial_fit`` and in float32. The optimizer classes kept their attributes, so
the old pickles are written here as the old code wrote them: today's pickle
(protocol 2, where a class is a ``GLOBAL`` opcode in plain text) with the
optimizer's module renamed.
"""

import pickle
import pickletools

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastmlp
from fastmlp._engine import solvers
from tests._reliability_helpers import run_python

OLD_MODULE = b"cfastmlp._solvers\n"
NEW_MODULE = b"cfastmlp._engine.solvers\n"


def old_pickle(obj):
    """``obj`` pickled as fastmlp 0016d64 pickled it: its optimizer in _solvers."""
    data = pickle.dumps(obj, protocol=2)
    return data.replace(NEW_MODULE, OLD_MODULE)


def fastmlp_globals(data):
    """The ``module.name`` of every fastmlp class a pickle refers to."""
    return {
        arg.replace(" ", ".")
        for op, arg, _ in pickletools.genops(data)
        if op.name == "GLOBAL" and arg.startswith("fastmlp")
    }


def problem(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    if cls is fastmlp.MLPClassifier:
        return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return X, X @ [1.0, -2.0, 0.5, 0.0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cls", [fastmlp.MLPClassifier, fastmlp.MLPRegressor])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_an_old_pickle_loads_and_goes_on_as_todays(cls, solver):
    X, y = problem(cls)
    fitted = cls(hidden_layer_sizes=(5,), solver=solver, max_iter=4, random_state=0)
    fitted.fit(X, y)
    data = old_pickle(fitted)
    optimizer = {"sgd": "SGDOptimizer", "adam": "AdamOptimizer"}.get(solver)
    want = {f"fastmlp._classes.{cls.__name__}"}
    if optimizer:
        want.add(f"fastmlp._solvers.{optimizer}")
    assert fastmlp_globals(data) == want
    old = pickle.loads(data)
    today = pickle.loads(pickle.dumps(fitted))
    assert type(old) is cls
    assert_array_equal(old.predict(X), today.predict(X))
    if optimizer:
        assert type(old._optimizer) is getattr(solvers, optimizer)
        old.partial_fit(X, y)
        today.partial_fit(X, y)
    else:
        old.set_params(warm_start=True, max_iter=2).fit(X, y)
        today.set_params(warm_start=True, max_iter=2).fit(X, y)
    for got, expected in zip(old.coefs_, today.coefs_, strict=True):
        assert_array_equal(got, expected)
    # pickled again, it names today's modules
    assert "fastmlp._solvers" not in str(fastmlp_globals(pickle.dumps(old, 2)))


def test_an_old_pickle_loads_in_a_new_process():
    """Without ``import fastmlp`` first: unpickling imports what it needs."""
    optimizer = solvers.AdamOptimizer(6, np.float64, 0.01, 0.9, 0.999, 1e-8)
    data = old_pickle(optimizer)
    assert fastmlp_globals(data) == {"fastmlp._solvers.AdamOptimizer"}
    proc = run_python(
        f"""
        import pickle, sys
        assert "fastmlp" not in sys.modules
        optimizer = pickle.loads({data!r})
        from fastmlp._classes import MLPClassifier, MLPRegressor
        from fastmlp._engine.solvers import AdamOptimizer
        assert type(optimizer) is AdamOptimizer
        print(optimizer.first_moments.shape)
        """
    )
    assert proc.stdout.strip() == "(6,)"

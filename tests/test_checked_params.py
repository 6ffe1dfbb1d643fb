"""Parameter checks run once per set of values (``fastmlp._sklearn.checked_params``)."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
from fastmlp._sklearn import checked_params


@pytest.fixture
def checks(monkeypatch):
    """Count scikit-learn's own parameter checks, starting from none remembered."""
    monkeypatch.setattr(checked_params, "_passed", {})
    calls = []
    original = BaseEstimator._validate_params

    def counted(self):
        calls.append(self.get_params(deep=False))
        return original(self)

    monkeypatch.setattr(BaseEstimator, "_validate_params", counted)
    return calls


@pytest.mark.parametrize("cls", [fastmlp.MLPClassifier, fastmlp.MLPRegressor])
def test_parameter_names_are_sklearns_listing(cls):
    listed = BaseEstimator._get_param_names.__func__(cls)
    assert cls._get_param_names() == listed
    assert sorted(cls().get_params()) == listed
    names = fastmlp.MLPClassifier._get_param_names()
    assert set(SkClassifier._get_param_names()) < set(names)
    assert "class_weight" in names
    names.append("changed")  # a copy: the remembered names stay as they are
    assert "changed" not in fastmlp.MLPClassifier._get_param_names()


def test_a_set_of_values_that_passed_is_not_checked_again(checks):
    model = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0)
    model._validate_params()
    model._validate_params()
    clone(model)._validate_params()
    assert len(checks) == 1
    model.set_params(hidden_layer_sizes=[8])  # a list: another type
    model._validate_params()
    model.set_params(alpha=1e-3)
    model._validate_params()
    model.set_params(alpha=1e-3)
    model._validate_params()
    assert len(checks) == 3
    # the same values on the other class are checked for it
    fastmlp.MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=3, random_state=0
    )._validate_params()
    assert len(checks) == 4


def test_values_that_fail_are_checked_every_time(checks):
    model = fastmlp.MLPClassifier(max_iter=5)
    model._validate_params()
    for _ in range(2):
        # equal to 5 but a float: not the remembered values
        with pytest.raises(InvalidParameterError, match="max_iter"):
            model.set_params(max_iter=5.0)._validate_params()
        with pytest.raises(InvalidParameterError, match="alpha"):
            model.set_params(max_iter=5, alpha=-1.0)._validate_params()
        model.set_params(alpha=1e-4)
    assert len(checks) == 5


def test_unhashable_or_other_values_are_checked_every_time(checks):
    model = fastmlp.MLPClassifier(class_weight={0: 1.0, 1: 2.0})
    model._validate_params()
    model._validate_params()
    model.set_params(class_weight=None, random_state=np.random.RandomState(0))
    model._validate_params()
    model._validate_params()
    model.set_params(random_state=None, hidden_layer_sizes=np.array([4, 4]))
    model._validate_params()
    model._validate_params()
    assert len(checks) == 6


def test_value_keys_tell_types_apart():
    key = checked_params._value_key
    assert key(5) != key(5.0) != key(True)
    assert key((5,)) != key([5]) != key((5.0,))
    assert key(None) is not None
    assert key({"a": 1}) is None
    assert key((1, {})) is None
    assert key(np.array([1])) is None
    assert key(np.int64(3)) == (np.int64, np.int64(3))


def test_fit_errors_are_sklearns_after_a_good_fit():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = fastmlp.MLPClassifier((4,), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        model.fit(X, y)
    for bad, theirs in [("learning_rate", "nope"), ("momentum", 2.0)]:
        ours = fastmlp.MLPClassifier((4,), max_iter=2, random_state=0, **{bad: theirs})
        sk = SkClassifier((4,), max_iter=2, random_state=0, **{bad: theirs})
        with pytest.raises(InvalidParameterError) as got:
            ours.fit(X, y)
        with pytest.raises(InvalidParameterError) as want:
            sk.fit(X, y)
        assert str(got.value) == str(want.value)

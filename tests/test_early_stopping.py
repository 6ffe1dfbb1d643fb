"""Early stopping's split and scores (``_sklearn.early_stopping``) against sklearn's."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split

from fastmlp._sklearn.early_stopping import (
    accuracy,
    r2,
    stratification_of,
    validation_split,
)

RNG = np.random.default_rng(11)


def _outcome(call):
    try:
        return call(), None
    except ValueError as error:
        return None, str(error)


@pytest.mark.parametrize("share", [0.5, 0.1, 0.97, 0.0])
@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("fraction", [0.1, 0.33])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_split_is_sklearns_stratified_split(share, seed, fraction, weighted):
    X = RNG.normal(size=(61, 3))
    y = (RNG.random(61) < share)[:, None]  # a binary classifier's targets
    y[:2] = [[True], [False]]  # both classes, the smaller may have one sample
    arrays = (X, y, RNG.random(61)) if weighted else (X, y)
    ours, our_error = _outcome(
        lambda: validation_split(
            *arrays,
            random_state=np.random.RandomState(seed),
            test_size=fraction,
            stratify=y,
        )
    )
    theirs, their_error = _outcome(
        lambda: train_test_split(
            *arrays,
            random_state=np.random.RandomState(seed),
            test_size=fraction,
            stratify=y,
        )
    )
    assert our_error == their_error
    if their_error is None:
        assert len(ours) == len(theirs) == 2 * len(arrays)
        for a, b in zip(ours, theirs):
            assert_array_equal(a, b, strict=True)


def test_a_class_of_one_sample_gets_sklearns_error_naming_it():
    X = np.zeros((10, 2))
    y = np.zeros((10, 1), dtype=bool)
    y[0] = True
    with pytest.raises(ValueError, match=r"too few members are: \['True'\]"):
        validation_split(X, y, random_state=0, test_size=0.2, stratify=y)


def test_the_key_of_one_boolean_column_is_the_column():
    y = np.array([[True], [False], [True]])
    assert_array_equal(stratification_of(y), [1, 0, 1])


@pytest.mark.parametrize(
    "y",
    [
        np.zeros((5, 2), dtype=bool),  # multilabel: not stratified anyway
        np.zeros((5, 1), dtype=np.int64),
        np.zeros(5, dtype=bool),
    ],
)
def test_other_targets_are_their_own_key(y):
    assert stratification_of(y) is y


LABELS = {
    "ints": np.array([0, 2, 1, 1, 2, 0, 2]),
    "strings": np.array(["a", "b", "b", "c", "a", "a", "c"]),
    "objects": np.array(["x", "y", "x", "y", "y", "x", "x"], dtype=object),
    "floats": np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]),
    "bools": np.array([True, False, True, True, False, False, True]),
}


@pytest.mark.parametrize("name", LABELS)
def test_accuracy_is_accuracy_score(name):
    y_true = LABELS[name]
    for y_pred in (y_true, y_true[::-1].copy(), np.roll(y_true, 2)):
        expected = accuracy_score(y_true, y_pred)
        got = accuracy(y_true, y_pred)
        assert type(got) is float and got == expected


def test_accuracy_leaves_the_rest_to_accuracy_score():
    y = np.array([0, 1, 1, 0])
    weights = np.array([1.0, 2.0, 0.5, 3.0])
    assert accuracy(y, y[::-1], weights) == accuracy_score(
        y, y[::-1], sample_weight=weights
    )
    multilabel = np.array([[1, 0], [0, 1], [1, 1]])
    assert accuracy(multilabel, multilabel[::-1]) == accuracy_score(
        multilabel, multilabel[::-1]
    )
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        accuracy(y, y[:3])
    assert accuracy(y, y.astype(np.int32)) == 1.0  # another dtype: sklearn's


def _targets(shape, dtype):
    return RNG.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(40,), (40, 1), (40, 3), (2,)])
def test_r2_is_r2_score(shape, dtype):
    y_true = _targets(shape, dtype)
    cases = [
        _targets(shape, dtype),  # poor
        y_true + _targets(shape, dtype) * dtype(0.1),  # good
        y_true.copy(),  # perfect: 1.0
    ]
    constant = np.full(shape, 0.5, dtype=dtype)
    pairs = [(y_true, y_pred) for y_pred in cases] + [
        (constant, y_true),  # constant targets: 0.0
        (constant, constant.copy()),  # constant and perfect: 1.0
    ]
    if len(shape) == 2 and shape[1] == 3:
        mixed = y_true.copy()
        mixed[:, 1] = 2.0  # one constant column among others
        pairs.append((mixed, y_true))
    if len(shape) == 2 and shape[1] == 1:
        pairs.append((y_true, y_true.reshape(-1) + dtype(0.2)))  # 2-D and 1-D
    for a, b in pairs:
        got = r2(a, b)
        assert type(got) is float
        assert got == r2_score(a, b) or (np.isnan(got) and np.isnan(r2_score(a, b)))


def test_r2_leaves_the_rest_to_r2_score():
    y = _targets((10,), np.float64)
    weights = RNG.random(10)
    assert r2(y, y[::-1], weights) == r2_score(y, y[::-1], sample_weight=weights)
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(r2(y[:1], y[:1]))
    with pytest.raises(ValueError, match="different number of output"):
        r2(np.zeros((5, 2)), np.zeros((5, 3)))
    ints = np.arange(10)
    assert r2(ints, ints[::-1]) == r2_score(ints, ints[::-1])
    assert r2(y, y.astype(np.float32)) == r2_score(y, y.astype(np.float32))

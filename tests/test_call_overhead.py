"""Shortcuts that cut the fixed cost of a call: the same results as the long way.

``predict`` on a few rows and ``partial_fit`` on one batch are mostly fixed
costs: the parameter views (``_current_params``), BLAS thread limits for
products that make no BLAS call (``forward_calls_blas``), the labels of a
later ``partial_fit`` (``labels_of``) and the optimizer's copy kept in case
the call fails (``snapshot``).
"""

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import unique_labels

import fastmlp
from fastmlp._engine import prediction
from fastmlp._engine.entry_checks import KernelInputError
from fastmlp._engine.prediction import forward_calls_blas, predict_block_rows
from fastmlp._engine.solvers import AdamOptimizer, SGDOptimizer
from fastmlp._kernels.tiles import use_tiles
from fastmlp._kernels.tunables import (
    BLAS_THREADED_MACS,
    PREDICT_SPLIT_MACS,
    PREDICT_WORKSPACE_BYTES,
)
from fastmlp._runtime import thread_plan
from fastmlp._sklearn.labels import labels_from_output, labels_of

RNG = np.random.default_rng(3)


def _fitted(hidden=(8,), n_samples=60, n_features=5, **params):
    X = RNG.normal(size=(n_samples, n_features))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    est = fastmlp.MLPClassifier(
        hidden_layer_sizes=hidden, max_iter=3, random_state=0, **params
    )
    return est.fit(X, y), X, y


# --------------------------------------------------------------------------
# _current_params: the views made by _set_params_flat are known at once
# --------------------------------------------------------------------------
def test_the_views_made_at_fit_are_the_buffer():
    est, X, _ = _fitted()
    layout, flat = est._current_params()
    assert flat is est._params_flat
    assert layout.layer_units.tolist() == [5, 8, 3]
    # a list rebuilt of the same views is the same parameters
    est.coefs_ = list(est.coefs_)
    assert est._current_params()[1] is est._params_flat


def test_a_view_replaced_or_reshaped_takes_the_long_way():
    est, X, _ = _fitted()
    before = est.predict_proba(X)
    est.coefs_[1] = est.coefs_[1].copy()  # the same values in an array of its own
    layout, flat = est._current_params()
    assert flat is not est._params_flat
    assert_array_equal(flat, est._params_flat)
    est.coefs_[1][...] = 0.0  # seen, though it is no view of the buffer
    assert not np.array_equal(est.predict_proba(X), before)

    est, X, _ = _fitted()
    est.intercepts_[0].shape = (1, 8)  # the same object, another shape
    with pytest.raises(ValueError, match="intercepts_ of shape"):
        est.predict(X)


def test_a_view_of_another_buffer_takes_the_long_way():
    est, X, _ = _fitted()
    other = est._params_flat.copy()
    est._params_flat = other  # views made of the old buffer: packed anew
    layout, flat = est._current_params()
    assert flat is not other and flat is not est.coefs_[0].base


# --------------------------------------------------------------------------
# forward_calls_blas: BLAS's threads are left alone when no product uses BLAS
# --------------------------------------------------------------------------
@pytest.fixture
def limits(monkeypatch):
    """The BLAS thread limits fastmlp sets, recorded."""
    calls = []
    original = thread_plan.blas_threads_held

    def recorded(limit):
        calls.append(limit)
        return original(limit)

    monkeypatch.setattr(thread_plan, "blas_threads_held", recorded)
    return calls


def test_prediction_by_fastmlps_own_loops_sets_no_blas_limit(limits):
    est, X, _ = _fitted(hidden=(8,))
    assert not forward_calls_blas([5, 8, 3], 60, 8)
    limits.clear()  # the fit's
    est.predict_proba(X)
    assert limits == []


def test_prediction_through_blas_still_sets_the_limit(limits):
    # blocks of 96 rows (a quarter of the call's) x 300 x 300: past the
    # tiles' 2M multiply-adds and BLAS's 256K
    n_rows, width = 400, 300
    block_rows = predict_block_rows(np.array([width, width, 3]), 8, n_rows, splits=True)
    assert forward_calls_blas([width, width, 3], block_rows, 8)
    est, _, _ = _fitted(hidden=(width,), n_features=width, n_samples=40)
    X = RNG.normal(size=(n_rows, width))
    limits.clear()  # the fit's
    est.predict_proba(X)
    assert limits == [1]


@pytest.mark.parametrize(
    "units, rows",
    [([5, 8, 3], 60), ([5, 8, 1], 4000), ([30, 1], 10), ([64, 64, 64, 5], 512)],
)
def test_one_output_column_and_small_products_call_no_blas(units, rows):
    decide = getattr(use_tiles, "py_func", use_tiles)
    expected = any(
        b > 1 and rows * a * b >= BLAS_THREADED_MACS and not decide(rows, a, b, 8)
        for a, b in zip(units[:-1], units[1:])
    )
    assert forward_calls_blas(units, rows, 8) == expected
    assert not forward_calls_blas([7, 1], rows, 8)


@pytest.mark.parametrize(
    "units, rows", [([20_000, 64, 5], 1), ([20_000, 300, 300], 256), ([30, 8, 1], 9)]
)
def test_a_sparse_first_layer_is_fastmlps_own_loop_not_blas(units, rows):
    decide = getattr(use_tiles, "py_func", use_tiles)
    expected = any(
        b > 1 and rows * a * b >= BLAS_THREADED_MACS and not decide(rows, a, b, 8)
        for a, b in zip(units[1:-1], units[2:])
    )
    assert forward_calls_blas(units, rows, 8, dense=False) == expected


def test_few_sparse_rows_set_no_blas_limit_and_reuse_the_workspace(limits):
    # 1 x 100,000 x 32 is a BLAS product dense; sparse it is fastmlp's loop
    if not forward_calls_blas([100_000, 32, 3], 1, 8):
        pytest.skip("this machine's tiles take even that product")
    rng = np.random.default_rng(1)
    X = sp.random(40, 100_000, density=0.0005, format="csr", random_state=rng)
    y = np.arange(40) % 3
    est = fastmlp.MLPClassifier(hidden_layer_sizes=(32,), max_iter=2, random_state=0)
    est.fit(X, y)
    layout = est._model_snapshot().layout
    kept = prediction.thread_workspace(layout, np.float64)
    limits.clear()  # the fit's
    first = est.predict_proba(X[:1])
    assert limits == []
    assert prediction.thread_workspace(layout, np.float64) is kept
    for _ in range(2):  # the same values from the reused workspace
        assert_array_equal(est.predict_proba(X[:1]), first)
    np.testing.assert_allclose(first, est.predict_proba(X[:1].toarray()), rtol=1e-12)


# --------------------------------------------------------------------------
# A prediction's plan and workspace, worked out once per kind of call
# --------------------------------------------------------------------------
def test_small_predictions_run_alone_and_reuse_their_workspace(limits):
    est, X, _ = _fitted(hidden=(8,))
    layout = est._model_snapshot().layout
    first = prediction.thread_workspace(layout, np.float64)
    assert prediction.thread_workspace(layout, np.float64) is first
    assert prediction.thread_workspace(layout, np.float32) is not first
    others = []
    thread = threading.Thread(
        target=lambda: others.append(prediction.thread_workspace(layout, np.float64))
    )
    thread.start()
    thread.join()
    assert others[0] is not first  # one workspace per thread
    # room for the largest block of a dense prediction, PREDICT_WORKSPACE_BYTES
    most = prediction.predict_block_rows(
        layout.layer_units, 8, 10**9, PREDICT_WORKSPACE_BYTES
    )
    assert first[0].size == (8 + 3) * most <= PREDICT_WORKSPACE_BYTES // 8
    with pytest.raises(KernelInputError, match="no room"):
        prediction.thread_workspace(layout, np.float64, most + 1)
    alone = prediction._call_plan(layout.layer_units, np.float64, 5, None, True)[2]
    assert alone
    limits.clear()
    expected = est.predict_proba(X[:5])
    for _ in range(3):  # the same values from the reused workspace
        assert_array_equal(est.predict_proba(X[:5]), expected)
        assert_array_equal(
            est.predict_proba(X[:5] * 2.0), est.predict_proba(X[:5] * 2.0)
        )
    assert limits == []


def test_plans_of_large_or_explicit_calls_keep_their_thread_plan():
    units = np.array([100, 100, 10])
    rows = PREDICT_SPLIT_MACS // 11000 + 1  # splittable: BLAS's threads decide
    assert not prediction._call_plan(units, np.float64, rows, None, True)[2]
    assert not prediction._call_plan(units, np.float64, rows, 2, True)[2]
    # sparse rows too, priced by their stored values (split_units), in blocks
    # a thread's kept workspace holds
    plan = prediction._call_plan(units, np.float64, rows * 1000, None, False)
    assert not plan[2]
    most = prediction.predict_block_rows(units, 8, 10**9, PREDICT_WORKSPACE_BYTES)
    assert plan[0] <= most
    small = rows // 2
    assert prediction._call_plan(units, np.float64, small, None, False)[2] == (
        not forward_calls_blas(units, small, 8, dense=False)
    )


# --------------------------------------------------------------------------
# labels_of: unique_labels for later partial_fit calls
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint64])
def test_labels_of_integers_are_unique_labels(dtype):
    for y in (np.array([3, 1, 3, 0]), np.array([5]), np.array([0, 200, 7, 7])):
        y = y.astype(dtype)
        assert_array_equal(labels_of(y), unique_labels(y))


def test_labels_of_anything_else_is_unique_labels_with_its_errors():
    assert_array_equal(labels_of(["b", "a", "b"]), ["a", "b"])
    with pytest.raises(ValueError, match="Unknown label type"):
        labels_of(np.array([0.5, 1.5]))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_partial_fit_with_new_classes_fails_as_sklearn_does(dtype):
    X = RNG.normal(size=(30, 4))
    y = (np.arange(30) % 3).astype(dtype)
    errors = []
    for cls in (fastmlp.MLPClassifier, SkClassifier):
        est = cls(hidden_layer_sizes=(5,), random_state=0)
        est.partial_fit(X, y, classes=np.arange(3))
        with pytest.raises(ValueError) as info:
            est.partial_fit(X, (y + 1).astype(dtype))
        errors.append(str(info.value))
        warm = cls(hidden_layer_sizes=(5,), random_state=0, warm_start=True)
        warm.fit(X, y)
        with pytest.raises(ValueError) as info:
            warm.fit(X, (y % 2).astype(dtype))
        errors.append(str(info.value))
    assert errors[:2] == errors[2:]


# --------------------------------------------------------------------------
# snapshot: the optimizer copy a failed call restores
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "optimizer",
    [
        SGDOptimizer(7, np.float64, 0.1, "invscaling", 0.9, True, 0.5),
        AdamOptimizer(7, np.float32, 0.01, 0.9, 0.999, 1e-8),
    ],
)
def test_snapshot_copies_the_state_arrays(optimizer):
    for array in optimizer.state():
        array[...] = RNG.normal(size=array.shape)
    optimizer.after_steps(12)
    saved = optimizer.snapshot()
    assert type(saved) is type(optimizer)
    assert vars(saved).keys() == vars(optimizer).keys()
    for before, now in zip(saved.state(), optimizer.state()):
        assert before is not now
        assert_array_equal(before, now, strict=True)
    for array in optimizer.state():
        array += 1.0
    optimizer.after_steps(13)
    assert saved.step == 12
    assert not any(
        np.array_equal(a, b) for a, b in zip(saved.state(), optimizer.state())
    )


# --------------------------------------------------------------------------
# labels_from_output: LabelBinarizer.inverse_transform of the network output
# --------------------------------------------------------------------------
LABELS = {
    "binary ints": np.array([3, 7, 7, 3]),
    "binary strings": np.array(["no", "yes", "no", "no"]),
    "one class": np.array([5, 5, 5]),
    "multiclass ints": np.array([0, 2, 1, 4, 2]),
    "multiclass strings": np.array(["b", "a", "c", "a"]),
    "multilabel": np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]]),
}


def _outputs(n_columns, dtype):
    output = RNG.random(size=(9, n_columns)).astype(dtype)
    output[0] = 0.5  # a tie, and the threshold itself
    output[1, 0] = np.nan
    return output[:, 0] if n_columns == 1 else output


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LABELS)
def test_labels_from_output_are_inverse_transforms(name, dtype):
    binarizer = LabelBinarizer().fit(LABELS[name])
    n_columns = 1 if binarizer.y_type_ != "multiclass" else len(binarizer.classes_)
    if binarizer.y_type_ == "multilabel-indicator":
        n_columns = len(binarizer.classes_)
    output = _outputs(n_columns, dtype)
    fast = labels_from_output(binarizer, output)
    assert_array_equal(fast, binarizer.inverse_transform(output), strict=True)


def test_labels_from_output_leave_other_binarizers_to_sklearn():
    binarizer = LabelBinarizer(neg_label=0, pos_label=3).fit([0, 1, 1])
    output = np.array([0.2, 0.7, 1.6])  # its threshold is 1.5
    labels = labels_from_output(binarizer, output)
    assert_array_equal(labels, binarizer.inverse_transform(output), strict=True)
    assert_array_equal(labels, [0, 0, 1])
    with pytest.raises(ValueError, match="output_type='binary'"):
        labels_from_output(LabelBinarizer().fit([0, 1]), np.ones((3, 3)))


def test_blas_products_too_small_for_blas_threads_set_no_limit(tile_table):
    # every product to BLAS (as calibrated limits may send narrow ones): a
    # 10-row prediction's are all under BLAS's own one-thread size
    from fastmlp._kernels.limit_table import limits_in_table, set_limits

    set_limits("float64", {**limits_in_table("float64"), "narrow_max_macs": -1})
    assert not forward_calls_blas([64, 100, 10], 10, 8)
    # 512 rows: the 512 x 100 x 10 product (512K) is large enough for two
    assert forward_calls_blas([64, 100, 10], 512, 8)

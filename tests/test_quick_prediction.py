"""Predictions through a readied net (``fastmlp._quick_prediction``).

The shortcut must give what the full path gives, bit for bit, and notice
every change that makes what it readied stale: a new fit, arrays the user
replaced, hyperparameters set after the fit, the compiled activations
cleared. Anything it does not cover takes the full path, errors included.
"""

import gc
import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastmlp
from fastmlp import _quick_prediction as quick
from fastmlp._engine import prediction
from fastmlp._kernels import extra_callbacks
from fastmlp._runtime import thread_plan
from fastmlp._runtime.split_chooser import FasterPath

RNG = np.random.default_rng(11)


def _data(n_samples=80, n_features=6, dtype=np.float64):
    X = RNG.normal(size=(n_samples, n_features)).astype(dtype)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return X, y


def _long_way(est, X):
    """The output of the full path: a snapshot passed in skips the shortcut."""
    return est._forward_pass_fast(X, model=est._model_snapshot())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "gelu"])
@pytest.mark.parametrize("n_jobs", [None, 1, 2])
def test_the_same_bits_as_the_long_way(dtype, activation, n_jobs):
    X, y = _data(dtype=dtype)
    est = fastmlp.MLPClassifier(
        (16, 8), activation=activation, max_iter=3, random_state=0, n_jobs=n_jobs
    ).fit(X, y)
    for rows in (1, 2, 7, 33, 80):
        part = np.ascontiguousarray(X[:rows])
        expected = _long_way(est, part)
        assert quick.quick_output(est, part) is not None or n_jobs == 2
        assert_array_equal(est.predict_proba(part), expected)
        assert_array_equal(est.predict(part), est.classes_[expected.argmax(axis=1)])


def test_regressor_and_binary_outputs():
    X, y = _data()
    reg = fastmlp.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(
        X, X[:, :2]
    )
    assert_array_equal(reg.predict(X[:3]), _long_way(reg, X[:3]))
    single = fastmlp.MLPRegressor(
        hidden_layer_sizes=(8,), max_iter=3, random_state=0
    ).fit(X, X[:, 0])
    assert single.predict(X[:3]).shape == (3,)
    assert_array_equal(single.predict(X[:3]), _long_way(single, X[:3]).ravel())
    binary = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y > 0)
    proba = binary.predict_proba(X[:4])
    assert_array_equal(proba[:, 1], _long_way(binary, X[:4]).ravel())
    assert_array_equal(binary.predict(X[:4]), proba[:, 1] > 0.5)


def test_changes_after_readying_are_seen():
    X, y = _data()
    est = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    first = est.predict_proba(X[:5])
    assert quick.quick_output(est, X[:5]) is not None
    # a view replaced by the user's array: the long way packs it
    est.coefs_[0] = est.coefs_[0] * 2.0
    assert quick.quick_output(est, X[:5]) is None
    doubled = est.predict_proba(X[:5])
    assert not np.array_equal(doubled, first)
    assert_array_equal(doubled, _long_way(est, X[:5]))
    # a new fit publishes new views: readied again
    est.set_params(max_iter=5).fit(X, y)
    assert_array_equal(est.predict_proba(X[:5]), _long_way(est, X[:5]))
    assert quick.quick_output(est, X[:5]) is not None
    # hyperparameters the net is made from, set after the fit
    before = est.predict_proba(X[:5])
    est.set_params(activation="tanh")
    after = est.predict_proba(X[:5])
    assert not np.array_equal(after, before)
    assert_array_equal(after, _long_way(est, X[:5]))
    est.out_activation_ = "logistic"
    assert_array_equal(est.predict_proba(X[:5]), _long_way(est, X[:5]))


def test_activations_cleared_are_prepared_again():
    X, y = _data()
    est = fastmlp.MLPClassifier(
        (8,), activation="tanh", max_iter=3, random_state=0
    ).fit(X, y)
    expected = est.predict_proba(X[:3])
    extra_callbacks.clear_table()  # as between tests: the element maps are gone
    assert_array_equal(est.predict_proba(X[:3]), expected)
    assert np.isfinite(expected).all()


def test_what_it_does_not_cover_takes_the_long_way_with_its_errors():
    X, y = _data()
    est = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    for other in (
        X[:4].astype(np.float32),  # converted
        np.asfortranarray(X[:4]),  # not C-contiguous
        X[::2][:4],  # rows apart
    ):
        assert_array_equal(est.predict_proba(other), _long_way(est, other))
    assert quick.quick_output(est, X[:4].astype(np.float32)) is None
    bad = X[:4].copy()
    bad[1, 2] = np.nan
    assert quick.quick_output(est, bad) is None
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:4, :3])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_values_not_finite_are_found_by_the_kernel_and_validated(bad):
    # the shortcut leaves the finiteness test to the prediction kernel, and
    # takes the full path (scikit-learn's error, or its output when told to
    # assume finite values) when a value is not finite
    from sklearn import config_context

    X, y = _data()
    est = fastmlp.MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    est.fit(X, y)
    est.predict(X[:2])  # readied
    for row in (0, 1, 39):
        rows = X[:40].copy()
        rows[row, 3] = bad
        assert quick.quick_output(est, rows) is None
        with pytest.raises(ValueError, match="NaN" if np.isnan(bad) else "infinity"):
            est.predict(rows)
        with config_context(assume_finite=True):
            got = est.predict(rows)
            assert_array_equal(got, _long_way(est, rows).ravel())
            want = est.to_sklearn().predict(rows)
            np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert quick.quick_output(est, X[:40]) is not None


def test_a_prediction_leaves_the_estimator_as_it_was():
    X, y = _data()
    est = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    state = dict(est.__dict__)
    est.predict(X[:2])
    est.predict_proba(X[:2])
    assert est.__dict__.keys() == state.keys()
    assert all(est.__dict__[name] is value for name, value in state.items())


def test_readied_nets_go_with_their_estimators():
    X, y = _data()
    est = fastmlp.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    est.predict(X[:2])
    key = id(est)
    assert key in quick._readied
    del est
    gc.collect()
    assert key not in quick._readied


def test_threads_predicting_at_once_agree():
    X, y = _data()
    est = fastmlp.MLPClassifier((32,), max_iter=3, random_state=0).fit(X, y)
    expected = {rows: _long_way(est, X[:rows]) for rows in (1, 5, 40)}
    failures = []

    def work():
        for _ in range(200):
            for rows, value in expected.items():
                if not np.array_equal(est.predict_proba(X[:rows]), value):
                    failures.append(rows)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_calls_timing_chooses_go_both_ways(monkeypatch):
    """Whole and split calls run here, are recorded, and test for NaN."""
    X, _ = _data(n_samples=400, n_features=60)
    y = np.arange(400) % 40  # 40 outputs: products wide enough for full tiles
    est = fastmlp.MLPClassifier((200, 100), max_iter=2, random_state=0).fit(X, y)
    rows = 40  # 40 * 36,000 multiply-adds: past PREDICT_SPLIT_MACS
    monkeypatch.setattr(thread_plan, "blas_parts", lambda: 2)
    monkeypatch.setattr(thread_plan, "split_parts", lambda *args, **kwargs: 2)
    expected = _long_way(est, X[:rows])
    est.predict_proba(X[:rows])
    direct = quick._readied[id(est)].direct
    if not direct.plans[rows][1]:
        pytest.skip("the tile limits in force plan BLAS for this net's products")
    recorded, long_way = [], []
    original_record = FasterPath.record
    original_parts = prediction._forward_parts

    def record(self, split, seconds, units):
        recorded.append(split)
        return original_record(self, split, seconds, units)

    def parts(*args):
        long_way.append(1)
        return original_parts(*args)

    monkeypatch.setattr(FasterPath, "record", record)
    monkeypatch.setattr(prediction, "_forward_parts", parts)
    for split in (False, True):  # the chooser's answer, made certain
        monkeypatch.setattr(FasterPath, "split", lambda self, split=split: split)
        recorded.clear()
        long_way.clear()
        assert_array_equal(est.predict_proba(X[:rows]), expected)
        assert recorded == [split]
        assert long_way == []
        for row in (0, rows - 1):  # in the caller's part, in the worker's
            bad = X[:rows].copy()
            bad[row, 3] = np.nan
            with pytest.raises(ValueError, match="Input X contains NaN"):
                est.predict_proba(bad)

"""Shared by the tests of split fits: data, same-model checks, split counts."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastmlp._engine import training
from fastmlp._runtime import thread_plan

needs_threads = pytest.mark.skipif(
    thread_plan.usable_cpus() < 2, reason="this process may use one CPU only"
)


def data(task, n_samples=300, n_features=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    w = rng.normal(size=(n_features, 3))
    if task == "classification":
        return X, np.argmax(X @ w + rng.normal(size=(n_samples, 3)), axis=1)
    return X, X @ w[:, :2] + 0.1 * rng.normal(size=(n_samples, 2))


def assert_same_model(a, b):
    for got, want in zip(
        a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True
    ):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if hasattr(a, "loss_curve_"):
        assert_allclose(a.loss_curve_, b.loss_curve_, rtol=1e-12)
    assert a.n_iter_ == b.n_iter_


def assert_same_bits(a, b):
    """The same model, bit for bit: parameters, loss curve, iterations."""
    for got, want in zip(
        a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True
    ):
        assert_array_equal(got, want)
    if hasattr(a, "loss_curve_"):
        assert a.loss_curve_ == b.loss_curve_
    assert a.n_iter_ == b.n_iter_


def n_parts_used(monkeypatch):
    """Record the ``n_parts`` of every Engine built."""
    seen = []
    original = training.Engine.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.n_parts)

    monkeypatch.setattr(training.Engine, "__init__", record)
    return seen

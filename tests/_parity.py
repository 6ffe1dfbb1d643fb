"""Comparing a fitted fastmlp estimator with a fitted scikit-learn one."""

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

# Attributes that must exist on both or neither, and agree.
FLOAT_ATTRIBUTES = ["loss_", "best_loss_", "best_validation_score_"]
EXACT_ATTRIBUTES = ["n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_"]
CURVE_ATTRIBUTES = ["loss_curve_", "validation_scores_"]


def _relative_difference(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.abs(b), 1e-300)
    return float(np.nanmax(np.abs(a - b) / scale))


def max_parity_difference(fast, skl):
    """Largest relative difference over weights, curves and scalar attributes."""
    diffs = [
        _relative_difference(a, b)
        for a, b in zip(fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_)
    ]
    for name in ["loss_curve_", "validation_scores_", "loss_", "best_loss_"]:
        a, b = getattr(fast, name, None), getattr(skl, name, None)
        if a is not None and b is not None:
            diffs.append(_relative_difference(a, b))
    return max(diffs)


def assert_same_model(fast, skl, X, rtol=1e-6, atol=1e-12):
    """Assert that ``fast`` reproduces ``skl``'s fitted model and predictions."""
    assert len(fast.coefs_) == len(skl.coefs_)
    for a, b in zip(fast.coefs_ + fast.intercepts_, skl.coefs_ + skl.intercepts_):
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        assert a.shape == b.shape
        assert_allclose(a, b, rtol=rtol, atol=atol)
    for name in EXACT_ATTRIBUTES:
        assert hasattr(fast, name) == hasattr(skl, name), name
        if hasattr(skl, name):
            assert getattr(fast, name) == getattr(skl, name), name
    for name in FLOAT_ATTRIBUTES + CURVE_ATTRIBUTES:
        assert hasattr(fast, name) == hasattr(skl, name), name
        a, b = getattr(fast, name, None), getattr(skl, name, None)
        assert (a is None) == (b is None), name
        if b is not None:
            assert np.shape(a) == np.shape(b), name
            assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=name)
    if hasattr(skl, "classes_"):
        assert_array_equal(fast.classes_, skl.classes_)
        assert_array_equal(fast.predict(X), skl.predict(X))
        assert_allclose(
            fast.predict_proba(X), skl.predict_proba(X), rtol=rtol, atol=atol
        )
    else:
        assert_allclose(fast.predict(X), skl.predict(X), rtol=rtol, atol=atol)

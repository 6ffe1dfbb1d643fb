"""Small data sets for tests, one per target type (all generated, no network)."""

import numpy as np
import scipy.sparse as sp

TARGET_TYPES = [
    "binary_str",
    "multiclass",
    "multilabel",
    "regression",
    "multioutput",
    "poisson",
]


def make_data(target, n_samples=60, n_features=6, seed=0, dtype=np.float64):
    """``(X, y, is_classifier)`` for one of ``TARGET_TYPES``."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(dtype)
    w = rng.normal(size=(n_features, 3))
    score = X @ w
    if target == "binary_str":
        y = np.where(score[:, 0] > 0, "yes", "no")
        return X, y, True
    if target == "multiclass":
        y = np.argmax(score, axis=1)
        return X, y, True
    if target == "multilabel":
        y = (score > 0).astype(int)
        return X, y, True
    if target == "regression":
        return X, score[:, 0] + 0.1 * rng.normal(size=n_samples), False
    if target == "multioutput":
        return X, score[:, :2], False
    if target == "poisson":
        return X, rng.poisson(np.exp(0.3 * score[:, 0])).astype(float), False
    raise ValueError(target)


def to_sparse(X, fmt="csr", rng=None):
    """``X`` as a sparse matrix with about half of its entries zeroed."""
    rng = np.random.RandomState(0) if rng is None else rng
    dense = np.where(rng.uniform(size=X.shape) < 0.5, 0.0, X).astype(X.dtype)
    return sp.csr_matrix(dense) if fmt == "csr" else sp.csc_matrix(dense), dense

"""Benchmark data: sklearn's bundled sets or generated ones, never downloaded.

Every loader returns a :class:`Dataset` with standardized inputs (the scaler is
fitted on the training rows only) already cast to the requested dtype, so each
contestant receives the very same arrays and no one pays for a cast inside the
timed region.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Train and test arrays of one benchmark case.

    Attributes
    ----------
    name : str
        Short description, e.g. ``"classification 5000x20"``.
    X_train, X_test : ndarray of shape (n_samples, n_features)
        Standardized, C-contiguous inputs in the case's dtype.
    y_train, y_test : ndarray
        Labels (int), label indicator matrices (multilabel) or standardized
        float targets (regression).
    task : {"binary", "multiclass", "multilabel", "regression"}
        What the targets are.
    """

    name: str
    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    task: str

    @property
    def n_train(self) -> int:
        """Number of training rows."""
        return self.X_train.shape[0]

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return self.X_train.shape[1]

    @property
    def n_outputs(self) -> int:
        """Number of output units sklearn builds for this task."""
        if self.task == "binary":
            return 1
        if self.task == "multiclass":
            return int(np.unique(self.y_train).size)
        if self.y_train.ndim == 1:
            return 1
        return self.y_train.shape[1]


def _finish(name, X, y, task, dtype, n_train=None, scale_y=False):
    """Split 80/20 (or n_train rows for training), standardize, cast."""
    train_size = n_train if n_train is not None else 0.8
    stratify = y if task in ("binary", "multiclass") else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, train_size=train_size, random_state=SEED, stratify=stratify
    )
    scaler = StandardScaler().fit(X_tr)
    X_tr = np.ascontiguousarray(scaler.transform(X_tr), dtype=dtype)
    X_te = np.ascontiguousarray(scaler.transform(X_te), dtype=dtype)
    if scale_y:
        mean, std = y_tr.mean(), y_tr.std()
        y_tr = ((y_tr - mean) / std).astype(dtype)
        y_te = ((y_te - mean) / std).astype(dtype)
    return Dataset(name, X_tr, X_te, y_tr, y_te, task)


def _n_total(n_train):
    """Rows to generate so that ``n_train`` remain after a test split."""
    return n_train + max(50, min(n_train // 4, 10_000))


@functools.lru_cache(maxsize=16)
def classification(n_train, n_features, n_classes, dtype="float64"):
    """Generated classification data (``make_classification``).

    Parameters
    ----------
    n_train : int
        Training rows; a test set of ``n_train // 4`` rows (at most 10000)
        is generated on top.
    n_features : int
        Input columns, a quarter of them informative (at least 2).
    n_classes : int
        Number of classes (2 gives sklearn's single logistic output).
    dtype : str, default="float64"
        dtype of the returned inputs.

    Returns
    -------
    Dataset
    """
    n_informative = max(2, min(n_features // 4, 64))
    while n_classes > 2**n_informative:
        n_informative += 1
    X, y = make_classification(
        n_samples=_n_total(n_train),
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=min(n_features - n_informative, n_features // 8),
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.02,
        random_state=SEED,
    )
    task = "binary" if n_classes == 2 else "multiclass"
    name = f"make_classification {n_train}x{n_features}, {n_classes} classes"
    return _finish(name, X, y, task, dtype, n_train=n_train)


@functools.lru_cache(maxsize=4)
def digits(dtype="float64"):
    """sklearn's bundled digits (1797 x 64, 10 classes), split 80/20.

    Parameters
    ----------
    dtype : str, default="float64"

    Returns
    -------
    Dataset
    """
    X, y = load_digits(return_X_y=True)
    return _finish("digits 1437x64 (+360 test)", X, y, "multiclass", dtype)


@functools.lru_cache(maxsize=4)
def breast_cancer(dtype="float64"):
    """sklearn's bundled breast cancer set (569 x 30, binary), split 80/20.

    Parameters
    ----------
    dtype : str, default="float64"

    Returns
    -------
    Dataset
    """
    X, y = load_breast_cancer(return_X_y=True)
    return _finish("breast_cancer 455x30 (+114 test)", X, y, "binary", dtype)


@functools.lru_cache(maxsize=4)
def regression(n_train, n_features, dtype="float64"):
    """Generated regression data (``make_regression``), targets standardized.

    Parameters
    ----------
    n_train : int
    n_features : int
    dtype : str, default="float64"

    Returns
    -------
    Dataset
    """
    X, y = make_regression(
        n_samples=_n_total(n_train),
        n_features=n_features,
        n_informative=max(1, n_features // 2),
        noise=10.0,
        random_state=SEED,
    )
    name = f"make_regression {n_train}x{n_features}"
    return _finish(name, X, y, "regression", dtype, n_train=n_train, scale_y=True)


@functools.lru_cache(maxsize=4)
def multilabel(n_train, n_features, n_labels, dtype="float64"):
    """Generated multilabel data (``make_multilabel_classification``).

    Parameters
    ----------
    n_train : int
    n_features : int
    n_labels : int
        Number of labels (output units).
    dtype : str, default="float64"

    Returns
    -------
    Dataset
    """
    X, Y = make_multilabel_classification(
        n_samples=_n_total(n_train),
        n_features=n_features,
        n_classes=n_labels,
        n_labels=2,
        random_state=SEED,
    )
    name = f"make_multilabel_classification {n_train}x{n_features}, {n_labels} labels"
    return _finish(name, X, Y, "multilabel", dtype, n_train=n_train)


@functools.lru_cache(maxsize=4)
def sparse_classification(n_train, n_features, nnz_per_row, n_classes, dtype="float64"):
    """Generated text-like data as scipy.sparse CSR: word counts per document.

    Each class has its own word distribution (a sparse Dirichlet draw mixed
    half and half with a uniform background); a row draws ``nnz_per_row``
    words from its class's distribution, and its entries are ``log1p`` of the
    counts (repeated words make a little fewer than ``nnz_per_row`` stored
    entries). Columns are scaled to unit variance on the training rows
    without centering (``StandardScaler(with_mean=False)``, which keeps the
    matrix sparse).

    Parameters
    ----------
    n_train : int
    n_features : int
    nnz_per_row : int
        Words drawn per row.
    n_classes : int
    dtype : str, default="float64"

    Returns
    -------
    Dataset
        ``X_train`` and ``X_test`` are CSR matrices with sorted indices.
    """
    rng = np.random.RandomState(SEED)
    n_total = _n_total(n_train)
    y = np.arange(n_total) % n_classes
    rng.shuffle(y)
    topics = rng.dirichlet(np.full(n_features, 0.05), size=n_classes)
    topics = 0.5 * topics + 0.5 / n_features
    rows, cols = [], []
    for i, label in enumerate(y):
        words = rng.choice(n_features, size=nnz_per_row, p=topics[label])
        rows.append(np.full(nnz_per_row, i))
        cols.append(words)
    counts = sp.coo_matrix(
        (np.ones(n_total * nnz_per_row), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_total, n_features),
    ).tocsr()  # duplicates summed: word counts
    counts.data = np.log1p(counts.data)
    X_tr, X_te, y_tr, y_te = train_test_split(
        counts, y, train_size=n_train, random_state=SEED, stratify=y
    )
    scaler = StandardScaler(with_mean=False).fit(X_tr)

    def finish(X):
        X = sp.csr_matrix(scaler.transform(X), dtype=dtype)
        X.sort_indices()
        return X

    density = counts.nnz / (n_total * n_features)
    name = (
        f"CSR word counts {n_train}x{n_features} ({density:.1%} nonzero), "
        f"{n_classes} classes"
    )
    task = "binary" if n_classes == 2 else "multiclass"
    return Dataset(name, finish(X_tr), finish(X_te), y_tr, y_te, task)


def from_arrays(name, X, y, task, dtype="float64", scale=True):
    """A user's arrays as a :class:`Dataset`: 80/20 split, standardized, cast.

    Classes are stratified where every class has two rows or more; sparse
    inputs stay CSR (scaled without centering); regression targets are
    standardized like :func:`regression`'s.

    Parameters
    ----------
    name : str
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    y : ndarray
    task : {"binary", "multiclass", "multilabel", "regression"}
    dtype : str, default="float64"
    scale : bool, default=True
        False keeps the inputs and targets as given (only cast).

    Returns
    -------
    Dataset
    """
    stratify = None
    if task in ("binary", "multiclass"):
        counts = np.unique(y, return_counts=True)[1]
        if counts.min() >= 2 and len(y) // 5 >= counts.size:
            stratify = y
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.2, random_state=SEED, stratify=stratify
    )
    if sp.issparse(X):
        scaler = StandardScaler(with_mean=False).fit(X_tr) if scale else None

        def finish(A):
            A = sp.csr_matrix(scaler.transform(A) if scale else A, dtype=dtype)
            A.sort_indices()
            return A

    else:
        scaler = StandardScaler().fit(X_tr) if scale else None

        def finish(A):
            return np.ascontiguousarray(
                scaler.transform(A) if scale else A, dtype=dtype
            )

    if task == "regression":
        y_tr, y_te = y_tr.astype(dtype), y_te.astype(dtype)
        if scale:
            mean, std = y_tr.mean(axis=0), y_tr.std(axis=0)
            std = np.where(std > 0, std, 1.0)
            y_tr = ((y_tr - mean) / std).astype(dtype)
            y_te = ((y_te - mean) / std).astype(dtype)
    return Dataset(name, finish(X_tr), finish(X_te), y_tr, y_te, task)


def densified(data):
    """The same data set with dense C-contiguous arrays (for a CSR twin).

    Parameters
    ----------
    data : Dataset

    Returns
    -------
    Dataset
    """
    if not sp.issparse(data.X_train):
        return data
    return Dataset(
        data.name.replace("CSR ", "dense ", 1),
        np.ascontiguousarray(data.X_train.toarray()),
        np.ascontiguousarray(data.X_test.toarray()),
        data.y_train,
        data.y_test,
        data.task,
    )


def predict_rows(n_rows, n_features, dtype="float64"):
    """Standardized rows to time ``predict_proba`` on.

    Parameters
    ----------
    n_rows : int
    n_features : int
    dtype : str, default="float64"

    Returns
    -------
    ndarray of shape (n_rows, n_features)
    """
    rng = np.random.RandomState(SEED + 1)
    return np.ascontiguousarray(rng.standard_normal((n_rows, n_features)), dtype=dtype)

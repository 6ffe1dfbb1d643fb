"""The data of a custom run (``python -m bench --custom``): a file or generated.

Files: ``.npz`` with arrays ``X`` and ``y``, a sparse matrix written by
``scipy.sparse.save_npz`` (targets from ``--y``), ``.npy`` (targets from
``--y``), CSV or Parquet (targets from the ``--target`` column). Every
problem a user can cause raises :class:`UserError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import scipy.sparse as sp

from bench import datasets

SPARSE_KEYS = {"data", "indices", "indptr", "format", "shape"}
TABLES = (".csv", ".parquet", ".pq")


class UserError(Exception):
    """A mistake in the command line or the data: shown as one line, exit 2."""


def _load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{what} file not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} as .npy: {exc}") from None


def _read_table(path, target):
    import pandas as pd

    if target is None:
        raise UserError(f"{path} is a table: name its target column with --target")
    try:
        if path.lower().endswith(".csv"):
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except ImportError as exc:
        raise UserError(f"cannot read Parquet here ({exc})") from None
    except (OSError, ValueError) as exc:  # pandas' parser errors are ValueErrors
        raise UserError(f"cannot read {path}: {exc}".splitlines()[0]) from None
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target not in columns:
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise UserError(f"{path} has no column {target!r} (its columns: {shown})")
    features = frame.drop(columns=[target])
    if features.shape[1] == 0:
        raise UserError(f"{path} has no feature column besides {target!r}")
    bad = [
        c
        for c in features.columns
        if not (
            pd.api.types.is_numeric_dtype(features[c])
            or pd.api.types.is_bool_dtype(features[c])
        )
    ]
    if bad:
        shown = ", ".join(repr(c) for c in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise UserError(
            f"{path}: feature column(s) {shown} are not numeric; encode them as "
            "numbers first"
        )
    y = frame[target].to_numpy()
    if y.dtype == object:
        y = y.astype(str)
    return features.to_numpy(dtype=np.float64), y


def read_file(path, target=None, y_path=None):
    """Inputs and targets from a file (and a targets file).

    Parameters
    ----------
    path : str
    target : str, optional
        The target column of a CSV or Parquet file.
    y_path : str, optional
        A ``.npy`` file of targets, for ``.npy`` and sparse ``.npz`` inputs.

    Returns
    -------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    y : ndarray

    Raises
    ------
    UserError
    """
    if not os.path.isfile(path):
        raise UserError(f"data file not found: {path}")
    lower = path.lower()
    if target is not None and not lower.endswith(TABLES):
        raise UserError("--target names a column of a CSV or Parquet file")
    if lower.endswith(TABLES):
        if y_path is not None:
            raise UserError("--y is for .npy and sparse .npz inputs; use --target")
        X, y = _read_table(path, target)
    elif lower.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                keys = set(archive.files)
                arrays = None if SPARSE_KEYS <= keys else dict(archive)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {path} as .npz: {exc}") from None
        if arrays is None:
            X = sp.load_npz(path).tocsr()
            if y_path is None:
                raise UserError(
                    f"{path} is a sparse matrix: give its targets with --y FILE.npy"
                )
            y = _load_npy(y_path, "--y")
        else:
            if "X" not in arrays or ("y" not in arrays and y_path is None):
                raise UserError(
                    f"{path} holds {', '.join(sorted(arrays)) or 'no arrays'}: "
                    "expected X and y"
                )
            X = arrays["X"]
            y = _load_npy(y_path, "--y") if y_path is not None else arrays["y"]
    elif lower.endswith(".npy"):
        if y_path is None:
            raise UserError(f"{path} holds X only: give its targets with --y FILE.npy")
        X, y = _load_npy(path, "data"), _load_npy(y_path, "--y")
    else:
        ext = os.path.splitext(path)[1] or "(none)"
        raise UserError(
            f"unsupported data file type {ext}: use .npz, .npy, .csv or .parquet"
        )
    return _checked(path, X, y)


def _checked(path, X, y):
    if not sp.issparse(X):
        X = np.asarray(X)
        if X.ndim != 2:
            raise UserError(f"{path}: X must be 2-D, it has shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise UserError(f"{path}: X must be numeric, it is {X.dtype}")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise UserError(
            f"{path}: {X.shape[0]} rows of X but targets of shape {y.shape}"
        )
    if X.shape[0] < 10:
        raise UserError(f"{path}: {X.shape[0]} rows, at least 10 are needed")
    values = X.data if sp.issparse(X) else X
    if not np.isfinite(values).all():
        raise UserError(f"{path}: X has missing or infinite values")
    return X, y


def choose_task(y, regression=False, where="the target"):
    """What to fit: a regressor for a non-integer float target, else a classifier.

    Parameters
    ----------
    y : ndarray
    regression : bool, default=False
        ``--regression``: a regressor whatever the target holds.
    where : str
        How to name the target in the message.

    Returns
    -------
    task : {"binary", "multiclass", "multilabel", "regression"}
    why : str
        The choice and its reason, for the user and the report.
    """
    numeric = y.dtype.kind in "biuf"
    if regression:
        if not numeric:
            raise UserError(f"--regression needs numbers; {where} is {y.dtype}")
        if not np.isfinite(y).all():
            raise UserError(f"{where} has missing or infinite values")
        return "regression", "regression (--regression)"
    if numeric and not np.isfinite(y).all():
        raise UserError(f"{where} has missing or infinite values")
    if numeric and y.dtype.kind == "f" and not np.array_equal(y, np.round(y)):
        return "regression", f"regression ({where} has non-integer values)"
    if y.ndim == 2:
        if numeric and np.isin(y, (0, 1)).all():
            return "multilabel", (
                f"multilabel classification, {y.shape[1]} labels ({where} is a 0/1 "
                "indicator matrix)"
            )
        return "regression", f"regression, {y.shape[1]} outputs"
    n_classes = np.unique(y).size
    if n_classes < 2:
        raise UserError(f"{where} has a single value: nothing to classify")
    kind = "integer values" if numeric else "labels"
    task = "binary" if n_classes == 2 else "multiclass"
    return task, (
        f"classification, {n_classes} classes ({where} holds {kind}; "
        "--regression fits a regressor instead)"
    )


def load(args, dtype):
    """The custom run's :class:`~bench.datasets.Dataset` and why its task.

    Parameters
    ----------
    args : argparse.Namespace
        ``data``, ``target``, ``y``, ``rows``, ``features``, ``classes``,
        ``regression`` and ``scale``.
    dtype : str

    Returns
    -------
    data : Dataset
    why : str
    """
    if args.data is None:
        if args.regression:
            data = datasets.regression(args.rows, args.features, dtype)
            why = "regression (--regression)"
        else:
            data = datasets.classification(
                args.rows, args.features, args.classes, dtype
            )
            why = f"classification, {args.classes} classes (--classes {args.classes})"
        return data, why + ", generated data"
    X, y = read_file(args.data, args.target, args.y)
    where = f"target column {args.target!r}" if args.target else "the target"
    task, why = choose_task(y, args.regression, where)
    if task == "regression" and y.dtype.kind not in "f":
        y = y.astype(np.float64)
    data = datasets.from_arrays(args.data, X, y, task, dtype, scale=args.scale)
    name = f"{os.path.basename(args.data)} {data.n_train}x{data.n_features}"
    if sp.issparse(X):
        name += f" CSR ({X.nnz / (X.shape[0] * X.shape[1]):.1%} nonzero)"
    name += f" (+{data.X_test.shape[0]} test)"
    return dataclasses.replace(data, name=name), why

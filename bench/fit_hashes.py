"""Hashes of fitted models, to show a compile change leaves every bit alone.

Run from a checkout, once before a change and once after, and compare::

    .venv/bin/python -m bench.fit_hashes > before.txt
    ...
    .venv/bin/python -m bench.fit_hashes > after.txt && diff before.txt after.txt

Fits digits with every hidden activation, both dtypes, the three solvers and
dense and CSR input, a classifier and a regressor each (216 fits of a few
epochs, 64 -> 32 -> 16 net, ``n_jobs=1`` and ``n_jobs=2``), and prints one
line a fit: the SHA-256 of its ``coefs_``, ``intercepts_`` and predictions
(``predict_proba`` for the classifier), then one of all of them. Changes to
how kernels are compiled (``docs/design/cold_start.md``) must not change a
single line.
"""

import argparse
import hashlib
import sys
import warnings

import numpy as np
import scipy.sparse
from sklearn.datasets import load_digits

import fastmlp
from fastmlp._base import HIDDEN_ACTIVATIONS


def model_digest(model, X):
    """SHA-256 of a fitted model's weights and of its predictions on ``X``."""
    digest = hashlib.sha256()
    for array in (*model.coefs_, *model.intercepts_):
        digest.update(np.ascontiguousarray(array).tobytes())
    if hasattr(model, "predict_proba"):
        digest.update(np.ascontiguousarray(model.predict_proba(X)).tobytes())
    digest.update(np.ascontiguousarray(model.predict(X)).tobytes())
    return digest.hexdigest()


def cases():
    """``(name, estimator class, params, X, y)`` of every fit, in a fixed order."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    # a continuous target for the regressors: two columns, so the output
    # layer has more than one unit
    targets = np.column_stack([X[:, 20] + y / 10, X[:, 43] - X[:, 11]])
    for activation in HIDDEN_ACTIVATIONS:
        for dtype in ("float32", "float64"):
            for solver in ("adam", "sgd", "lbfgs"):
                for sparse in (False, True):
                    data = X.astype(dtype)
                    if sparse:
                        data = scipy.sparse.csr_matrix(data)
                    for kind, estimator, target in (
                        ("classifier", fastmlp.MLPClassifier, y),
                        ("regressor", fastmlp.MLPRegressor, targets),
                    ):
                        name = (
                            f"{kind} {activation} {dtype} {solver} "
                            f"{'CSR' if sparse else 'dense'}"
                        )
                        params = dict(
                            hidden_layer_sizes=(32, 16),
                            activation=activation,
                            solver=solver,
                            max_iter=4,
                            random_state=0,
                            n_jobs=1 if kind == "classifier" else 2,
                        )
                        yield name, estimator, params, data, target


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(f"fastmlp from {fastmlp.__file__}", file=sys.stderr)
    warnings.filterwarnings("ignore")  # ConvergenceWarning of the short fits
    total = hashlib.sha256()
    count = 0
    for name, estimator, params, X, y in cases():
        line = f"{model_digest(estimator(**params).fit(X, y), X)}  {name}"
        total.update(line.encode())
        count += 1
        print(line, flush=True)
    print(f"{total.hexdigest()}  all {count} fits")


if __name__ == "__main__":
    main()

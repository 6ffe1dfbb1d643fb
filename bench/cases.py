"""The benchmark cases: data, hyperparameters and forced epoch counts.

Every stochastic case forces its epoch count (``tol=0``,
``n_iter_no_change=10**9``, ``early_stopping=False``, ``max_iter=epochs``), so
each contestant runs exactly the same number of epochs and seconds per epoch
is simply fit time divided by epochs. L-BFGS fixes ``max_iter`` with
``tol=0`` and is quoted per fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench import datasets

FORCED = {
    "tol": 0.0,
    "n_iter_no_change": 10**9,
    "early_stopping": False,
    "shuffle": True,
    "random_state": 0,
}


@dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes
    ----------
    name : str
        Identifier used by ``--filter`` and as the JSON key.
    title : str
        What it shows, for the report.
    kind : {"fit", "lbfgs", "predict", "concurrent"}
        What is timed: a stochastic fit, an L-BFGS fit, ``predict_proba``,
        or two fits in two threads against one after the other.
    data : callable
        ``data(mode) -> Dataset``.
    params : dict
        sklearn hyperparameters besides the forced ones and ``max_iter``.
    epochs : dict of str to int
        ``max_iter`` per mode.
    predict_rows : dict of str to int
        Rows for ``predict_proba`` per mode (kind "predict" only).
    settle : float, optional
        Idle seconds before each timed call, in place of the mode's (and of
        ``--settle``): 0 times each fit right after the previous one, with
        the BLAS threads it left still spinning.
    """

    name: str
    title: str
    kind: str
    data: object
    params: dict
    epochs: dict
    predict_rows: dict = field(default_factory=dict)
    settle: float | None = None

    def estimator_params(self, mode):
        """Full sklearn parameter dict for a mode.

        Parameters
        ----------
        mode : {"tiny", "quick", "default", "full"}

        Returns
        -------
        dict
        """
        return {**FORCED, **self.params, "max_iter": self.epochs[mode]}


def _sizes(tiny, quick, default, full=None):
    return {"tiny": tiny, "quick": quick, "default": default, "full": full or default}


def _classification(n_train, n_features, n_classes, dtype="float64"):
    def load(mode):
        return datasets.classification(n_train[mode], n_features, n_classes, dtype)

    return load


def _fixed(loader, **kwargs):
    def load(mode):
        return loader(**kwargs)

    return load


def _tiny_rows(load, rows=300):
    """Cut a bundled data set to ``rows`` training rows in tiny mode."""

    def wrapped(mode):
        data = load(mode)
        if mode != "tiny":
            return data
        return datasets.Dataset(
            data.name + f" (first {rows})",
            data.X_train[:rows],
            data.X_test,
            data.y_train[:rows],
            data.y_test,
            data.task,
        )

    return wrapped


def _regression(n_train, n_features):
    def load(mode):
        return datasets.regression(n_train[mode], n_features)

    return load


def _multilabel(n_train, n_features, n_labels):
    def load(mode):
        return datasets.multilabel(n_train[mode], n_features, n_labels)

    return load


SMALL_N = _sizes(300, 5000, 5000)
WIDE_N = _sizes(300, 5000, 10_000, 20_000)
ADAM = {"solver": "adam", "learning_rate_init": 1e-3}
SGD = {
    "solver": "sgd",
    "learning_rate_init": 0.01,
    "learning_rate": "constant",
    "momentum": 0.9,
    "nesterovs_momentum": True,
}

DIGITS = Case(
    "digits",
    "digits: 64 -> 100 -> 10, batch 200, adam",
    "fit",
    _tiny_rows(_fixed(datasets.digits)),
    {"hidden_layer_sizes": (100,), "batch_size": 200, **ADAM},
    _sizes(2, 20, 50, 100),
)

CASES = (
    Case(
        "small_adam",
        "overhead-bound: 20 -> 32 -> 1, batch 32, adam",
        "fit",
        _classification(SMALL_N, 20, 2),
        {"hidden_layer_sizes": (32,), "batch_size": 32, **ADAM},
        _sizes(1, 4, 10, 20),
    ),
    Case(
        "small_sgd",
        "overhead-bound: 20 -> 32 -> 1, batch 32, sgd nesterov",
        "fit",
        _classification(SMALL_N, 20, 2),
        {"hidden_layer_sizes": (32,), "batch_size": 32, **SGD},
        _sizes(1, 4, 10, 20),
    ),
    Case(
        "early_stopping_adam",
        "small_adam with early_stopping=True: 10% held out, scored every epoch",
        "fit",
        _classification(SMALL_N, 20, 2),
        {
            "hidden_layer_sizes": (32,),
            "batch_size": 32,
            **ADAM,
            "early_stopping": True,
        },
        _sizes(1, 4, 10, 20),
    ),
    DIGITS,
    replace(
        DIGITS,
        name="digits_no_settle",
        title="digits, each fit right after the last (OpenBLAS threads still spinning)",
        settle=0.0,
    ),
    Case(
        "wide_f64",
        "wide: 784 -> 256 -> 128 -> 10, batch 200, adam, float64",
        "fit",
        _classification(WIDE_N, 784, 10, "float64"),
        {"hidden_layer_sizes": (256, 128), "batch_size": 200, **ADAM},
        _sizes(1, 1, 3, 5),
    ),
    Case(
        "wide_f32",
        "wide: 784 -> 256 -> 128 -> 10, batch 200, adam, float32",
        "fit",
        _classification(WIDE_N, 784, 10, "float32"),
        {"hidden_layer_sizes": (256, 128), "batch_size": 200, **ADAM},
        _sizes(1, 1, 3, 5),
    ),
    Case(
        "lbfgs_breast_cancer",
        "L-BFGS: breast_cancer 30 -> 50 -> 1, time per fit",
        "lbfgs",
        _tiny_rows(_fixed(datasets.breast_cancer)),
        {"hidden_layer_sizes": (50,), "solver": "lbfgs"},
        _sizes(3, 30, 50, 50),
    ),
    Case(
        "regression_sgd",
        "regression: 50 -> 64 -> 64 -> 1, batch 64, sgd nesterov",
        "fit",
        _regression(SMALL_N, 50),
        {"hidden_layer_sizes": (64, 64), "batch_size": 64, **SGD},
        _sizes(1, 5, 15, 30),
    ),
    Case(
        "multilabel_adam",
        "multilabel: 20 -> 64 -> 64 -> 5 logistic, batch 64, adam",
        "fit",
        _multilabel(SMALL_N, 20, 5),
        {"hidden_layer_sizes": (64, 64), "batch_size": 64, **ADAM},
        _sizes(1, 5, 15, 30),
    ),
    Case(
        "predict_proba_100k",
        "predict_proba on 100k rows: 64 -> 100 -> 10",
        "predict",
        _classification(_sizes(300, 5000, 5000), 64, 10),
        {"hidden_layer_sizes": (100,), "batch_size": 200, **ADAM},
        _sizes(1, 2, 2, 2),
        predict_rows=_sizes(1000, 100_000, 100_000),
    ),
    Case(
        "concurrent_small_adam",
        "2 fits in 2 threads vs one after the other (1 thread each), small_adam",
        "concurrent",
        _classification(SMALL_N, 20, 2),
        {"hidden_layer_sizes": (32,), "batch_size": 32, **ADAM},
        _sizes(1, 4, 10, 20),
    ),
)


def select_cases(substring=None):
    """Cases whose name contains ``substring`` (all when None).

    Parameters
    ----------
    substring : str or None

    Returns
    -------
    list of Case
    """
    return [c for c in CASES if substring is None or substring in c.name]

"""Who competes: fastmlp, scikit-learn and (when importable) PyTorch and JAX.

Each contestant turns a task and a dict of sklearn hyperparameters into an
estimator with ``fit``, ``predict_proba``, ``score`` and the fitted attributes
``loss_`` and ``n_iter_``. Everything else (data, dtype, thread counts) is the
harness's business, so no contestant gets a setup of its own.

``FASTMLP_BENCH_FAKE=1`` makes the "fastmlp" contestant use sklearn's classes:
it lets the harness run (and its smoke test pass) without fastmlp.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

FAKE_ENV = "FASTMLP_BENCH_FAKE"


@dataclass(frozen=True)
class Contestant:
    """One implementation under test.

    Attributes
    ----------
    name : str
        Key used in tables and JSON ("fastmlp", "sklearn", "torch", "jax").
    version : str
        Version string shown in the report.
    make : callable
        ``make(task, params) -> estimator``.
    note : str
        Anything a reader must know (e.g. a faked contestant).
    declines : callable
        ``declines(params) -> str or None``: why it cannot run these
        hyperparameters (a feature it does not implement), else None.
    """

    name: str
    version: str
    make: Callable
    note: str = ""
    declines: Callable = lambda params: None


def fastmlp_is_faked():
    """Whether ``FASTMLP_BENCH_FAKE`` asks to stand sklearn in for fastmlp.

    Returns
    -------
    bool
    """
    return os.environ.get(FAKE_ENV, "") not in ("", "0")


def _sklearn_classes():
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    return MLPClassifier, MLPRegressor


def _fastmlp_classes():
    if fastmlp_is_faked():
        return _sklearn_classes()
    import fastmlp

    return fastmlp.MLPClassifier, fastmlp.MLPRegressor


def _maker(get_classes):
    def make(task, params):
        classifier, regressor = get_classes()
        cls = regressor if task == "regression" else classifier
        return cls(**params)

    return make


def _make_torch(task, params):
    from bench.torch_mlp import TorchMLP

    return TorchMLP(task, **params)


def _make_jax(task, params):
    from bench.jax_mlp import JaxMLP

    return JaxMLP(task, **params)


def get_contestant(name):
    """Build one contestant by name, or return None when it is unavailable.

    Parameters
    ----------
    name : {"fastmlp", "sklearn", "torch", "jax"}

    Returns
    -------
    Contestant or None
    """
    if name == "sklearn":
        import sklearn

        return Contestant("sklearn", sklearn.__version__, _maker(_sklearn_classes))
    if name == "fastmlp":
        if fastmlp_is_faked():
            import sklearn

            note = f"FAKE: {FAKE_ENV}=1, sklearn's classes stand in for fastmlp"
            return Contestant(
                "fastmlp",
                f"fake (sklearn {sklearn.__version__})",
                _maker(_fastmlp_classes),
                note,
            )
        try:
            import fastmlp

            fastmlp.MLPClassifier, fastmlp.MLPRegressor  # noqa: B018
        except (ImportError, AttributeError):
            return None
        version = getattr(fastmlp, "__version__", "unknown")
        return Contestant("fastmlp", version, _maker(_fastmlp_classes))
    if name == "torch":
        from bench.torch_mlp import torch_version

        version = torch_version()
        if version is None:
            return None
        from bench.torch_mlp import unsupported

        return Contestant("torch", version, _make_torch, declines=unsupported)
    if name == "jax":
        from bench.jax_mlp import jax_version

        version = jax_version()
        if version is None:
            return None
        from bench.jax_mlp import unsupported

        return Contestant(
            "jax",
            version,
            _make_jax,
            note="each epoch one jax.jit call around lax.scan over the batches; "
            "its first fit of a configuration includes the XLA compile",
            declines=unsupported,
        )
    raise ValueError(f"unknown contestant {name!r}")


CONTESTANT_ORDER = ("fastmlp", "sklearn", "torch", "jax")


def available_contestants(names=CONTESTANT_ORDER):
    """The contestants that can run here, in report order.

    Parameters
    ----------
    names : sequence of str
        Which to try.

    Returns
    -------
    list of Contestant
    """
    found = []
    for name in names:
        contestant = get_contestant(name)
        if contestant is not None:
            found.append(contestant)
    return found

"""Predictions without re-planning: a fitted estimator's net readied once.

A ``predict`` on a few rows spent half its time working out again what does
not change between calls of one fitted model: the parameter snapshot, the
``net`` tuple, the call's plan. :func:`quick_output` keeps them per estimator
(:class:`fastmlp._engine.prediction.DirectPrediction`) and checks on each call
that they still hold: the same published fit (``_params_views``), its views
still in place, the same hyperparameters the net is made from. Contract: the
same output as the full path (the same kernel on the same blocks); any call
it does not cover (sparse or converted input, names, non-finite values,
BLAS-planned calls, calls an explicit ``n_jobs`` splits) returns None and
takes the full path, so errors and warnings stay scikit-learn's. Nothing is
stored on the estimator: a prediction leaves its ``__dict__`` as it was, as
scikit-learn's checks ask.
"""

import weakref

import numpy as np

from ._engine.prediction import direct_call, direct_forward, direct_prediction
from ._fitted_state import _still_in_place
from ._kernels.tunables import READIED_ESTIMATORS
from ._runtime.split_chooser import keep_recent
from ._runtime.thread_plan import threads_asked
from ._sklearn.plain_input import plain_predict_data

# id(estimator) -> _Readied, the most recent last
_readied = {}


def quick_output(estimator, X):
    """``(output, model)`` of a fitted estimator for a plain dense ``X``, or None.

    ``output`` is what ``_forward_pass_fast(X)`` returns, ``model`` the
    :class:`fastmlp._fitted_state.FittedModel` it came from (its label
    binarizer turns outputs into labels).
    """
    if type(X) is not np.ndarray:
        return None
    state = estimator.__dict__
    made = state.get("_params_views")
    if made is None:
        return None
    hyper = (
        estimator.activation,
        state.get("out_activation_"),
        estimator.loss,
        estimator.alpha,
        threads_asked(estimator.n_jobs),
    )
    kept = _readied.get(id(estimator))
    if kept is None or not kept.serves(estimator, made, hyper):
        kept = _ready(estimator, made, hyper)
        if kept is None:
            return None
    if not (
        _still_in_place(made[2], state.get("coefs_"), kept.owner)
        and _still_in_place(made[3], state.get("intercepts_"), kept.owner)
    ):
        return None
    call = direct_call(kept.direct, X)
    # finiteness: tested by the kernel (direct_forward), not here
    if call is None or plain_predict_data(estimator, X, check_finite=False) is None:
        return None
    output = direct_forward(kept.direct, X, call)
    if output is None:
        return None
    return output, kept.model


class _Readied:
    """One estimator's readied net, and what it was made from."""

    def __init__(self, estimator, made, hyper, model, direct):
        key = id(estimator)
        # forgotten with the estimator (the id may then be reused)
        self.estimator = weakref.ref(estimator, lambda _: _forget(key, self))
        self.made = made
        self.hyper = hyper
        self.model = model
        self.direct = direct
        flat = model.params
        self.owner = flat if flat.base is None else flat.base

    def serves(self, estimator, made, hyper):
        return (
            self.estimator() is estimator and self.made is made and self.hyper == hyper
        )


def _ready(estimator, made, hyper):
    model = estimator._model_snapshot()
    state = estimator.__dict__
    if state.get("_params_views") is not made or model.params is not made[1]:
        return None  # a fit published meanwhile, or arrays the user replaced
    net = estimator._net(model.layout, out_activation=model.out_activation)
    n_jobs = threads_asked(estimator.n_jobs)
    direct = direct_prediction(model.params, model.layout, net, n_jobs)
    kept = _Readied(estimator, made, hyper, model, direct)
    keep_recent(_readied, id(estimator), kept, READIED_ESTIMATORS)
    return kept


def _forget(key, kept):
    if _readied.get(key) is kept:
        _readied.pop(key, None)

"""The estimator's fitted state: one parameter buffer, published whole.

Contract: ``coefs_`` and ``intercepts_`` are views of one flat buffer
(``_params_flat``), the layout the kernels read. A fit works on a private copy
of the estimator (:meth:`FittedState._transaction`) and publishes its fitted
attributes in one step, so a failed fit leaves the estimator as it was and a
prediction racing a fit sees the old model or the new one, never a mix
(:meth:`FittedState._model_snapshot`). Arrays a user puts in place of the views
are packed into a new buffer when next read. Pickles hold the arrays, not the
buffer, which is rebuilt on load.
"""

import functools
from typing import NamedTuple

import numpy as np

from ._engine.param_layout import ParameterLayout
from ._sklearn import originals as _sklearn_nn  # never the patched classes

_SNAPSHOT_TRIES = 8


class FittedState:
    """Mixin of :class:`fastmlp._base.BaseMultilayerPerceptron`: its fitted state."""

    def _current_params(self):
        """The flat parameters as ``coefs_``/``intercepts_`` hold them now.

        Returns ``(layout, flat)``; see :meth:`_model_snapshot`.
        """
        model = self._model_snapshot()
        return model.layout, model.params

    def _model_snapshot(self):
        """The fitted model as one consistent whole: a :class:`FittedModel`.

        ``coefs_[i]`` written in place is seen through the views; arrays put in
        their place by the user (or by unpickling) are packed into a new buffer,
        their shapes checked. The views :meth:`_set_params_flat` made, still in
        place and unreshaped, are known without a new layout and a look at
        their addresses (~20 us of a ``predict`` on a few rows).

        Another thread's fit publishes its whole fitted state in one step, with
        ``_params_views`` written last (:meth:`_publish`): the attributes are
        read between two reads of it, and read again if it changed, so they
        all belong to one fit.
        """
        for _ in range(_SNAPSHOT_TRIES):
            made = getattr(self, "_params_views", None)
            flat = getattr(self, "_params_flat", None)
            coefs = self.coefs_
            intercepts = self.intercepts_
            out_activation = self.out_activation_
            binarizer = getattr(self, "_label_binarizer", None)
            if getattr(self, "_params_views", None) is made:
                break
        if made is not None and made[1] is flat:
            owner = flat if flat.base is None else flat.base
            if _still_in_place(made[2], coefs, owner) and _still_in_place(
                made[3], intercepts, owner
            ):
                return FittedModel(made[0], flat, out_activation, binarizer)
        coefs, intercepts = list(coefs), list(intercepts)
        layout = ParameterLayout.of_coefs(coefs)
        if not layout.are_views_of(flat, coefs, intercepts):
            dtype = np.result_type(*coefs, *intercepts)
            flat = layout.pack(coefs, intercepts, dtype)
        return FittedModel(layout, flat, out_activation, binarizer)

    def _set_params_flat(self, flat, layout):
        """Make ``flat`` the parameter buffer and rebind the public views."""
        self._params_flat = flat
        self.coefs_, self.intercepts_ = layout.views(flat)
        self._params_views = (
            layout,
            flat,
            [(view, view.shape, view.dtype) for view in self.coefs_],
            [(view, view.shape, view.dtype) for view in self.intercepts_],
        )

    def __getstate__(self):
        state = super().__getstate__()
        # coefs_/intercepts_ are pickled as arrays of their own; the buffer they
        # view is rebuilt from them on load.
        state.pop("_params_flat", None)
        state.pop("_params_views", None)
        return state

    def __setstate__(self, state):
        # a scikit-learn model's state when its pickle is loaded patched
        super().__setstate__(_sklearn_nn.fastmlp_state(type(self), state))
        if getattr(self, "coefs_", None) is not None:
            layout, flat = self._current_params()
            self._set_params_flat(flat, layout)

    def _transaction(self, work, incremental):
        """``work(copy)`` on a private copy of this estimator, then publish it.

        A fit never changes the estimator while it runs: it works on a copy
        whose fitted state (parameter buffer, optimizer, curves) is its own,
        and when it succeeds its fitted attributes replace this estimator's in
        one step (:meth:`_publish`). So a failed call leaves the estimator as
        it was (scikit-learn can leave a half-made model behind: initial
        weights of a fit whose validation split failed, NaN weights after
        divergence), and calls racing on one estimator from several threads
        each work on one consistent model: the last to finish wins whole, and
        a prediction meanwhile uses the old model or the new one.
        """
        shadow = self._private_copy(incremental)
        work(shadow)
        self._publish(shadow)
        return self

    def _private_copy(self, incremental):
        """A copy of this estimator for a fit to change (see :meth:`_transaction`).

        Shares every attribute a fit replaces rather than changes; lists are
        copied, and the optimizer when an update goes on from it. The
        parameter buffer a warm fit continues from is copied when the fit
        takes it (:meth:`_fit_unguarded`).
        """
        state = self.__dict__.copy()  # one step: no publication half seen
        shadow = object.__new__(type(self))
        shadow.__dict__.update(
            (name, list(value) if isinstance(value, list) else value)
            for name, value in state.items()
        )
        optimizer = state.get("_optimizer")
        if incremental and optimizer is not None:  # its moments change in place
            shadow._optimizer = optimizer.snapshot()
        return shadow

    def _publish(self, shadow):
        """Make ``shadow``'s fitted attributes this estimator's, in one step.

        One ``dict.update`` (atomic under the GIL: no Python code runs during
        it), then the attributes the fit removed are removed.
        ``_params_views`` goes last, as :meth:`_model_snapshot` expects.
        Hyperparameters are not fitted state: ``set_params`` calls made
        meanwhile stay.
        """
        names = _param_names_of(type(self))
        state = shadow.__dict__
        fitted = {
            name: value
            for name, value in state.items()
            if name not in names and name != "_params_views"
        }
        if "_params_views" in state:
            fitted["_params_views"] = state["_params_views"]
        removed = [name for name in list(self.__dict__) if name not in state]
        self.__dict__.update(fitted)
        for name in removed:
            if name not in names:
                self.__dict__.pop(name, None)


class FittedModel(NamedTuple):
    """What a prediction needs of a fitted estimator, from one fit."""

    layout: ParameterLayout
    params: np.ndarray
    out_activation: str
    label_binarizer: object  # None for a regressor


@functools.cache
def _param_names_of(cls):
    return frozenset(cls._get_param_names())


def _still_in_place(made, arrays, owner):
    """Whether ``arrays`` holds the very views in ``made``, as they were made.

    ``owner`` is the array whose memory the parameter buffer is: a deep copy
    of the estimator copies each view into an array of its own.
    """
    # every prediction asks this twice: kept to plain comparisons (the
    # dtype by identity first; zip without strict, the lengths are checked)
    if type(arrays) is not list or len(arrays) != len(made):
        return False
    for array, (view, shape, dtype) in zip(arrays, made):  # noqa: B905
        if (
            array is not view
            or array.base is not owner
            or array.shape != shape
            or (array.dtype is not dtype and array.dtype != dtype)
        ):
            return False
    return True

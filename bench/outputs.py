"""Predictions of the benchmark's own networks, shaped as scikit-learn's.

The PyTorch and JAX contestants compute their raw output layer
(``_output``); the labels, probabilities and scores follow from it the same
way for both.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, r2_score


class SklearnOutputs:
    """``predict_proba``, ``predict`` and ``score`` from ``self._output(X)``.

    Needs ``task`` (``"binary"``, ``"multiclass"``, ``"multilabel"`` or
    ``"regression"``) and, for classifiers, ``classes_``.
    """

    def predict_proba(self, X):
        """Class probabilities, shaped like sklearn's.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        prob = self._output(X)
        if self.task == "binary":
            return np.hstack([1 - prob, prob])
        return prob

    def predict(self, X):
        """Predicted labels, label indicators or targets.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        ndarray
        """
        out = self._output(X)
        if self.task == "multiclass":
            return self.classes_[out.argmax(axis=1)]
        if self.task == "binary":
            return self.classes_[(out[:, 0] > 0.5).astype(int)]
        if self.task == "multilabel":
            return (out > 0.5).astype(int)
        return out.ravel() if out.shape[1] == 1 else out

    def score(self, X, y):
        """Accuracy for classifiers (subset accuracy for multilabel), R2 else.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray

        Returns
        -------
        float
        """
        pred = self.predict(X)
        if self.task == "regression":
            return float(r2_score(y, pred))
        return float(accuracy_score(y, pred))

"""
==========================================================
Your own validation set and its loss curve
==========================================================

scikit-learn's MLPs record the training loss after every epoch
(``loss_curve_``), and with ``early_stopping=True`` a score on a random
validation split. fastmlp's ``fit`` also takes a validation set of your own,
``fit(X, y, X_val=..., y_val=...)``, and records the same objective as
``loss_curve_`` (log loss plus the L2 penalty) on it after every epoch:
``validation_loss_curve_``. Plotted side by side, the two curves show where the
network starts to overfit: the training loss keeps falling while the
validation loss turns up. With ``early_stopping=True`` the same validation set
replaces the random split (and stopping follows its accuracy, as in
scikit-learn).
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests
OUT = Path(os.environ.get("FASTMLP_EXAMPLE_OUTDIR", "."))
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_val, y_train, y_val = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)
if QUICK:
    X_train, y_train = X_train[:300], y_train[:300]

# %%
# A wide net without L2 penalty, trained for a fixed number of epochs: the
# validation loss is recorded, not acted on.
max_iter = 10 if QUICK else 150
params = dict(
    hidden_layer_sizes=(128,), alpha=0.0, learning_rate_init=0.01, random_state=0
)
clf = MLPClassifier(max_iter=max_iter, n_iter_no_change=max_iter, **params)
clf.fit(X_train, y_train, X_val=X_val, y_val=y_val)
best = int(np.argmin(clf.validation_loss_curve_))
print(f"epochs: {clf.n_iter_}")
print(f"final training loss:   {clf.loss_curve_[-1]:.4f}")
print(
    f"final validation loss: {clf.validation_loss_curve_[-1]:.4f} "
    f"(lowest {clf.validation_loss_curve_[best]:.4f} after epoch {best + 1})"
)

# %%
# The same validation set driving early stopping instead of a random split.
patience = 3 if QUICK else 10
stopped = MLPClassifier(
    max_iter=max_iter, early_stopping=True, n_iter_no_change=patience, **params
).fit(X_train, y_train, X_val=X_val, y_val=y_val)
print(
    f"early stopping on your validation set: {stopped.n_iter_} epochs, "
    f"best validation accuracy {stopped.best_validation_score_:.3f}"
)

# %%
fig, ax = plt.subplots(figsize=(6, 4))
epochs = np.arange(1, clf.n_iter_ + 1)
ax.plot(epochs, clf.loss_curve_, label="loss_curve_ (training)")
ax.plot(epochs, clf.validation_loss_curve_, label="validation_loss_curve_")
ax.axvline(best + 1, color="gray", linestyle=":", label="lowest validation loss")
ax.axvline(stopped.n_iter_, color="tab:red", linestyle="--", label="early stopping")
ax.set_xlabel("epoch")
ax.set_ylabel("log loss")
ax.set_yscale("log")
ax.set_title("Training and validation loss, digits")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "validation_loss_curve.png", dpi=100)
print(f"figure: {OUT / 'validation_loss_curve.png'}")

"""
================================================
class_weight on an imbalanced problem
================================================

When one class is rare, a network trained to minimise the average log loss
can do well by mostly predicting the common class, and miss most of the rare
one. scikit-learn's MLPs have no ``class_weight``; fastmlp's ``MLPClassifier``
takes the same ``class_weight`` as
:class:`~sklearn.linear_model.LogisticRegression`: ``'balanced'`` weighs each
sample by the inverse of its class frequency, a dict sets weights by hand. (It
multiplies ``sample_weight`` if both are given.) The rare class's recall goes
up, at some cost in precision; balanced accuracy shows the trade.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import warnings

from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import balanced_accuracy_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests
warnings.filterwarnings("ignore", category=ConvergenceWarning)

# %%
# Two classes, 3% of the samples in the rare one (class 1), overlapping.
X, y = make_classification(
    n_samples=1000 if QUICK else 8000,
    n_features=20,
    n_informative=5,
    weights=[0.97, 0.03],
    class_sep=0.7,
    flip_y=0.0,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
print(f"rare class: {y_train.sum()} of {len(y_train)} training samples")

# %%
# The same network with three weightings.
print(f"{'class_weight':>16} | recall(1) | precision(1) | balanced accuracy")
for class_weight in [None, "balanced", {0: 1.0, 1: 5.0}]:
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        max_iter=20 if QUICK else 200,
        class_weight=class_weight,
        random_state=0,
    ).fit(X_train, y_train)
    pred = clf.predict(X_test)
    print(
        f"{str(class_weight):>16} | {recall_score(y_test, pred):9.3f} | "
        f"{precision_score(y_test, pred, zero_division=0):12.3f} | "
        f"{balanced_accuracy_score(y_test, pred):17.3f}"
    )

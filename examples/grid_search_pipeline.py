"""
=================================================================
A drop-in replacement in a Pipeline and GridSearchCV, with timings
=================================================================

fastmlp's ``MLPClassifier`` takes scikit-learn's parameters and, with the same
``random_state``, fits the same weights. So it goes wherever scikit-learn's
does: here in a :class:`~sklearn.pipeline.Pipeline` after a
:class:`~sklearn.preprocessing.StandardScaler`, searched over by
:class:`~sklearn.model_selection.GridSearchCV`. The same search runs once with
each library; the cross-validation scores come out the same, and the wall
times show what the compiled training loop saves.

The first fastmlp fit in a new environment compiles the kernels (seconds to
tens of seconds, cached on disk afterwards), so a warm-up fit runs before the
timings.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import time
import warnings

import numpy as np
from sklearn import neural_network
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
if QUICK:
    X, y = X[:300], y[:300]

param_grid = {
    "mlpclassifier__hidden_layer_sizes": [(16,)] if QUICK else [(32,), (64,), (128,)],
    "mlpclassifier__alpha": [1e-4, 1e-2],
}
max_iter = 5 if QUICK else 60

# %%
# Warm-up: the first fit compiles fastmlp's kernels, or loads them from the
# disk cache.
start = time.perf_counter()
fastmlp.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X[:100], y[:100])
print(f"warm-up fit (compile or cache load): {time.perf_counter() - start:.1f} s")

# %%
# The same search with each library. Only the import differs.
results = {}
for name, MLP in [
    ("scikit-learn", neural_network.MLPClassifier),
    ("fastmlp", fastmlp.MLPClassifier),
]:
    pipe = make_pipeline(StandardScaler(), MLP(max_iter=max_iter, random_state=0))
    search = GridSearchCV(pipe, param_grid, cv=3)
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    results[name] = search
    print(
        f"{name:>12}: {seconds:6.2f} s for {len(search.cv_results_['params']) * 3} "
        f"fits; best {search.best_params_} (accuracy {search.best_score_:.3f})"
    )

# %%
# The same scores, fit for fit, and the speed-up.
sk_scores = results["scikit-learn"].cv_results_["mean_test_score"]
fast_scores = results["fastmlp"].cv_results_["mean_test_score"]
print("same mean CV scores:", np.allclose(sk_scores, fast_scores, atol=1e-6))
sk_time = results["scikit-learn"].refit_time_ + np.sum(
    results["scikit-learn"].cv_results_["mean_fit_time"] * 3
)
fast_time = results["fastmlp"].refit_time_ + np.sum(
    results["fastmlp"].cv_results_["mean_fit_time"] * 3
)
print(f"fit time, scikit-learn / fastmlp: {sk_time / fast_time:.1f}x")

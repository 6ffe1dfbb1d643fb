"""
===========================================
The speed-up across hidden activations
===========================================

Each epoch of fastmlp runs in one compiled call, with the activations and
their derivatives computed in vectorized loops. This example times an epoch of
the same 64-64-64-10 network on the digits for every hidden activation, in
fastmlp and in scikit-learn. scikit-learn has no ``leaky_relu``, ``elu``,
``gelu``, ``silu`` or ``softplus``: those are compared with scikit-learn's
``relu`` net, the closest thing it can train. The ratio is the median of a few
fits each, after a warm-up fit (the first fit of an activation compiles or
loads its kernels).

Timings depend on the machine and on what else runs on it; ``make bench``
(from a checkout) measures with alternated rounds and reports the machine.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn import neural_network
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastmlp

QUICK = os.environ.get("FASTMLP_EXAMPLE_QUICK") == "1"  # small sizes for the tests
OUT = Path(os.environ.get("FASTMLP_EXAMPLE_OUTDIR", "."))
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = X / 16.0
if QUICK:
    X, y = X[:200], y[:200]
epochs, repeats = (2, 1) if QUICK else (20, 5)
SKLEARN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
EXTRA_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu", "softplus"]


def seconds_per_epoch(MLP, activation):
    """Median wall time of an epoch over a few fits (after a warm-up fit)."""
    params = dict(
        hidden_layer_sizes=(64, 64, 64),
        activation=activation,
        solver="sgd",
        max_iter=epochs,
        random_state=0,
    )
    MLP(**params).fit(X, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        MLP(**params).fit(X, y)
        times.append((time.perf_counter() - start) / epochs)
    return float(np.median(times))


# %%
sklearn_time = {
    a: seconds_per_epoch(neural_network.MLPClassifier, a) for a in SKLEARN_ACTIVATIONS
}
speedups = {}
for activation in SKLEARN_ACTIVATIONS + EXTRA_ACTIVATIONS:
    fast = seconds_per_epoch(fastmlp.MLPClassifier, activation)
    against = activation if activation in sklearn_time else "relu"
    speedups[activation] = sklearn_time[against] / fast
    print(
        f"{activation:>10}: fastmlp {fast * 1e3:6.2f} ms/epoch, scikit-learn "
        f"({against}) {sklearn_time[against] * 1e3:6.2f} ms: "
        f"{speedups[activation]:5.1f}x"
    )

# %%
fig, ax = plt.subplots(figsize=(7, 4))
colors = ["tab:blue" if a in SKLEARN_ACTIVATIONS else "tab:orange" for a in speedups]
ax.bar(list(speedups), list(speedups.values()), color=colors)
ax.axhline(1.0, color="gray", linewidth=0.8)
ax.set_ylabel("scikit-learn time / fastmlp time, per epoch")
ax.set_title("digits, 64-64-64-10, sgd (orange: against scikit-learn's relu)")
ax.tick_params(axis="x", rotation=30)
fig.tight_layout()
fig.savefig(OUT / "activation_speedup.png", dpi=100)
print(f"figure: {OUT / 'activation_speedup.png'}")

"""Small calls: what one call costs when it gets a few rows.

A model served one request at a time predicts a row per call; online learning
calls ``partial_fit`` on one mini-batch; a grid search fits many small models.
There the fixed cost of a call (input checks, label handling, thread limits)
is all of it, and the epoch cases do not show it. Each call here is timed on
its own, back to back (a serving loop, not a call after idle time), after 30
calls of warm-up; contestants alternate in rounds; the medians over all calls
are reported with the ratio of scikit-learn's to each contestant's. PyTorch
is not a contestant here: its module has no ``partial_fit`` or label
handling to compare.
"""

from __future__ import annotations

import statistics
import time
import warnings

from bench import datasets
from bench.modes import plans

# rounds and calls per round, by mode
PLAN = plans("calls")
WARMUP_CALLS = 30
CONTESTANTS = ("fastmlp", "sklearn")


def _calls(make):
    """Name -> call on its own fitted estimator; ``make(task, params)`` builds one."""
    binary = datasets.classification(200, 20, 2)
    regression = datasets.regression(200, 20)
    grid = datasets.classification(150, 8, 3)
    params = {"hidden_layer_sizes": (32,), "random_state": 0, "max_iter": 5}
    X, y = binary.X_train[:32], binary.y_train[:32]
    Xr, yr = regression.X_train[:32], regression.y_train[:32]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = make("binary", params).fit(binary.X_train, binary.y_train)
        reg = make("regression", params).fit(regression.X_train, regression.y_train)
        online = make("binary", params).partial_fit(X, y, classes=[0, 1])
        online_reg = make("regression", params).partial_fit(Xr, yr)
    small = {"hidden_layer_sizes": (16,), "random_state": 0, "max_iter": 5}
    return {
        "predict, 1 row": lambda: clf.predict(binary.X_test[:1]),
        "predict_proba, 10 rows": lambda: clf.predict_proba(binary.X_test[:10]),
        "regressor predict, 1 row": lambda: reg.predict(regression.X_test[:1]),
        "partial_fit, 32 rows": lambda: online.partial_fit(X, y),
        "regressor partial_fit, 32 rows": lambda: online_reg.partial_fit(Xr, yr),
        "fit, 150 rows x 5 epochs (adam)": lambda: make("multiclass", small).fit(
            grid.X_train, grid.y_train
        ),
        "fit, 150 rows x 5 iterations (L-BFGS)": lambda: make(
            "multiclass", {**small, "solver": "lbfgs"}
        ).fit(grid.X_train, grid.y_train),
    }


def _timed(call, n):
    seconds = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def measure_calls(contestants, mode, progress=None):
    """Per-call medians of the small calls, for fastmlp and scikit-learn.

    Parameters
    ----------
    contestants : list of Contestant
        Those named in ``CONTESTANTS`` take part.
    mode : {"tiny", "quick", "default", "full"}
    progress : callable, optional
        Called with a line of text after each call's measurement.

    Returns
    -------
    dict
        ``rounds``, ``calls_per_round`` and ``calls``: a list of
        ``{"name", "median_s": {contestant: seconds}, "speedup_vs_sklearn":
        {contestant: ratio}}``.
    """
    rounds, per_round = PLAN[mode]
    chosen = [c for c in contestants if c.name in CONTESTANTS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calls = {c.name: _calls(c.make) for c in chosen}
        names = list(next(iter(calls.values()))) if calls else []
        out = []
        for name in names:
            seconds = {c.name: [] for c in chosen}
            for c in chosen:
                _timed(calls[c.name][name], WARMUP_CALLS)
            for _ in range(rounds):
                for c in chosen:
                    seconds[c.name] += _timed(calls[c.name][name], per_round)
            medians = {k: statistics.median(v) for k, v in seconds.items()}
            base = medians.get("sklearn")
            ratios = {k: base / v for k, v in medians.items() if base and v > 0}
            out.append(
                {"name": name, "median_s": medians, "speedup_vs_sklearn": ratios}
            )
            if progress is not None:
                progress(
                    f"{name}: "
                    + ", ".join(f"{k} {v * 1e6:.0f} us" for k, v in medians.items())
                )
    return {"rounds": rounds, "calls_per_round": per_round, "calls": out}


def section(measured):
    """The report's small-calls table, or None when not measured.

    Parameters
    ----------
    measured : dict or None
        :func:`measure_calls`'s result.

    Returns
    -------
    str or None
    """
    from bench.report import fmt_number, fmt_seconds, markdown_table

    if not measured or not measured["calls"]:
        return None
    names = list(measured["calls"][0]["median_s"])
    header = ["call"] + names + [f"{n} vs sklearn" for n in names if n != "sklearn"]
    rows = []
    for call in measured["calls"]:
        row = [call["name"]] + [fmt_seconds(call["median_s"][n]) for n in names]
        row += [
            fmt_number(call["speedup_vs_sklearn"].get(n), ".2f", "x")
            for n in names
            if n != "sklearn"
        ]
        rows.append(row)
    note = (
        f"\n\nEach call timed on its own, back to back, after 30 of warm-up: "
        f"medians of {measured['rounds']} alternated rounds of "
        f"{measured['calls_per_round']} calls (`bench/calls.py`). Fits include "
        "making the estimator."
    )
    return markdown_table(header, rows) + note

"""Measure one case in this process: times, paired speedups, quality, GEMM floor.

Method, per case: every contestant gets one warm-up call first (a one-epoch
fit for stochastic solvers, a full fit for L-BFGS, a fit and one call for
``predict_proba``): this is where fastmlp compiles or loads its cache; compile
time is measured apart, in a fresh process, by :mod:`bench.subproc`. Then
``reps`` rounds, each timing every contestant once, the order rotating from
round to round. Times are medians over rounds; a contestant's speedup is the
median over rounds of ``sklearn seconds / contestant seconds`` from the same
round.
"""

from __future__ import annotations

import math
import traceback

import numpy as np

from bench.gemm import gemm_flops, gemm_seconds
from bench.results_model import (
    Agreement,
    CaseData,
    CaseResult,
    ContestantTiming,
    GemmFloor,
)
from bench.timing import alternate, median, paired_speedups, timed

UNITS = {"fit": "s/epoch", "lbfgs": "s/fit", "predict": "s/call"}
# the parity tests' tolerances (README: rtol 1e-6 in float64, 1e-3 in float32)
LOSS_RTOL = {"float64": 1e-6, "float32": 1e-3}


def score_name(task):
    """What ``estimator.score`` means for a task.

    Parameters
    ----------
    task : str

    Returns
    -------
    str
    """
    return {
        "regression": "R2",
        "multilabel": "subset accuracy",
    }.get(task, "accuracy")


def layer_units(data, params):
    """``[n_features, *hidden, n_outputs]`` as sklearn builds the network.

    Parameters
    ----------
    data : Dataset
    params : dict

    Returns
    -------
    list of int
    """
    return [data.n_features, *params["hidden_layer_sizes"], data.n_outputs]


def error_text(exc):
    """Last lines of an exception, short enough for a table cell.

    Parameters
    ----------
    exc : BaseException

    Returns
    -------
    str
    """
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[-500:]


def too_slow(warmup_s, scale, budget_s):
    """Why a contestant is not timed at all, or None.

    A single timed call is predicted as ``warmup_s * scale`` (one warm-up
    epoch times the epochs, or one warm-up call); over twice the budget
    (on a busy machine PyTorch's spin-waiting OpenMP pool can run 100x
    slower) it is skipped rather than left to eat the run's time.

    Parameters
    ----------
    warmup_s : float
    scale : int
    budget_s : float or None

    Returns
    -------
    str or None
    """
    if budget_s is None:
        return None
    predicted = warmup_s * scale
    if predicted <= 2 * budget_s:
        return None
    return (
        f"not timed: its warm-up predicts {predicted:.3g} s per call, over twice "
        f"the {budget_s:.3g} s budget of this mode"
    )


def _fitter(contestant, task, params, X, y):
    def fit():
        return contestant.make(task, params).fit(X, y)

    return fit


def measure_case(
    case,
    mode,
    contestants,
    reps,
    gemm=True,
    settle=0.0,
    budget_s=None,
    skip_slow=True,
    gemm_threads=None,
):
    """Time, compare and score all contestants on one case.

    Parameters
    ----------
    case : Case
        Of kind "fit", "lbfgs" or "predict".
    mode : str
        Size mode ("tiny", "quick", "default", "full").
    contestants : list of Contestant
    reps : int
        Alternated rounds.
    gemm : bool, default=True
        Also time the GEMM floor at the case's shapes.
    settle : float, default=0.0
        Idle seconds before each timed call (see :func:`bench.timing.alternate`).
    budget_s : float, optional
        Timed seconds after which a contestant gets no more rounds.
    skip_slow : bool, default=True
        Leave untimed a contestant whose warm-up predicts a call of more
        than twice ``budget_s`` (see :func:`too_slow`); False keeps every
        contestant, each timed at least once (the configuration matrix,
        whose ratios need both).
    gemm_threads : int, optional
        BLAS threads for the GEMM floor (see :func:`bench.gemm.gemm_seconds`).

    Returns
    -------
    CaseResult
        Each contestant has ``seconds`` (per round), ``per_unit_s`` (median,
        in ``unit``), ``speedup_vs_sklearn``, ``loss``, ``score`` and
        ``n_iter``, or ``error``.
    """
    data = case.data(mode)
    params = case.estimator_params(mode)
    epochs = params["max_iter"]
    X, y = data.X_train, data.y_train
    X_pred = None
    if case.kind == "predict":
        from bench.datasets import predict_rows

        X_pred = predict_rows(case.predict_rows[mode], data.n_features, X.dtype)
    result = CaseResult(
        name=case.name,
        title=case.title,
        kind=case.kind,
        unit=UNITS[case.kind],
        data=CaseData(
            name=data.name,
            task=data.task,
            n_train=data.n_train,
            n_test=int(data.X_test.shape[0]),
            n_features=data.n_features,
            dtype=str(X.dtype),
            predict_rows=None if X_pred is None else int(X_pred.shape[0]),
        ),
        layer_units=layer_units(data, params),
        params=jsonable_params(params),
        epochs=epochs,
        reps=reps,
        score_name=score_name(data.task),
    )
    entries = result.contestants
    calls, models = {}, {}
    for contestant in contestants:
        entry = entries.setdefault(contestant.name, ContestantTiming())
        reason = contestant.declines(params)
        if reason is not None:
            entry.declined = reason
            continue
        fit = _fitter(contestant, data.task, params, X, y)
        try:
            if case.kind == "predict":
                model = timed(fit)[1]
                models[contestant.name] = model
                entry.warmup_s = timed(lambda m=model: m.predict_proba(X_pred))[0]
                calls[contestant.name] = lambda m=model: m.predict_proba(X_pred)
            else:
                # One epoch warms up as well as E: same kernels compiled (same
                # dtype and options), same imports, BLAS pools started.
                warm_params = dict(params)
                if case.kind == "fit":
                    warm_params["max_iter"] = 1
                warm = _fitter(contestant, data.task, warm_params, X, y)
                entry.warmup_s = timed(warm)[0]
                calls[contestant.name] = fit
        except Exception as exc:  # a contestant failing must not stop the others
            entry.error = error_text(exc)
            continue
        scale = epochs if case.kind == "fit" else 1
        note = too_slow(entry.warmup_s, scale, budget_s if skip_slow else None)
        if note:
            # The first warm-up may include compiling (fastmlp's numba kernels
            # for a dtype not cached yet): judge by a second one.
            try:
                rewarm = warm if case.kind != "predict" else calls[contestant.name]
                entry.warmup_s = timed(rewarm)[0]
            except Exception as exc:
                entry.error = error_text(exc)
                del calls[contestant.name]
                continue
            note = too_slow(entry.warmup_s, scale, budget_s)
        if note:
            entry.skipped = note
            del calls[contestant.name]
    times, last = alternate(calls, reps, settle=settle, budget_s=budget_s)
    for name, seconds in times.items():
        model = models.get(name, last.get(name))
        entry = entries[name]
        entry.seconds = seconds
        entry.rounds = len(seconds)
        entry.median_s = median(seconds)
        try:
            entry.loss, entry.n_iter, entry.score = _quality(model, data)
        except Exception as exc:
            entry.quality_error = error_text(exc)
        n_iter = entry.n_iter
        if case.kind == "fit":
            entry.per_unit_s = entry.median_s / epochs
            if n_iter is not None and n_iter != epochs:
                entry.warning = f"ran {n_iter} epochs, not {epochs}"
        else:
            entry.per_unit_s = entry.median_s
        if case.kind == "lbfgs" and n_iter:
            entry.per_iteration_s = entry.median_s / n_iter
        # fastmlp's kernel calls of its last fit, split and whole
        # (fastmlp._runtime.split_chooser)
        ways = getattr(model, "_split_whole_calls", None)
        if ways is not None:
            entry.split_whole_calls = [int(ways[0]), int(ways[1])]
    if "sklearn" in times:
        for name, seconds in times.items():
            ratios = paired_speedups(times["sklearn"], seconds)
            entries[name].pair_speedups = ratios
            entries[name].speedup_vs_sklearn = median(ratios)
    if gemm:
        result.gemm = _gemm(case, data, result, X_pred, gemm_threads)
    return result


def jsonable_params(params):
    """Estimator parameters with tuples as lists, as the JSON has them.

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def same_model(result, kind, dtype, twin=True):
    """Whether fastmlp and scikit-learn trained the same model in a case.

    Parameters
    ----------
    result : CaseResult
        :func:`measure_case`'s result.
    kind : {"fit", "lbfgs", "predict"}
    dtype : {"float64", "float32"}
    twin : bool, default=True
        Whether scikit-learn trained the very same network (False: it has no
        such activation or option, and ran its nearest one).

    Returns
    -------
    Agreement
        ``status`` (``"same"``, ``"no sklearn twin"``, ``"DIFFERENT"`` or
        ``"unchecked"``), ``problems`` (list of str), ``loss_rel_diff`` and
        ``rtol`` where the losses were compared.
    """
    fast, skl = result.entry("fastmlp"), result.entry("sklearn")
    if fast.loss is None or skl.loss is None:
        return Agreement(["a contestant has no fitted model"], status="unchecked")
    problems = []
    expected = result.epochs
    if not math.isfinite(fast.loss):
        problems.append(f"fastmlp's loss is {fast.loss}")
    if kind == "fit" and fast.n_iter != expected:
        problems.append(f"fastmlp ran {fast.n_iter} epochs, not {expected}")
    if not twin:
        status = "no sklearn twin" if not problems else "DIFFERENT"
        return Agreement(problems, status=status)
    if fast.n_iter != skl.n_iter:
        problems.append(
            f"fastmlp ran {fast.n_iter} epochs/iterations, sklearn {skl.n_iter}"
        )
    rtol = LOSS_RTOL[dtype]
    scale = max(abs(skl.loss), 1e-300)
    diff = abs(fast.loss - skl.loss) / scale
    if not diff <= rtol:  # NaN fails too
        problems.append(
            f"training loss {fast.loss:.9g} (fastmlp) vs {skl.loss:.9g} "
            f"(sklearn): relative difference {diff:.2g} > {rtol:g}"
        )
    status = "same" if not problems else "DIFFERENT"
    return Agreement(problems, loss_rel_diff=diff, rtol=rtol, status=status)


def _quality(model, data):
    """``(loss, n_iter, score)`` of a fitted model; None where it has none."""
    loss = getattr(model, "loss_", None)
    n_iter = getattr(model, "n_iter_", None)
    return (
        None if loss is None else float(loss),
        None if n_iter is None else int(n_iter),
        float(model.score(data.X_test, data.y_test)),
    )


def _gemm(case, data, result, X_pred, blas_threads=None):
    """Time the products alone and relate each contestant's time to them."""
    units = result.layer_units
    dtype = data.X_train.dtype
    if case.kind == "predict":
        n_rows, batch, mode = X_pred.shape[0], X_pred.shape[0], "forward"
    elif case.kind == "lbfgs":
        n_rows, batch, mode = data.n_train, data.n_train, "train"
    else:
        n_rows, mode = data.n_train, "train"
        batch = result.params.get("batch_size", "auto")
        if batch == "auto":  # sklearn's rule
            batch = min(200, n_rows)
    seconds = gemm_seconds(
        n_rows, units, batch, dtype, mode=mode, blas_threads=blas_threads
    )
    flops = gemm_flops(n_rows, units, mode=mode)
    ratios = {}
    for name, entry in result.contestants.items():
        if entry.median_s is None:
            continue
        per = entry.per_unit_s
        if case.kind == "lbfgs":
            per = np.nan if entry.per_iteration_s is None else entry.per_iteration_s
        ratios[name] = per / seconds if seconds > 0 else float("nan")
    return GemmFloor(
        what={
            "fit": "one epoch's products, all mini-batches",
            "lbfgs": "one full-batch forward+backward pass (per L-BFGS iteration)",
            "predict": "one forward pass over all rows",
        }[case.kind],
        seconds=seconds,
        gflops_per_s=flops / seconds / 1e9 if seconds > 0 else None,
        time_over_gemm=ratios,
        blas_threads=blas_threads,
    )

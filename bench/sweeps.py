"""Sweeps: speedup against hidden width and batch size, epoch time against rows.

All three train ``64 -> hidden -> 10`` with adam on generated data
(``make_classification``, standardized). Epoch counts are forced as in the
cases; per point the epoch count is chosen from sklearn's warm-up epoch time
so that one sklearn fit lasts about ``target_s`` (at least 2 epochs, or 1 in
tiny mode), the same count for every contestant. Seconds per epoch = median
fit time / epochs; speedups are medians of per-round ratios, as in the cases.
"""

from __future__ import annotations

import math

from bench import datasets
from bench.cases import FORCED
from bench.measure import error_text, too_slow
from bench.modes import plans
from bench.results_model import Sweep, SweepPoint, SweepTiming
from bench.timing import alternate, median, paired_speedups, timed

# points and budget per mode (bench.modes.SweepPlan)
PLANS = plans("sweeps")

SWEEPS = {
    "sweep_width": "speedup over sklearn against hidden width "
    "(64 -> w -> 10, batch 200)",
    "sweep_batch": "speedup over sklearn against batch size (64 -> 100 -> 10)",
    "sweep_samples": "seconds per epoch against training rows "
    "(64 -> 100 -> 10, batch 200)",
}


def _point(contestants, data, hidden, batch_size, plan, settle):
    """Measure one sweep point (its ``x`` is set by the caller)."""
    X, y = data.X_train, data.y_train
    base = {
        **FORCED,
        "solver": "adam",
        "hidden_layer_sizes": (hidden,),
        "batch_size": batch_size,
    }

    def fitter(contestant, epochs):
        params = {**base, "max_iter": epochs}

        def fit():
            return contestant.make(data.task, params).fit(X, y)

        return fit

    out = {c.name: SweepTiming() for c in contestants}
    calibration = {}
    for contestant in contestants:
        try:
            calibration[contestant.name] = timed(fitter(contestant, 1))[0]
        except Exception as exc:
            out[contestant.name].error = error_text(exc)
    one_epoch = calibration.get("sklearn") or max(calibration.values(), default=1.0)
    epochs = max(plan.min_epochs, math.ceil(plan.target_s / max(one_epoch, 1e-6)))
    epochs = min(epochs, 200)
    calls = {}
    for contestant in contestants:
        if contestant.name not in calibration:
            continue
        note = too_slow(calibration[contestant.name], epochs, plan.budget_s)
        if note:
            out[contestant.name].skipped = note
        else:
            calls[contestant.name] = fitter(contestant, epochs)
    times, _ = alternate(calls, plan.reps, settle=settle, budget_s=plan.budget_s)
    for name, seconds in times.items():
        out[name].seconds = seconds
        out[name].s_per_epoch = median(seconds) / epochs
        if "sklearn" in times:
            out[name].speedup = median(paired_speedups(times["sklearn"], seconds))
    return SweepPoint(epochs=epochs, contestants=out)


def run_sweep(name, mode, contestants, settle=0.0, progress=None):
    """Run one sweep.

    Parameters
    ----------
    name : {"sweep_width", "sweep_batch", "sweep_samples"}
    mode : str
    contestants : list of Contestant
    settle : float, default=0.0
    progress : callable, optional
        Called with a one-line message after each point.

    Returns
    -------
    Sweep
        One point per x.
    """
    plan = PLANS[mode]
    if name == "sweep_width":
        x_name, xs = "hidden width", plan.widths
    elif name == "sweep_batch":
        x_name, xs = "batch size", plan.batch_sizes
    else:
        x_name, xs = "training rows", plan.n_samples
    points = []
    for x in xs:
        if name == "sweep_samples":
            data = datasets.classification(x, 64, 10)
            point = _point(contestants, data, 100, 200, plan, settle)
        else:
            data = datasets.classification(plan.base_rows, 64, 10)
            hidden = x if name == "sweep_width" else 100
            batch = x if name == "sweep_batch" else 200
            point = _point(contestants, data, hidden, batch, plan, settle)
        point.x = x
        points.append(point)
        if progress is not None:
            progress(_describe(name, x, point))
    return Sweep(
        name=name,
        title=SWEEPS[name],
        x_name=x_name,
        x=list(xs),
        base_rows=plan.base_rows,
        points=points,
        loglog_slope=scaling_slopes(points) if name == "sweep_samples" else None,
    )


def scaling_slopes(points):
    """Log-log slope of seconds per epoch between the two largest sizes.

    1.0 is linear scaling; less means fixed per-epoch costs still show.

    Parameters
    ----------
    points : list of SweepPoint

    Returns
    -------
    dict of str to float
    """
    slopes = {}
    if len(points) < 2:
        return slopes
    low, high = points[-2], points[-1]
    for name, entry in high.contestants.items():
        t_low = low.entry(name).s_per_epoch
        t_high = entry.s_per_epoch
        if t_low and t_high and t_low > 0 and t_high > 0:
            slopes[name] = math.log(t_high / t_low) / math.log(high.x / low.x)
    return slopes


def _describe(name, x, point):
    parts = []
    for cname, entry in point.contestants.items():
        if entry.s_per_epoch is not None:
            text = f"{cname} {entry.s_per_epoch * 1e3:.3g} ms/epoch"
            if cname != "sklearn" and entry.speedup is not None:
                text += f" (x{entry.speedup:.2f})"
            parts.append(text)
        elif entry.skipped is not None:
            parts.append(f"{cname} skipped (too slow)")
        else:
            parts.append(f"{cname} failed")
    return f"{name} x={x} ({point.epochs} epochs): " + ", ".join(parts)

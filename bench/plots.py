"""PNG figures of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    NullFormatter,
)

COLORS = {
    "fastmlp": "#d62728",
    "sklearn": "#1f77b4",
    "torch": "#ff7f0e",
    "jax": "#2ca02c",
}


def _plain_log_axis(axis, subs=(1.0,)):
    """Label a log axis 0.5, 1, 2 ... instead of 10^x; no minor labels.

    ``subs`` picks the labelled multiples of each power of ten, e.g.
    ``(1, 2, 5)`` for a range of less than two decades.
    """
    if subs != (1.0,):
        axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _finite(value):
    return (
        value is not None and isinstance(value, (int, float)) and math.isfinite(value)
    )


def speedup_by_case(cases, path, names=("fastmlp", "torch")):
    """Bar chart: each contestant's speedup over sklearn, one group per case.

    Parameters
    ----------
    cases : list of CaseResult
        Kinds fit, lbfgs and predict are drawn.
    path : str
        Output PNG.
    names : tuple of str, default=("fastmlp", "torch")
        Contestants drawn, where they have a speedup.

    Returns
    -------
    str or None
        ``path``, or None when there was nothing to draw.
    """
    rows = [c for c in cases if c.kind in ("fit", "lbfgs", "predict")]
    names = [
        n for n in names if any(_finite(c.entry(n).speedup_vs_sklearn) for c in rows)
    ]
    if not rows or not names:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) * len(names) + 1.6))
    height = 0.8 / len(names)
    for j, name in enumerate(names):
        ys, values = [], []
        for i, case in enumerate(rows):
            value = case.entry(name).speedup_vs_sklearn
            if _finite(value):
                ys.append(i + (j - (len(names) - 1) / 2) * height)
                values.append(value)
        bars = ax.barh(ys, values, height=height, color=COLORS.get(name), label=name)
        for bar, value in zip(bars, values):
            ax.text(
                bar.get_width(),
                bar.get_y() + bar.get_height() / 2,
                f" {value:.2f}x",
                va="center",
                fontsize=8,
            )
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(right=ax.get_xlim()[1] * 1.5)  # room for the value labels
    _plain_log_axis(ax.xaxis, subs=(1.0, 2.0, 5.0))
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([c.name for c in rows])
    ax.invert_yaxis()
    ax.set_xlabel("speedup over sklearn (median of paired ratios; >1 is faster)")
    ax.set_title("Speedup over scikit-learn per case")
    ax.legend(loc="lower right")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_speedup(sweep, path):
    """Line plot of speedup over sklearn against the sweep's x.

    Parameters
    ----------
    sweep : Sweep
        A :func:`bench.sweeps.run_sweep` result.
    path : str

    Returns
    -------
    str or None
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for name in ("fastmlp", "torch"):
        xs, ys = [], []
        for point in sweep.points:
            value = point.entry(name).speedup
            if _finite(value):
                xs.append(point.x)
                ys.append(value)
        if xs:
            ax.plot(xs, ys, "o-", color=COLORS.get(name), label=name)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.axhline(1.0, color="black", linewidth=1, label="sklearn")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_log_axis(ax.xaxis)
    _plain_log_axis(ax.yaxis, subs=(1.0, 2.0, 5.0))
    ax.set_xticks([p.x for p in sweep.points])
    ax.set_xlabel(sweep.x_name)
    ax.set_ylabel("speedup over sklearn")
    ax.set_title(sweep.title, fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_epoch_time(sweep, path):
    """Log-log plot of seconds per epoch against training rows.

    Each contestant gets a dotted slope-1 guide through its largest point:
    a curve that follows its guide scales linearly.

    Parameters
    ----------
    sweep : Sweep
    path : str

    Returns
    -------
    str or None
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = False
    for name in ("fastmlp", "sklearn", "torch"):
        xs, ys = [], []
        for point in sweep.points:
            value = point.entry(name).s_per_epoch
            if _finite(value):
                xs.append(point.x)
                ys.append(value)
        if not xs:
            continue
        color = COLORS.get(name)
        ax.plot(xs, ys, "o-", color=color, label=name)
        x_last, y_last = xs[-1], ys[-1]
        ax.plot(xs, [y_last * x / x_last for x in xs], ":", color=color, alpha=0.7)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.plot([], [], ":", color="gray", label="linear (slope 1)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([p.x for p in sweep.points])
    _plain_log_axis(ax.xaxis)
    _plain_log_axis(ax.yaxis)
    ax.set_xlabel(sweep.x_name)
    ax.set_ylabel("seconds per epoch")
    ax.set_title(sweep.title, fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def matrix_heatmap(matrix, path):
    """Heatmap of the configuration matrix's ratios, one panel per block.

    Colour is the ratio against its cell's target (4x per epoch, 3x per
    L-BFGS fit) on a log scale: green at or above target, red below; each
    cell is labelled with its ratio, hatched when below target, and marked
    ``≠`` when its two models differ. Grey: not run in this mode.

    Parameters
    ----------
    matrix : dict
        :func:`bench.matrix.run_matrix`'s result.
    path : str

    Returns
    -------
    str or None
    """
    import numpy as np
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    from bench.matrix import flagged, panels

    drawn = [p for p in panels(matrix) if p["rows"] and p["cols"]]
    if not drawn:
        return None
    widths = [max(len(p["cols"]), 2) for p in drawn]
    height = max(len(p["rows"]) for p in drawn)
    fig, axes = plt.subplots(
        1,
        len(drawn),
        figsize=(1.25 * sum(widths) + 2.5 * len(drawn) + 1.5, 0.45 * height + 2.4),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
        layout="constrained",
    )
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-3.0, vmax=2.0)
    cmap = plt.get_cmap("RdYlGn").copy()
    cmap.set_bad("#dddddd")
    image = None
    for ax, panel in zip(axes[0], drawn):
        rows, cols = panel["rows"], panel["cols"]
        grid = np.full((len(rows), len(cols)), np.nan)
        for (row, col), result in panel["cells"].items():
            ratio = result.ratio
            if _finite(ratio) and ratio > 0:
                grid[rows.index(row), cols.index(col)] = math.log2(
                    ratio / result.target
                )
        image = ax.imshow(
            np.ma.masked_invalid(grid), cmap=cmap, norm=norm, aspect="auto"
        )
        for (row, col), result in panel["cells"].items():
            i, j = rows.index(row), cols.index(col)
            ratio = result.ratio
            below = result.meets_target is False
            text = "-" if not _finite(ratio) else f"{ratio:.2f}x"
            if flagged(result):
                text += " ≠"
            if below:
                ax.add_patch(
                    Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        fill=False,
                        hatch="//",
                        edgecolor="#00000055",
                        linewidth=0,
                    )
                )
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                fontweight="bold" if below else "normal",
            )
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(panel.get("row_labels", rows), fontsize=8)
        ax.set_title(panel["title"], fontsize=9)
        ax.tick_params(length=0)
    targets = matrix.get("targets", {})
    fig.suptitle(
        "fastmlp speedup over scikit-learn (sklearn s / fastmlp s) — mode "
        f"{matrix.get('mode')}; targets {targets.get('per_epoch', 4):g}x per "
        f"epoch, {targets.get('lbfgs_per_fit', 3):g}x per L-BFGS fit; "
        "hatched = below target",
        fontsize=10,
    )
    bar = fig.colorbar(image, ax=list(axes[0]), fraction=0.03, pad=0.01)
    ticks = [-3, -2, -1, 0, 1, 2]
    bar.set_ticks(ticks)
    bar.set_ticklabels([f"{2.0**t:g}x target" for t in ticks])
    bar.ax.tick_params(labelsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results, out_dir):
    """Draw every figure a run's results allow.

    Parameters
    ----------
    results : RunResults
    out_dir : str

    Returns
    -------
    list of str
        Paths of the PNGs written.
    """
    # a custom run draws JAX too (the suite's figure predates it)
    names = ("fastmlp", "torch", "jax") if results.custom else ("fastmlp", "torch")
    written = [
        speedup_by_case(
            results.cases, os.path.join(out_dir, "speedup_by_case.png"), names
        )
    ]
    matrix = results.matrix
    if matrix and matrix.get("cells"):
        path = os.path.join(out_dir, "matrix_ratios.png")
        written.append(matrix_heatmap(matrix, path))
    for sweep in results.sweeps:
        path = os.path.join(out_dir, sweep.name + ".png")
        if sweep.name == "sweep_samples":
            written.append(sweep_epoch_time(sweep, path))
        else:
            written.append(sweep_speedup(sweep, path))
    if results.predict_sweep:
        from bench.predict_sweep import plot as predict_sweep_plot

        path = os.path.join(out_dir, "predict_sweep.png")
        written.append(predict_sweep_plot(results.predict_sweep, path))
    return [p for p in written if p]

"""Markdown report of a run: a summary table first, details and method after."""

from __future__ import annotations

import math

METHOD = """\
- **Seconds per epoch** = median fit time / epochs, with the epoch count forced
  (`max_iter=E`, `tol=0`, `n_iter_no_change=10**9`, `early_stopping=False`):
  the whole `fit` call is timed (validation, initialisation and every epoch,
  nothing subtracted). L-BFGS is quoted per fit (`max_iter` fixed, `tol=0`),
  `predict_proba` per call.
- **Warm-up, then alternation**: each contestant fits once untimed (one epoch
  for stochastic solvers; fastmlp compiles or loads its cache there), then
  every round times each contestant once, the order rotating between rounds;
  {settle} s of idle time precede each timed call so that spin-waiting
  BLAS/OpenMP threads left by the previous call are asleep. Times are medians
  over rounds; **speedup** = median over rounds of (sklearn seconds /
  contestant seconds) from the same round (>1 = faster than sklearn). A
  contestant whose timed seconds in a case pass the mode's budget gets no
  further rounds (marked `(k r)`).
- **Same setup for all**: the same arrays (standardized, cast to the case's
  dtype once before any timing), the same hyperparameters and random_state,
  the same thread counts (see Environment). The PyTorch contestant builds the
  same network with sklearn's Glorot-uniform initialisation drawn from the same
  RandomState (identical starting weights) and the same per-epoch shuffles,
  the same loss with sklearn's L2 term `0.5*alpha*||W||^2/batch_rows`,
  `torch.optim.Adam`/`SGD` with the same hyperparameters, and a plain loop over
  index batches; for L-BFGS it feeds torch's loss and gradient to scipy's
  L-BFGS-B, as sklearn does.
- **Compile time** (fastmlp): in a fresh process with an empty
  `NUMBA_CACHE_DIR`, first fit minus the median of the next two (the default
  suite does this for the cases whose kernels differ, `--full` for all).
  **Import + first call**: a fresh process with a warm cache (the one the
  compile job filled, else the one this run filled), import of the contestant
  plus its first fit (data already loaded).
  **Peak memory**: the same fresh process, one more fit: freed heap returned
  to the kernel (`malloc_trim(0)`), `VmHWM` reset through
  `/proc/self/clear_refs`, then `VmHWM` after the fit minus `VmRSS` before
  it, i.e. the most resident memory the fit added at any moment.
- **GEMM floor**: the matrix products one epoch performs (forward `A@W` per
  layer, backward `A.T@delta` per layer and `delta@W.T` per layer but the
  first, over all mini-batches) timed alone with `np.dot(a, b, out)` on
  preallocated arrays of the case's dtype, called from one `@njit` loop (no
  Python overhead per call); the fastest of 7 runs, BLAS on the threads the
  run gives it (the environment section's; the matrix's floor: one thread).
  *time/GEMM* = a contestant's seconds per epoch divided by that; 1.0 would
  mean everything besides the products is free.
  L-BFGS: per iteration against one full-batch pass (an iteration may evaluate
  the loss more than once). predict_proba: against one forward pass.
- **Two threads**: two identical fits started together in two Python threads,
  against the same two fits one after the other, each with 1 thread (BLAS,
  numba, torch), in a fresh process; speedup = sequential / concurrent (2.0 is
  the ceiling on 2 cores), median of paired rounds. The speedup compares a
  contestant with itself, so each gets enough epochs for a fit to last the
  mode's target time.
- **PyTorch notes**: `torch.optim.Adam` adds epsilon after the bias
  correction (sklearn before it), which only matters in the first steps;
  torch's OpenMP pool spin-waits, so on a machine where another process holds
  a core its times with 2 threads degrade sharply (`--threads 1` avoids it).
- **JAX notes** (when installed, `pip install -e .[jax]`): the same network,
  initial weights, batch order, loss and L2 term, sklearn's Adam/SGD update
  formulas written out (`bench/jax_mlp.py`); each epoch is one `jax.jit` call
  around `lax.scan` over the batches, the short last batch padded with
  zero-weight rows. Its warm-up compiles for the case's shapes (XLA, ahead
  of time): *jax warm-up* is that untimed one-epoch fit (for predict_proba
  its first call, a jitted forward pass), compile included, while its timed
  figures are steady state. Early stopping and
  L-BFGS are n/a; float64 turns on `jax_enable_x64` for the whole process.
- No timing is ever asserted by a test; these numbers are for reading."""


def fmt_seconds(seconds):
    """Seconds as a short human string (us, ms or s, 3 significant digits).

    Parameters
    ----------
    seconds : float or None

    Returns
    -------
    str
    """
    if (
        seconds is None
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
    ):
        return "-"
    # thresholds just below each unit: 0.9996 s rounds to "1 s", not "1e+03 ms"
    if abs(seconds) < 0.9995e-3:
        return f"{seconds * 1e6:.3g} us"
    if abs(seconds) < 0.9995:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_number(value, spec, suffix=""):
    """A number formatted by ``spec``, or "-" for None, NaN and inf.

    Parameters
    ----------
    value : float or None
    spec : str
    suffix : str, default=""

    Returns
    -------
    str
    """
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return format(value, spec) + suffix


def markdown_table(header, rows):
    """A markdown table.

    Parameters
    ----------
    header : list of str
    rows : list of list

    Returns
    -------
    str
    """
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def cell_time(entry, reps):
    """A contestant's time in a case's table cell, or why there is none.

    Parameters
    ----------
    entry : ContestantTiming
    reps : int
        The case's rounds: fewer are marked ``(k r)``.

    Returns
    -------
    str
    """
    if entry.error is not None:
        return "FAILED"
    if entry.skipped is not None:
        return "skipped (slow)"
    if entry.declined is not None:
        return "n/a"
    text = fmt_seconds(entry.per_unit_s)
    rounds = entry.rounds
    if rounds is not None and rounds < reps:
        text += f" ({rounds} r)"
    if entry.warning:
        text += " (!)"
    return text


def _timed_cases(results):
    return [c for c in results.cases if c.kind in ("fit", "lbfgs", "predict")]


def compile_cell(entry):
    """fastmlp's compile time, FAILED, or "not measured".

    Parameters
    ----------
    entry : FreshProcess
        fastmlp's fresh-process results of a case (may be empty).

    Returns
    -------
    str
    """
    if entry.compile_error is not None:
        return "FAILED"
    if entry.compile_s is None:
        return "not measured"
    return fmt_seconds(entry.compile_s)


def jax_first_fit_cell(entry):
    """JAX's untimed warm-up call (XLA compile included), or why there is none.

    Parameters
    ----------
    entry : ContestantTiming
        The jax contestant's entry of a case.

    Returns
    -------
    str
    """
    if entry.declined is not None:
        return "n/a"
    if entry.error is not None:
        return "FAILED"
    return fmt_seconds(entry.warmup_s)


def summary_table(results):
    """The at-a-glance table: times, speedups, compile time, test score.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str
    """
    names = results.contestant_names
    others = [n for n in names if n != "sklearn"]
    header = ["case", "unit", *names]
    header += [f"{n} vs sklearn" for n in others]
    header += ["fastmlp compile"]
    if "jax" in names:
        header += ["jax warm-up (compile incl.)"]
    header += ["test score (" + " / ".join(names) + ")"]
    rows = []
    for case in _timed_cases(results):
        row = [case.name, case.unit]
        row += [cell_time(case.entry(n), case.reps) for n in names]
        row += [
            fmt_number(case.entry(n).speedup_vs_sklearn, ".2f", "x") for n in others
        ]
        row.append(compile_cell(case.fresh_entry("fastmlp")))
        if "jax" in names:
            row.append(jax_first_fit_cell(case.entry("jax")))
        row.append(" / ".join(fmt_number(case.entry(n).score, ".3f") for n in names))
        rows.append(row)
    return markdown_table(header, rows)


def quality_table(results):
    """Final training loss and test score per contestant.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str
    """
    names = results.contestant_names
    header = [
        "case",
        "metric",
        *[f"{n} loss" for n in names],
        *[f"{n} score" for n in names],
        "epochs/iterations run",
    ]
    rows = []
    for case in _timed_cases(results):
        row = [case.name, case.score_name]
        row += [fmt_number(case.entry(n).loss, ".5g") for n in names]
        row += [fmt_number(case.entry(n).score, ".4f") for n in names]
        row.append(" / ".join(_n_iter_text(case.entry(n)) for n in names))
        rows.append(row)
    return markdown_table(header, rows)


def _n_iter_text(entry):
    # "-" when the model was never scored; None when it was, without n_iter_
    return "-" if entry.score is None else str(entry.n_iter)


def gemm_table(results):
    """Each contestant's time against the GEMM floor.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str
    """
    names = results.contestant_names
    header = [
        "case",
        "products timed",
        "GEMM time",
        "GFLOP/s",
        *[f"{n} time/GEMM" for n in names],
    ]
    rows = []
    for case in _timed_cases(results):
        gemm = case.gemm
        if not gemm:
            continue
        ratios = gemm.time_over_gemm
        rows.append(
            [
                case.name,
                gemm.what,
                fmt_seconds(gemm.seconds),
                fmt_number(gemm.gflops_per_s, ".1f"),
            ]
            + [fmt_number(ratios.get(n), ".2f") for n in names]
        )
    return markdown_table(header, rows)


def fresh_table(results):
    """Compile time, import + first call, and peak memory per contestant.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str or None
    """
    names = results.contestant_names
    cases = [c for c in _timed_cases(results) if c.fresh]
    if not cases:
        return None
    header = ["case", "fastmlp compile (cold cache)"]
    header += [f"{n} import + first call (warm)" for n in names]
    header += [f"{n} peak MiB" for n in names]
    rows = []
    for case in cases:
        row = [case.name, compile_cell(case.fresh_entry("fastmlp"))]
        for n in names:
            entry = case.fresh_entry(n)
            if entry.warm_error is not None:
                row.append("FAILED")
            else:
                row.append(fmt_seconds(_sum(entry.import_s, entry.first_call_s)))
        for n in names:
            row.append(fmt_number(case.fresh_entry(n).peak_mib, ".1f"))
        rows.append(row)
    note = ""
    if any(c.kind == "predict" for c in cases):
        note = (
            "\n\nFor predict_proba_100k the first call is `predict_proba` after an "
            "unmeasured fit, and the memory is that of one `predict_proba` call."
        )
    return markdown_table(header, rows) + note


def _sum(a, b):
    if a is None or b is None:
        return None
    return a + b


def concurrency_table(results):
    """Two threads against one after the other, per contestant.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str or None
    """
    cases = [c for c in results.cases if c.kind == "concurrent"]
    if not cases:
        return None
    parts = []
    for case in cases:
        rows = []
        for name, entry in case.contestants.items():
            if entry.error is not None:
                rows.append([name, "", "FAILED", "", "", entry.error[:200]])
                continue
            rows.append(
                [
                    name,
                    "-" if entry.epochs is None else entry.epochs,
                    fmt_seconds(entry.median_sequential_s),
                    fmt_seconds(entry.median_concurrent_s),
                    fmt_number(entry.speedup, ".2f", "x"),
                    "",
                ]
            )
        target_s = 0 if case.target_s is None else case.target_s
        parts.append(
            f"`{case.name}`: {case.title}. Each contestant's epoch count is "
            f"raised from {case.epochs} so that one of its fits lasts about "
            f"{target_s} s.\n\n"
            + markdown_table(
                [
                    "contestant",
                    "epochs per fit",
                    "2 fits sequential",
                    "2 fits in 2 threads",
                    "speedup",
                    "note",
                ],
                rows,
            )
        )
    return "\n\n".join(parts)


def _sweep_cell(entry):
    if entry.error is not None:
        return "FAILED"
    if entry.skipped is not None:
        return "skipped (slow)"
    return fmt_seconds(entry.s_per_epoch)


def sweep_tables(results):
    """One small table per sweep.

    Parameters
    ----------
    results : RunResults

    Returns
    -------
    str or None
    """
    if not results.sweeps:
        return None
    names = results.contestant_names
    others = [n for n in names if n != "sklearn"]
    parts = []
    for sweep in results.sweeps:
        header = [sweep.x_name, "epochs", *[f"{n} per epoch" for n in names]]
        header += [f"{n} vs sklearn" for n in others]
        rows = []
        for point in sweep.points:
            row = [point.x, point.epochs]
            row += [_sweep_cell(point.entry(n)) for n in names]
            row += [fmt_number(point.entry(n).speedup, ".2f", "x") for n in others]
            rows.append(row)
        slopes = sweep.loglog_slope
        slope_text = ""
        if slopes:
            slope_text = (
                "\n\nLog-log slope between the two largest sizes (1.00 = linear): "
                + ", ".join(f"{n} {v:.2f}" for n, v in slopes.items())
            )
        parts.append(
            f"**{sweep.name}**: {sweep.title}\n\n"
            + markdown_table(header, rows)
            + slope_text
            + f"\n\n![{sweep.name}]({sweep.name}.png)"
        )
    return "\n\n".join(parts)


def environment_block(env):
    """The environment as a bullet list plus the thread pools.

    Parameters
    ----------
    env : dict
        From :func:`bench.envinfo.collect`.

    Returns
    -------
    str
    """
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    threads = env["threads"]
    flags = ", ".join(env["cpu_flags"]) or "no AVX2/FMA flags seen"
    requested = threads["requested"] or "not given (BLAS left as is)"
    coretype = env["env"]["OPENBLAS_CORETYPE"]
    coretype_text = f"yes ({coretype})" if env["openblas_coretype_set"] else "no"
    thread_env = ", ".join(f"{k}={v}" for k, v in env["env"].items() if v is not None)
    lines = [
        f"- CPU: {env['cpu']} ({flags}), {env['logical_cpus']} logical CPUs,"
        f" {env['usable_cpus']} usable",
        f"- Platform: {env['platform']}, Python {env['python']}",
        f"- Versions: {versions}",
        "- Contestants: "
        + ", ".join(f"{k} {v}" for k, v in env["contestants"].items()),
        f"- Threads: --threads {requested}; BLAS {threads['blas']},"
        f" torch {threads['torch'] or '-'}, numba {env['numba_threads']}"
        f" (NUMBA_NUM_THREADS {env['numba_num_threads_config']}),"
        f" numba threading layer: {env['numba_threading_layer']}",
        f"- OPENBLAS_CORETYPE set: {coretype_text}",
        f"- Thread-related environment: {thread_env or 'none set'}",
    ]
    if env.get("tile_limits"):
        lines.append(
            f"- fastmlp's tiles or BLAS, for this machine: {env['tile_limits']}"
        )
    for name, note in env.get("contestant_notes", {}).items():
        lines.append(f"- **{name}: {note}**")
    pools = [
        [
            p.get("user_api"),
            p.get("internal_api"),
            _short_path(p.get("filepath")),
            p.get("version"),
            p.get("num_threads"),
            p.get("threading_layer", "-"),
            p.get("architecture", "-"),
        ]
        for p in env["threadpool_info"]
    ]
    table = markdown_table(
        [
            "user_api",
            "internal_api",
            "library",
            "version",
            "threads",
            "threading layer",
            "architecture",
        ],
        pools,
    )
    return "\n".join(lines) + "\n\nthreadpoolctl.threadpool_info():\n\n" + table


def _short_path(path):
    """``package.libs/libname.so`` out of a full library path."""
    if not path:
        return "-"
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def round_trip_text(trips):
    """``before/after`` round trips in whole ns, or None if either is missing."""
    trips = trips or [None, None]
    if None in trips:
        return None
    return f"{trips[0]:.0f}/{trips[1]:.0f}"


def round_trip_line(results):
    """The cache-line round trip measured before and after each case, or ''."""
    cells = []
    for case in results.cases:
        trips = round_trip_text(case.core_round_trip_ns)
        if trips is None:
            continue
        cell = f"{case.name} {trips}"
        ways = case.entry("fastmlp").split_whole_calls
        if ways and ways[0]:
            cell += f" (split {ways[0]} of {sum(ways)} calls)"
        cells.append(cell)
    if not cells:
        return ""
    return (
        "A cache line's round trip between the two CPUs before/after each case, "
        "in ns (~100 on a good host; the longer, the less splitting batches "
        "across threads pays), and how many of the kernel calls of fastmlp's "
        "last fit ran split, where any did: " + ", ".join(cells) + "."
    )


def host_clock_line(results):
    """The host-clock probe (``bench.host_clock``) over the run, or ''."""
    from bench.host_clock import spread

    run = results.run
    ends = (run.clock_step_ns if run else None) or [None, None]
    cases = list(results.cases) + list((results.matrix or {}).get("cells", []))
    probes = [p for case in cases for p in (case.clock_step_ns or []) if p]
    every = probes + [p for p in ends if p]
    moved = spread(every)
    if moved is None:
        return ""
    text = "A fixed scalar loop (`bench/host_clock.py`) ran "
    if None not in ends:
        text += (
            f"{ends[0]:.2f} ns a step at the start of the run, {ends[1]:.2f} at the end"
        )
    if probes:
        if None not in ends:
            text += "; "
        text += (
            f"before and after every case and matrix cell ({len(cases)} in all) "
            f"{min(probes):.2f}-{max(probes):.2f}"
        )
    text += (
        f": the host's clock moved by up to {moved:.0%} during the run, so "
        "compare ratios, measured within a case, rather than times across cases"
    )
    return text + "."


def render(results):
    """The whole markdown report.

    Parameters
    ----------
    results : RunResults
        A run's results as written to JSON and read back
        (:func:`bench.cli.write_outputs`).

    Returns
    -------
    str
    """
    run = results.run
    env = results.environment
    custom = results.custom
    out = [
        "# fastmlp benchmark" + (": your configuration" if custom else ""),
        "",
        f"`{run.command}`, mode **{run.mode}**, {run.reps} rounds per case, "
        f"{run.started}, took {run.seconds:.0f} s.",
    ]
    headline = (results.matrix or {}).get("summary", {}).get("headline")
    if custom:
        headline = custom["answer"]
    if headline:
        out += ["", f"**{headline}**"]
    others = run.other_processes_cpus
    if others is not None:
        text = (
            f"Other processes kept {others:.2f} of the {env['logical_cpus']} CPUs "
            "busy on average during the run (machine-wide busy time from "
            "/proc/stat minus this run's own CPU time)"
        )
        if others > 0.15:
            text += (
                " — **the machine was shared: these times are noisier and "
                "slower than a quiet machine's**"
            )
        out += ["", text + "."]
    trips = run.core_round_trip_ns or [None, None]
    if None not in trips:
        out += [
            "",
            f"A cache line went from one CPU to the other and back in "
            f"{trips[0]:.0f} ns at the start of the run, {trips[1]:.0f} ns at the "
            "end: the longer, the less splitting a batch across two threads pays "
            "(`fastmlp/_runtime/split_chooser.py` times both ways in every fit).",
        ]
    clock = host_clock_line(results)
    if clock:
        out += ["", clock]
    if env.get("fastmlp_faked"):
        out += [
            "",
            f"> **{env['contestant_notes'].get('fastmlp', 'fastmlp is faked')}**"
            " — these are not fastmlp's numbers.",
        ]
    missing = [
        n for n in ("fastmlp", "torch", "jax") if n not in results.contestant_names
    ]
    if missing:
        hints = {
            "torch": "add torch with `.venv/bin/pip install torch==2.13.0`",
            "jax": "add jax with `.venv/bin/pip install -e .[jax]`",
        }
        hint = "; ".join(hints[n] for n in missing if n in hints)
        out += [
            "",
            "Not installed here, so not measured: "
            + ", ".join(missing)
            + (f" ({hint})" if hint else "")
            + ".",
        ]
    if custom:
        out += ["", "## Your configuration", "", custom_block(results)]
    if results.cases:
        out += _case_sections(results)
    sweeps = sweep_tables(results)
    if sweeps:
        out += ["", "## Sweeps", "", sweeps]
    from bench.predict_sweep import section as predict_sweep_section

    predict = predict_sweep_section(results.predict_sweep)
    if predict:
        out += ["", "## Prediction sweep", "", predict]
    from bench.calls import section as small_calls_section

    calls = small_calls_section(results.small_calls)
    if calls:
        out += ["", "## Small calls", "", calls]
    matrix = results.matrix
    if matrix:
        from bench.matrix import section

        out += ["", "## Configuration matrix", "", section(matrix)]
    failures = _failures(results)
    if failures:
        out += ["", "## Failures and skips", ""] + failures
    out += ["", "## Method", "", METHOD.replace("{settle}", str(run.settle))]
    out += ["", "## Environment", "", environment_block(env), ""]
    return "\n".join(out)


def custom_block(results):
    """What a custom run measured: data, task, network, parameters, the check.

    Parameters
    ----------
    results : RunResults
        With ``custom`` (see :mod:`bench.custom`) and its one case.

    Returns
    -------
    str
    """
    custom = results.custom
    (case,) = results.cases
    given = ", ".join(f"{k}={v!r}" for k, v in custom["params_given"].items())
    per_fit = "L-BFGS iterations" if case.kind == "lbfgs" else "epochs"
    lines = [
        f"- Data: {custom['data']}, {custom['dtype']}",
        f"- Task: {custom['task_choice']}",
        f"- Network: {' -> '.join(str(u) for u in case.layer_units)}; "
        f"{case.epochs} {per_fit} per fit, forced",
        f"- Your parameters: {given or 'none (the estimator defaults)'}",
        "- Every contestant's parameters: `"
        + ", ".join(f"{k}={v!r}" for k, v in case.params.items())
        + "`",
    ]
    if custom["sklearn_lacks"]:
        lines.append(
            f"- scikit-learn has no {', '.join(custom['sklearn_lacks'])}: it "
            "trained its nearest network, `"
            + ", ".join(f"{k}={v!r}" for k, v in custom["sklearn_params"].items())
            + "`"
        )
    check = case.agreement
    status = check.status if check else None
    text = {"same": "same model", "DIFFERENT": "**models differ**"}.get(
        status, status or "-"
    )
    if check and check.loss_rel_diff is not None:
        text += (
            f" (training losses' relative difference {check.loss_rel_diff:.2g}, "
            f"tolerance {check.rtol:g})"
        )
    if check and check.problems:
        text += ": " + "; ".join(check.problems)
    lines.append(f"- fastmlp against scikit-learn: {text}")
    return "\n".join(lines)


def _case_sections(results):
    out = ["", "## Summary", "", summary_table(results)]
    out += [
        "",
        "Time per epoch for stochastic solvers, per fit for L-BFGS, per call for "
        "predict_proba; `(!)` marks a contestant that did not run the forced epoch "
        "count, `(k r)` one that was timed in only k rounds because its time "
        "budget for the case ran out, `n/a` one that does not implement the "
        "case's hyperparameters; FAILED, skipped and n/a cells are explained under "
        "Failures and skips.",
    ]
    trips = round_trip_line(results)
    if trips:
        out += ["", trips]
    out += ["", "![speedup by case](speedup_by_case.png)"]
    out += ["", "## Quality", "", quality_table(results)]
    out += ["", "## Against the GEMM floor", "", gemm_table(results)]
    fresh = fresh_table(results)
    out += [
        "",
        "## Compile time, first-call latency, peak memory (fresh processes)",
        "",
    ]
    out += [fresh if fresh else "Not measured in this run (`--no-subprocess`)."]
    conc = concurrency_table(results)
    if conc:
        out += ["", "## Two fits in two Python threads", "", conc]
    return out


def _failures(results):
    lines = []
    for case in results.cases:
        for name, entry in case.contestants.items():
            for key in ("error", "quality_error", "warning", "skipped", "declined"):
                if getattr(entry, key, None):
                    text = getattr(entry, key)
                    lines.append(f"- `{case.name}` {name} ({key}): `{text}`")
        for name, entry in (case.fresh or {}).items():
            for key in ("compile_error", "warm_error"):
                if getattr(entry, key):
                    text = getattr(entry, key)
                    lines.append(f"- `{case.name}` {name} ({key}): `{text}`")
    for sweep in results.sweeps:
        for point in sweep.points:
            for name, entry in point.contestants.items():
                if entry.skipped:
                    lines.append(
                        f"- `{sweep.name}` x={point.x} {name}: {entry.skipped}"
                    )
                if entry.error:
                    lines.append(
                        f"- `{sweep.name}` x={point.x} {name}: `{entry.error}`"
                    )
    for problem in results.problems:
        lines.append(f"- {problem}")
    return lines

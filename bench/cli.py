"""Command line: ``python -m bench [--quick | --full | --tiny] [options]``."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass

from bench import cases as cases_mod
from bench import matrix as matrix_mod
from bench import report as report_mod
from bench import sweeps as sweeps_mod
from bench.contestants import (
    CONTESTANT_ORDER,
    available_contestants,
    fastmlp_is_faked,
)
from bench.modes import MODES
from bench.report import fmt_seconds
from bench.results_model import (
    CaseData,
    CaseResult,
    ConcurrencyTiming,
    RunNotes,
    RunResults,
)
from bench.timing import freeze_heap

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "bench", "results")


def parse_args(argv=None):
    """Parse the command line.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark fastmlp against scikit-learn "
        "(and PyTorch when installed).",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="smaller suite: a few minutes (README gives figures)",
    )
    size.add_argument(
        "--full", action="store_true", help="full sweeps, more epochs and rounds"
    )
    size.add_argument(
        "--tiny",
        action="store_true",
        help="very small sizes, 1-2 epochs: a smoke test of the harness",
    )
    parser.add_argument(
        "--custom",
        action="store_true",
        help="time your own network on your own data instead of the suite "
        "(options: python -m bench --custom --help)",
    )
    parser.add_argument(
        "--filter",
        metavar="SUBSTR",
        help="only cases, sweeps and matrix cells whose name contains SUBSTR "
        "(--filter matrix: the configuration matrix alone; --filter "
        "matrix_base, matrix_csr1000, ... a part of it)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        metavar="N",
        help="alternated rounds per case and matrix cell (default by mode: "
        "1/3/5/7 per case, 1/2/3/5 per matrix cell)",
    )
    add_run_options(parser, DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.mode = (
        "tiny"
        if args.tiny
        else "quick"
        if args.quick
        else "full"
        if args.full
        else "default"
    )
    check_run_options(parser, args)
    return args


def add_run_options(parser, default_out):
    """Options every run takes: threads, output, fresh processes, contestants.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    default_out : str
    """
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="threads for BLAS, numba and torch (default: BLAS as is)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        default=default_out,
        help=f"output directory (default: {os.path.relpath(default_out, REPO)})",
    )
    parser.add_argument(
        "--no-subprocess",
        action="store_true",
        help="skip compile-time, latency and memory measurements in "
        "fresh processes (and run the two-thread case in-process)",
    )
    parser.add_argument(
        "--contestants",
        metavar="LIST",
        default=",".join(CONTESTANT_ORDER),
        help="comma-separated subset of fastmlp,sklearn,torch,jax (default: all "
        "that are installed; sklearn is the baseline of every ratio)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help="idle time before each timed call (default by mode)",
    )


def check_run_options(parser, args):
    """Fill the mode's defaults into ``args`` and check the shared options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        Its ``error`` reports a bad value.
    args : argparse.Namespace
        With ``mode`` set (a key of :data:`bench.modes.MODES`).
    """
    mode = MODES[args.mode]
    args.reps_given = args.reps is not None
    if args.reps is None:
        args.reps = mode.reps
    if args.settle is None:
        args.settle = mode.settle
    args.contestants = [n.strip() for n in args.contestants.split(",") if n.strip()]
    unknown = set(args.contestants) - set(CONTESTANT_ORDER)
    if unknown:
        parser.error(f"unknown contestants: {', '.join(sorted(unknown))}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")


def say(message):
    """Print one progress line at once."""
    print(message, flush=True)


def _clean(value):
    """Replace NaN/inf by None, tuples by lists, so the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def case_line(index, total, result, seconds):
    """One progress line for a measured case: times, ratios, compile time.

    Parameters
    ----------
    index, total : int
    result : CaseResult
    seconds : float
        Wall time the case took.

    Returns
    -------
    str
    """
    parts = []
    for name, entry in result.contestants.items():
        if entry.error is not None:
            parts.append(f"{name} FAILED")
            continue
        if result.kind == "concurrent":
            speedup = float("nan") if entry.speedup is None else entry.speedup
            parts.append(f"{name} x{speedup:.2f} in 2 threads")
            continue
        if entry.skipped is not None:
            parts.append(f"{name} skipped (too slow)")
            continue
        if entry.declined is not None:
            parts.append(f"{name} n/a")
            continue
        text = f"{name} {fmt_seconds(entry.per_unit_s)}"
        if name != "sklearn" and entry.speedup_vs_sklearn is not None:
            text += f" (x{entry.speedup_vs_sklearn:.2f})"
        parts.append(text)
    unit = result.unit or ""
    line = f"[{index}/{total}] {result.name} ({seconds:.1f} s) {unit}: " + ", ".join(
        parts
    )
    compile_s = result.fresh_entry("fastmlp").compile_s
    if compile_s is not None:
        line += f"; fastmlp compile {fmt_seconds(compile_s)}"
    return line


def _first_use(contestants):
    """Fit each contestant once on a few rows, before any case.

    One-time costs (lazy imports such as torch.optim's, first allocations)
    then do not land in the first case's warm-up, whose time decides whether
    a very slow contestant is timed at all.
    """
    import warnings

    from bench.cases import FORCED
    from bench.datasets import classification

    data = classification(64, 4, 2)
    params = {**FORCED, "hidden_layer_sizes": (4,), "batch_size": 16, "max_iter": 1}
    for contestant in contestants:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                contestant.make(data.task, params).fit(data.X_train, data.y_train)
        except Exception:  # its failures show, with context, in the cases
            pass


def run_case(case, args, contestants, gemm=True, skip_slow=True, params_by_name=None):
    """Measure one case with everything the options ask for.

    Parameters
    ----------
    case : Case
    args : argparse.Namespace
    contestants : list of Contestant
    gemm, skip_slow : bool, default=True
        See :func:`bench.measure.measure_case`.
    params_by_name : dict of str to dict, optional
        See :func:`bench.subproc.fresh_process_measurements`.

    Returns
    -------
    CaseResult
    """
    from bench.measure import error_text, measure_case

    if case.kind == "concurrent":
        return _run_concurrent(case, args, contestants)
    from bench import host_clock
    from bench.handover import round_trip_ns

    mode = MODES[args.mode]
    before = round_trip_ns()
    clock_before = host_clock.step_ns()
    result = measure_case(
        case,
        args.mode,
        contestants,
        args.reps,
        gemm=gemm,
        settle=args.settle if case.settle is None else case.settle,
        budget_s=mode.case_budget_s,
        skip_slow=skip_slow,
    )
    result.core_round_trip_ns = [before, round_trip_ns()]
    result.clock_step_ns = [clock_before, host_clock.step_ns()]
    if not args.no_subprocess and mode.wants_warm(case.name):
        from bench.datasets import predict_rows
        from bench.subproc import fresh_process_measurements

        data = case.data(args.mode)
        params = case.estimator_params(args.mode)
        able = [c for c in contestants if c.declines(params) is None]
        X_pred = None
        if case.kind == "predict":
            X_pred = predict_rows(
                case.predict_rows[args.mode], data.n_features, data.X_train.dtype
            )
        try:
            result.fresh = fresh_process_measurements(
                data.task,
                params,
                data.X_train,
                data.y_train,
                able,
                args.threads,
                X_pred=X_pred,
                measure_compile=mode.wants_compile(case.name),
                params_by_name=params_by_name,
            )
        except Exception as exc:
            result.fresh_error = error_text(exc)
    return result


def _run_concurrent(case, args, contestants):
    from bench.concurrency import measure_concurrency
    from bench.measure import error_text, jsonable_params, score_name
    from bench.subproc import concurrency_in_subprocess

    data = case.data(args.mode)
    params = case.estimator_params(args.mode)
    result = CaseResult(
        name=case.name,
        title=case.title,
        kind=case.kind,
        unit="s per 2 fits",
        data=CaseData(
            name=data.name,
            task=data.task,
            n_train=data.n_train,
            n_features=data.n_features,
            dtype=str(data.X_train.dtype),
        ),
        params=jsonable_params(params),
        epochs=params["max_iter"],
        reps=args.reps,
        score_name=score_name(data.task),
        in_subprocess=not args.no_subprocess,
        target_s=MODES[args.mode].concurrent_target_s,
    )
    for contestant in contestants:
        if args.no_subprocess:
            try:
                entry = measure_concurrency(
                    contestant,
                    data.task,
                    params,
                    data.X_train,
                    data.y_train,
                    args.reps,
                    settle=args.settle,
                    target_s=MODES[args.mode].concurrent_target_s,
                )
            except Exception as exc:
                entry = ConcurrencyTiming(error=error_text(exc))
        else:
            entry = concurrency_in_subprocess(
                contestant.name,
                data.task,
                params,
                data.X_train,
                data.y_train,
                args.threads,
                args.reps,
                settle=args.settle,
                target_s=MODES[args.mode].concurrent_target_s,
            )
        result.contestants[contestant.name] = entry
    return result


@dataclass
class Session:
    """What a run sets up before it measures, and notes at its start.

    Attributes
    ----------
    argv : list of str
    args : argparse.Namespace
    contestants : list of Contestant
    threads : dict
        From :func:`bench.threads.configure_threads`.
    started : float
        ``time.perf_counter()`` at the start.
    started_at : str
        ISO time of the start.
    load_start : float
        1-minute load average at the start.
    cpu_start : dict or None
        :func:`bench.envinfo.cpu_snapshot` at the start.
    round_trip_start : float or None
        :func:`bench.handover.round_trip_ns` once the contestants are warm.
    clock_start : float or None
        :func:`bench.host_clock.step_ns` then.
    """

    argv: list
    args: object
    contestants: list
    threads: dict
    started: float
    started_at: str
    load_start: float
    cpu_start: object
    round_trip_start: object
    clock_start: object

    @property
    def names(self):
        """The contestants' names, in report order."""
        return [c.name for c in self.contestants]


def start_session(argv, args):
    """Import the contestants, set thread counts, warm up: a run's first step.

    Parameters
    ----------
    argv : list of str
    args : argparse.Namespace
        With ``contestants`` and ``threads``.

    Returns
    -------
    Session
    """
    import warnings

    warnings.simplefilter("ignore")
    from bench.envinfo import cpu_snapshot

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    cpu_start = cpu_snapshot()
    started_at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")

    # Contestants first: an import may set up thread pools (numba's threading
    # layer, if a contestant uses it), which setting thread counts would fix.
    contestants = available_contestants(
        [n for n in CONTESTANT_ORDER if n in args.contestants]
    )
    names = [c.name for c in contestants]
    if "fastmlp" in args.contestants and "fastmlp" not in names:
        say(
            "fastmlp is not importable: measuring the others only "
            "(FASTMLP_BENCH_FAKE=1 stands sklearn in for it)"
        )
    elif fastmlp_is_faked():
        say("FASTMLP_BENCH_FAKE=1: the 'fastmlp' contestant is sklearn")
    if "torch" in args.contestants and "torch" not in names:
        say(
            "torch is not installed: no PyTorch contestant "
            "(add it with .venv/bin/pip install torch==2.13.0)"
        )

    from bench.threads import configure_threads

    threads = configure_threads(args.threads)
    _first_use(contestants)
    freeze_heap()  # everything imported so far: cheap collections when timing
    from bench import host_clock
    from bench.handover import round_trip_ns

    session = Session(
        argv,
        args,
        contestants,
        threads,
        started,
        started_at,
        load_start,
        cpu_start,
        round_trip_ns(),
        host_clock.step_ns(),
    )
    say(
        f"mode {args.mode}, {args.reps} rounds, contestants {', '.join(names)}, "
        f"threads: BLAS {threads['blas']}, numba {threads['numba']}, "
        f"torch {threads['torch']}"
    )
    return session


def run_suite(session):
    """Measure the cases, sweeps, small calls and matrix cells ``--filter`` picks.

    Parameters
    ----------
    session : Session

    Returns
    -------
    RunResults or None
        The results (without environment and run notes), or None when
        ``--filter`` picks nothing.
    """
    args, contestants = session.args, session.contestants
    selected = cases_mod.select_cases(args.filter)
    sweep_names = [
        s for s in sweeps_mod.SWEEPS if args.filter is None or args.filter in s
    ]
    small_calls = args.filter is None or args.filter in "small_calls"
    predict_sweep = args.filter is None or args.filter in "predict_sweep"
    matrix_cells = matrix_mod.select_cells(args.mode, args.filter)
    if not (selected or sweep_names or small_calls or predict_sweep or matrix_cells):
        say(f"no case, sweep or matrix cell name contains {args.filter!r}")
        return None
    results = RunResults(contestant_names=session.names)
    before_matrix = (
        len(selected) + len(sweep_names) + int(predict_sweep) + int(small_calls)
    )
    total = before_matrix + len(matrix_cells)
    for index, case in enumerate(selected, start=1):
        t0 = time.perf_counter()
        try:
            result = run_case(case, args, contestants)
        except Exception as exc:  # keep going: one broken case must not lose the rest
            from bench.measure import error_text

            results.problems.append(f"case {case.name}: {error_text(exc)}")
            say(f"[{index}/{total}] {case.name} FAILED: {error_text(exc)}")
            continue
        results.cases.append(result)
        say(case_line(index, total, result, time.perf_counter() - t0))
    for offset, name in enumerate(sweep_names, start=len(selected) + 1):
        t0 = time.perf_counter()
        try:
            sweep = sweeps_mod.run_sweep(
                name,
                args.mode,
                contestants,
                settle=args.settle,
                progress=lambda msg: say("    " + msg),
            )
        except Exception as exc:
            from bench.measure import error_text

            results.problems.append(f"sweep {name}: {error_text(exc)}")
            say(f"[{offset}/{total}] {name} FAILED: {error_text(exc)}")
            continue
        results.sweeps.append(sweep)
        say(f"[{offset}/{total}] {name} ({time.perf_counter() - t0:.1f} s)")
    if predict_sweep:
        from bench.predict_sweep import run_predict_sweep

        index, t0 = len(selected) + len(sweep_names) + 1, time.perf_counter()
        try:
            results.predict_sweep = run_predict_sweep(
                contestants, args.mode, progress=lambda msg: say("    " + msg)
            )
            say(f"[{index}/{total}] predict_sweep ({time.perf_counter() - t0:.1f} s)")
        except Exception as exc:
            from bench.measure import error_text

            results.problems.append(f"predict_sweep: {error_text(exc)}")
            say(f"[{index}/{total}] predict_sweep FAILED: {error_text(exc)}")
    if small_calls:
        from bench.calls import measure_calls

        t0 = time.perf_counter()
        try:
            results.small_calls = measure_calls(
                contestants, args.mode, progress=lambda msg: say("    " + msg)
            )
            say(
                f"[{before_matrix}/{total}] small_calls "
                f"({time.perf_counter() - t0:.1f} s)"
            )
        except Exception as exc:
            from bench.measure import error_text

            results.problems.append(f"small_calls: {error_text(exc)}")
            say(f"[{before_matrix}/{total}] small_calls FAILED: {error_text(exc)}")
    if matrix_cells:
        results.matrix = matrix_mod.run_matrix(
            matrix_cells,
            args.mode,
            contestants,
            reps=args.reps if args.reps_given else None,
            settle=args.settle,
            progress=say,
            first_index=before_matrix + 1,
            total=total,
        )
    return results


def finish_run(results, session):
    """Add the environment and the run's notes (command, load, time) to results.

    Parameters
    ----------
    results : RunResults
    session : Session
    """
    from bench import envinfo, host_clock
    from bench.handover import round_trip_ns

    args, argv = session.args, session.argv
    round_trip_end = round_trip_ns()
    clock_end = host_clock.step_ns()
    results.environment = envinfo.collect(session.threads, session.contestants)
    command = "python -m bench" + ("" if not argv else " " + shlex.join(argv))
    results.run = RunNotes(
        command=command,
        argv=argv,
        mode=args.mode,
        reps=args.reps,
        settle=args.settle,
        threads=args.threads,
        subprocess_measurements=not args.no_subprocess,
        started=session.started_at,
        loadavg_1min_start=session.load_start,
        loadavg_1min_end=os.getloadavg()[0],
        other_processes_cpus=envinfo.other_cpu_load(
            session.cpu_start, envinfo.cpu_snapshot()
        ),
        core_round_trip_ns=[session.round_trip_start, round_trip_end],
        seconds=time.perf_counter() - session.started,
        clock_step_ns=[session.clock_start, clock_end],
    )


def write_outputs(results, out_dir, started):
    """Write ``latest.json``, ``latest.md`` and the PNGs into ``out_dir``.

    Everything is written into a new directory beside ``out_dir`` first and
    moved in at the end, so an error leaves ``out_dir`` as it was.

    Parameters
    ----------
    results : RunResults
        With ``environment`` and ``run`` (:func:`finish_run`); gets ``plots``.
    out_dir : str
    started : float
        ``time.perf_counter()`` at the run's start: ``run.seconds`` is
        updated once the plots are drawn.

    Returns
    -------
    RunResults
        The results as written to JSON, read back (NaN as None, tuples as
        lists), which is what the report shows.
    """
    import shutil
    import tempfile

    from bench import plots, report

    parent = os.path.dirname(os.path.abspath(out_dir))
    staging = tempfile.mkdtemp(
        prefix=".bench-", dir=parent if os.path.isdir(parent) else None
    )
    try:
        results.plots = [
            os.path.basename(p) for p in plots.write_plots(results, staging)
        ]
        results.run.seconds = time.perf_counter() - started
        clean = _clean(results.to_json())
        _write(os.path.join(staging, "latest.json"), json.dumps(clean, indent=1) + "\n")
        written = RunResults.from_json(clean)
        _write(os.path.join(staging, "latest.md"), report.render(written))
        os.makedirs(out_dir, exist_ok=True)
        for name in sorted(os.listdir(staging)):
            shutil.move(os.path.join(staging, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def run(argv, args):
    """Measure what the options ask for: set up, run the suite, note the run.

    Parameters
    ----------
    argv : list of str
        The command line, for the run's notes.
    args : argparse.Namespace
        From :func:`parse_args`.

    Returns
    -------
    results : RunResults or None
        None when ``--filter`` picks nothing.
    session : Session
    """
    session = start_session(argv, args)
    results = run_suite(session)
    if results is not None:
        finish_run(results, session)
    return results, session


def write(results, out, started):
    """Write the outputs and print the tables and the closing lines.

    Parameters
    ----------
    results : RunResults
        From :func:`run`.
    out : str
        Output directory.
    started : float
        ``time.perf_counter()`` at the run's start.

    Returns
    -------
    int
        Exit status: 0, or 1 when nothing could be measured.
    """
    written = write_outputs(results, out, started)
    if written.cases:
        say("")
        say(report_mod.summary_table(written))
    matrix = written.matrix
    if matrix and not matrix.get("skipped"):
        say("")
        say(matrix_mod.pivot_tables(matrix))
    say("")
    say(
        f"wrote {os.path.join(out, 'latest.md')}, latest.json and "
        f"{len(written.plots)} PNGs in {written.run.seconds:.0f} s"
    )
    if matrix:
        # the run's last line: the matrix's smallest ratio and where
        say(matrix.get("summary", {}).get("headline") or f"matrix: {matrix['skipped']}")
    measured = (
        written.cases
        or written.sweeps
        or written.small_calls
        or written.predict_sweep
        or (matrix and matrix["cells"])
    )
    return 0 if measured else 1


def main(argv=None):
    """Run the suite and write ``latest.md``, ``latest.json`` and the PNGs.

    ``--custom`` anywhere in ``argv`` runs :func:`bench.custom.main` instead.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0, or 1 when nothing could be measured (2 for a bad
        custom run's command line or data).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--custom" in argv:
        from bench.custom import main as custom_main

        return custom_main(argv)
    args = parse_args(argv)
    results, session = run(argv, args)
    if results is None:
        return 1
    return write(results, args.out, session.started)

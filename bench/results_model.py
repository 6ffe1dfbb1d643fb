"""A run's results as records: what passes between the benchmark's modules.

Producers build them (a case: :mod:`bench.measure`; a sweep: :mod:`bench.sweeps`;
the run: :mod:`bench.cli`), consumers read attributes (:mod:`bench.report`,
:mod:`bench.plots`, :mod:`bench.matrix`, :mod:`bench.custom`). ``to_json`` gives
``latest.json``'s form: field names are its keys, in this order, and a field left
None is not written unless the record says so (``_written_when_none``), so the
file keeps the keys it always had. ``from_json`` reads that form back and rejects
unknown keys, so the report renders exactly what was written. Parts one module
both makes and renders stay that module's dicts: the prediction sweep
(:mod:`bench.predict_sweep`), the small calls (:mod:`bench.calls`), the matrix
around its cells and their ``cell`` and ``jax`` (:mod:`bench.matrix`), the
environment (:mod:`bench.envinfo`) and a custom run's notes (:mod:`bench.custom`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def to_json_value(value):
    """``value`` with every record in it replaced by its JSON form.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
    """
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(item) for item in value]
    return value


class Record:
    """Base of the records: the JSON form in both directions."""

    def _written_when_none(self):
        """Fields written as null when None (the others are left out)."""
        return ()

    def to_json(self):
        """The record as ``latest.json`` holds it.

        Returns
        -------
        dict
        """
        keep = self._written_when_none()
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None or item.name in keep:
                out[item.name] = to_json_value(value)
        return out

    @classmethod
    def from_json(cls, data):
        """The record from its JSON form (:meth:`to_json`).

        Parameters
        ----------
        data : dict

        Returns
        -------
        Record
        """
        unknown = set(data) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {sorted(unknown)}")
        return cls(**cls._parse(dict(data)))

    @classmethod
    def _parse(cls, data):
        """Nested records from their JSON form, in place."""
        return data


def _parse_map(data, key, record):
    if data.get(key) is not None:
        data[key] = {name: record.from_json(v) for name, v in data[key].items()}


@dataclass
class ContestantTiming(Record):
    """One contestant in a fit, L-BFGS or prediction case.

    Exactly one of ``declined``, ``error`` and ``skipped`` says why there are
    no times; ``loss``, ``n_iter`` and ``score`` are there once the timed model
    was scored (``quality_error`` when that failed).
    """

    declined: str | None = None
    warmup_s: float | None = None
    error: str | None = None
    skipped: str | None = None
    seconds: list | None = None
    rounds: int | None = None
    median_s: float | None = None
    loss: float | None = None
    n_iter: int | None = None
    score: float | None = None
    quality_error: str | None = None
    per_unit_s: float | None = None
    warning: str | None = None
    per_iteration_s: float | None = None
    split_whole_calls: list | None = None
    pair_speedups: list | None = None
    speedup_vs_sklearn: float | None = None
    # JAX's compile seconds during a matrix cell (bench.matrix.run_cell)
    compile_s: float | None = None

    def _written_when_none(self):
        # a model without loss_ or n_iter_ still has its score
        return ("loss", "n_iter", "score") if self.score is not None else ()


@dataclass
class ConcurrencyTiming(Record):
    """One contestant's two fits, in two threads and one after the other."""

    sequential_s: list | None = None
    concurrent_s: list | None = None
    median_sequential_s: float | None = None
    median_concurrent_s: float | None = None
    speedup: float | None = None
    epochs: int | None = None
    error: str | None = None


@dataclass
class FreshProcess(Record):
    """A contestant measured in fresh processes (:mod:`bench.subproc`)."""

    compile_error: str | None = None
    compile_s: float | None = None
    cold_first_call_s: float | None = None
    cold_import_s: float | None = None
    import_s: float | None = None
    first_call_s: float | None = None
    peak_mib: float | None = None
    memory_method: str | None = None
    warm_error: str | None = None


@dataclass
class GemmFloor(Record):
    """A case's matrix products timed alone, and each contestant against them."""

    what: str
    seconds: float
    gflops_per_s: float | None
    time_over_gemm: dict
    blas_threads: int | None = None  # None: the run's BLAS thread setting

    def _written_when_none(self):
        return ("gflops_per_s", "blas_threads")


@dataclass
class CaseData(Record):
    """The data a case trains on (``n_test`` and ``predict_rows``: not in the
    two-thread case, which only fits)."""

    name: str
    task: str
    n_train: int
    n_features: int
    dtype: str
    n_test: int | None = None
    predict_rows: int | None = None

    def _written_when_none(self):
        return ("predict_rows",) if self.n_test is not None else ()

    def to_json(self):
        """The data's description, in the key order ``latest.json`` has.

        Returns
        -------
        dict
        """
        out = super().to_json()
        order = ["name", "task", "n_train", "n_test", "n_features", "dtype"]
        return {key: out[key] for key in [*order, "predict_rows"] if key in out}


@dataclass
class Agreement(Record):
    """Whether fastmlp and scikit-learn trained the same model
    (:func:`bench.measure.same_model`)."""

    problems: list
    loss_rel_diff: float | None = None
    rtol: float | None = None
    status: str = "unchecked"


@dataclass
class CaseResult(Record):
    """One measured case, or one cell of the configuration matrix.

    ``contestants`` maps names to :class:`ContestantTiming`, or to
    :class:`ConcurrencyTiming` in the two-thread case (``kind="concurrent"``,
    which also has ``in_subprocess`` and ``target_s``). Matrix cells add the
    fields from ``cell`` to ``jax`` (:func:`bench.matrix.run_cell`); a custom
    run adds ``agreement``.
    """

    name: str
    title: str | None = None
    kind: str | None = None
    unit: str | None = None
    data: CaseData | None = None
    layer_units: list | None = None
    params: dict | None = None
    epochs: int | None = None
    reps: int | None = None
    score_name: str | None = None
    in_subprocess: bool | None = None
    target_s: float | None = None
    contestants: dict = field(default_factory=dict)
    gemm: GemmFloor | None = None
    core_round_trip_ns: list | None = None
    clock_step_ns: list | None = None
    fresh: dict | None = None
    fresh_error: str | None = None
    cell: dict | None = None
    sklearn_params: dict | None = None
    ratio: float | None = None
    target: float | None = None
    meets_target: bool | None = None
    agreement: Agreement | None = None
    jax: dict | None = None

    def _written_when_none(self):
        if self.cell is None:
            return ()
        # a matrix cell always has its ratio, and its JAX comparison when
        # JAX was a contestant
        return (
            "ratio",
            "meets_target",
            *(["jax"] if "jax" in self.contestants else []),
        )

    def entry(self, name):
        """A contestant's timing, empty when it was not in the case.

        Parameters
        ----------
        name : str

        Returns
        -------
        ContestantTiming or ConcurrencyTiming
        """
        found = self.contestants.get(name)
        if found is not None:
            return found
        return ConcurrencyTiming() if self.kind == "concurrent" else ContestantTiming()

    def fresh_entry(self, name):
        """A contestant's fresh-process measurements, empty when not measured.

        Parameters
        ----------
        name : str

        Returns
        -------
        FreshProcess
        """
        return (self.fresh or {}).get(name) or FreshProcess()

    @classmethod
    def _parse(cls, data):
        if data.get("data") is not None:
            data["data"] = CaseData.from_json(data["data"])
        timing = ConcurrencyTiming if data.get("kind") == "concurrent" else None
        _parse_map(data, "contestants", timing or ContestantTiming)
        if data.get("gemm") is not None:
            data["gemm"] = GemmFloor.from_json(data["gemm"])
        _parse_map(data, "fresh", FreshProcess)
        if data.get("agreement") is not None:
            data["agreement"] = Agreement.from_json(data["agreement"])
        return data


@dataclass
class SweepTiming(Record):
    """One contestant at one point of a sweep."""

    error: str | None = None
    skipped: str | None = None
    seconds: list | None = None
    s_per_epoch: float | None = None
    speedup: float | None = None


@dataclass
class SweepPoint(Record):
    """One point of a sweep: the epochs every contestant ran, and their times."""

    epochs: int
    contestants: dict
    x: int | None = None

    def entry(self, name):
        """A contestant's timing at this point, empty when it was not there.

        Parameters
        ----------
        name : str

        Returns
        -------
        SweepTiming
        """
        return self.contestants.get(name) or SweepTiming()

    @classmethod
    def _parse(cls, data):
        _parse_map(data, "contestants", SweepTiming)
        return data


@dataclass
class Sweep(Record):
    """One sweep (:func:`bench.sweeps.run_sweep`)."""

    name: str
    title: str
    x_name: str
    x: list
    base_rows: int
    points: list
    loglog_slope: dict | None = None

    @classmethod
    def _parse(cls, data):
        data["points"] = [SweepPoint.from_json(p) for p in data["points"]]
        return data


@dataclass
class RunNotes(Record):
    """How the run was made: command, mode, load, time."""

    command: str
    argv: list
    mode: str
    reps: int
    settle: float
    threads: int | None
    subprocess_measurements: bool
    started: str
    loadavg_1min_start: float
    loadavg_1min_end: float
    other_processes_cpus: float | None
    core_round_trip_ns: list
    seconds: float
    clock_step_ns: list | None = None  # bench.host_clock.step_ns, start and end

    def _written_when_none(self):
        return tuple(item.name for item in fields(self))


@dataclass
class RunResults(Record):
    """Everything a run measured, then its environment, notes and plots.

    ``environment`` is :func:`bench.envinfo.collect`'s dict; ``matrix`` is
    :func:`bench.matrix.run_matrix`'s dict, whose ``cells`` are
    :class:`CaseResult`; ``predict_sweep``, ``small_calls`` and ``custom`` are
    their modules' dicts (see the module docstring).
    """

    contestant_names: list
    cases: list = field(default_factory=list)
    sweeps: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    predict_sweep: dict | None = None
    small_calls: dict | None = None
    matrix: dict | None = None
    custom: dict | None = None
    environment: dict | None = None
    run: RunNotes | None = None
    plots: list | None = None

    @classmethod
    def _parse(cls, data):
        data["cases"] = [CaseResult.from_json(c) for c in data.get("cases", [])]
        data["sweeps"] = [Sweep.from_json(s) for s in data.get("sweeps", [])]
        if data.get("matrix") and "cells" in data["matrix"]:
            matrix = dict(data["matrix"])
            matrix["cells"] = [CaseResult.from_json(c) for c in matrix["cells"]]
            data["matrix"] = matrix
        if data.get("run") is not None:
            data["run"] = RunNotes.from_json(data["run"])
        return data

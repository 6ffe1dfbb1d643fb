"""Split or whole: each kernel call of a fit goes the way timing shows faster.

Contract: both ways compute the same bits (the tests compare them), so a fit
may change way at any call and its model stays the same; only speed depends
on the choice. :class:`FasterPath` times a few calls each way (whole ones
first, then split ones back to back), keeps the way
with the lower best time per unit of work, times both again every
``recheck_seconds``, goes whole for ``probation_seconds`` when a split call
trips ``tripwire``, lets split trials wait (calls whole, untimed) after two
in a row that ran ``tripwire`` times slower than whole ones (the other cores
busy; the first alone is left out),
and remembers a decision for the next fits of the same
shape (``key``), at most ``DECISIONS_KEPT`` shapes; trials a fit left
unfinished (a ``partial_fit`` call is one kernel call) go on in the next fit of
its shape. Given its ``parts``, it also sends calls whole, untimed, while
other threads of the process keep the CPUs the parts need busy
(:mod:`.cpu_watch`: a BLAS spinning after its call), before any split call
runs slow. Why timing and not a size
threshold: whether splitting pays depends on how far apart the host puts the
cores. Measurements: ``docs/design/threading.md``.
"""

import time

from .._kernels.tunables import (
    CHOOSER_MARGIN,
    CHOOSER_MEMORY_SECONDS,
    CHOOSER_PROBATION_SECONDS,
    CHOOSER_RECHECK_SECONDS,
    CHOOSER_TRIALS,
    CHOOSER_TRIPWIRE,
    DECISIONS_KEPT,
)
from .cpu_watch import OthersWatch
from .thread_plan import usable_cpus

# key -> (split, trial times by way, time.monotonic() of the decision), the
# most recent last; at most DECISIONS_KEPT keys (a grid search over many
# shapes must not grow it for the life of the process)
_decisions = {}
# key -> (trial times by way, time.monotonic()) of trials a fit left unfinished
# (a partial_fit call is one kernel call): the next fit of the key goes on
_unfinished = {}
# key -> (time.monotonic() until which split trials wait, that wait's length)
# after a split trial that found the other cores busy (see FasterPath.record)
_postponed = {}
# key -> time.monotonic() of a split trial left out (FasterPath._waits), so
# that the next fit of the key (a partial_fit call is one kernel call) judges
# its next slow split trial rather than leaving that one out too
_left_out = {}


def keep_recent(table, key, value, kept):
    """``table[key] = value`` as the most recent entry; at most ``kept`` entries.

    ``table`` is a dict in the order its keys were last put (oldest first);
    the oldest are dropped.
    """
    table.pop(key, None)
    table[key] = value
    while len(table) > kept:
        table.pop(next(iter(table)), None)


class FasterPath:
    """Times calls split and whole, and says which way the next call goes.

    Parameters
    ----------
    split : bool
        The way calls go when not ``choosing`` (the thread plan's choice).
    choosing : bool
        Whether to choose by timing: only when the plan split batches on its
        own (``n_jobs=None``); an explicit ``n_jobs`` is obeyed.
    trials : int, default=3
        Whole calls timed, then split calls timed at most, before choosing.
    margin : float, default=1.25
        How far apart the two ways' times must be to choose after two split
        calls.
    recheck_seconds : float, default=0.5
        Seconds of calls the chosen way before both are timed again.
    tripwire : float, default=2.0
        Two split calls in a row slower than this many times split's best
        trial (per unit of work) turn the calls whole (one alone is taken
        for a stall of the host, common on VMs).
    probation_seconds : float, default=0.1
        Seconds of whole calls after a tripped one, before both are timed
        again.
    key : hashable, optional
        Under which key decisions are remembered and looked up (None: not).
    memory_seconds : float, default=2.0
        How long a remembered decision holds.
    parts : int, optional
        Threads a split call runs in. Given (and ``choosing``), a call that
        would split goes whole, untimed, while other threads of the process
        used more CPU time since the previous call than the CPUs beyond
        ``parts`` could take (:class:`fastmlp._runtime.cpu_watch.OthersWatch`).
    watch_window : float, optional
        The shortest time between two readings of that load (the watch's
        default if None).
    """

    def __init__(
        self,
        split,
        choosing,
        trials=CHOOSER_TRIALS,
        margin=CHOOSER_MARGIN,
        recheck_seconds=CHOOSER_RECHECK_SECONDS,
        tripwire=CHOOSER_TRIPWIRE,
        probation_seconds=CHOOSER_PROBATION_SECONDS,
        key=None,
        memory_seconds=CHOOSER_MEMORY_SECONDS,
        parts=None,
        watch_window=None,
    ):
        self.choosing = bool(choosing)
        self.trials = int(trials)
        self.margin = float(margin)
        self.recheck_seconds = float(recheck_seconds)
        self.tripwire = float(tripwire)
        self.probation_seconds = float(probation_seconds)
        self._split = bool(split)
        self._times = {True: [], False: []}
        self._seconds_since_choice = 0.0
        self._probation = False  # calls go the other way after a tripped one
        self._armed = False  # a tripwire from the second call the chosen way
        self._slow = False  # the last split call was over the tripwire
        # the last split trial was too slow to count (this fit's or the key's)
        left_out = _left_out.get(key if choosing else None)
        self._left_out = (
            left_out is not None and time.monotonic() - left_out < memory_seconds
        )
        self._calls = {True: 0, False: 0}
        self._watch = None
        if self.choosing and parts is not None and parts > 1:
            self._watch = OthersWatch(watch_window)
            # other threads may keep this many CPUs busy before parts share one
            self._spare_cpus = usable_cpus() - parts + 0.5
        self._crowded = False  # the last call went whole for other threads
        self._key = key if self.choosing else None
        self._memory_seconds = float(memory_seconds)
        self._postponed_until, self._postponement = _postponed.get(
            self._key, (0.0, 0.0)
        )
        recent = _decisions.get(self._key)
        self._remembered = (
            recent is not None and time.monotonic() - recent[2] < memory_seconds
        )
        if self._remembered:
            self._split = recent[0]
            self._times = {way: list(times) for way, times in recent[1].items()}
        else:
            begun = _unfinished.get(self._key)
            if begun is not None and time.monotonic() - begun[1] < memory_seconds:
                self._times = {way: list(times) for way, times in begun[0].items()}

    @property
    def deciding(self):
        """Whether calls are being timed to choose (trial calls)."""
        return self.choosing and self._deciding

    @property
    def _deciding(self):
        split, whole = self._times[True], self._times[False]
        if len(whole) < self.trials or len(split) < min(2, self.trials):
            return True
        if len(split) >= self.trials:
            return False
        apart = min(split) > self.margin * max(whole)
        return not (apart or min(whole) > self.margin * max(split))

    @property
    def waiting(self):
        """Whether split trials wait (calls go whole, untimed): see :meth:`record`."""
        return self.deciding and time.monotonic() < self._postponed_until

    @property
    def timing(self):
        """Whether the next call is a timed trial (deciding, not waiting, and
        not sent whole for other threads' load)."""
        return (
            self.deciding
            and time.monotonic() >= self._postponed_until
            and not self._crowded
        )

    def calls_by_way(self):
        """``(split, whole)``: the calls recorded that ran each way."""
        return self._calls[True], self._calls[False]

    def split(self):
        """Whether the next call splits its batches."""
        crowded = self._watch is not None and (
            self._watch.busy_cpus() > self._spare_cpus
        )
        way = self._way()
        self._crowded = way and crowded
        return way and not crowded

    def _way(self):
        if not self.deciding:
            return self._split
        if time.monotonic() < self._postponed_until:
            return False
        # Whole trials first, then split ones back to back. Alternated, every
        # split trial followed a whole call, through which the other core
        # idled, and ran ~30% slower per row than split calls back to back
        # (a fit's second and third); whole trials barely mind the order.
        return len(self._times[False]) >= self.trials

    def _waits(self, split, per_unit):
        """Whether a trial call is left out, and split trials wait a while.

        A split trial more than ``tripwire`` times slower per unit than the
        best whole trial found the other cores busy, not the split's own
        cost: another library's threads spinning after its call (OpenBLAS's
        spin ~0.1 s; a split trial right after a scikit-learn fit ran 10x
        its whole trials on the 2-vCPU Zen 5), or the host. Deciding on it
        would keep calls whole (and the next fits of the key) long after
        the cores are free. The first such trial is only left out: the first
        split call after whole ones may run that slow by itself (measured in
        ``docs/design/threading.md``). After a second in a row, split trials
        wait ``probation_seconds``, twice as long after each such pair, at
        most ``memory_seconds``; calls go whole meanwhile, untimed.
        """
        now = time.monotonic()
        whole = self._times[False]
        if not (split and whole and per_unit > self.tripwire * min(whole)):
            self._leave_out(False)
            if not split:
                return now < self._postponed_until  # a call while split trials wait
            if self._postponement:
                self._postponement = 0.0
                _postponed.pop(self._key, None)
            return False
        if not self._left_out:
            self._leave_out(True)  # the next call is a split trial again
            return True
        self._leave_out(False)
        wait = self._postponement * 2.0 or self.probation_seconds
        self._postponement = min(wait, self._memory_seconds)
        self._postponed_until = now + self._postponement
        if self._key is not None:
            value = (self._postponed_until, self._postponement)
            keep_recent(_postponed, self._key, value, DECISIONS_KEPT)
        return True

    def _leave_out(self, left_out):
        self._left_out = left_out
        if self._key is None:
            return
        if left_out:
            keep_recent(_left_out, self._key, time.monotonic(), DECISIONS_KEPT)
        else:
            _left_out.pop(self._key, None)

    def record(self, split, seconds, units):
        """Record that a call ran ``split`` or not, for ``units`` of work."""
        self._calls[split] += 1
        if not self.choosing or (self._crowded and not split):
            return  # a call sent whole for other threads is not timed
        if self.deciding:
            per_unit = seconds / max(units, 1)
            if self._waits(split, per_unit):
                return
            self._times[split].append(per_unit)
            if self._key is not None:
                times = {way: list(t) for way, t in self._times.items()}
                if self.deciding:
                    begun = (times, time.monotonic())
                    keep_recent(_unfinished, self._key, begun, DECISIONS_KEPT)
                else:
                    _unfinished.pop(self._key, None)
            if not self.deciding:
                self._split = min(self._times[True]) <= min(self._times[False])
                self._seconds_since_choice = 0.0
                if self._key is not None:
                    decision = (self._split, times, time.monotonic())
                    keep_recent(_decisions, self._key, decision, DECISIONS_KEPT)
            return
        self._seconds_since_choice += seconds
        armed, self._armed = self._armed, True
        # Only split calls are watched: a slow whole call means other work
        # on the cores, where split calls, which need both, do far worse
        if armed and split and not self._probation:
            best = min(self._times[split])
            per_unit = seconds / max(units, 1)
            slow = 0.0 < best and per_unit > self.tripwire * best
            slow, self._slow = slow and self._slow, slow
            if slow:
                self._split = not split
                self._probation = True
                self._slow = False
                wait = self.recheck_seconds - self.probation_seconds
                self._seconds_since_choice = wait
            elif self._remembered and 0.0 < best and per_unit > self.margin * best:
                # the remembered decision's conditions are gone: time again
                self._seconds_since_choice = self.recheck_seconds
            self._remembered = False
        if self._seconds_since_choice >= self.recheck_seconds:
            self._times = {True: [], False: []}
            self._probation = False
            self._leave_out(False)

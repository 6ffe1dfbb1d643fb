"""Every tunable constant of fastmlp, named, with the one-line reason for its value.

Thresholds, tile limits, chooser margins and workspace budgets: what a
maintainer may retune on new hardware. None changes a fitted model: each picks
between ways that give the same bits (split or whole, block sizes), or is a
default that the machine's own measurement replaces (the tile limits), except
``CSR_MAC_COST``, which decides from the data alone (never from timing or
threads) whether a dense input's zeros are skipped. The
measurements behind the values, and the commands that reproduce them, are in
``docs/design/`` (threading.md, tiles_calibration.md, call_overhead.md).
This file is part of the kernels' cache stamp: a change here recompiles them.
"""

# ---------------------------------------------------------------------------
# Threads (fastmlp._runtime.thread_plan; docs/design/threading.md)
# ---------------------------------------------------------------------------

# Largest product, in multiply-adds, that runs with BLAS held to one thread:
# between two small products BLAS's second thread only sleeps or spins.
SMALL_PRODUCT_MACS = 8_000_000
# Forward multiply-adds per batch from which a batch may be split across
# threads: below it the two synchronisations per batch eat the gain.
SPLIT_BATCH_MACS = 100_000
# The same for L-BFGS's one-batch gradient, whose worker thread must be woken
# for every call (scipy's Python runs between them).
SPLIT_GRADIENT_MACS = 2_000_000

# ---------------------------------------------------------------------------
# Kernel calls of a fit (fastmlp._engine.training)
# ---------------------------------------------------------------------------

# Work per epoch-kernel call, in multiply-adds (~2-10 ms): KeyboardInterrupt is
# seen between calls, and a call's own cost (~10-60 us) stays negligible.
WORK_PER_CALL = 4e8
# Work per call while split and whole calls are being timed: long enough that a
# split call's fixed cost (~70 us) does not make the trial unrepresentative.
TRIAL_WORK = 1e8

# ---------------------------------------------------------------------------
# Dense input that is mostly zeros (fastmlp._engine.input_form)
# ---------------------------------------------------------------------------

# A first-layer multiply-add over a CSR row's nonzeros costs at most this many
# of a dense product's (3-5 measured on Zen 5, 64-unit layer: sparse_rows_dot
# 4-7 ns and sparse_rows_transpose_dot 4-10 ns per nonzero, float64): a fit
# reads dense X as CSR when that pays even against the dense fit split across
# two threads (docs/design/sparse_input.md).
CSR_MAC_COST = 8

# ---------------------------------------------------------------------------
# Prediction (fastmlp._engine.prediction)
# ---------------------------------------------------------------------------

# Workspace of a prediction on dense rows, per thread, in bytes: blocks of rows
# whose layers stay in cache (the products of a dense prediction run on
# single-threaded BLAS or fastmlp's tiles, whole or split), and a workspace each
# thread keeps for its next predictions of the same net (a new one cost ~1.6 us
# a page, first touch, on the 2-core Zen 4 VM: 0.7 ms of a 2000-row call).
PREDICT_WORKSPACE_BYTES = 2**20
# On sparse rows, whose later layers' products may run on BLAS's threads: large
# blocks, so that BLAS synchronises its threads once per large product. Calls
# large enough to split hold BLAS to one thread: dense blocks, in the
# thread's kept workspace (no new one per call and part).
SPARSE_PREDICT_WORKSPACE_BYTES = 16 * 2**20
# Rows per block, at least and at most.
PREDICT_BLOCK_ROWS = (64, 32768)
# A prediction under this many multiply-adds never splits (handing parts to a
# worker costs more); above it, timing chooses.
PREDICT_SPLIT_MACS = 1_000_000
# Such a call's blocks: a multiple of this many, whose runs make the parts of
# a split call (fastmlp._engine.prediction.predict_block_rows).
PREDICT_SPLIT_BLOCKS = 4
# Kinds of prediction (net, dtype, threads, size) whose split decision and
# call plan are kept.
PREDICTION_PATHS = 64
# Nets whose prediction workspace a thread keeps (the most recent).
REUSED_WORKSPACES = 4
# Row counts whose plan a readied prediction keeps (engine.prediction.direct_forward)
DIRECT_ROW_COUNTS = 64
# Estimators whose readied prediction is kept (fastmlp._quick_prediction)
READIED_ESTIMATORS = 16
# OpenBLAS runs a GEMM of fewer multiply-adds on one thread whatever its thread
# count (interface/gemm.c: SMP_THRESHOLD_MIN 65536 x GEMM_MULTITHREAD_THRESHOLD 4).
BLAS_THREADED_MACS = 65536 * 4

# ---------------------------------------------------------------------------
# Hand-over to worker threads (fastmlp._runtime.worker_threads)
# ---------------------------------------------------------------------------

# A worker that finished its part, and a caller waiting for parts, check for
# the next job (for the parts) this many times (~2 ns each), then this many
# more times with a sched_yield between (~0.3-1 us each), before they sleep:
# a hand-over to a sleeping thread cost 75-115 us on the 2-core VMs (a split
# epoch of a 64-unit net is ~1 ms, a 200-row prediction ~100 us).
HAND_OVER_SPINS = 20_000
HAND_OVER_YIELDS = 400

# ---------------------------------------------------------------------------
# Split or whole, by timing (fastmlp._runtime.split_chooser)
# ---------------------------------------------------------------------------

CHOOSER_TRIALS = 3  # whole calls timed, then split calls at most, before choosing
CHOOSER_MARGIN = 1.25  # two split calls decide when the ways are this far apart
CHOOSER_RECHECK_SECONDS = 0.5  # calls the chosen way before both are timed again
# Two split calls in a row this much slower than split's best turn calls whole;
# two split trials in a row this much slower than whole's best make split
# trials wait (the first alone is left out).
CHOOSER_TRIPWIRE = 2.0
# Whole calls after a tripped one, then both timed again; the first wait of
# split trials (doubling while they find the cores busy).
CHOOSER_PROBATION_SECONDS = 0.1
CHOOSER_MEMORY_SECONDS = 2.0  # how long a decision holds for the next fits
DECISIONS_KEPT = 256  # fit shapes whose decision is kept (the oldest forgotten)

# ---------------------------------------------------------------------------
# Tiles or BLAS (fastmlp._kernels.tiles; docs/design/tiles_calibration.md)
# ---------------------------------------------------------------------------

# Built-in limits, where nothing was measured: tiles for products of at most
# max_macs multiply-adds with a right operand of at most max_right values, or
# at most narrow_max_macs with fewer columns than one full tile (Zen 1, Zen 5).
BUILTIN_TILE_LIMITS = {
    "max_macs": 1 << 21,
    "narrow_max_macs": 1 << 16,
    "max_right": 1 << 40,
}
# with AVX-512, float32 tiles beat OpenBLAS up to 200 x 784 x 256 (Zen 5)
AVX512_FLOAT32_MAX_MACS = 1 << 26

# The measurement (fastmlp._runtime.tile_measurement): the products timed are
# all shapes of these rows, depths and columns up to GRID_MAX_MACS, a fixed
# sample of GRID_SAMPLE per dtype and kind, and always the layers of
# ANCHOR_LAYERS (batch rows, inputs, outputs), where one way starts to win.
GRID_ROWS = (8, 16, 32, 64, 128, 200, 256, 512)
GRID_DEPTHS = (10, 20, 32, 64, 100, 128, 256, 512, 784, 1024)
GRID_COLUMNS = (2, 5, 10, 16, 24, 32, 50, 64, 100, 128, 256, 512, 1024)
GRID_MAX_MACS = 1 << 26
GRID_SAMPLE = 80
ANCHOR_LAYERS = (
    (32, 20, 32),
    (64, 20, 64),
    (64, 64, 64),
    (64, 64, 5),
    (200, 64, 100),
    (200, 100, 10),
    (200, 64, 64),
    (200, 64, 10),
    (455, 30, 50),
    (200, 784, 256),
    (200, 256, 128),
    (200, 128, 10),
    (256, 512, 256),
    (128, 1024, 1024),
)
# Each timing: calls repeated for about this long, best of ROUNDS rounds;
# products whose first call took LONG_CALL_SECONDS or more, best of
# LONG_ROUNDS (those 10% of the products took ~2/3 of the time, Zen 5).
TARGET_SECONDS = 60e-6
ROUNDS = 3
LONG_CALL_SECONDS = 5e-4
LONG_ROUNDS = 2
# How long a process waits for another one's measurement, and when a lock
# file is taken to be a crashed process's.
WAIT_SECONDS = 60.0
STALE_LOCK_SECONDS = 120.0

# ---------------------------------------------------------------------------
# scikit-learn shortcuts (fastmlp._sklearn)
# ---------------------------------------------------------------------------

# Parameter sets remembered as checked, per process (checked_params).
REMEMBERED_PARAMS = 1024

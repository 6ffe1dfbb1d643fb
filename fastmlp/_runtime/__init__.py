"""The runtime: how many threads, which path, which tile limits, on this machine.

``thread_plan`` (how many parts a batch splits into, how many threads BLAS may
use; it calls no BLAS itself), ``worker_threads`` (the Python threads that run
the parts), ``split_chooser`` (times split and whole calls and keeps the
faster: both give the same bits) and ``tile_calibration`` (which products go
to the vector tiles: measured once per machine and kept, since the two ways
round differently).
"""

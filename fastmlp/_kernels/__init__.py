"""Compiled kernels: pure functions of preallocated arrays (see fastmlp._numba)."""

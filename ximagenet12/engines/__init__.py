"""Where block work runs: the local process pool and Ray.

Peers of :mod:`ximagenet12.builder` (docs/architecture.md).
"""

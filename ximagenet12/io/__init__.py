"""Bytes in and out: image codecs, local and object-store paths, folder locks.

Imports only :mod:`ximagenet12.core` (docs/architecture.md).
"""

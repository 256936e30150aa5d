"""The foundation: constants, data types, seeding, input validation, verbosity.

Imports nothing else of ximagenet12 (docs/architecture.md).
"""

"""Deprecated path: ``ximagenet12.types`` is now :mod:`ximagenet12.core.types` (issue 23's relayout).

Importing it warns ``DeprecationWarning`` once and gives the same module object, so code
and ``monkeypatch`` targets that use the old path keep working for one release.
relayout: keep-old-paths
"""

from ximagenet12.core.deprecation import alias_module

alias_module(__name__, "ximagenet12.core.types")

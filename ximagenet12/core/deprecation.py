"""Old module paths kept for one release after the relayout (issue 23).

An alias module at an old path calls :func:`alias_module`: the old name becomes the *same*
module object as the new one in ``sys.modules`` (so attributes set through either path,
e.g. by ``monkeypatch``, are seen by both) and a ``DeprecationWarning`` names the new path.
For a moved package the submodules resolve through the old name too.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

__all__ = ["alias_module"]


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside this module, an alias module and importlib."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_code.co_filename.startswith("<frozen importlib")
        or frame.f_globals.get("__name__") == __name__
        or frame.f_globals.get("alias_module") is alias_module
    ):
        frame, level = frame.f_back, level + 1
    return level


class _AliasLoader(importlib.abc.Loader):
    """Loads an old submodule name as the module at its new name."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = self.spec  # the import system pointed it at the old name
        _warn(self.old, self.new)


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``<old package>.<sub>`` as ``<new package>.<sub>``."""

    def __init__(self) -> None:
        self.packages: dict[str, str] = {}

    def find_spec(self, fullname: str, path=None, target=None):  # noqa: ANN001 - the finder protocol
        for old, new in self.packages.items():
            if fullname.startswith(old + "."):
                return importlib.util.spec_from_loader(fullname, _AliasLoader(fullname, new + fullname[len(old):]))
        return None


_FINDER = _AliasFinder()


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in the next release; import {new} instead",
                  DeprecationWarning, stacklevel=_caller_stacklevel())


def alias_module(old: str, new: str) -> ModuleType:
    """Make ``old`` the module ``new`` (same object), warning once that ``old`` is deprecated."""
    module = importlib.import_module(new)
    old_name = old.rpartition(".")[2]
    _warn(old, new)
    sys.modules[old] = module
    if hasattr(module, "__path__"):
        _FINDER.packages[old] = new
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
    parent = sys.modules.get(old.rpartition(".")[0])
    if parent is not None:
        setattr(parent, old_name, module)
    return module

"""Move ximagenet12's flat modules into layer packages and rewrite every reference (issue 23).

    python scripts/relayout.py            # move, rewrite, write aliases (git mv: run in a checkout)
    python scripts/relayout.py --plan     # print the moves it would make, change nothing

The map is rule-based where it can be, so it also places modules it has never seen:

- ``ximagenet12/cli_<x>.py``  -> ``ximagenet12/cli/<x>.py``   (one module per subcommand)
- ``ximagenet12/cli.py``      -> ``ximagenet12/cli/__init__.py`` (the assembler keeps its path:
  ``ximagenet12.cli:main``, ``python -m ximagenet12.cli`` and every ``ximagenet12.cli.X``
  stay valid; ``cli/__main__.py`` is written)
- ``ximagenet12/hub_<x>.py``  -> ``ximagenet12/hub/<x>.py``;  ``hub.py`` -> ``hub/publish.py``
  (``hub/__init__`` re-exports its public names lazily)
- :data:`FLAT` places the other flat modules in ``core/``, ``io/``, ``scenarios/`` and
  ``engines/``; :data:`PACKAGES` moves ``generation/`` under ``scenarios/``;
  :data:`OUTSIDE` moves the local process pool (``builder/executors.py``) to ``engines/local.py``.

A flat module or a folder under ``ximagenet12/`` that no rule places stops the script before
anything changes (exit 2, listing them): it never guesses.

Then, in every ``.py``, ``.md``, ``.toml``, ``.cfg``, ``.txt`` file and ``.ci/*`` of the
repository, it rewrites ``import ximagenet12.a.b``, ``from ximagenet12.a import b``,
``from ximagenet12 import a``, relative imports that reach a moved module (made absolute),
dotted strings (``"ximagenet12.registry.SCENARIOS"`` in ``monkeypatch``, ``PLUGINS``
entries, ``:mod:`` roles) and file paths (``ximagenet12/registry.py``). It updates
``pyproject.toml``'s package list and writes a deprecated alias at every old module path
that is not a new package (a thin module: warns ``DeprecationWarning`` once and makes the
old name the *same* module object, so ``monkeypatch`` through an old path still works).

Files that must keep old paths (this script, the alias modules, the alias test, the
architecture notes' table) carry the marker ``relayout: keep-old-paths`` and are skipped.
A second run finds nothing to move and nothing to rewrite: it changes no byte.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = "ximagenet12"
MARKER = "relayout: keep-old-paths"

#: flat module of ximagenet12/ -> its new dotted name under ximagenet12 (rules cover cli_*, hub_*)
FLAT: dict[str, str] = {
    "constants": "core.constants",
    "types": "core.types",
    "rng": "core.rng",
    "validation": "core.validation",
    "verbosity": "core.verbosity",
    "imageio": "io.imageio",
    "storage": "io.storage",
    "locking": "io.locking",
    "registry": "scenarios.registry",
    "functional": "scenarios.functional",
    "memo": "scenarios.memo",
    "backgrounds": "scenarios.backgrounds",
    "engine": "scenarios.engine",
    "corruptions": "scenarios.corruptions",
    "ray_engine": "engines.ray",
    "hub": "hub.publish",
    "cli": "cli",  # cli.py becomes cli/__init__.py: same dotted name
}
#: rules for flat modules not in FLAT: pattern -> new dotted name
RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"cli_([a-z0-9_]+)"), r"cli.\1"),
    (re.compile(r"hub_([a-z0-9_]+)"), r"hub.\1"),
)
#: sub-packages of ximagenet12/ that move whole (with any module added to them)
PACKAGES: dict[str, str] = {"generation": "scenarios.generation"}
#: modules outside ximagenet12/: old dotted name -> (old file, new dotted name)
OUTSIDE: dict[str, tuple[str, str]] = {
    f"{PKG}.builder.executors": ("builder/executors.py", f"{PKG}.engines.local"),
}
#: sub-packages that stay where they are
STAY = ("challenge", "data", "evaluation", "explain", "leaderboard", "sources", "training")
#: the layer packages, with the docstring of their __init__ (written when missing)
NEW_PACKAGES: dict[str, str] = {
    "core": "The foundation: constants, data types, seeding, input validation, verbosity.\n\n"
            "Imports nothing else of ximagenet12 (docs/architecture.md).",
    "io": "Bytes in and out: image codecs, local and object-store paths, folder locks.\n\n"
          "Imports only :mod:`ximagenet12.core` (docs/architecture.md).",
    "scenarios": "The scenarios: pure functions, the registry, the engine that runs them, plug-ins\n"
                 "(ImageNet-C corruptions, the generative ``ai_background``).\n\n"
                 "Imports only :mod:`ximagenet12.core` and :mod:`ximagenet12.io` (docs/architecture.md).",
    "engines": "Where block work runs: the local process pool and Ray.\n\n"
               "Peers of :mod:`ximagenet12.builder` (docs/architecture.md).",
}
SUFFIXES = (".py", ".md", ".toml", ".cfg", ".txt")
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", ".mypy_cache", ".pytest_cache"}

ALIAS_MODULE = '''"""Deprecated path: ``{old}`` is now :mod:`{new}` (issue 23's relayout).

Importing it warns ``DeprecationWarning`` once and gives the same module object, so code
and ``monkeypatch`` targets that use the old path keep working for one release.
{marker}
"""

from ximagenet12.core.deprecation import alias_module

alias_module(__name__, "{new}")
'''


HUB_INIT = '''"""Publishing to the Hugging Face Hub: a built dataset and the metric (:mod:`.publish`),
a model (:mod:`.model`), and the rules a dataset folder must meet (:mod:`.validate`).

The public names of the former flat module ``hub.py`` (``push``, ``push_metric``, ...)
stay importable from this package; they are loaded from :mod:`ximagenet12.hub.publish`
on first use, so importing :mod:`ximagenet12.hub.validate` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the public names of :mod:`ximagenet12.hub.publish`, importable from here
__all__ = [
{names}
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ximagenet12.hub.publish"), name)
    raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")
'''

CLI_MAIN = '''"""``python -m ximagenet12.cli``: the ``ximagenet12`` command."""

import sys

from ximagenet12.cli import main

sys.exit(main())
'''


#: stands for the package name in from-statements already rewritten, so the dotted pass skips them
_PROTECT = "\x00relayout-pkg\x00"


class Unplaced(Exception):
    """Files or folders no rule places."""


# -- the map ------------------------------------------------------------------------------------


def _is_alias(path: Path) -> bool:
    return path.is_file() and MARKER in path.read_text(encoding="utf-8", errors="replace")[:2000]


def _flat_target(stem: str) -> str | None:
    if stem in FLAT:
        return FLAT[stem]
    for pattern, repl in RULES:
        if pattern.fullmatch(stem):
            return pattern.sub(repl, stem)
    return None


def _module_file(dotted: str) -> Path:
    """Where a module of the new layout lives (``cli`` is a package's ``__init__``)."""
    parts = dotted.split(".")[1:]
    if dotted == f"{PKG}.cli":
        return Path(PKG, "cli", "__init__.py")
    return Path(PKG, *parts[:-1], parts[-1] + ".py")


def plan_moves(root: Path) -> tuple[list[tuple[Path, Path]], dict[str, str]]:
    """(file/folder moves still to do, old dotted prefix -> new dotted prefix for every moved module)."""
    pkg = root / PKG
    moves: list[tuple[Path, Path]] = []
    renames: dict[str, str] = {}
    unplaced: list[str] = []
    known_dirs = set(STAY) | set(PACKAGES) | set(NEW_PACKAGES) | {"cli", "hub"}
    for path in sorted(pkg.iterdir()):
        if path.name in SKIP_DIRS or path.name.startswith("."):
            continue
        if path.is_dir():
            if path.name not in known_dirs:
                unplaced.append(f"{path.relative_to(root)}/ (a sub-package no rule places)")
            continue
        if path.suffix != ".py" or path.name == "__init__.py":
            continue
        target = _flat_target(path.stem)
        if target is None:
            unplaced.append(f"{path.relative_to(root)} (a flat module no rule places)")
            continue
        renames[f"{PKG}.{path.stem}"] = f"{PKG}.{target}"
        if not _is_alias(path):
            moves.append((path, root / _module_file(f"{PKG}.{target}")))
    # modules already moved by an earlier run still need their references rewritten
    for stem in FLAT:
        renames.setdefault(f"{PKG}.{stem}", f"{PKG}.{FLAT[stem]}")
    for sub in (pkg / "cli").glob("*.py") if (pkg / "cli").is_dir() else ():
        if sub.stem not in ("__init__", "__main__"):
            renames.setdefault(f"{PKG}.cli_{sub.stem}", f"{PKG}.cli.{sub.stem}")
    for sub in (pkg / "hub").glob("*.py") if (pkg / "hub").is_dir() else ():
        if sub.stem not in ("__init__", "publish"):
            renames.setdefault(f"{PKG}.hub_{sub.stem}", f"{PKG}.hub.{sub.stem}")
    for old, new in PACKAGES.items():
        renames[f"{PKG}.{old}"] = f"{PKG}.{new}"
        src = pkg / old
        if src.is_dir() and not _is_alias(src / "__init__.py"):
            moves.append((src, root / PKG / Path(*new.split("."))))
    for old, (file, new) in OUTSIDE.items():
        renames[old] = new
        if (root / file).is_file() and not _is_alias(root / file):
            moves.append((root / file, root / _module_file(new)))
    renames = {k: v for k, v in renames.items() if k != v}
    if unplaced:
        raise Unplaced("\n".join(unplaced))
    return moves, renames


# -- rewriting ----------------------------------------------------------------------------------


class Rewriter:
    """Rewrites references to old module paths in text (idempotent: new paths are left alone)."""

    def __init__(self, renames: dict[str, str]):
        self.renames = renames
        #: every module name of the new layout that an old name is a prefix of
        self.new_names = {v for v in renames.values()} | {
            ".".join(v.split(".")[:i]) for v in renames.values() for i in range(2, v.count(".") + 1)
        }
        self.dotted = re.compile(r"(?<![\w.])" + PKG + r"((?:\.[A-Za-z_]\w*)+)")
        self.from_import = re.compile(
            r"^(?P<indent>[ \t]*)from[ \t]+(?P<mod>" + PKG + r"(?:\.\w+)*)[ \t]+import[ \t]+"
            r"(?P<names>\([^)]*\)|[^\n#;]*[^\s#;])(?P<tail>[ \t]*(?:#[^\n]*)?)$",
            re.M,
        )
        self.paths = re.compile(r"(?<![\w/.-])((?:" + PKG + r"|builder)/[\w/]+(?:\.py)?)")

    def new_name(self, dotted: str) -> str | None:
        """The new name of ``dotted`` (a module or an attribute path), ``None`` if unchanged."""
        parts = dotted.split(".")
        old = next((".".join(parts[:i]) for i in range(len(parts), 1, -1) if ".".join(parts[:i]) in self.renames),
                   None)
        if old is None:
            return None
        longer_new = any(".".join(parts[:i]) in self.new_names for i in range(old.count(".") + 2, len(parts) + 1))
        if longer_new:  # e.g. ximagenet12.hub.model: already a module of the new layout
            return None
        return self.renames[old] + dotted[len(old):]

    def _sub_dotted(self, match: re.Match[str]) -> str:
        return self.new_name(match.group(0)) or match.group(0)

    def _sub_from(self, match: re.Match[str]) -> str:
        """One ``from ximagenet12... import ...`` statement, split by the module each name now
        comes from. A name that is a moved module is imported from its new package (under its
        old local name); the others from the new name of ``mod``, except names that are
        modules of the new layout (``from ximagenet12.hub import validate``). The result is
        protected from the dotted pass (see :meth:`rewrite`)."""
        mod, names_text = match["mod"], match["names"]
        items = [i.strip() for i in names_text.strip("()").replace("\n", " ").split(",") if i.strip()]
        groups: dict[str, list[str]] = {}
        for item in items:
            name, _, alias = (p.strip() for p in item.partition(" as "))
            new = self.renames.get(f"{mod}.{name}") if name.isidentifier() else None
            if new is not None:
                parent, _, leaf = new.rpartition(".")
                local = alias or name
                groups.setdefault(parent, []).append(leaf if leaf == local else f"{leaf} as {local}")
            elif f"{mod}.{name}" in self.new_names:
                groups.setdefault(mod, []).append(item)
            else:
                groups.setdefault(self.new_name(mod) or mod, []).append(item)
        if list(groups) == [mod]:
            return match.group(0).replace(PKG, _PROTECT)
        indent, lines = match["indent"], []
        for parent, names in groups.items():
            head = f"{indent}from {parent.replace(PKG, _PROTECT)} import "
            if names_text.startswith("(") and "\n" in names_text and len(groups) == 1:
                lines.append(head + "(\n" + "".join(f"{indent}    {k},\n" for k in names) + f"{indent})")
            else:
                lines.append(head + ", ".join(names))
        lines[0] += match["tail"] or ""
        return "\n".join(lines)

    def _sub_path(self, match: re.Match[str]) -> str:
        path = match.group(1)
        is_py = path.endswith(".py")
        stem = path[:-3] if is_py else path.rstrip("/")
        if stem == f"{PKG}/cli":
            return f"{PKG}/cli/__init__.py" if is_py else path
        parts = stem.split("/")
        new = self.new_name(".".join(parts if parts[0] == PKG else [PKG, *parts]))
        if new is None:
            return path
        return "/".join(new.split(".")) + (".py" if is_py else path[len(stem):])

    def rewrite(self, text: str) -> str:
        text = self.from_import.sub(self._sub_from, text)
        text = self.dotted.sub(self._sub_dotted, text)
        return self.paths.sub(self._sub_path, text).replace(_PROTECT, PKG)


def absolute_imports(path: Path, module: str, is_package: bool, moved: set[str]) -> str | None:
    """``path``'s text with relative imports that reach a moved module (or that sit in a moved
    module) made absolute; ``None`` when there is nothing to change."""
    text = path.read_text(encoding="utf-8")
    if "from ." not in text:
        return None
    base = module.split(".") if is_package else module.split(".")[:-1]
    lines = text.splitlines(keepends=True)
    changed = False
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        anchor = base[: len(base) - node.level + 1]
        target = ".".join(anchor + ([node.module] if node.module else []))
        reaches = {target, *(f"{target}.{a.name}" for a in node.names)}
        if not (module in moved or any(r in moved or any(r.startswith(m + ".") for m in moved) for r in reaches)):
            continue
        line = lines[node.lineno - 1]
        rel = "." * node.level + (node.module or "")
        new_line = re.sub(r"from\s+" + re.escape(rel) + r"\s+import", f"from {target} import", line, count=1)
        if new_line != line:
            lines[node.lineno - 1] = new_line
            changed = True
    return "".join(lines) if changed else None


def text_files(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in SUFFIXES or rel.parts[0] == ".ci":
            out.append(path)
    return out


# -- the steps ----------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True)


def _write(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _old_module_name(root: Path, path: Path) -> tuple[str, bool]:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in ("builder", "metrics", "dataset_card"):
        parts = [PKG, *parts]
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def make_absolute(root: Path, renames: dict[str, str]) -> list[Path]:
    """Before moving: relative imports in or into moved modules become absolute."""
    moved = set(renames)
    changed = []
    for top in (PKG, "builder", "metrics", "dataset_card"):
        for path in sorted((root / top).rglob("*.py")):
            if any(p in SKIP_DIRS for p in path.parts) or _is_alias(path):
                continue
            module, is_package = _old_module_name(root, path)
            text = absolute_imports(path, module, is_package, moved)
            if text is not None:
                path.write_text(text, encoding="utf-8")
                changed.append(path)
    return changed


def move(root: Path, moves: list[tuple[Path, Path]]) -> None:
    for src, dst in moves:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.exists():
            raise Unplaced(f"{dst.relative_to(root)} exists already: cannot move {src.relative_to(root)} there")
        _git(root, "mv", str(src.relative_to(root)), str(dst.relative_to(root)))


def write_packages(root: Path) -> None:
    pkg = root / PKG
    for name, doc in NEW_PACKAGES.items():
        init = pkg / name / "__init__.py"
        if not init.exists():
            _write(init, f'"""{doc}\n"""\n')
    if not (pkg / "core" / "deprecation.py").is_file():  # the aliases' helper: a module of the package since the relayout
        raise SystemExit(f"{pkg / 'core' / 'deprecation.py'} is missing: it is part of the package, check it out")
    _write(pkg / "cli" / "__main__.py", CLI_MAIN)
    publish = pkg / "hub" / "publish.py"
    names = []
    for node in ast.parse(publish.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = [elt.value for elt in node.value.elts]
    _write(pkg / "hub" / "__init__.py", HUB_INIT.format(names="\n".join(f'    "{n}",' for n in names)))


def write_aliases(root: Path, renames: dict[str, str]) -> None:
    """A deprecated alias at every old path that is not itself a package of the new layout."""
    for old, new in sorted(renames.items()):
        if old in OUTSIDE:
            path = root / OUTSIDE[old][0]
        elif old.removeprefix(PKG + ".") in PACKAGES:
            path = root / PKG / old.split(".")[1] / "__init__.py"
        else:
            path = root / PKG / (old.split(".")[1] + ".py")
            if (root / PKG / old.split(".")[1]).is_dir():  # hub.py: the new package hub/ answers for it
                continue
        _write(path, ALIAS_MODULE.format(old=old, new=new, marker=MARKER))


def update_pyproject(root: Path, renames: dict[str, str]) -> None:
    path = root / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    block = re.search(r"^packages = \[\n(?P<body>(?:[ \t]+\"[^\"]+\",\n)*)\]", text, re.M)
    if block is None:
        raise Unplaced("pyproject.toml: no [tool.setuptools] packages list to update")
    listed = re.findall(r"\"([^\"]+)\"", block["body"])
    on_disk = sorted(
        ".".join(p.parent.relative_to(root).parts) for p in (root / PKG).rglob("__init__.py")
        if not any(part in SKIP_DIRS for part in p.parts)
    )
    # entries under ximagenet12/ follow the folders; the mapped top-level folders stay as listed
    mapped = [p for p in listed if p != PKG and not (root / Path(*p.split("."))).is_dir()]
    wanted = [p for p in listed if p in on_disk or p in mapped]
    wanted += [p for p in on_disk if p not in wanted]
    body = "".join(f'    "{p}",\n' for p in wanted)
    _write(path, text[: block.start("body")] + body + text[block.end("body"):])


def rewrite_all(root: Path, renames: dict[str, str]) -> list[Path]:
    rewriter = Rewriter(renames)
    changed = []
    for path in text_files(root):
        if path.resolve() == Path(__file__).resolve():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if MARKER in text:
            continue
        if path.name == "pyproject.toml" and path.parent == root:  # its package list follows the folders
            block = re.search(r"^packages = \[\n[^\]]*\]", text, re.M)
            new = text if block is None else (
                rewriter.rewrite(text[: block.start()]) + block.group(0) + rewriter.rewrite(text[block.end():]))
        else:
            new = rewriter.rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this script's)")
    parser.add_argument("--plan", action="store_true", help="print the moves and renames, change nothing")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        moves, renames = plan_moves(root)
    except Unplaced as exc:
        print(f"relayout: cannot place these (add a rule or an entry to FLAT/PACKAGES):\n{exc}", file=sys.stderr)
        return 2
    if args.plan:
        for src, dst in moves:
            print(f"move {src.relative_to(root)} -> {dst.relative_to(root)}")
        for old, new in sorted(renames.items()):
            print(f"rename {old} -> {new}")
        return 0
    make_absolute(root, renames)
    try:
        move(root, moves)
    except Unplaced as exc:
        print(f"relayout: {exc}", file=sys.stderr)
        return 2
    write_packages(root)
    write_aliases(root, renames)
    changed = rewrite_all(root, renames)
    update_pyproject(root, renames)
    print(f"relayout: {len(moves)} moves, {len(changed)} files rewritten")
    for path in changed:
        print(f"  rewrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Prompts for ``ai_background``: one per class, from a data file shipped with the package.

The file (``ximagenet12/data/prompts.json``) holds::

    {
      "template": "A high-resolution photograph of a {name} in {environment}, like a ...",
      "default_environment": "...",          # for classes without an entry
      "negative_prompt": "...",
      "classes": {"<class key>": {"name": "...", "environment": "..."}, ...}
    }

A class entry may give ``"prompt"`` (used verbatim) instead of an environment, and may
leave out ``"name"``. The 12 reference classes have entries in the paper's style
("... like a National Geographic photo, realistic, keep the foreground unchanged");
any other class gets the template with ``default_environment``.

A user file with the same keys (all optional) overrides the shipped one:
``template``, ``default_environment`` and ``negative_prompt`` replace the defaults and
``classes`` entries update the entry of the same key field by field (an environment alone
keeps the shipped name), other classes keep theirs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["ClassPrompt", "PromptBook", "load_prompts", "PROMPTS_RESOURCE"]

#: The shipped prompt file, inside the ``ximagenet12`` package.
PROMPTS_RESOURCE = "data/prompts.json"
_TOP_KEYS = frozenset({"template", "default_environment", "negative_prompt", "classes"})
_CLASS_KEYS = frozenset({"name", "environment", "prompt"})


@dataclass(frozen=True)
class ClassPrompt:
    """One class's entry: a display name and an environment, or a verbatim prompt."""

    name: str | None = None
    environment: str | None = None
    prompt: str | None = None


@dataclass(frozen=True)
class PromptBook:
    """Prompts per class plus the generic template and the negative prompt."""

    template: str
    default_environment: str
    negative_prompt: str
    classes: Mapping[str, ClassPrompt] = field(default_factory=dict)
    #: where the prompts came from (the shipped file, or shipped + a user file)
    origin: str = PROMPTS_RESOURCE

    @classmethod
    def default(cls) -> PromptBook:
        """The prompts shipped with the package."""
        text = resources.files("ximagenet12").joinpath(PROMPTS_RESOURCE).read_text(encoding="utf-8")
        return _merge(None, json.loads(text), origin=f"ximagenet12/{PROMPTS_RESOURCE}")

    def with_overrides(self, path: str | Path) -> PromptBook:
        """This book with a user JSON file's entries taking precedence."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt file {str(path)!r} not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"prompt file {str(path)!r} is not valid JSON: {exc}") from None
        return _merge(self, data, origin=f"{self.origin} + {path}")

    def name_for(self, class_key: str, class_name: str | None = None) -> str:
        """The name put in the prompt: the book's, else the source's, else the key."""
        entry = self.classes.get(class_key)
        if entry is not None and entry.name:
            return entry.name
        return class_name or class_key.replace("_", " ")

    def prompt_for(self, class_key: str, class_name: str | None = None) -> str:
        """The prompt for one class (``class_name`` names classes the book does not know)."""
        entry = self.classes.get(class_key, ClassPrompt())
        if entry.prompt:
            return entry.prompt
        return _format(
            self.template,
            name=self.name_for(class_key, class_name),
            environment=entry.environment or self.default_environment,
            origin=self.origin,
        )


def _format(template: str, *, name: str, environment: str, origin: str) -> str:
    try:
        return template.format(name=name, environment=environment)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"prompt template {template!r} from {origin} is not usable: {exc!r}; "
            "it may only use the placeholders {name} and {environment}"
        ) from None


def _merge(base: PromptBook | None, data: Any, *, origin: str) -> PromptBook:
    if not isinstance(data, dict):
        raise ValueError(f"prompt file {origin} must hold a JSON object, got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(
            f"prompt file {origin} has unknown keys {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}"
        )
    for key in ("template", "default_environment", "negative_prompt"):
        if key in data and not isinstance(data[key], str):
            raise ValueError(f"prompt file {origin}: {key!r} must be a string, got {type(data[key]).__name__}")
        if base is None and key not in data:
            raise ValueError(f"prompt file {origin} lacks {key!r}")
    raw_classes = data.get("classes", {})
    if not isinstance(raw_classes, dict):
        raise ValueError(f"prompt file {origin}: 'classes' must map class keys to objects")
    classes = dict(base.classes) if base is not None else {}
    for key, entry in raw_classes.items():
        if isinstance(entry, str):
            entry = {"prompt": entry}
        if not isinstance(entry, dict) or set(entry) - _CLASS_KEYS or not all(isinstance(v, str) for v in entry.values()):
            raise ValueError(
                f"prompt file {origin}: class {key!r} must be a prompt string or an object with "
                f"string fields among {sorted(_CLASS_KEYS)}, got {entry!r}"
            )
        if not (entry.get("prompt") or entry.get("environment") or entry.get("name")):
            raise ValueError(f"prompt file {origin}: class {key!r} gives no name, environment or prompt")
        merged = {**asdict(classes[key]), **entry} if key in classes else dict(entry)
        if "environment" in entry and "prompt" not in entry:
            merged["prompt"] = None  # a new environment replaces an old verbatim prompt
        classes[key] = ClassPrompt(**merged)
    book = PromptBook(
        template=data.get("template", base.template if base else ""),
        default_environment=data.get("default_environment", base.default_environment if base else ""),
        negative_prompt=data.get("negative_prompt", base.negative_prompt if base else ""),
        classes=MappingProxyType(classes),
        origin=origin,
    )
    _format(book.template, name="x", environment="y", origin=origin)  # fail now, not mid-build
    return book


def load_prompts(path: str | Path | None = None) -> PromptBook:
    """The shipped prompts, overridden by the JSON file at ``path`` if given."""
    book = PromptBook.default()
    return book if path is None else book.with_overrides(path)

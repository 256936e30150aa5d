"""Reports → results rows, and the results repo (a ``datasets`` folder) that holds them.

:func:`report_entry` reads one ``ximagenet12 evaluate`` (or ``evaluate-segmentation``)
folder into a row of :data:`~ximagenet12.leaderboard.schema.RESULTS_SCHEMA`, its
per-sample outcomes and its figures. The figures are the report's own: μ and S_robust come
from ``report.json`` and the evaluator's :func:`~ximagenet12.evaluation.report.robustness_of`
(the other configuration is computed the same way, over the same default scenario set), the
S_robust interval from the metric's bootstrap over source images, paired across scenarios
(:func:`robustness_score_from_samples`), over ``predictions.parquet``. The row records the
scenario set and μ's test against chance beside S.

:func:`read_results` / :func:`write_results` read and write a results repo folder;
:func:`push_results` appends one report to a Hub results repo and publishes it with
:func:`ximagenet12.hub.publish.push` (validated like any dataset folder, resumable).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ximagenet12.leaderboard.provenance import data_fingerprint, model_facts, model_provenance, source_split_of
from ximagenet12.leaderboard.schema import (
    FIGURES_CONFIG,
    FIGURES_SCHEMA,
    OPTIONAL_FIGURES,
    PREDICTIONS_CONFIG,
    PREDICTIONS_SCHEMA,
    RESULTS_CONFIG,
    RESULTS_FILE,
    RESULTS_SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    check_schema,
    with_added_columns,
)

__all__ = [
    "ReportEntry",
    "Results",
    "report_entry",
    "read_results",
    "write_results",
    "merge_results",
    "push_results",
    "push_entry",
    "PUSH_ATTEMPTS",
    "N_BOOTSTRAP",
    "COMPANION_TASKS",
    "report_task",
    "attach_companion",
]

logger = logging.getLogger(__name__)

#: Replicates of the metric's bootstrap for the S_robust interval (seeded: same report, same interval).
N_BOOTSTRAP = 1000
_BOOTSTRAP_SEED = 0
_REQUIRED_KEYS = ("task", "metric", "model", "data", "scenarios")
_FIGURES = ("heatmap.png", "scenarios.png")
_SAMPLE_VALUE = {"classification": "correct", "segmentation": "iou"}


@dataclass
class ReportEntry:
    """One report: its results row, its per-sample outcomes and its figures (name → file)."""

    row: dict
    predictions: pa.Table
    figures: dict[str, Path] = field(default_factory=dict)


@dataclass
class Results:
    """A results repo in memory: rows, per-report outcomes, per-report figure files."""

    rows: list[dict] = field(default_factory=list)
    predictions: dict[str, pa.Table] = field(default_factory=dict)
    figures: dict[str, dict[str, Path]] = field(default_factory=dict)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _load_report(folder: Path) -> tuple[dict, bytes]:
    path = folder / "report.json"
    if not folder.is_dir():
        raise FileNotFoundError(f"report folder {str(folder)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{str(folder)!r} is not an evaluation report folder: no report.json (run `ximagenet12 evaluate --out`)")
    raw = path.read_bytes()
    try:
        report = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from None
    missing = [k for k in _REQUIRED_KEYS if not isinstance(report, dict) or k not in report]
    if missing:
        raise ValueError(f"{str(path)!r} is not an evaluation report: it lacks {', '.join(missing)}")
    if report["task"] not in _SAMPLE_VALUE:
        raise ValueError(f"{str(path)!r}: unknown task {report['task']!r} (expected {', '.join(_SAMPLE_VALUE)})")
    training = report.get("training_rows") or {}
    if training.get("included"):
        raise ValueError(f"{str(path)!r} scored {training.get('trained_on')} source id(s) its model was trained on "
                         "(--include-training-rows): the leaderboard ranks held-out scores only; evaluate again without it")
    model = (report.get("provenance") or {}).get("model") or {}
    if ("training_rows" not in report and model.get("kind") == "local"
            and os.path.isfile(os.path.join(str(model.get("source")), "training_rows.json"))):
        raise ValueError(f"{str(path)!r} scored a model trained by `ximagenet12 train` with a version that did not leave "
                         "its training rows out: evaluate it again (the rows are now left out by default)")
    absent = [f for f in ("predictions.parquet", *_FIGURES) if not (folder / f).is_file()]
    if absent:
        raise ValueError(f"report folder {str(folder)!r} lacks {', '.join(absent)} (an incomplete evaluate output)")
    return report, raw


def _protocol(report: dict) -> str:
    if report["task"] == "classification":
        if report.get("pipeline_task") == "zero-shot-image-classification":  # prompts, not a classifier head
            return f"EX1 zero-shot classification ({report.get('mode', 'strict')}, prompt {report.get('prompt_template')!r})"
        return f"EX1 classification ({report.get('mode', 'restricted')})"
    return "EX3 segmentation"


def _scenario_values(report: dict) -> list[dict]:
    metric = report["metric"]
    out = []
    for config, e in report["scenarios"].items():
        value = e.get(metric)
        out.append({"config": config, "value": None if value is None else float(value),
                    "n": int(e.get("n") or 0), "n_failed": int(e.get("n_failed") or 0)})
    return out


def _outcomes(folder: Path, report: dict, report_id: str) -> pa.Table:
    import pandas as pd

    frame = pd.read_parquet(folder / "predictions.parquet")
    column = _SAMPLE_VALUE[report["task"]]
    missing = [c for c in ("config", "source_id", "class_key", column) if c not in frame.columns]
    if missing:
        raise ValueError(f"{str(folder / 'predictions.parquet')!r} lacks column(s) {', '.join(missing)}")
    out = pd.DataFrame({
        "report_id": report_id,
        "config": frame["config"].astype(str),
        "source_id": frame["source_id"].astype(str),
        "class_key": frame["class_key"].astype(str),
        "value": frame[column].astype(float),
    })
    return pa.Table.from_pandas(out, schema=PREDICTIONS_SCHEMA, preserve_index=False)


def _interval(report: dict, outcomes: pa.Table, members: list[str]) -> tuple[float | None, float | None]:
    """The metric's paired bootstrap interval of S_robust (table3) over ``members``; classification only."""
    if report["task"] != "classification" or outcomes.num_rows == 0 or not members:
        return None, None
    from ximagenet12.metrics.robustness_score.functional import robustness_score_from_samples

    frame = outcomes.to_pandas()
    frame = frame[frame["config"].isin(["original", *members])]
    try:
        result = robustness_score_from_samples(
            predictions=frame["value"].astype(int).to_numpy(), references=[1] * len(frame),
            scenarios=frame["config"].to_numpy(), config="table3", n_bootstrap=N_BOOTSTRAP, seed=_BOOTSTRAP_SEED,
            scenario_set=members, source_ids=frame["source_id"].to_numpy(),
            n_classes=max(2, len(report.get("classes") or [])),
        )
    except ValueError as exc:  # no original samples, a single scenario under n - 1: no interval, said so
        logger.warning("report %s: no S_robust interval (%s)", report["model"], exc)
        return None, None
    return result["s_robust_ci"]


def _optional_figures(report: dict, path: Path) -> dict:
    """σ_i, worst-case background accuracy, object focus: top-level numbers of report.json, when a
    later report kind (EX2 run, challenge, attribution) writes them; None (missing) otherwise."""
    out = {}
    for name in OPTIONAL_FIGURES:
        value = report.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
            raise ValueError(f"{str(path)!r}: {name} must be a finite number or absent, got {value!r}")
        out[name] = None if value is None else float(value)
    return out


def _robustness(report: dict) -> dict:
    from ximagenet12.evaluation.report import robustness_of

    # the entries' metric and per-class values are the report's primary scoring mode
    return {cfg: robustness_of(report["scenarios"], metric=report["metric"], config=cfg) for cfg in ("table3", "formula")}


def report_entry(folder: str | os.PathLike, *, data: str | os.PathLike | None = None) -> ReportEntry:
    """The results row of one report folder (``data``: where the evaluated data lives now)."""
    folder = Path(folder)
    report, raw = _load_report(folder)
    report_id = hashlib.sha256(raw).hexdigest()[:16]
    fingerprint, revision = data_fingerprint(data if data is not None else report["data"], limit=report.get("limit"))
    outcomes = _outcomes(folder, report, report_id)
    blocks = _robustness(report)
    sset = blocks["table3"].get("scenario_set") or {}
    chance = blocks["table3"].get("chance") or {}
    low, high = _interval(report, outcomes, list(sset.get("members") or []))
    original = report["scenarios"].get("original") or {}
    mtime = _dt.datetime.fromtimestamp((folder / "report.json").stat().st_mtime, _dt.timezone.utc)
    figures = {name: folder / name for name in _FIGURES}
    for extra in sorted(folder.rglob("*.png")):  # attribution overlays and other figures the report carries
        rel = extra.relative_to(folder).as_posix()
        if rel not in figures:
            figures[rel] = extra
    row = {
        "report_id": report_id,
        "schema_version": SCHEMA_VERSION,
        "evaluated_at": mtime.isoformat(timespec="seconds"),
        "submitted_at": _now(),
        "model": str(report["model"]),
        **model_provenance(str(report["model"])),
        "task": report["task"],
        "metric": report["metric"],
        "protocol": _protocol(report),
        "data": str(report["data"]),
        "data_fingerprint": fingerprint,
        "data_revision": revision,
        "limit": report.get("limit"),
        "n_samples": sum(int(e.get("n") or 0) for e in report["scenarios"].values()),
        "n_failed": int(report.get("n_failed") or 0),
        "mu": original.get(report["metric"]),
        "s_robust_table3": blocks["table3"].get("s_robust"),
        "s_robust_table3_ci_low": low,
        "s_robust_table3_ci_high": high,
        "s_robust_formula": blocks["formula"].get("s_robust"),
        "scenario_set": sset.get("name"),
        "scenario_set_members": list(sset.get("members") or []),
        "mu_above_chance": chance.get("mu_above_chance"),
        "chance_p_value": chance.get("p_value"),
        "sigma_e": blocks["formula"].get("sigma_e"),
        "bg_gap": blocks["table3"].get("bg_gap"),
        **_optional_figures(report, folder / "report.json"),
        "scenarios": _scenario_values(report),
        "assets": list(figures),
        "versions": json.dumps(report.get("versions") or {}, sort_keys=True),
        "report_json": raw.decode("utf-8"),
        **_submission_fields(report, data if data is not None else report["data"]),
    }
    return ReportEntry(row=row, predictions=outcomes, figures=figures)


def _submission_fields(report: dict, data: str | os.PathLike) -> dict:
    """What a row shows about the model and the build (architecture, training data, preprocessing,
    precision, source split); the worker adds the request id and submitter."""
    model_block = (report.get("provenance") or {}).get("model") or {}
    return {"request_id": None, "submitter": None, "precision": model_block.get("dtype"),
            **model_facts(str(report["model"])), "source_split": source_split_of(data)}


# --------------------------------------------------------------------------- the results repo
_ROWS_PER_GROUP = 1000
_LICENSE = "cc-by-4.0"


def _card(results: Results) -> str:
    import datasets
    import yaml

    from ximagenet12.dataset_card.render import size_category

    sizes = {
        RESULTS_CONFIG: (RESULTS_SCHEMA, len(results.rows)),
        PREDICTIONS_CONFIG: (PREDICTIONS_SCHEMA, sum(t.num_rows for t in results.predictions.values())),
        FIGURES_CONFIG: (FIGURES_SCHEMA, sum(len(f) for f in results.figures.values())),
    }
    meta = {
        "license": _LICENSE,
        "pretty_name": "XImageNet-12 leaderboard results",
        "task_categories": ["image-classification"],
        "size_categories": [size_category(max(n for _, n in sizes.values()))],
        SCHEMA_NAME: SCHEMA_VERSION,
        "configs": [
            {"config_name": RESULTS_CONFIG, "default": True,
             "data_files": [{"split": "train", "path": f"data/{RESULTS_CONFIG}/*.parquet"}]},
            {"config_name": PREDICTIONS_CONFIG,
             "data_files": [{"split": "train", "path": f"data/{PREDICTIONS_CONFIG}/*.parquet"}]},
            {"config_name": FIGURES_CONFIG,
             "data_files": [{"split": "train", "path": f"data/{FIGURES_CONFIG}/*.parquet"}]},
        ],
        "dataset_info": [
            {"config_name": name, "features": _features(schema)._to_yaml_list(),
             "splits": [{"name": "train", "num_bytes": 0, "num_examples": n}]}
            for name, (schema, n) in sizes.items()
        ],
    }
    n_rows = len(results.rows)
    body = (
        "# XImageNet-12 leaderboard results\n\n"
        f"{n_rows} evaluation report(s), one row each in the `{RESULTS_CONFIG}` config, with provenance "
        "(model id and revision, data fingerprint, package versions, the whole report.json). "
        f"`{PREDICTIONS_CONFIG}` holds one row per evaluated sample (1/0 for a right/wrong classification, "
        f"the IoU for segmentation); `{FIGURES_CONFIG}` the reports' figures as images.\n\n"
        "Written by `ximagenet12 evaluate --push-results` and read by `ximagenet12 leaderboard --results`. "
        "Reports over different data fingerprints are never ranked in one table; a figure a report does not "
        "have is null (missing), never 0.\n"
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def _features(schema: pa.Schema):
    import datasets

    if schema is FIGURES_SCHEMA:
        return datasets.Features({"report_id": datasets.Value("string"), "name": datasets.Value("string"),
                                  "image": datasets.Image()})
    return datasets.Features.from_arrow_schema(schema)


def _write_parquet(table: pa.Table, folder: Any, rel: str, *, schema: pa.Schema | None = None) -> None:
    """Through ``datasets``, so the file carries the feature metadata the Hub viewer needs;
    under a temporary name, renamed when complete (``folder``: an ``OwnedFolder``)."""
    import datasets

    features = _features(schema) if schema is not None else None
    folder.write_with(rel, lambda tmp: datasets.Dataset(
        table, info=datasets.DatasetInfo(features=features) if features else None).to_parquet(
        str(tmp), batch_size=_ROWS_PER_GROUP))


def write_results(results: Results, folder: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``results`` as a results repo folder (see :mod:`ximagenet12.leaderboard.schema`).

    ``folder`` is an owned output folder (:class:`ximagenet12.io.owned.OwnedFolder`): a
    non-empty folder holding no results folder written by ximagenet12 is refused unless
    ``overwrite``, and a file ximagenet12 did not write is never replaced."""
    from ximagenet12.io.owned import OwnedFolder

    planned = [RESULTS_FILE, "README.md",
               *(f"data/{PREDICTIONS_CONFIG}/{rid}.parquet" for rid in results.predictions),
               *(f"data/{FIGURES_CONFIG}/{rid}.parquet" for rid in results.figures)]
    out = OwnedFolder.open(folder, command="leaderboard-results", overwrite=overwrite, planned=planned)
    table = pa.Table.from_pylist(results.rows, schema=RESULTS_SCHEMA)
    _write_parquet(table, out, RESULTS_FILE)
    for report_id, outcomes in results.predictions.items():
        rel = f"data/{PREDICTIONS_CONFIG}/{report_id}.parquet"
        if not (out.owns(rel) and (out.root / rel).is_file()):  # predictions of a report never change
            _write_parquet(outcomes, out, rel)
    for report_id, figures in results.figures.items():  # the Hub takes parquet only: PNG bytes in an Image column
        rows = [{"report_id": report_id, "name": name, "image": {"bytes": Path(src).read_bytes(), "path": None}}
                for name, src in figures.items()]
        _write_parquet(pa.Table.from_pylist(rows, schema=FIGURES_SCHEMA), out,
                       f"data/{FIGURES_CONFIG}/{report_id}.parquet", schema=FIGURES_SCHEMA)
    out.write_text("README.md", _card(results))
    return out.root


def _check_card(root: Path, where: str) -> None:
    from ximagenet12.hub.validate import read_card_metadata

    card = root / "README.md"
    if not card.is_file():
        raise ValueError(f"{where} is not a ximagenet12 results repo: no README.md card")
    try:
        meta = read_card_metadata(card)
    except ValueError as exc:
        raise ValueError(f"{where} is not a ximagenet12 results repo: {exc}") from None
    version = meta.get(SCHEMA_NAME)
    if version is None:
        raise ValueError(f"{where} is not a ximagenet12 results repo: its card has no `{SCHEMA_NAME}:` schema version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"{where} holds results schema v{version}; this version of ximagenet12 reads v{SCHEMA_VERSION}")


def read_results(source: str | os.PathLike, *, token: str | None = None, revision: str | None = None) -> Results:
    """A results repo: a local folder, or a Hub dataset id (downloaded to the Hub cache) at
    ``revision`` (default: the main branch)."""
    text = os.fspath(source)
    if os.path.isdir(text):
        root = Path(text)
    elif text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise FileNotFoundError(f"results {text!r}: no such folder, and not a Hub dataset id 'owner/name'")
    else:
        from huggingface_hub import snapshot_download

        try:
            root = Path(snapshot_download(text, repo_type="dataset", token=token, revision=revision))
        except Exception as exc:  # the Hub client raises many types; make it one clear line
            raise ValueError(f"cannot read results repo {text!r}: {type(exc).__name__}: {exc}") from None
    _check_card(root, repr(text))
    path = root / RESULTS_FILE
    if not path.is_file():
        raise ValueError(f"results {text!r} has no {RESULTS_FILE}")
    table = with_added_columns(pq.read_table(path))  # written before the submission columns: they read as null
    check_schema(table.schema, RESULTS_SCHEMA, where=f"{text}/{RESULTS_FILE}")
    out = Results(rows=table.cast(RESULTS_SCHEMA).to_pylist())
    for row in out.rows:
        rid = row["report_id"]
        pred = root / "data" / PREDICTIONS_CONFIG / f"{rid}.parquet"
        if pred.is_file():
            outcomes = pq.read_table(pred)
            check_schema(outcomes.schema, PREDICTIONS_SCHEMA, where=f"{text}/{pred.relative_to(root).as_posix()}")
            out.predictions[rid] = outcomes.cast(PREDICTIONS_SCHEMA)
        else:
            logger.warning("results %s: report %s has no per-sample outcomes; comparisons with it are unavailable", text, rid)
    extract = Path(tempfile.mkdtemp(prefix="ximagenet12-figures-"))  # figures as files for the site writer
    for row in out.rows:
        rid = row["report_id"]
        path = root / "data" / FIGURES_CONFIG / f"{rid}.parquet"
        out.figures[rid] = {}
        if not path.is_file():
            continue
        for fig in pq.read_table(path).to_pylist():
            target = extract / rid / fig["name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fig["image"]["bytes"])
            out.figures[rid][fig["name"]] = target
    return out


def merge_results(results: Results, more: list[ReportEntry] | Results) -> Results:
    """``results`` plus ``more`` (report entries or other results); a report id already there is replaced."""
    if not isinstance(more, Results):
        more = Results(
            rows=[e.row for e in more],
            predictions={e.row["report_id"]: e.predictions for e in more},
            figures={e.row["report_id"]: e.figures for e in more},
        )
    new_ids = {r["report_id"] for r in more.rows}
    return Results(
        rows=[r for r in results.rows if r["report_id"] not in new_ids] + list(more.rows),
        predictions={**{k: v for k, v in results.predictions.items() if k not in new_ids}, **more.predictions},
        figures={**{k: v for k, v in results.figures.items() if k not in new_ids}, **more.figures},
    )


#: Times :func:`push_results` re-reads and retries when another writer committed in between.
PUSH_ATTEMPTS = 5


def push_results(
    report: str | os.PathLike,
    repo_id: str,
    *,
    data: str | os.PathLike | None = None,
    token: str | None = None,
    private: bool = False,
    attempts: int = PUSH_ATTEMPTS,
):
    """Append the report folder ``report`` to the Hub results repo ``repo_id`` (created if missing).

    The repo's current content is read at its head commit (a foreign repo is refused before
    anything is sent), the row is added, and the changed files go up in one commit based on
    that head (:func:`ximagenet12.hub.publish.push` with ``parent_commit``). When another writer
    committed in between, the Hub refuses the commit and the append starts again from the new
    head, up to ``attempts`` times, so two concurrent ``evaluate --push-results`` keep both
    rows. Returns the ``PushSummary``.
    """
    from ximagenet12.hub.publish import _check_repo_id

    _check_repo_id(repo_id)
    entry = report_entry(report, data=data)
    return push_entry(entry, repo_id, token=token, private=private, attempts=attempts)


def push_entry(entry: ReportEntry, repo_id: str, *, token: str | None = None, private: bool = False,
               attempts: int = PUSH_ATTEMPTS):
    """Append ``entry`` to the Hub results repo ``repo_id`` as :func:`push_results` does. A row with
    a ``request_id`` is appended once: when the repo already holds a row of that request (a worker
    that died after appending, a second worker that took the request over), nothing is committed
    and None is returned."""
    from ximagenet12.hub.publish import ConcurrentCommitError, PushError, push

    key = entry.row.get("request_id")
    for attempt in range(1, attempts + 1):
        head, existing = _existing_results(repo_id, token=token, private=private)
        if key is not None and any(r.get("request_id") == key for r in existing.rows):
            logger.info("results repo %s already holds request %s; not appended again", repo_id, key)
            return None
        merged = merge_results(existing, [entry])
        with tempfile.TemporaryDirectory(prefix="ximagenet12-results-") as tmp:
            write_results(merged, tmp)
            try:
                return push(tmp, repo_id, private=private, token=token, parent_commit=head)
            except ConcurrentCommitError as exc:
                logger.warning("%s (attempt %d of %d); reading it again", exc, attempt, attempts)
                time.sleep(random.SystemRandom().uniform(0.05, 0.5) * attempt)  # jitter, so racing writers part
    raise PushError(f"results repo {repo_id} kept moving: {attempts} attempts to append {entry.row['report_id']} "
                    "were each overtaken by another commit; run the push again")


def _existing_rows(repo_id: str, *, token: str | None = None) -> list[dict]:
    """The rows of the results repo ``repo_id`` (a Hub id or a folder); none when the Hub repo does not exist yet."""
    if os.path.isdir(repo_id):
        return read_results(repo_id).rows
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = HfApi(token=token).repo_info(repo_id, repo_type="dataset", files_metadata=False)
    except RepositoryNotFoundError:
        return []
    except Exception as exc:  # offline, refused: one line
        raise ValueError(f"cannot read results repo {repo_id!r}: {type(exc).__name__}: {exc}") from None
    if not [s for s in info.siblings or [] if s.rfilename != ".gitattributes"]:
        return []
    return read_results(repo_id, token=token, revision=info.sha).rows


def _existing_results(repo_id: str, *, token: str | None, private: bool = False) -> tuple[str, Results]:
    """The head commit of ``repo_id`` (created, empty, if missing) and the results it holds."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=token)
    try:
        try:
            info = api.repo_info(repo_id, repo_type="dataset", files_metadata=False)
        except RepositoryNotFoundError:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            info = api.repo_info(repo_id, repo_type="dataset", files_metadata=False)
    except Exception as exc:  # offline, refused: one line, nothing sent
        raise ValueError(f"cannot read results repo {repo_id!r}: {type(exc).__name__}: {exc}") from None
    files = [s.rfilename for s in (info.siblings or []) if s.rfilename != ".gitattributes"]
    if not files:
        return info.sha, Results()
    return info.sha, read_results(repo_id, token=token, revision=info.sha)


# --------------------------------------------------------------------------- companion reports
#: Report kinds that add figures to an evaluation's row: task -> (row field, figure files).
COMPANION_TASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "worst_background_challenge": ("worst_case_background", ("curve.png",)),
    "explanation": ("object_focus", ("overlays.png", "focus.png")),
}


def report_task(folder: str | os.PathLike) -> str | None:
    """The ``task`` of a report folder's report.json (None when there is none to read)."""
    try:
        return json.loads((Path(folder) / "report.json").read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None


def _companion_value(task: str, report: dict, path: Path) -> float | None:
    if task == "worst_background_challenge":
        value = report.get("worst_case_accuracy")
    else:  # explanation: the share of attribution inside the object mask, on the original images
        value = ((report.get("scenarios") or {}).get("original") or {}).get("object_focus")
        if value is None:
            logger.warning("%s: no object focus on 'original'; the column stays missing", path)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ValueError(f"{str(path)!r}: expected a number, got {value!r}")
    return None if value is None else float(value)


def attach_companion(entries: list[ReportEntry], folder: str | os.PathLike, *,
                     data: str | os.PathLike | None = None) -> ReportEntry:
    """Add a challenge or explain report's figure (and plots) to the entry of its model and data."""
    folder = Path(folder)
    path = folder / "report.json"
    if not path.is_file():
        raise ValueError(f"{str(folder)!r} is not a report folder: no report.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    task = report.get("task")
    if task not in COMPANION_TASKS or "model" not in report or "data" not in report:
        raise ValueError(f"{str(path)!r} is not a challenge or explain report (task {task!r})")
    fingerprint, _ = data_fingerprint(data if data is not None else report["data"], limit=report.get("limit"))
    matches = [e for e in entries if e.row["model"] == str(report["model"]) and e.row["data_fingerprint"] == fingerprint]
    if not matches:
        raise ValueError(f"{str(folder)!r} ({task}) has no evaluation report of model {report['model']!r} on the same "
                         "data among the inputs: give its `ximagenet12 evaluate` folder too")
    entry = max(matches, key=lambda e: e.row["evaluated_at"])
    field_name, files = COMPANION_TASKS[task]
    entry.row[field_name] = _companion_value(task, report, path)
    prefix = "challenge" if task == "worst_background_challenge" else "explain"
    for name in files:
        if (folder / name).is_file():
            entry.figures[f"{prefix}/{name}"] = folder / name
    entry.row["assets"] = list(entry.figures)
    return entry

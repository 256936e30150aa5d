"""``ximagenet12 push``, ``push-model`` and ``push-metric``: publish to the Hugging Face Hub.

Trained models get a subcommand of their own, ``push-model``, beside ``push`` (datasets)
and ``push-metric`` (the metric Space), rather than a ``push`` that guesses the folder's
kind: a model repo needs options a dataset has no use for (the Hub dataset the results
point at, a licence, the base model, a two-term score file), and ``push`` keeps its
dataset checks and messages unchanged. ``push`` on a model folder says to use it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["register"]

_TOKEN_HELP = (
    "Hub token; by default HF_TOKEN or the login stored by `hf auth login` is used "
    "(prefer those: a token on the command line shows in the process list)"
)


def register(subparsers) -> None:
    from ximagenet12.hub.publish import COMMIT_BATCH_SIZE, METRIC_NAME

    push = subparsers.add_parser(
        "push",
        help="validate a built dataset folder and upload it to a Hub dataset repo (resumable)",
        description=(
            "Validate FOLDER as the Hub would (card metadata, configs, data files, licence, sizes) and "
            "publish only what a dataset repo is made of: data/<config>/*.parquet, README.md, "
            "build_info.json, skipped.jsonl, .gitattributes. Links, hidden files and every other file are "
            "listed as errors and nothing is sent. Online, the Hub's own card check runs first; the data "
            "then goes up through upload_folder where it splits and resumes (huggingface_hub >= 1.20 with "
            "hf_xet), otherwise in commits of at most --commit-batch-size files, skipping files already on "
            "the Hub with the same content. Rerun the same command to resume an interrupted push. The card "
            "README.md is committed last. The folder is locked while the push runs; tokens never appear in "
            "messages or logs."
        ),
    )
    push.add_argument("folder", help="a folder written by `ximagenet12 build`")
    push.add_argument("--repo", required=True, metavar="OWNER/NAME", help="dataset repo id")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--revision", default="main", help="branch to push to (created if missing)")
    push.add_argument("--token", default=None, help=_TOKEN_HELP)
    push.add_argument("--commit-batch-size", type=int, default=COMMIT_BATCH_SIZE, metavar="N",
                      help=f"files per commit on the batched path (default {COMMIT_BATCH_SIZE}, the Hub's recommendation)")
    push.add_argument("--check-only", action="store_true",
                      help="only validate the folder and list its problems; send nothing")
    push.set_defaults(func=_run_push)

    _register_push_model(subparsers)

    metric = subparsers.add_parser(
        "push-metric",
        help="publish the robustness_score evaluate module as a Gradio Space",
        description=(
            "Upload the metric module (script, card, app.py, requirements.txt) to a Space, so that "
            f"`evaluate.load('OWNER/{METRIC_NAME}')` works. The Space name must be {METRIC_NAME!r}."
        ),
    )
    metric.add_argument("--repo", required=True, metavar=f"OWNER/{METRIC_NAME}", help="Space repo id")
    metric.add_argument("--source", default=None, help="metric folder (default: the installed module)")
    metric.add_argument("--private", action="store_true", help="create the Space private")
    metric.add_argument("--token", default=None, help=_TOKEN_HELP)
    metric.set_defaults(func=_run_push_metric)


PUSH_MODEL_EXAMPLES = """example:
  # the EX1 model of a run over a dataset published with `ximagenet12 push`
  ximagenet12 push-model runs/lite0-ex1 --repo owner/lite0-ximagenet12 --dataset owner/ximagenet12
  # an EX2 fold model (--save-models): check the folder and print the card, send nothing
  ximagenet12 push-model runs/vit-ex2/models/original/fold-00 --repo owner/vit-fold0 \\
      --dataset owner/ximagenet12 --license apache-2.0 --check-only
  # both terms of S_robust from `ximagenet12 score --out`, a private repo, a branch
  ximagenet12 push-model runs/lite0-ex1 --repo owner/lite0-ximagenet12 --dataset owner/ximagenet12 \\
      --score runs/lite0-score.json --private --revision v1"""


def _register_push_model(subparsers) -> None:
    import argparse

    pm = subparsers.add_parser(
        "push-model",
        help="publish a model trained by `ximagenet12 train` to a Hub model repo, with a generated model card",
        description=(
            "Publish a trained model folder (a run folder, <run>/model, or <run>/models/<config>/fold-KK): "
            "config.json, preprocessor_config.json, safetensors weights and the code files auto_map names "
            "(so trust_remote_code=True works from the Hub), plus a model card made with huggingface_hub's "
            "ModelCard/ModelCardData whose model-index holds the run's accuracy per scenario (dataset id + "
            "config) and S_robust. Refused before any request, with every problem listed: other files (pickled "
            "weights, optimizer states, links, hidden files), text files over 1 MiB, weights safetensors cannot "
            "read whole, code that imports ximagenet12, tokens anywhere. Everything goes up in one commit, so a "
            "failed push publishes nothing; rerun it to retry."
        ),
        epilog=PUSH_MODEL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pm.add_argument("folder", help="a training run folder, <run>/model, or <run>/models/<config>/fold-KK")
    pm.add_argument("--repo", required=True, metavar="OWNER/NAME", help="model repo id")
    pm.add_argument("--dataset", default=None, metavar="OWNER/NAME",
                    help="Hub dataset the run's data was published to (default: the run's data, if it was a Hub id)")
    pm.add_argument("--license", default=None,
                    help="licence id of the weights (default: apache-2.0 for the built-in EfficientNet-Lite models)")
    pm.add_argument("--base-model", default=None, metavar="OWNER/NAME",
                    help="Hub id of the base model (default: the run's model when it was a Hub id)")
    pm.add_argument("--score", default=None, metavar="SCORE.json",
                    help="`ximagenet12 score --out` file of this run: S_robust with both terms in the card")
    pm.add_argument("--private", action="store_true", help="create the repo private")
    pm.add_argument("--revision", default="main", help="branch to push to (created if missing)")
    pm.add_argument("--token", default=None, help=_TOKEN_HELP)
    pm.add_argument("--check-only", action="store_true", help="check the folder and print the card; send nothing")
    pm.set_defaults(func=_run_push_model)


def _run_push_model(args: argparse.Namespace) -> int:
    from ximagenet12.hub.publish import PushError
    from ximagenet12.hub.model import prepare_model_push, push_model

    options = dict(dataset=args.dataset, license=args.license, base_model=args.base_model, score=args.score)
    try:
        if args.check_only:
            run, paths, card = prepare_model_push(args.folder, args.repo, **options)
            print(card)
            print(f"{run.model_dir}: 0 problems; would publish {', '.join(paths)} and README.md to {args.repo}")
            return 0
        _progress_logging()
        summary = push_model(args.folder, args.repo, private=args.private, revision=args.revision, token=args.token,
                             **options)
    except (PushError, ValueError, TypeError, FileNotFoundError) as exc:
        return _fail("push-model", exc, args.token)
    print(f"{summary.url}: {len(summary.uploaded)} file(s) in one commit (revision {summary.revision})")
    return 0


def _progress_logging() -> None:
    logger = logging.getLogger("ximagenet12")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _fail(command: str, exc: BaseException, token: str | None) -> int:
    """One error line, with every token masked (the CLI's own catch-all would print it raw)."""
    from ximagenet12.hub.publish import _known_tokens, mask_tokens

    print(f"ximagenet12 {command}: error: {mask_tokens(str(exc), _known_tokens(token))}", file=sys.stderr)
    return 1


def _run_push(args: argparse.Namespace) -> int:
    from ximagenet12.hub.publish import FolderInUseError, PushError, push
    from ximagenet12.hub.validate import format_problems, validate_folder

    if (Path(args.folder) / "config.json").is_file() or (Path(args.folder) / "run.json").is_file():
        print(f"ximagenet12 push: error: {args.folder} is a model or training run folder, not a dataset: "
              f"use `ximagenet12 push-model {args.folder} --repo OWNER/NAME`", file=sys.stderr)
        return 1
    if args.check_only:
        problems = validate_folder(args.folder)
        errors = [p for p in problems if p.severity == "error"]
        if problems:
            print(format_problems(problems))
        print(f"{args.folder}: {len(errors)} error(s), {len(problems) - len(errors)} warning(s)")
        return 1 if errors else 0
    _progress_logging()
    try:
        summary = push(
            args.folder,
            args.repo,
            private=args.private,
            revision=args.revision,
            token=args.token,
            commit_batch_size=args.commit_batch_size,
        )
    except (PushError, FolderInUseError, ValueError, TypeError, FileNotFoundError) as exc:
        return _fail("push", exc, args.token)
    if summary.path == "pipelined":
        print(
            f"{summary.url}: {len(summary.uploaded)} file(s) committed or already there through upload_folder, "
            f"then the card ({len(summary.commits)} call(s), revision {summary.revision})"
        )
        return 0
    print(
        f"{summary.url}: {len(summary.uploaded)} file(s) uploaded in {len(summary.commits)} commit(s), "
        f"{len(summary.skipped)} already there (revision {summary.revision})"
    )
    return 0


def _run_push_metric(args: argparse.Namespace) -> int:
    from ximagenet12.hub.publish import PushError, push_metric

    _progress_logging()
    try:
        summary = push_metric(args.repo, source=args.source, private=args.private, token=args.token)
    except (PushError, ValueError, TypeError, FileNotFoundError) as exc:
        return _fail("push-metric", exc, args.token)
    print(f"{summary.url}: {len(summary.uploaded)} file(s) uploaded, {len(summary.skipped)} already there")
    return 0

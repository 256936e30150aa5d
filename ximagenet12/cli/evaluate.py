"""CLI: ``ximagenet12 evaluate``, ``evaluate-segmentation`` and ``analyze``."""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import sys
from typing import Callable

from ximagenet12.core.constants import DTYPES

__all__ = ["register", "EVAL_EXTRA_MODULES"]

#: What each command imports from the ``[eval]`` extra (checked before any work).
EVAL_EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "evaluate": ("torch", "transformers", "pandas", "matplotlib"),
    "evaluate-segmentation": ("torch", "transformers", "pandas", "matplotlib"),
    "analyze": ("pandas", "statsmodels"),
}


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (no side effects)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


def _needs_eval_extra(command: str) -> Callable:
    """Run a command only when the ``[eval]`` extra is installed; else one line saying so."""

    def wrap(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(run)
        def checked(args: argparse.Namespace) -> int:
            missing = [m for m in EVAL_EXTRA_MODULES[command] if not _installed(m)]
            if missing:
                print(
                    f"ximagenet12 {command}: error: needs the [eval] extra ({', '.join(missing)} not installed): "
                    'pip install "ximagenet12[eval]"',
                    file=sys.stderr,
                )
                return 1
            return run(args)

        return checked

    return wrap


def _common(p: argparse.ArgumentParser, *, batch_default: int, model_help: str) -> None:
    from ximagenet12.metrics.robustness_score.functional import CONFIGS

    p.add_argument("--model", required=True, help=model_help)
    from ximagenet12.io.storage import DATA_STORAGE_OPTIONS_HELP

    p.add_argument("--data", required=True,
                   help="built dataset folder, Hub dataset repo id, or a finished build in an object store "
                   "(s3://BUCKET/PREFIX)")
    p.add_argument("--storage-options", default=None, metavar="JSON", help=DATA_STORAGE_OPTIONS_HELP)
    p.add_argument("--scenarios", default="all", help="'all' (every config of the data) or comma-separated config names")
    p.add_argument("--out", required=True, help="report folder to write (new, empty, or an earlier report of the command)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that holds no report of this command; files ximagenet12 did "
                   "not write are never replaced")
    p.add_argument("--batch-size", type=int, default=batch_default, help=f"images per forward pass (default {batch_default})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--num-workers", type=int, default=None, help="background decode/preprocess threads (default: up to 4)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples of each config")
    p.add_argument("--robustness-config", default="table3", choices=tuple(CONFIGS),
                   help="configuration of the robustness_score metric (default table3)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (also silences those of transformers, datasets and the Hub client)")
    p.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="dtype the model is loaded in (default auto: the checkpoint's)")
    p.add_argument("--revision", default=None, help="Hub model revision: branch, tag or commit (recorded resolved)")
    p.add_argument("--push-results", default=None, metavar="OWNER/NAME",
                   help="append the report to this Hub results repo (a dataset; created if missing)")
    from ximagenet12.engines.ray import add_engine_arguments

    add_engine_arguments(p, generation=False, replicas=True)


def _common_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments both evaluators take from the options of :func:`_common`."""
    return {
        "scenarios": args.scenarios,
        "batch_size": args.batch_size,
        "device": args.device,
        "num_workers": args.num_workers,
        "limit": args.limit,
        "progress": not args.no_progress,
        "robustness_config": args.robustness_config,
        "dtype": args.dtype,
        "revision": args.revision,
    }


def _run(evaluate, args: argparse.Namespace, **kwargs):
    """``evaluate(args.model, args.data, ...)`` here, or sharded over model replicas with ``--engine ray``."""
    from ximagenet12.hub.validate import check_repo_id
    from ximagenet12.io.storage import cli_data

    if getattr(args, "push_results", None) is not None:  # refused before the run, not after it
        check_repo_id(args.push_results, option="--push-results")
    data = cli_data(args.data, args.storage_options)
    if args.engine == "ray":
        from ximagenet12.engines.ray import evaluate_on_ray

        return evaluate_on_ray(evaluate, args.model, data, replicas=args.replicas,
                               gpus_per_replica=args.gpus_per_replica, address=args.ray_address,
                               num_cpus=args.ray_num_cpus, **kwargs)
    return evaluate(args.model, data, **kwargs)


def _check_out(args: argparse.Namespace) -> None:
    """The report folder is checked before the model runs (issue 25: a user's files are never
    replaced), and created only when the report is written."""
    from ximagenet12.io.owned import OwnedFolder
    from ximagenet12.evaluation.report import REPORT_FILES

    OwnedFolder.check(args.out, command="evaluate", overwrite=args.overwrite, planned=REPORT_FILES)


def _finish(result, out: str, *, overwrite: bool = False, push_results: str | None = None) -> int:
    from ximagenet12.evaluation.classification import summarise
    from ximagenet12.evaluation.report import write_report

    folder = write_report(result, out, overwrite=overwrite)
    print(summarise(result.report))
    report = result.report
    if result.failures:
        print(f"{len(result.failures)} image(s) failed to decode; listed in {folder / 'report.json'}")
    for warning in report.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"report written to {folder}")
    if report.get("interrupted"):
        return 130  # a partial report is not pushed
    if push_results:
        from ximagenet12.hub.publish import PushError
        from ximagenet12.leaderboard.results import push_results as push

        try:
            summary = push(folder, push_results)
        except PushError as exc:
            print(f"ximagenet12 evaluate: error: {exc} (the report itself is written)", file=sys.stderr)
            return 1
        print(f"results appended to {summary.url} ({len(summary.uploaded)} file(s) uploaded)")
    return 0


def _split(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] or None if text else None


@_needs_eval_extra("evaluate")
def _run_evaluate(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.classification import evaluate_classification

    _check_out(args)
    result = _run(evaluate_classification, args, mode=args.mode, task=args.task,
                  prompt_template=args.prompt_template, include_training_rows=args.include_training_rows,
                  **_common_kwargs(args))
    return _finish(result, args.out, overwrite=args.overwrite, push_results=args.push_results)


@_needs_eval_extra("evaluate-segmentation")
def _run_segmentation(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.segmentation import evaluate_segmentation

    _check_out(args)
    result = _run(
        evaluate_segmentation,
        args,
        object_labels=_split(args.object_labels),
        background_labels=_split(args.background_labels),
        **_common_kwargs(args),
    )
    return _finish(result, args.out, overwrite=args.overwrite, push_results=args.push_results)


@_needs_eval_extra("analyze")
def _run_analyze(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.analysis import (
        analyze_reports,
        class_names_of,
        describe_baselines,
        display_levels,
        format_number,
    )
    from ximagenet12.evaluation.report import read_report

    result = analyze_reports(args.reports, args.out, mode=args.mode, overwrite=args.overwrite)
    names = class_names_of([read_report(f) for f in args.reports])
    mode = f", {result.mode} scoring" if result.mode else ""
    print(f"OLS: {result.formula} ({len(result.data)} observations of {result.metric}{mode})")
    print(f"baselines (each estimate is a difference from): {describe_baselines(result, names)}")
    for table in (display_levels(result.coefficients, names), result.anova):
        shown = table.copy().astype(object)
        for column in shown.columns:
            shown[column] = [format_number(v, column) for v in table[column]]
        print(shown.to_string(index=False))
        print()
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"tables written to {args.out}")
    return 0


def register(subparsers) -> None:
    from ximagenet12.evaluation.labels import BACKGROUND_LABELS, label_spaces

    ev = subparsers.add_parser(
        "evaluate",
        help="EX1: score an image classifier on every scenario (accuracy, density map, robustness)",
    )
    _common(ev, batch_default=32,
            model_help="Hub model id, local model directory, or 'efficientnet-lite0' (built in, offline); "
            "with --task zero-shot a CLIP-like model (e.g. openai/clip-vit-base-patch32)")
    from ximagenet12.evaluation.zero_shot import DEFAULT_PROMPT_TEMPLATE, EVALUATION_TASKS

    ev.add_argument(
        "--task",
        choices=EVALUATION_TASKS,
        default="image-classification",
        help="image-classification (default): the model's classifier head, labels mapped to the dataset's classes; "
        "zero-shot: a CLIP-like zero-shot-image-classification model given one prompt per dataset class "
        "(strict = restricted = argmax over those prompts; no 1000-class mode)",
    )
    ev.add_argument(
        "--prompt-template",
        default=None,
        help=f"with --task zero-shot: the prompt each class name goes into, one '{{}}' (default {DEFAULT_PROMPT_TEMPLATE!r})",
    )
    ev.add_argument(
        "--mode",
        choices=("restricted", "strict"),
        default=None,
        help="headline scoring mode (both are reported): restricted = argmax over the dataset's classes; "
        "strict = top-1 over all model classes. Default: restricted when the data has at least 10 classes, "
        "else strict (restricted over a few classes is too easy to headline)",
    )
    ev.add_argument(
        "--include-training-rows", action="store_true",
        help="score the rows a model folder written by `ximagenet12 train` was trained on (its training_rows.json); "
        "by default they are left out and counted. Recorded in the report; the leaderboard refuses such reports",
    )
    ev.set_defaults(func=_run_evaluate)

    seg = subparsers.add_parser(
        "evaluate-segmentation",
        help="EX3: score a segmentation model's object masks (IoU, pixel accuracy) on every scenario",
    )
    _common(seg, batch_default=8, model_help="Hub model id or local directory of an image-segmentation model")
    seg.add_argument(
        "--object-labels",
        default=None,
        help="comma-separated model labels that are the object (default: the thing labels of a known label "
        f"space ({', '.join(label_spaces())}), else every label but the model's background label "
        f"({'/'.join(BACKGROUND_LABELS)}); a model with neither must name its object or background labels)",
    )
    seg.add_argument(
        "--background-labels",
        default=None,
        help="comma-separated model labels that are background; every other label is the object",
    )
    seg.set_defaults(func=_run_segmentation)

    an = subparsers.add_parser(
        "analyze",
        help="OLS of accuracy (or an explain report's object focus) on model + scenario (baseline original) + class, "
        "with ANOVA, over report folders",
    )
    an.add_argument("reports", nargs="+", help="report folders written by evaluate or explain (all over the same dataset)")
    an.add_argument("--out", required=True, help="folder for coefficients/anova CSV and Markdown")
    an.add_argument("--overwrite", action="store_true",
                    help="write into a non-empty folder that holds no analysis; files ximagenet12 did not write are "
                    "never replaced")
    an.add_argument("--mode", default=None, choices=("strict", "restricted"),
                    help="scoring mode to analyse in every classification report (each records both); without it "
                    "the reports' headline modes must agree, since a strict and a restricted report of one model "
                    "would show the scoring rule as a model effect")
    an.set_defaults(func=_run_analyze)

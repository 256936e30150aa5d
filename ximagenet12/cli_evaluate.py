"""CLI: ``ximagenet12 evaluate``, ``evaluate-segmentation`` and ``analyze``."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _common(p: argparse.ArgumentParser, *, batch_default: int) -> None:
    p.add_argument("--model", required=True, help="Hub model id, local model directory, or 'efficientnet-lite0' (built in, offline)")
    p.add_argument("--data", required=True, help="built dataset folder or Hub dataset repo id")
    p.add_argument("--scenarios", default="all", help="'all' (every config of the data) or comma-separated config names")
    p.add_argument("--out", required=True, help="report folder to write")
    p.add_argument("--batch-size", type=int, default=batch_default, help=f"images per forward pass (default {batch_default})")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--num-workers", type=int, default=None, help="background decode/preprocess threads (default: up to 4)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples of each config")
    p.add_argument("--robustness-config", default="table3", help="configuration of the robustness_score metric")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"),
                   help="dtype the model is loaded in (default auto: the checkpoint's)")
    p.add_argument("--revision", default=None, help="Hub model revision: branch, tag or commit (recorded resolved)")
    from ximagenet12.ray_engine import add_engine_arguments

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
    if args.engine == "ray":
        from ximagenet12.ray_engine import evaluate_on_ray

        return evaluate_on_ray(evaluate, args.model, args.data, replicas=args.replicas,
                               gpus_per_replica=args.gpus_per_replica, address=args.ray_address,
                               num_cpus=args.ray_num_cpus, **kwargs)
    return evaluate(args.model, args.data, **kwargs)


def _finish(result, out: str) -> int:
    from ximagenet12.evaluation.classification import summarise
    from ximagenet12.evaluation.report import write_report

    folder = write_report(result, out)
    print(summarise(result.report))
    if result.failures:
        print(f"{len(result.failures)} image(s) failed to decode; listed in {folder / 'report.json'}")
    print(f"report written to {folder}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.classification import evaluate_classification

    result = _run(evaluate_classification, args, mode=args.mode, **_common_kwargs(args))
    return _finish(result, args.out)


def _run_segmentation(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.labels import BACKGROUND_LABELS
    from ximagenet12.evaluation.segmentation import evaluate_segmentation

    split = lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None  # noqa: E731
    result = _run(
        evaluate_segmentation,
        args,
        object_labels=split(args.object_labels),
        background_labels=split(args.background_labels) or BACKGROUND_LABELS,
        **_common_kwargs(args),
    )
    return _finish(result, args.out)


def _run_analyze(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.analysis import analyze_reports

    result = analyze_reports(args.reports, args.out)
    print(f"OLS: {result.formula} ({len(result.data)} observations of {result.metric})")
    print(result.coefficients.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print(result.anova.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"tables written to {args.out}")
    return 0


def register(subparsers) -> None:
    from ximagenet12.evaluation.labels import BACKGROUND_LABELS

    ev = subparsers.add_parser(
        "evaluate",
        help="EX1: score an image classifier on every scenario (accuracy, density map, robustness)",
    )
    _common(ev, batch_default=32)
    ev.add_argument(
        "--mode",
        choices=("restricted", "strict"),
        default="restricted",
        help="primary scoring mode (both are reported): restricted = argmax over the dataset's classes; "
        "strict = top-1 over all model classes",
    )
    ev.set_defaults(func=_run_evaluate)

    seg = subparsers.add_parser(
        "evaluate-segmentation",
        help="EX3: score a segmentation model's object masks (IoU, pixel accuracy) on every scenario",
    )
    _common(seg, batch_default=8)
    seg.add_argument("--object-labels", default=None, help="comma-separated model labels that are the object (default: all but background)")
    seg.add_argument(
        "--background-labels",
        default=",".join(BACKGROUND_LABELS),
        help="comma-separated labels that are not the object when --object-labels is not given",
    )
    seg.set_defaults(func=_run_segmentation)

    an = subparsers.add_parser(
        "analyze",
        help="OLS of accuracy (or an explain report's object focus) on model + scenario (baseline original) + class, "
        "with ANOVA, over report folders",
    )
    an.add_argument("reports", nargs="+", help="report folders written by evaluate or explain")
    an.add_argument("--out", required=True, help="folder for coefficients/anova CSV and Markdown")
    an.set_defaults(func=_run_analyze)

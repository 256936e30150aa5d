"""``ximagenet12 build``: a source -> a Hub-ready dataset folder (parquet configs + card)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

__all__ = ["register", "DEFAULT_OUT"]

#: Default output folder (not ``./ximagenet12``, which is the package folder in a checkout).
DEFAULT_OUT = "ximagenet12-out"


def register(subparsers) -> None:
    from ximagenet12.builder.build import BLOCK_SAMPLES
    from ximagenet12.cli import HelpFormatter

    p = subparsers.add_parser(
        "build",
        help="build the scenario configs of a source as a Hub-ready dataset folder",
        description=(
            "Apply scenarios to every sample of a source and write OUT/data/<config>/*.parquet "
            "(one config per scenario variant), OUT/README.md (the dataset card), "
            "OUT/skipped.jsonl and OUT/build_info.json. Without --source the embedded sample "
            "(20 photos of 10 ImageNet classes, with masks) is built. Load the result with "
            "datasets.load_dataset(OUT, CONFIG). OUT may also be a folder in an object store "
            "(s3://BUCKET/PREFIX with the [s3] extra, gs://BUCKET/PREFIX with [gcs]): credentials come from "
            "the environment (AWS_*, AWS_ENDPOINT_URL for S3-compatible stores, GOOGLE_APPLICATION_CREDENTIALS) "
            "or --storage-options, and are never written or printed."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--source", default=None, metavar="PATH",
                   help="release folder (image/<wnid>/, masks/<wnid>/), images/ + masks/ folders, COCO JSON, "
                   "LabelMe folder or a saved datasets folder; default: the embedded sample")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR|URL",
                   help="output folder, file:///path, or an object-store folder: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX")
    p.add_argument("--storage-options", default=None, metavar="JSON",
                   help='fsspec storage options for an object-store --out, as a JSON object, e.g. '
                   '\'{"endpoint_url": "http://127.0.0.1:9000"}\' (besides what s3fs/gcsfs read from the environment)')
    p.add_argument("--scenarios", default="all", metavar="NAMES",
                   help="comma-separated scenario names, NAME@LEVEL or NAME_levelK for a severity level, "
                   "'all' (every non-generative scenario at the paper's level) or 'all-levels'; "
                   "ai_background only when named; corruptions, corruptions-background, corruptions-object (every "
                   "level) or GROUP@K (see `ximagenet12 scenarios`)")
    p.add_argument("--seed", type=int, default=0, help="build seed (every row's seed derives from it)")
    p.add_argument("--num-proc", type=int, default=1, metavar="N", help="worker processes")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted build in --out (same options); on a finished one, do nothing")
    p.add_argument("--strict", action="store_true", help="stop at the first bad sample instead of skipping it")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous build with other settings, restart an interrupted one, or write "
                   "into a folder that holds other files (only files a ximagenet12 build wrote, as listed in "
                   "its build_info.json, are ever deleted)")
    p.add_argument("--backgrounds", default=None, metavar="DIR",
                   help="folder of photos for random_background (default: scikit-image's CC0 photos)")
    p.add_argument("--license", default=None, metavar="ID",
                   help="Hub licence id for the card, e.g. cc-by-4.0 (default: 'other' with per-image terms for the embedded "
                   "sample, 'unknown' otherwise)")
    from ximagenet12.core.constants import SOURCE_SPLITS

    p.add_argument("--source-split", default=None, choices=SOURCE_SPLITS,
                   help="where the source images come from, recorded in build_info.json and shown on leaderboard rows "
                        "(a model trained on ImageNet train may have seen imagenet-train photographs)")
    p.add_argument("--max-samples", type=int, default=None, metavar="N",
                   help="build only N samples, taken round-robin over classes (a quick look)")
    p.add_argument("--block-samples", type=int, default=None, metavar="N",
                   help=f"samples per resumable block (default: about 32 blocks of 8 to {BLOCK_SAMPLES} samples, "
                   "whatever --num-proc, so the files are the same bytes)")
    p.add_argument("--repo-id", default=None, metavar="OWNER/NAME", help="Hub repo named in the card's examples")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--corruption-fill", choices=("none", "inpaint"), default="none",
                   help="corrupt_*_background configs: 'inpaint' fills the object's hole from its surroundings "
                   "before corrupting, so blurs carry no trace of the object's colours")
    _add_auto_mask_arguments(p)
    from ximagenet12.engines.ray import add_engine_arguments

    add_engine_arguments(p)
    try:
        from ximagenet12.scenarios.generation import add_generation_arguments
    except ImportError:  # pragma: no cover - the generation package is optional at import time
        add_generation_arguments = None
    if add_generation_arguments is not None:
        add_generation_arguments(p)
    p.set_defaults(func=_run_build)


def _add_auto_mask_arguments(p: argparse.ArgumentParser) -> None:
    """--auto-mask and its options: masks made for photos that have none (sources.automask)."""
    p.add_argument("--auto-mask", default=None, metavar="grabcut|rembg|MODEL",
                   help="the source's photos have no masks: make them with GrabCut (OpenCV, no weights; the offline "
                   "choice), rembg (with --auto-mask-model FILE.onnx, staged locally) or a transformers "
                   "image-segmentation / SAM model (a Hub id or a local folder). The box: the COCO/LabelMe "
                   "annotation's when the source has one, else a centred one. Masks covering under 1%% or over 95%% "
                   "of the frame are recorded skips; every row's provenance records mask_source")
    p.add_argument("--auto-mask-model", default=None, metavar="PATH",
                   help="the model file rembg uses (a U2-Net-style .onnx you staged; nothing is downloaded)")
    p.add_argument("--auto-mask-margin", type=float, default=None, metavar="F",
                   help="the centred box leaves this fraction of each side free (default 0.1)")
    p.add_argument("--auto-mask-trust-remote-code", action="store_true",
                   help="let a transformers mask model run its own code from its folder (e.g. BiRefNet)")


def _run_build(args: argparse.Namespace) -> int:
    from ximagenet12.scenarios.registry import resolve, with_params

    variants = with_params(resolve(args.scenarios), {"fill": args.corruption_fill}, family="corruption")
    maker = _mask_maker(args)
    generation = None
    if any(v.scenario.family == "generative" for v in variants):
        from ximagenet12.scenarios.generation import options_from_args

        generation = options_from_args(args)
        if not args.no_leak_check and not 0.0 < args.leak_threshold <= 1.0:
            raise ValueError(f"--leak-threshold must be in (0, 1], got {args.leak_threshold}")
    from ximagenet12.engines.ray import executor_from_args

    executor = executor_from_args(args)
    previous = _stop_cleanly_on_sigterm()
    try:
        summary = _build(args, variants, generation, executor, maker)
    except (OSError, RuntimeError) as exc:  # full disk, no permission, folder in use, a worker died: one line
        print(f"ximagenet12 build: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: say how to go on (issue 26)
        print(_interrupted_line(args.out), file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if executor is not None:
            executor.close()
    print(summary)
    if generation is not None and not args.no_leak_check:
        _leak_check(args)
    sys.stdout.flush()
    return 0


def _mask_maker(args: argparse.Namespace) -> object:
    """The mask maker --auto-mask names (None without it); its options make no sense alone."""
    if args.auto_mask is None:
        given = [flag for flag, value in (("--auto-mask-model", args.auto_mask_model),
                                          ("--auto-mask-margin", args.auto_mask_margin),
                                          ("--auto-mask-trust-remote-code", args.auto_mask_trust_remote_code or None))
                 if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} only used with --auto-mask")
        return None
    from ximagenet12.sources.automask import mask_maker

    return mask_maker(args.auto_mask, model=args.auto_mask_model, margin=args.auto_mask_margin,
                      trust_remote_code=args.auto_mask_trust_remote_code)


def _leak_check(args: argparse.Namespace) -> None:
    """Flag ai_background rows whose background alone gives the class away (see generation.leak)."""
    from ximagenet12.evaluation.leak import check_background_leak

    if "://" in str(args.out):
        print("note: the background leak check runs on local folders only; run the build to a folder to check",
              file=sys.stderr)
        return
    leak = check_background_leak(args.out, classifier=args.leak_check, threshold=args.leak_threshold,
                                 device=args.device)
    for line in leak.lines():
        print(f"background leak check: {line}")


def _interrupted_line(out: str) -> str:
    """What an interrupted build prints: whether there is anything to resume, and how."""
    from ximagenet12.builder.layout import is_previous_build
    from ximagenet12.io.storage import destination

    try:
        resumable = is_previous_build(destination(out))
    except Exception:  # noqa: BLE001 - an unreachable store: the interrupt still gets its one line
        resumable = False
    if resumable:
        return (f"interrupted: the build in {out} is unfinished; rerun the same command with --resume to continue "
                "(its finished blocks are kept) or with --overwrite to start again")
    return f"interrupted: nothing was built in {out}"


def _build(args: argparse.Namespace, variants: list, generation: object, executor: object,
           maker: object = None) -> object:
    from ximagenet12.builder import build_dataset
    from ximagenet12.io.storage import parse_storage_options

    return build_dataset(
        args.source,
        args.out,
        scenarios=variants,
        seed=args.seed,
        num_proc=args.num_proc,
        resume=args.resume,
        strict=args.strict,
        overwrite=args.overwrite,
        backgrounds=args.backgrounds,
        progress=not args.no_progress,
        license=args.license,
        max_samples=args.max_samples,
        block_samples=args.block_samples,
        generation=generation,
        repo_id=args.repo_id,
        executor=executor,
        storage_options=parse_storage_options(args.storage_options),
        auto_mask=maker,
        source_split=args.source_split,
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop_cleanly_on_sigterm():
    """Make SIGTERM stop the build as Ctrl-C does (workers ended, temporary files removed,
    finished blocks kept for --resume, "interrupted" and exit 130) instead of dying mid-write.
    Returns the previous handler (``None`` when not on the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)

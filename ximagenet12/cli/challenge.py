"""``ximagenet12 challenge``: the worst-case background search."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers) -> None:
    from ximagenet12.cli import HelpFormatter

    p = subparsers.add_parser(
        "challenge",
        help="per sample, search candidate backgrounds for the first that fools a classifier",
        description=(
            "For each sample of the data's `original` config, put its object on up to N candidate backgrounds "
            "(other samples' object-free backgrounds with the hole inpainted, the background library, "
            "ai_background rows when the data has them) in a fixed seeded order and stop at the first that "
            "makes the model wrong. Writes OUT/report.json, report.md, curve.png (worst-case accuracy against N), "
            "samples.jsonl and the fooling composites as the config `worst_background` "
            "(datasets.load_dataset(OUT, 'worst_background'))."
        ),
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", required=True, help="Hub model id, local model directory, or 'efficientnet-lite0' (built in, offline)")
    from ximagenet12.io.storage import DATA_STORAGE_OPTIONS_HELP

    p.add_argument("--data", required=True, help="built dataset folder, Hub dataset repo id, or a finished build in an "
                   "object store (s3://BUCKET/PREFIX); needs an `original` config")
    p.add_argument("--storage-options", default=None, metavar="JSON", help=DATA_STORAGE_OPTIONS_HELP)
    p.add_argument("--candidates", type=_positive, required=True, metavar="N", help="candidate backgrounds per sample, at most")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (new, empty, or an earlier challenge output)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that holds no challenge output; files ximagenet12 did not write "
                   "are never replaced")
    p.add_argument("--seed", type=int, default=0, help="seed of every sample's candidate order")
    p.add_argument("--batch-size", type=_positive, default=16, help="candidates per forward pass")
    p.add_argument("--mode", choices=("restricted", "strict"), default="restricted",
                   help="what 'wrong' means: restricted = argmax over the dataset's classes; strict = top-1 over all model classes")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--limit", type=_positive, default=None, metavar="N", help="only the first N samples")
    p.add_argument("--backgrounds", default=None, metavar="DIR", help="folder of library photos (default: scikit-image's CC0 photos)")
    p.add_argument("--no-library", action="store_true", help="no library photos among the candidates")
    p.add_argument("--license", default="unknown", metavar="ID", help="licence id for the worst_background card")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ximagenet12.challenge import run_challenge
    from ximagenet12.io.storage import cli_data

    result = run_challenge(
        args.model, cli_data(args.data, args.storage_options), args.out, candidates=args.candidates, seed=args.seed,
        batch_size=args.batch_size,
        mode=args.mode, device=args.device, limit=args.limit, backgrounds=args.backgrounds,
        use_library=not args.no_library, license=args.license, progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    r = result.report
    f = r["forwards"]
    print(f"{r['model']} on {r['data']}: {r['n']} samples, up to {r['candidates']} candidates each ({r['mode']})")
    print(f"  accuracy on originals   {r['accuracy']:.4f}")
    print(f"  worst-case accuracy     {r['worst_case_accuracy']:.4f}")
    print(f"  unfoolable              {r['unfoolable_share']:.4f} of all samples, {r['fooled']} fooled")
    print(f"  forward passes          {f['batches']} batches, {f['images']} images ({f['images_per_sample']:.2f} per sample)")
    for w in r["warnings"]:
        print(f"  warning: {w}")
    print(f"written to {result.out_dir} (config worst_background: {r['fooled']} rows)")
    return 0

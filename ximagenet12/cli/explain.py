"""CLI: ``ximagenet12 explain`` -- attribution inside versus outside the object mask, per scenario."""

from __future__ import annotations

import argparse

from ximagenet12.core.constants import DTYPES

__all__ = ["register", "CHECKPOINT_DIR"]

#: Sub-folder of --out holding finished configs of an unfinished run (removed at the end).
CHECKPOINT_DIR = ".partial"


def _run_explain(args: argparse.Namespace) -> int:
    from ximagenet12.explain.report import write_explain_report
    from ximagenet12.explain.runner import explain_classification

    from ximagenet12.io.owned import OwnedFolder, refuse_links
    from ximagenet12.explain.report import EXPLAIN_REPORT_FILES
    from ximagenet12.io.storage import cli_data

    # checked before the model runs (issue 25): a user's files are never replaced, no link followed
    out = OwnedFolder.open(args.out, command="explain", overwrite=args.overwrite, planned=EXPLAIN_REPORT_FILES)
    refuse_links(out.root, [CHECKPOINT_DIR], what="write into")
    checkpoints = out.root / CHECKPOINT_DIR
    result = explain_classification(
        args.model, cli_data(args.data, args.storage_options), scenarios=args.scenarios, method=args.method,
        target=args.target,
        target_layer=args.target_layer, mode=args.mode, ig_steps=args.ig_steps, batch_size=args.batch_size,
        device=args.device, num_workers=args.num_workers, limit=args.limit, progress=not args.no_progress,
        overlay_samples=args.overlay_samples, seed=args.seed, n_bootstrap=args.n_bootstrap,
        checkpoint_dir=checkpoints, resume=args.resume, dtype=args.dtype, revision=args.revision,
    )
    folder = write_explain_report(result, out)
    OwnedFolder.open(checkpoints, command="explain-checkpoints").discard()
    report = result.report
    print(f"{'scenario':<28} {'n':>6} {'failed':>6} {'focus':>7} {'area':>7} {'ratio':>7} {'pointing':>8}")
    for config, e in report["scenarios"].items():
        cells = [e["object_focus"], e["mask_area"], e["focus_ratio"], e["pointing_game"]]
        shown = ["-" if v is None else f"{v:.3f}" for v in cells]
        print(f"{config:<28} {e['n']:>6} {e['n_failed']:>6} {shown[0]:>7} {shown[1]:>7} {shown[2]:>7} {shown[3]:>8}")
    for warning in report["warnings"]:
        print(f"WARNING: {warning}")
    if result.failures:
        print(f"{len(result.failures)} sample(s) could not be explained; listed in {folder / 'report.json'}")
    print(f"report written to {folder}")
    return 0


def register(subparsers) -> None:
    from ximagenet12.cli import HelpFormatter
    from ximagenet12.explain.constants import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_IG_STEPS,
        DEFAULT_N_BOOTSTRAP,
        DEFAULT_OVERLAY_SAMPLES,
        METHODS,
        TARGETS,
    )

    p = subparsers.add_parser(
        "explain",
        help="attribution maps per scenario: share of the evidence on the object mask (object focus)",
        description="Compute an attribution map per image (Grad-CAM, Integrated Gradients or attention rollout) "
        "and measure how much of it lies inside the object mask, per scenario and class, with bootstrap CIs. "
        "Writes OUT/report.json, explanations.parquet, report.md, focus.png, heatmap.png and overlays.png.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", required=True, help="Hub model id, local model directory, or 'efficientnet-lite0'")
    from ximagenet12.io.storage import DATA_STORAGE_OPTIONS_HELP

    p.add_argument("--data", required=True,
                   help="built dataset folder, Hub dataset repo id, or a finished build in an object store "
                   "(s3://BUCKET/PREFIX)")
    p.add_argument("--storage-options", default=None, metavar="JSON", help=DATA_STORAGE_OPTIONS_HELP)
    p.add_argument("--scenarios", default="all", help="'all' or comma-separated config names")
    p.add_argument("--out", required=True, help="report folder to write (new, empty, or an earlier explain report)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that holds no explain report; files ximagenet12 did not write "
                   "are never replaced")
    p.add_argument("--method", default="gradcam", help=f"one of {', '.join(METHODS)} (ig for short)")
    p.add_argument("--target", default="true", choices=TARGETS, help="explain the true class or the predicted one")
    p.add_argument("--target-layer", default=None, metavar="MODULE",
                   help="Grad-CAM layer as a dotted module name, e.g. net._bn1 or resnet.encoder.stages.-1 "
                   "(default: chosen per architecture)")
    p.add_argument("--mode", default="restricted", choices=("restricted", "strict"),
                   help="what 'predicted' and 'correct' mean: best of the dataset's classes, or top-1 of all")
    p.add_argument("--ig-steps", type=int, default=DEFAULT_IG_STEPS, help="Integrated Gradients steps")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="images per attribution batch")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--num-workers", type=int, default=None, help="background decode threads (default: up to 4)")
    p.add_argument("--limit", type=int, default=None, help="explain only the first N samples of each config")
    p.add_argument("--overlay-samples", type=int, default=DEFAULT_OVERLAY_SAMPLES,
                   help="seeded samples per scenario in overlays.png")
    p.add_argument("--seed", type=int, default=0, help="seed of the overlay choice and the bootstrap")
    p.add_argument("--n-bootstrap", type=int, default=DEFAULT_N_BOOTSTRAP, help="bootstrap resamples for the CIs (0: none)")
    p.add_argument("--resume", action="store_true",
                   help=f"reuse the configs an interrupted run with the same options finished (OUT/{CHECKPOINT_DIR})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="dtype the model is loaded in (default auto: the checkpoint's)")
    p.add_argument("--revision", default=None, help="Hub model revision: branch, tag or commit (recorded resolved)")
    p.set_defaults(func=_run_explain)

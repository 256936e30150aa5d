"""CLI: ``ximagenet12 train`` (EX1 / EX2) and ``ximagenet12 score`` (S_robust with both terms)."""

from __future__ import annotations

import argparse

__all__ = ["register"]

TRAIN_EXAMPLES = """example:
  # EX1 as in the paper: fit on original (fold 0 of 5 held out), test on that part of every scenario
  ximagenet12 train --protocol ex1 --model efficientnet-lite0 --data ./ximagenet12-out --out runs/lite0-ex1

  # EX2: 12-fold cross-validation within each scenario (original is always included)
  ximagenet12 train --protocol ex2 --model efficientnet-lite0 --data ./ximagenet12-out \\
      --scenarios blur_background,image_grey,segmented_image --folds 12 --out runs/lite0-ex2

  # full fine-tuning through transformers.Trainer on a GPU
  ximagenet12 train --protocol ex2 --method finetune --model google/vit-base-patch16-224 \\
      --data owner/ximagenet12 --device cuda --mixed-precision bf16 --out runs/vit-ex2

  # on a Ray cluster: every (scenario, fold) fine-tuning job a task with one GPU
  ximagenet12 train --protocol ex2 --method finetune --model google/vit-base-patch16-224 \\
      --data /shared/ximagenet12-out --engine ray --ray-address HEAD:6379 --out /shared/runs/vit-ex2

A run folder that exists with the same settings is resumed (finished folds are kept)."""

SCORE_EXAMPLES = """example:
  ximagenet12 score runs/lite0-ex1 runs/lite0-ex2
  ximagenet12 score reports/lite0 runs/lite0-ex2 --config table3 --out runs/lite0-score.json"""


def _run_train(args: argparse.Namespace) -> int:
    from ximagenet12.evaluation.classification import summarise
    from ximagenet12.training.api import train
    from ximagenet12.training.runs import RunFolder

    RunFolder(args.out).check()  # a folder that is not a run is refused before the model loads (issue 25)
    result = train(
        args.model, args.data, out=args.out, protocol=args.protocol, method=args.method, scenarios=args.scenarios,
        folds=args.folds, seed=args.seed, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        patience=args.patience, val_fraction=args.val_fraction, mixed_precision=args.mixed_precision,
        device=args.device, dtype=args.dtype, revision=args.revision, num_workers=args.num_workers,
        limit=args.limit, probe_c=args.probe_c, save_models=args.save_models, progress=not args.no_progress,
        robustness_config=args.robustness_config, engine=args.engine, replicas=args.replicas,
        gpus_per_replica=args.gpus_per_replica, ray_address=args.ray_address, ray_num_cpus=args.ray_num_cpus,
    )
    report = result.report
    print(summarise(report))
    for config, entry in report["scenarios"].items():
        if entry.get("fold_accuracy_std") is not None:
            print(f"{config:<28} folds: {entry['fold_accuracy_mean']:.4f} ± {entry['fold_accuracy_std']:.4f} "
                  f"({len(entry['folds'])} folds)")
    if result.failures:
        print(f"{len(result.failures)} image(s) failed to decode and were left out; listed in {args.out}/report.json")
    print(f"run written to {args.out}" + (" (resumed)" if report.get("resumed") else ""))
    return 0


def _run_score(args: argparse.Namespace) -> int:
    from ximagenet12.training.score import SCORE_CONFIGS, format_score, score_runs

    configs = SCORE_CONFIGS if args.config == "both" else (args.config,)
    doc = score_runs(args.external, args.internal, configs=configs, formula_internal=args.formula_internal,
                     scenario_set=args.scenario_set, out=args.out)
    print(format_score(doc))
    if args.out:
        print(f"score written to {args.out}")
    return 0


def register(subparsers) -> None:
    from ximagenet12.core.constants import BUILTIN_MODELS, DTYPES, MIXED_PRECISION
    from ximagenet12.core.constants import TRAIN_METHODS as METHODS
    from ximagenet12.core.constants import TRAIN_PROTOCOLS as PROTOCOLS

    tr = subparsers.add_parser(
        "train",
        help="EX1 / EX2: train a classifier (linear probe or fine-tuning) and test it on every scenario",
        description="Train and test an image classifier as the paper's EX1 (trained on original, tested on every "
        "scenario) or EX2 (k-fold within each scenario; its spread is S_robust's internal term). Folds are "
        "stratified by class and grouped by source id, the same for every scenario.",
        epilog=TRAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tr.add_argument("--protocol", required=True, choices=PROTOCOLS, help="ex1 (external) or ex2 (internal, k-fold)")
    tr.add_argument("--method", default="linear-probe", choices=METHODS,
                    help="linear-probe (frozen backbone, features cached; the CPU path) or finetune (transformers.Trainer); "
                    "default linear-probe")
    tr.add_argument("--model", required=True,
                    help=f"Hub model id, local model folder, or one of {', '.join(BUILTIN_MODELS)} (built in, offline)")
    tr.add_argument("--data", required=True, help="built dataset folder, Hub dataset repo id, or a finished build in an "
                    "object store (s3://BUCKET/PREFIX; credentials and endpoint from the environment: AWS_*)")
    tr.add_argument("--out", required=True, help="run folder (resumed when it holds a run with the same settings)")
    tr.add_argument("--scenarios", default="all", help="'all' or comma-separated config names (default all)")
    tr.add_argument("--folds", type=int, default=None, help="folds (default: 12 for ex2 as in the paper; 5 for ex1, "
                    "fold 0 being the held-out test part)")
    tr.add_argument("--seed", type=int, default=0, help="fold assignment, validation split, new head, Trainer (default 0)")
    tr.add_argument("--epochs", type=int, default=10, help="finetune: maximum epochs (default 10)")
    tr.add_argument("--lr", type=float, default=5e-5, help="finetune: learning rate (default 5e-5)")
    tr.add_argument("--batch-size", type=int, default=32, help="images per batch (default 32)")
    tr.add_argument("--patience", type=int, default=3, help="finetune: early-stopping patience in epochs (default 3)")
    tr.add_argument("--val-fraction", type=float, default=0.1,
                    help="finetune: share of training source images held out for early stopping (default 0.1)")
    tr.add_argument("--mixed-precision", default="no", choices=MIXED_PRECISION,
                    help="finetune: fp16 (CUDA) or bf16 autocast (default no)")
    tr.add_argument("--probe-c", type=float, default=1.0, help="linear-probe: inverse L2 strength (default 1.0)")
    tr.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    tr.add_argument("--dtype", default="auto", choices=DTYPES, help="dtype the model is loaded in (default auto)")
    tr.add_argument("--revision", default=None, help="Hub model revision (branch, tag or commit)")
    tr.add_argument("--num-workers", type=int, default=None, help="decode/preprocess workers (default: up to 4)")
    tr.add_argument("--limit", type=int, default=None, help="only the first N rows of each config, for quick looks")
    tr.add_argument("--save-models", action="store_true",
                    help="ex2: also save every fold's model (ex1 always saves its model to <out>/model)")
    tr.add_argument("--robustness-config", default="table3", choices=("table3", "formula"),
                    help="configuration of the ex1 report's external-only score (default table3)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")
    from ximagenet12.engines.ray import add_engine_arguments

    add_engine_arguments(tr, generation=False, replicas=True)
    tr.set_defaults(func=_run_train)

    sc = subparsers.add_parser(
        "score",
        help="S_robust with both terms, from an ex1 run (or evaluate report) and an ex2 run",
        description="Combine an external run (ex1 training run or any evaluate report) and an internal run (ex2) "
        "through the robustness_score metric, over the scenarios both have. table3 takes its internal term from "
        "the ex2 scenarios; formula from the object classes (the external run's per-class accuracy on original), "
        "unless --formula-internal ex2. Refuses runs over different datasets or class lists.",
        epilog=SCORE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sc.add_argument("external", help="ex1 run folder or evaluate report folder")
    sc.add_argument("internal", help="ex2 run folder")
    sc.add_argument("--config", default="both", choices=("table3", "formula", "both"),
                    help="robustness_score configuration(s) (default both)")
    sc.add_argument("--formula-internal", default="classes", choices=("classes", "ex2"),
                    help="internal term of the formula configuration: classes (the external run's per-class accuracy "
                    "on original around its μ, as the formula defines it) or ex2 (the ex2 scenarios, as table3); "
                    "default classes")
    from ximagenet12.metrics.robustness_score.functional import ALL_SCENARIOS, DEFAULT_SCENARIO_SET, SCENARIO_SETS

    sc.add_argument("--scenario-set", default=DEFAULT_SCENARIO_SET, choices=(*SCENARIO_SETS, ALL_SCENARIOS),
                    help="scenarios S_robust is computed over: background (the paper's background-only scenarios), "
                    f"table3 (the paper's Table 3) or all (controls included); default {DEFAULT_SCENARIO_SET}")
    sc.add_argument("--out", default=None, help="write the score as JSON to this file")
    sc.set_defaults(func=_run_score)

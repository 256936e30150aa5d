"""The ``ximagenet12`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``; this file
only assembles them, so adding a command is one line in :data:`SUBCOMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Sequence

from ximagenet12 import __version__
from ximagenet12.scenarios.registry import SCENARIOS
from ximagenet12.core.verbosity import configure as configure_verbosity

__all__ = ["main", "build_parser", "HelpFormatter", "SUBCOMMAND_MODULES", "EXAMPLES"]

#: Modules that add subcommands (imported lazily, so ``--help`` stays fast).
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "ximagenet12.cli.hub",
    "ximagenet12.cli.evaluate",
    "ximagenet12.cli.build",
    "ximagenet12.cli.challenge",
    "ximagenet12.cli.explain",
    "ximagenet12.cli.leaderboard",
    "ximagenet12.cli.train",
    "ximagenet12.cli.submissions",
)
#: Two-word commands and the subcommand that runs them (``leaderboard`` takes folders as positionals).
COMMAND_ALIASES: dict[tuple[str, str], str] = {("leaderboard", "worker"): "leaderboard-worker"}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows an option's default, unless its help already does or there is none to show;
    keeps the line breaks of the examples in a command's epilog."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or action.dest == "verbosity"):
            return text
        return super()._get_help_string(action)


def scenario_table() -> list[dict]:
    """The registry as plain data: what ``ximagenet12 scenarios --json`` prints."""
    rows = []
    for sc in SCENARIOS.values():
        rows.append(
            {
                "name": sc.name,
                "description": sc.description,
                "mode": sc.mode,
                "family": sc.family,
                "params": _plain(sc.params),
                "levels": {str(k): _plain(v) for k, v in sorted(sc.levels.items())},
                "paper_level": sc.paper_level,
                "needs": sc.needs,
                "random": sc.random,
            }
        )
    return rows


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _format_params(params: dict) -> str:
    return ", ".join(f"{k}={json.dumps(_plain(v))}" for k, v in params.items()) or "-"


def _run_scenarios(args: argparse.Namespace) -> int:
    rows = scenario_table()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        levels = f"levels 1-5 (paper: {row['paper_level']})" if row["levels"] else "no levels"
        extra = f", needs {row['needs']}" if row["needs"] else ""
        print(f"{row['name']:<22} {row['mode']:<4} {levels}{extra}")
        print(f"    {row['description']}")
        print(f"    params: {_format_params(row['params'])}")
    return 0


#: One worked example per subcommand, shown at the end of its ``--help``. A command without
#: one fails ``tests/package/test_cli_help.py``; a module may also set its own epilog.
EXAMPLES: dict[str, str] = {
    "scenarios": "ximagenet12 scenarios --json | python -m json.tool",
    "build": "ximagenet12 build --source /data/ximagenet12-release --out ./xin12 --scenarios all --num-proc 2",
    "evaluate": "ximagenet12 evaluate --model efficientnet-lite0 --data ./ximagenet12-out --out reports/lite0",
    "evaluate-segmentation": "ximagenet12 evaluate-segmentation --model nvidia/segformer-b0-finetuned-ade-512-512 "
    "--data ./ximagenet12-out --out reports/segformer",
    "analyze": "ximagenet12 analyze reports/lite0 reports/vit --out reports/analysis",
    "push": "ximagenet12 push ./ximagenet12-out --repo owner/ximagenet12 --check-only",
    "push-metric": "ximagenet12 push-metric --repo owner/robustness_score",
    "train": "ximagenet12 train --protocol ex1 --model efficientnet-lite0 --data ./ximagenet12-out --out runs/lite0-ex1",
    "score": "ximagenet12 score runs/lite0-ex1 runs/lite0-ex2 --config table3",
    "explain": "ximagenet12 explain --model efficientnet-lite0 --data ./ximagenet12-out --method gradcam "
    "--out reports/lite0-explain",
    "challenge": "ximagenet12 challenge --model efficientnet-lite0 --data ./ximagenet12-out --candidates 8 "
    "--out reports/lite0-challenge",
    "leaderboard": "ximagenet12 leaderboard reports/lite0 reports/vit --out site/",
    "push-leaderboard": "ximagenet12 push-leaderboard site/ --repo owner/ximagenet12-leaderboard",
    "submit": "ximagenet12 submit google/vit-base-patch16-224 --leaderboard owner/ximagenet12-requests "
    "--results owner/ximagenet12-results",
    "leaderboard-worker": "ximagenet12 leaderboard worker --requests owner/ximagenet12-requests "
    "--results owner/ximagenet12-results --data owner/ximagenet12\n  "
    "(`ximagenet12 leaderboard-worker ...` is the same command)",
}


def _finish_subcommands(sub: argparse._SubParsersAction) -> None:
    """What every subcommand shares: a description, an example, and --quiet / --verbose."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    for name, parser in sub.choices.items():
        parser.formatter_class = HelpFormatter
        if not parser.description:
            parser.description = helps.get(name)
        if not parser.epilog and name in EXAMPLES:
            parser.epilog = f"example:\n  {EXAMPLES[name]}"
        loudness = parser.add_mutually_exclusive_group()
        loudness.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const="quiet",
                              help="errors only: no library logging and no progress bars")
        loudness.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const="verbose",
                              help="also the libraries' informational logging")
        parser.set_defaults(verbosity="normal")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ximagenet12",
        description="Background-robustness scenarios for vision models (XImageNet-12).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sc = sub.add_parser("scenarios", help="list every registered scenario with its parameters")
    sc.add_argument("--json", action="store_true", help="print a JSON list of objects, for scripts")
    sc.set_defaults(func=_run_scenarios)
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).register(sub)
    _finish_subcommands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if tuple(argv[:2]) in COMMAND_ALIASES:
        argv = [COMMAND_ALIASES[tuple(argv[:2])], *argv[2:]]
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_verbosity(args.verbosity)
    if args.verbosity == "quiet" and hasattr(args, "no_progress"):
        args.no_progress = True
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `ximagenet12 scenarios | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # user errors: one clear line, no stack trace from deep inside a library
        print(f"ximagenet12 {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

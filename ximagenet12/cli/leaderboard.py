"""CLI: ``ximagenet12 leaderboard`` (write or serve the site) and ``push-leaderboard`` (publish it)."""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["register"]

_TOKEN_HELP = "Hub token; by default HF_TOKEN or the stored login (a token on the command line shows in the process list)"


def register(subparsers) -> None:
    lb = subparsers.add_parser(
        "leaderboard",
        help="write the leaderboard site from report folders or a results repo, or serve a site locally",
        description=(
            "Collect evaluation reports (folders written by `ximagenet12 evaluate`, and/or results repos "
            "filled by `evaluate --push-results`) into one table per data fingerprint and write a site "
            "folder that is a Gradio Space. `--serve SITE` runs that site's app on 127.0.0.1."
        ),
    )
    lb.add_argument("reports", nargs="*", help="report folders written by `ximagenet12 evaluate` (and `challenge` / "
                    "`explain` folders of the same models, which add worst-case background accuracy / object focus)")
    lb.add_argument("--results", action="append", default=[], metavar="REPO",
                    help="a results repo (Hub dataset id or local folder); repeatable")
    lb.add_argument("--out", default=None, help="site folder to write (an earlier site of this command is replaced "
                    "file by file)")
    lb.add_argument("--overwrite", action="store_true",
                    help="write --out / --save-results into a non-empty folder that holds no site / results folder; "
                    "files ximagenet12 did not write are never replaced")
    lb.add_argument("--data", default=None,
                    help="where the reports' evaluated data lives now, when it moved since the evaluation "
                         "(folder or Hub id; used for the data fingerprint)")
    lb.add_argument("--save-results", default=None, metavar="DIR",
                    help="also write the collected rows as a results repo folder")
    lb.add_argument("--title", default="XImageNet-12 leaderboard", help="the Space's title")
    lb.add_argument("--requests", default=None, metavar="REPO",
                    help="requests repo (dataset id) of `ximagenet12 submit`: adds a submission form and the "
                         "requests' status to the site (a single Hub --results repo is the one the form checks)")
    lb.add_argument("--serve", default=None, metavar="SITE", help="serve this site folder on 127.0.0.1 instead")
    lb.add_argument("--port", type=int, default=7860, help="port for --serve")
    lb.set_defaults(func=_run_leaderboard)

    push = subparsers.add_parser(
        "push-leaderboard",
        help="validate a leaderboard site and publish it as a Gradio Space",
        description="Check SITE (Space card with sdk gradio and app_file app.py, app.py, requirements.txt, "
                    "every table and figure its index lists), then upload it, skipping files already there.",
    )
    push.add_argument("site", help="a folder written by `ximagenet12 leaderboard --out`")
    push.add_argument("--repo", required=True, metavar="OWNER/NAME", help="Space repo id")
    push.add_argument("--private", action="store_true", help="create the Space private")
    push.add_argument("--token", default=None, help=_TOKEN_HELP)
    push.set_defaults(func=_run_push_leaderboard)


def _run_leaderboard(args: argparse.Namespace) -> int:
    try:
        return _leaderboard(args)
    except ImportError as exc:  # a base install without the extras
        print(f"ximagenet12 leaderboard: error: {exc}; install the extras: pip install 'ximagenet12[eval,leaderboard]'",
              file=sys.stderr)
        return 1


def _leaderboard(args: argparse.Namespace) -> int:
    if args.serve is not None:
        if args.reports or args.results or args.out:
            raise ValueError("--serve SITE serves a written site; do not combine it with reports, --results or --out")
        from ximagenet12.leaderboard.publish import serve

        print(f"serving {args.serve} on http://127.0.0.1:{args.port} (Ctrl-C to stop)")
        serve(args.serve, port=args.port)
        return 0
    if not args.out:
        raise ValueError("--out SITE is required (or --serve SITE to preview a written site)")
    if not args.reports and not args.results:
        raise ValueError("give report folders and/or --results REPO to build the leaderboard from")
    from ximagenet12.cli.hub import _progress_logging
    from ximagenet12.leaderboard.results import (
        COMPANION_TASKS,
        Results,
        attach_companion,
        merge_results,
        read_results,
        report_entry,
        report_task,
        write_results,
    )
    from ximagenet12.leaderboard.site import write_site

    _progress_logging()
    results = Results()
    for source in args.results:
        results = merge_results(results, read_results(source))
    companions = [f for f in args.reports if report_task(f) in COMPANION_TASKS]
    entries = [report_entry(f, data=args.data) for f in args.reports if f not in companions]
    for folder in companions:  # challenge / explain reports add their figure to their model's row
        attach_companion(entries, folder, data=args.data)
    results = merge_results(results, entries)
    if args.save_results:
        write_results(results, args.save_results, overwrite=args.overwrite)
        print(f"results repo folder written to {args.save_results}")
    hub_results = [r for r in args.results if not os.path.isdir(r)]
    site, notes = write_site(results, args.out, title=args.title, source=", ".join(args.results) or None,
                             requests=args.requests, results_repo=hub_results[0] if len(hub_results) == 1 else None,
                             overwrite=args.overwrite)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"leaderboard site written to {site} ({len(results.rows)} report(s)); "
          f"preview: ximagenet12 leaderboard --serve {site}")
    return 0


def _run_push_leaderboard(args: argparse.Namespace) -> int:
    from ximagenet12.cli.hub import _progress_logging
    from ximagenet12.hub.publish import PushError
    from ximagenet12.leaderboard.publish import push_leaderboard

    _progress_logging()
    try:
        summary = push_leaderboard(args.site, args.repo, private=args.private, token=args.token)
    except PushError as exc:
        print(f"ximagenet12 push-leaderboard: error: {exc}", file=sys.stderr)
        return 1
    print(f"{summary.url}: {len(summary.uploaded)} file(s) uploaded, {len(summary.skipped)} already there")
    return 0

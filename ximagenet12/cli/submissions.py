"""CLI: ``ximagenet12 submit`` (file a request) and ``ximagenet12 leaderboard worker`` (run requests).

``leaderboard worker`` is the ``leaderboard-worker`` subcommand; :func:`ximagenet12.cli.main`
routes the two-word form to it (``leaderboard`` itself takes report folders as positionals).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]

_TOKEN_HELP = "Hub token; by default HF_TOKEN or the stored login (a token on the command line shows in the process list)"


def register(subparsers) -> None:
    from ximagenet12.leaderboard.submissions import LEASE_S, PRECISIONS, TASKS

    sub = subparsers.add_parser(
        "submit",
        help="ask a leaderboard to evaluate a Hub model: file a PENDING request in its requests repo",
        description=(
            "File a request (model, resolved revision, task, precision, submitter) in the requests repo REPO "
            "(created with its card when missing). It is refused, in one line, when the model does not exist "
            "at that revision, has no card or no licence, is already queued or on the leaderboard, is flagged, "
            "or the submitter is over the rate limit. `ximagenet12 leaderboard worker` then evaluates it."
        ),
    )
    sub.add_argument("model", help="Hub model id 'owner/name'")
    sub.add_argument("--leaderboard", required=True, metavar="REPO", help="the leaderboard's requests repo (dataset id)")
    sub.add_argument("--revision", default=None, help="branch, tag or commit (default: main; recorded resolved)")
    sub.add_argument("--task", default="image-classification", choices=TASKS, help="what the model does")
    sub.add_argument("--precision", default="float32", choices=PRECISIONS, help="dtype the weights run in")
    sub.add_argument("--results", default=None, metavar="REPO",
                     help="the leaderboard's results repo: a revision already there is refused")
    sub.add_argument("--token", default=None, help=_TOKEN_HELP)
    sub.set_defaults(func=_run_submit)

    w = subparsers.add_parser(
        "leaderboard-worker",
        help="evaluate PENDING leaderboard requests (also spelled `ximagenet12 leaderboard worker`)",
        description=(
            "Take PENDING requests one at a time (RUNNING, with a lease the worker renews), evaluate each on "
            "DATA with the request's revision and precision, append the report's row to the results repo "
            "(once per request) and mark the request FINISHED, or FAILED with the reason. A request whose "
            "worker died is taken again when its lease expires. Stops when no request is left."
        ),
    )
    w.add_argument("--requests", required=True, metavar="REPO", help="requests repo (dataset id)")
    w.add_argument("--results", required=True, metavar="REPO", help="results repo to append to (dataset id)")
    w.add_argument("--data", required=True, help="the published build to evaluate on (Hub dataset id or folder)")
    w.add_argument("--scenarios", default="all", help="'all' or comma-separated config names")
    w.add_argument("--limit", type=int, default=None, help="evaluate only the first N samples of each config")
    w.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    w.add_argument("--num-workers", type=int, default=None, help="decode threads of the evaluator")
    w.add_argument("--worker-id", default=None, help="name in the requests' leases (default host-pid-random)")
    w.add_argument("--lease", type=float, default=LEASE_S, metavar="SECONDS",
                   help="a request whose worker has not renewed its lease for this long is taken again")
    w.add_argument("--max-requests", type=int, default=None, metavar="N", help="stop after N requests")
    w.add_argument("--token", default=None, help=_TOKEN_HELP)
    w.set_defaults(func=_run_worker)


def _run_submit(args: argparse.Namespace) -> int:
    from ximagenet12.leaderboard.submissions import SubmissionRefused, submit

    try:
        request = submit(args.model, args.leaderboard, revision=args.revision, task=args.task,
                         precision=args.precision, results=args.results, token=args.token)
    except SubmissionRefused as exc:
        print(f"ximagenet12 submit: refused: {exc}", file=sys.stderr)
        return 1
    print(f"request {request.request_id}: {request.model}@{request.revision[:12]} ({request.task}, "
          f"{request.precision}) by {request.submitter} is PENDING in {args.leaderboard}")
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    from ximagenet12.cli.hub import _progress_logging
    from ximagenet12.leaderboard.worker import run_worker, summary_lines

    _progress_logging()
    options = {"scenarios": args.scenarios, "limit": args.limit, "device": args.device,
               "num_workers": args.num_workers}
    from ximagenet12.hub.publish import PushError

    try:
        outcomes = run_worker(args.requests, args.results, data=args.data, worker=args.worker_id, lease_s=args.lease,
                              max_requests=args.max_requests, token=args.token, options=options)
    except PushError as exc:  # the results repo refused the append: the request stays RUNNING, re-taken after its lease
        print(f"ximagenet12 leaderboard worker: error: {exc} (the request is taken again when its lease expires)",
              file=sys.stderr)
        return 1
    for line in summary_lines(outcomes):
        print(line)
    print(f"{len(outcomes)} request(s) taken; "
          f"{sum(o.status == 'FINISHED' for o in outcomes)} finished, {sum(o.status == 'FAILED' for o in outcomes)} failed")
    return 0 if all(o.status != "FAILED" for o in outcomes) else 1

"""The public leaderboard: results repo (schema, rows with provenance), tables, site, Space.

``report_entry`` turns an evaluation report folder into a results row; ``read_results`` /
``write_results`` / ``push_results`` handle the results ``datasets`` repo;
``build_leaderboards`` makes one table per data fingerprint; ``write_site`` writes the
Gradio site that ``serve`` runs locally and ``push_leaderboard`` publishes as a Space.
"""

from __future__ import annotations

from ximagenet12.leaderboard.publish import push_leaderboard, serve, site_problems
from ximagenet12.leaderboard.results import (
    ReportEntry,
    Results,
    merge_results,
    push_results,
    read_results,
    report_entry,
    write_results,
)
from ximagenet12.leaderboard.schema import PREDICTIONS_SCHEMA, RESULTS_SCHEMA, SCHEMA_VERSION
from ximagenet12.leaderboard.site import write_site
from ximagenet12.leaderboard.table import Leaderboard, build_leaderboards

__all__ = [
    "ReportEntry",
    "Results",
    "Leaderboard",
    "RESULTS_SCHEMA",
    "PREDICTIONS_SCHEMA",
    "SCHEMA_VERSION",
    "report_entry",
    "read_results",
    "write_results",
    "merge_results",
    "push_results",
    "build_leaderboards",
    "write_site",
    "site_problems",
    "push_leaderboard",
    "serve",
]

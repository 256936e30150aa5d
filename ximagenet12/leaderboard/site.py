"""The leaderboard site: a folder that is both a Gradio Space and what ``--serve`` runs.

::

    site/README.md                 Space card (front matter: sdk gradio, app_file app.py)
    site/app.py                    the Gradio app (a copy of ximagenet12/leaderboard/app.py)
    site/requirements.txt          what the app imports
    site/leaderboard.json          boards (one per data fingerprint): tables, notes, figures
    site/tables/<fp>.parquet|csv   the table of one data fingerprint (CSV: missing = empty cell)
    site/tables/<fp>-severity.csv  the same rows long: one line per (row, scenario, severity level)
    site/predictions/<id>.parquet  per-sample outcomes, for comparisons
    site/assets/<id>/*.png         density map, scenario plot, attribution overlays

The site is written to a sibling temporary folder and moved into place, so a failed write
never leaves a half-written site under the final name.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq

from ximagenet12.leaderboard.results import Results
from ximagenet12.leaderboard.table import FACT_COLUMNS, SUMMARY_COLUMNS, build_leaderboards

__all__ = ["write_site", "SITE_FILES", "SPACE_REQUIREMENTS", "GRADIO_SDK_VERSION"]

#: Files every site has (``push-leaderboard`` checks them).
SITE_FILES: tuple[str, ...] = ("README.md", "app.py", "requirements.txt", "leaderboard.json")
#: The Gradio the app was tested with (the Space's ``sdk_version``).
GRADIO_SDK_VERSION = "6.31.0"
SPACE_REQUIREMENTS = ("pandas>=2.0", "numpy>=1.24", "scipy>=1.15", "pyarrow>=15.0")
_INTRO = (
    "Does a vision model still recognise the object when only its surroundings change? "
    "Each row is one evaluation report on the XImageNet-12 scenarios. Missing figures are blank, never 0. "
    "S_robust measures how far accuracy moves from μ, not how high it is: read it beside μ. Rows whose μ is "
    "not above chance, or whose S_robust is over another scenario set, carry a caveat and are not ranked."
)


def _slug(fingerprint: str) -> str:
    return fingerprint.replace(":", "-")


def _card(title: str) -> str:
    from ximagenet12.hub.validate import card_text

    return (
        "---\n"
        f"title: {json.dumps(title)}\n"
        "emoji: 🖼️\n"
        "colorFrom: green\n"
        "colorTo: blue\n"
        "sdk: gradio\n"
        f"sdk_version: {GRADIO_SDK_VERSION}\n"
        "app_file: app.py\n"
        "pinned: false\n"
        "license: apache-2.0\n"
        "short_description: Background robustness of vision models (XImageNet-12)\n"
        "tags: [leaderboard, robustness, ximagenet12]\n"
        "---\n\n"
        f"# {card_text(title)}\n\n{_INTRO}\n\nWritten by `ximagenet12 leaderboard`; run locally with "
        "`ximagenet12 leaderboard --serve <this folder>`.\n"
    )


def _write_boards(results: Results, root: Path) -> list[dict]:
    boards = []
    for board in build_leaderboards(results.rows):
        slug = _slug(board.fingerprint)
        (root / "tables").mkdir(exist_ok=True)
        board.frame.to_parquet(root / "tables" / f"{slug}.parquet", index=False)
        board.frame.to_csv(root / "tables" / f"{slug}.csv", index=False, na_rep="")
        _severity_frame(board.frame, board.scenarios).to_csv(root / "tables" / f"{slug}-severity.csv", index=False,
                                                             na_rep="")
        figures = {}
        for rid in board.frame["report_id"]:
            figures[rid] = {}
            for name, source in results.figures.get(rid, {}).items():
                rel = f"assets/{rid}/{name}"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, root / rel)
                figures[rid][name] = rel
            if rid in results.predictions:
                (root / "predictions").mkdir(exist_ok=True)
                pq.write_table(results.predictions[rid], root / "predictions" / f"{rid}.parquet")
        boards.append({
            "fingerprint": board.fingerprint, "data": board.data, "scenarios": board.scenarios,
            "notes": board.notes, "n_rows": len(board.frame), "figures": figures,
            "table": f"tables/{slug}.parquet", "csv": f"tables/{slug}.csv",
            "severity_csv": f"tables/{slug}-severity.csv",
        })
    return boards


def _severity_frame(frame, scenarios: list[str]):
    """One line per (row, config): the scenario, its severity level (the paper's level for a config
    without ``_level<k>``; blank for a scenario without a ladder or one this install does not know)."""
    import pandas as pd

    from ximagenet12.scenarios.registry import _variant_from_name

    levels = {}
    for config in ["original", *scenarios]:
        try:
            variant = _variant_from_name(config)
            levels[config] = (variant.name, variant.effective_level)
        except ValueError:
            levels[config] = (config, None)
    records = []
    for _, row in frame.iterrows():
        for config in ["original", *scenarios]:
            scenario, level = levels[config]
            records.append({"model": row["model"], "protocol": row["protocol"], "report_id": row["report_id"],
                            "scenario": scenario, "level": level, "config": config,
                            "value": row["mu"] if config == "original" else row[config]})
    out = pd.DataFrame.from_records(records, columns=["model", "protocol", "report_id", "scenario", "level", "config",
                                                      "value"])
    out["level"] = out["level"].astype("Int64")
    return out


def write_site(results: Results, out: str | os.PathLike, *, title: str = "XImageNet-12 leaderboard",
               source: str | None = None, overwrite: bool = False, requests: str | None = None,
               results_repo: str | None = None) -> tuple[Path, list[str]]:
    """Write the site for ``results`` to ``out``; returns the folder and the tables' notes.

    ``out`` is an owned output folder (:class:`ximagenet12.io.owned.OwnedFolder`): an
    earlier site written by this command is replaced file by file (its files no longer
    needed are deleted, by its manifest); a non-empty folder holding no site is refused
    unless ``overwrite``, and a file ximagenet12 did not write is never replaced or deleted.
    ``requests`` (a requests repo id) adds the submission form and the request status to the
    app; ``results_repo`` is the results repo the form checks for revisions already evaluated.
    """
    from ximagenet12.io.owned import OwnedFolder
    from ximagenet12.hub.validate import card_text

    out = Path(out)
    card_text(title)  # the Space card's title: a line break or control character is refused before any work
    if not results.rows:
        raise ValueError("no report to put on the leaderboard: the results hold no row")
    folder = OwnedFolder.open(out, command="leaderboard", overwrite=overwrite,
                              planned=["leaderboard.json", "app.py", "requirements.txt", "README.md"])
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        boards = _write_boards(results, tmp)
        meta = {
            "title": title, "intro": _INTRO, "source": source,
            "generated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "columns": {c: text for c, _, text in (*SUMMARY_COLUMNS, *FACT_COLUMNS)}, "boards": boards,
            "requests": requests, "results": results_repo,
        }
        (tmp / "leaderboard.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        app = resources.files("ximagenet12.leaderboard") / "app.py"
        (tmp / "app.py").write_text(app.read_text(encoding="utf-8"), encoding="utf-8")
        reqs = [f"gradio=={GRADIO_SDK_VERSION}", *SPACE_REQUIREMENTS]
        if requests:  # the form runs the same checks as `ximagenet12 submit`
            from ximagenet12 import __version__

            reqs.append(f"ximagenet12[leaderboard]>={__version__}")
        (tmp / "requirements.txt").write_text("\n".join(reqs) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(_card(title), encoding="utf-8")
        staged = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        for rel in staged:  # every file is checked before the folder is changed
            folder._check(rel)
        folder.clear(keep=set(staged).__contains__)  # files of the earlier site no longer needed
        for rel in [r for r in staged if r != "leaderboard.json"] + ["leaderboard.json"]:  # the site's index last
            folder.write_with(rel, lambda dest, rel=rel: os.replace(tmp / rel, dest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    notes = [n for b in boards for n in b["notes"]]
    return out, notes

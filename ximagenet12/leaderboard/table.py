"""Results rows → leaderboard tables: one per data fingerprint, one row per (model, protocol).

Two reports of one model over the same data and protocol keep the newest (by the time its
report.json was written, then by when it was submitted) and the table's notes say which
report was dropped. A figure a report does not have stays missing (NaN in the frame, an
empty cell in the CSV), never 0.

A classifier that is wrong nearly everywhere has almost no spread across scenarios, so its
S_robust is close to 1 by construction. Rows whose accuracy on ``original`` is not
significantly above chance (one-sided exact binomial test against 1 / number of classes at
level 0.05, the metric's :func:`chance_test`) carry a ``caveat``, the table's notes say so,
and they are never ranked: the ``rank`` column numbers only the trustworthy rows, by
S_robust, and the unranked rows follow them. μ stands beside S in every table.

S_robust is only comparable over one scenario set. Each table takes the set (name and
members) most of its rows were scored over; a row scored over another set keeps its
figures but is not ranked, with a caveat that names both sets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = [
    "Leaderboard",
    "build_leaderboards",
    "SUMMARY_COLUMNS",
    "KEY_COLUMNS",
    "TEXT_COLUMNS",
    "chance_caveat",
    "set_caveat",
    "board_scenario_set",
    "FACT_COLUMNS",
]

#: (column in the table, results field, what it means): the columns before the scenarios.
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("model", "model", "model id (Hub id, local directory or built-in)"),
    ("family", "model_family", "model family (the config's model_type)"),
    ("params_M", "model_params", "parameters, millions"),
    ("protocol", "protocol", "experiment and scoring mode"),
    ("mu", "mu", "μ: metric on original"),
    ("S_robust", "s_robust_table3", "S_robust, table3 configuration (variances, n − 1, as the paper's Table 3)"),
    ("S_set", "scenario_set", "the scenario set S_robust is computed over, and its number of scenarios"),
    ("S_ci_low", "s_robust_table3_ci_low", "95% bootstrap interval of S_robust (table3), low"),
    ("S_ci_high", "s_robust_table3_ci_high", "95% bootstrap interval of S_robust (table3), high"),
    ("caveat", "caveat", "why a figure should not be read at face value (e.g. μ not above chance)"),
    ("S_robust_formula", "s_robust_formula", "S_robust, formula configuration (standard deviations, n)"),
    ("sigma_e", "sigma_e", "σ_e: spread over scenarios (standard deviation, n)"),
    ("sigma_i", "sigma_i", "σ_i: internal spread (needs an EX2 within-scenario run)"),
    ("bg_gap", "bg_gap", "BG-Gap = metric(mixed_same) − metric(mixed_rand)"),
    ("worst_bg", "worst_case_background", "worst-case background accuracy (`ximagenet12 challenge` report)"),
    ("object_focus", "object_focus", "share of attribution inside the object mask on original (`ximagenet12 explain`)"),
)
#: Significance level of the above-chance test behind the ``caveat`` column.
CHANCE_ALPHA = 0.05
#: Summary columns that hold text.
TEXT_COLUMNS: tuple[str, ...] = ("model", "family", "protocol", "caveat", "S_set")
#: Columns after the scenarios.
KEY_COLUMNS: tuple[str, ...] = ("n_samples", "n_failed", "evaluated_at", "report_id", "model_url", "model_revision")
#: (column, results field, what it means): what a researcher reads about each row's protocol, at the end.
FACT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("architecture", "architecture", "architecture (the config's `architectures`, or the built-in's name)"),
    ("training_data", "training_data", "training data from the model card's `datasets:` (ImageNet-1k / more / unknown)"),
    ("task", "task", "what the model was scored as (classification, zero-shot)"),
    ("preprocessing", "preprocessing", "resize, crop and interpolation of the model's image processor"),
    ("precision", "precision", "dtype the weights ran in"),
    ("source_split", "source_split", "where the build's source images come from (ImageNet train / val), if recorded"),
    ("submitter", "submitter", "who submitted the model (a leaderboard request), blank for a direct push"),
)


@dataclass
class Leaderboard:
    """The table of one data fingerprint."""

    fingerprint: str
    data: list[str]
    frame: object  # pandas.DataFrame
    scenarios: list[str]
    notes: list[str] = field(default_factory=list)


def _newest_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["evaluated_at"] or "", r["submitted_at"] or "", r["report_id"]), reverse=True)


def _dedupe(rows: list[dict]) -> tuple[list[dict], list[str]]:
    kept: dict[tuple, dict] = {}
    notes = []
    for row in _newest_first(rows):
        key = (row["model"], row["protocol"])
        if key in kept:
            newer = kept[key]
            notes.append(
                f"{row['model']} ({row['protocol']}): two reports of one model and data; kept the newest "
                f"{newer['report_id']} ({newer['evaluated_at']}), dropped {row['report_id']} ({row['evaluated_at']})"
            )
        else:
            kept[key] = row
    return list(kept.values()), notes


def chance_caveat(row: dict) -> str:
    """A caveat when a classifier's μ is not significantly above chance ('' otherwise)."""
    from ximagenet12.metrics.robustness_score.functional import chance_test

    if row.get("task") != "classification" or row.get("mu") is None:
        return ""
    report = json.loads(row["report_json"])
    n_classes = len(report.get("classes") or [])
    n = int((report["scenarios"].get("original") or {}).get("n") or 0)
    if n_classes < 2 or n == 0:
        return ""
    test = chance_test(round(row["mu"] * n), n, n_classes, alpha=CHANCE_ALPHA)
    if test["mu_above_chance"]:
        return ""
    return (f"μ = {row['mu']:.3f} is not above chance (1/{n_classes}; binomial p = {test['p_value']:.2f}, n = {n}): "
            "a model wrong everywhere has no spread, so its S_robust means nothing; not ranked")


def _set_key(row: dict) -> tuple:
    return (row.get("scenario_set"), tuple(row.get("scenario_set_members") or ()))


def _set_text(key: tuple) -> str:
    return f"{key[0]} ({len(key[1])})" if key[0] else ""


def board_scenario_set(rows: list[dict]) -> tuple:
    """The (set name, members) most rows with an S_robust were scored over (more members first on a tie)."""
    counts: dict[tuple, int] = {}
    for row in rows:
        if row.get("s_robust_table3") is not None and row.get("scenario_set"):
            counts[_set_key(row)] = counts.get(_set_key(row), 0) + 1
    if not counts:
        return (None, ())
    return max(counts, key=lambda k: (counts[k], len(k[1]), str(k)))


def set_caveat(row: dict, board_set: tuple) -> str:
    """A caveat when a row's S_robust is over another scenario set than its table's ('' otherwise)."""
    if row.get("s_robust_table3") is None or _set_key(row) == board_set:
        return ""
    return (f"S_robust over scenario set {_set_text(_set_key(row)) or 'unknown'} is not comparable with this "
            f"table's {_set_text(board_set)}: not ranked")


def _scenario_order(rows: list[dict]) -> list[str]:
    order: list[str] = []
    for row in rows:
        for s in row["scenarios"]:
            if s["config"] not in order:
                order.append(s["config"])
    if "original" in order:
        order.remove("original")  # its value is μ
    return order


def _frame(rows: list[dict], scenarios: list[str], board_set: tuple):
    import pandas as pd

    records = []
    ranked = []
    for row in rows:
        rec = {}
        caveats = [c for c in (chance_caveat(row), set_caveat(row, board_set)) if c]
        ranked.append(not caveats)
        for column, source, _ in SUMMARY_COLUMNS:
            value = "; ".join(caveats) if column == "caveat" else row.get(source)
            if column == "params_M" and value is not None:
                value = value / 1e6
            if column == "S_set":
                value = _set_text(_set_key(row)) or None
            rec[column] = value
        values = {s["config"]: s["value"] for s in row["scenarios"]}
        for s in scenarios:
            rec[s] = values.get(s)
        for column in KEY_COLUMNS:
            rec[column] = row.get(column)
        for column, source, _ in FACT_COLUMNS:
            rec[column] = row.get(source)
        records.append(rec)
    columns = [c for c, _, _ in SUMMARY_COLUMNS] + scenarios + list(KEY_COLUMNS) + [c for c, _, _ in FACT_COLUMNS]
    frame = pd.DataFrame.from_records(records, columns=columns)
    numeric = [c for c, _, _ in SUMMARY_COLUMNS if c not in TEXT_COLUMNS] + scenarios
    frame[numeric] = frame[numeric].astype(float)  # None → NaN: missing, never 0
    frame["_unranked"] = [not r for r in ranked]
    frame = frame.sort_values(["_unranked", "S_robust"], ascending=[True, False], na_position="last", kind="stable")
    frame = frame.reset_index(drop=True)
    rank = pd.array([None] * len(frame), dtype="Int64")  # unranked rows: no rank, never a number above them
    trusted = ~frame.pop("_unranked").to_numpy()
    rank[trusted] = range(1, int(trusted.sum()) + 1)
    frame.insert(0, "rank", rank)
    return frame


def build_leaderboards(rows: list[dict]) -> list[Leaderboard]:
    """One :class:`Leaderboard` per data fingerprint, largest first; reports never mix across them."""
    by_fp: dict[str, list[dict]] = {}
    for row in rows:
        by_fp.setdefault(row["data_fingerprint"], []).append(row)
    boards = []
    for fp, group in by_fp.items():
        kept, notes = _dedupe(group)
        board_set = board_scenario_set(kept)
        notes += [f"{r['model']} ({r['protocol']}): {c}" for r in kept if (c := chance_caveat(r))]
        notes += [f"{r['model']} ({r['protocol']}): {c}" for r in kept if (c := set_caveat(r, board_set))]
        if board_set[0]:
            notes.append(f"S_robust is over scenario set {board_set[0]!r}: {', '.join(board_set[1])}")
        scenarios = _scenario_order(kept)
        data = sorted({r["data"] for r in kept})
        boards.append(Leaderboard(fingerprint=fp, data=data, frame=_frame(kept, scenarios, board_set),
                                  scenarios=scenarios, notes=notes))
    boards.sort(key=lambda b: (-len(b.frame), b.fingerprint))
    return boards

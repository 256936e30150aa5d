"""XImageNet-12 leaderboard: a Gradio app over a site folder written by ``ximagenet12 leaderboard``.

This one file is the Space's ``app.py`` (the site writer copies it there) and what
``ximagenet12 leaderboard --serve`` runs, so it imports nothing from ``ximagenet12``: only
gradio, pandas, numpy, scipy and the standard library (its ``requirements.txt``). The one
exception is the Submit tab, present only on a site written with ``--requests``: it runs
``ximagenet12 submit``'s checks, so such a site's requirements name ``ximagenet12``.

Tabs: the results table of one data fingerprint (filter by protocol, family, text; sort by
any figure; CSV download), a model page (density map, scenario plot, attribution overlays
when the report has them, provenance) and a comparison of two models (per-scenario
difference with a paired bootstrap interval, S_robust with the metric's intervals); with
``--requests``, a submission form and the status of every request.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["load_site", "filter_table", "display_table", "compare_reports", "build_app", "main", "submit_request",
           "request_status"]

SITE = Path(__file__).resolve().parent
ALL = "all"
#: Bootstrap replicates for a per-scenario difference, and their seed (same pair, same interval).
N_RESAMPLES = 2000
SEED = 0
CONFIDENCE = 0.95
#: Below this many samples per scenario a bootstrap interval is too coarse to trust; the page says so.
FEW_SAMPLES = 30
#: Resamples per batch for scipy's bootstrap of non-binary values (IoU): bounds its memory.
_BATCH = 100
#: Size filter: label -> [low, high) in millions of parameters.
SIZES = {"< 10M": (0.0, 10.0), "10M – 100M": (10.0, 100.0), "≥ 100M": (100.0, math.inf)}
UNKNOWN = "unknown"
_TEXT_COLUMNS = ("model", "family", "protocol", "caveat", "S_set", "evaluated_at", "report_id", "model_url", "model_revision")
#: What each row says about its protocol (text columns after the scenarios).
_FACT_COLUMNS = ("architecture", "training_data", "task", "preprocessing", "precision", "source_split", "submitter")
_TEXT_COLUMNS += _FACT_COLUMNS
#: Columns of the request status table (the submission tab).
REQUEST_COLUMNS = ("model", "revision", "task", "precision", "submitter", "status", "reason", "submitted_at",
                   "updated_at", "request_id")


def load_site(site: str | os.PathLike) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The site's ``leaderboard.json`` and one table per data fingerprint."""
    root = Path(site)
    index = root / "leaderboard.json"
    if not index.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a leaderboard site: no leaderboard.json (write one with `ximagenet12 leaderboard --out`)")
    meta = json.loads(index.read_text(encoding="utf-8"))
    tables = {b["fingerprint"]: pd.read_parquet(root / b["table"]) for b in meta["boards"]}
    return meta, tables


def filter_table(
    frame: pd.DataFrame,
    *,
    protocol: str = ALL,
    family: str = ALL,
    size: str = ALL,
    search: str = "",
    sort_by: str = "S_robust",
    descending: bool = True,
) -> pd.DataFrame:
    """Rows matching the filters, sorted by ``sort_by`` (missing values last in either order).

    Unranked rows (μ not above chance, or S_robust over another scenario set) stay after the
    ranked ones whatever the sort: sorting by S_robust never lifts a broken model to the top.
    """
    out = frame
    if protocol != ALL:
        out = out[out["protocol"] == protocol]
    if family != ALL:
        out = out[out["family"].fillna("unknown") == family]
    if size == UNKNOWN:
        out = out[out["params_M"].isna()]
    elif size != ALL:
        if size not in SIZES:
            raise ValueError(f"unknown size filter {size!r}; expected one of {', '.join([ALL, *SIZES, UNKNOWN])}")
        low, high = SIZES[size]
        out = out[(out["params_M"] >= low) & (out["params_M"] < high)]
    if search.strip():
        out = out[out["model"].str.contains(search.strip(), case=False, regex=False)]
    if sort_by in out.columns:
        out = out.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")
        if "rank" in out.columns:
            out = out.sort_values("rank", key=lambda r: r.isna(), kind="stable")  # ranked rows first, order kept
    return out.reset_index(drop=True)


def _link(model: str, url: object) -> str:
    text = model.replace("[", "\\[").replace("]", "\\]")
    return f"[{text}]({url})" if isinstance(url, str) and url else text


def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: model ids link to their Hub page, figures rounded, missing stays missing."""
    out = frame.drop(columns=["model_url"]).copy()
    out["model"] = [_link(m, u) for m, u in zip(frame["model"], frame["model_url"])]
    numeric = [c for c in out.columns if c not in _TEXT_COLUMNS and c != "rank"]
    out[numeric] = out[numeric].astype(float).round(4)
    if "rank" in out.columns:  # unranked rows (nullable Int64 NA) show an empty cell, like any missing figure
        out["rank"] = out["rank"].astype("Float64").astype(float)
    return out


def _datatypes(frame: pd.DataFrame) -> list[str]:
    return ["markdown" if c == "model" else ("str" if c in _TEXT_COLUMNS else "number") for c in frame.columns]


def _scipy_interval(a: np.ndarray, b: np.ndarray, *, paired: bool) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) − mean(b) by resampling (``scipy.stats.bootstrap``)."""
    from scipy.stats import bootstrap

    result = bootstrap(
        (a, b),
        lambda x, y, axis=-1: x.mean(axis=axis) - y.mean(axis=axis),
        paired=paired,
        vectorized=True,
        n_resamples=N_RESAMPLES,
        batch=_BATCH,
        confidence_level=CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _binary_interval(a: np.ndarray, b: np.ndarray, *, paired: bool) -> tuple[float, float]:
    """The same percentile bootstrap for right/wrong outcomes, drawn as counts.

    Hand-written because resampling n pairs B times costs O(B·n) time and memory (seconds and
    ~1 GB for one 15,000-sample scenario); for 0/1 outcomes the resampled counts of the four
    pair kinds (both right, only A, only B, both wrong) follow a multinomial, and unpaired
    counts binomials, so drawing the counts has exactly the resampling distribution at O(B)
    (the metric's own bootstrap draws binomial counts the same way).
    """
    rng = np.random.default_rng(SEED)
    if paired:
        kinds = np.bincount((2 * a + b).astype(np.int64), minlength=4) / len(a)  # 0 both wrong, 1 only B, 2 only A
        draws = rng.multinomial(len(a), kinds, size=N_RESAMPLES)
        diffs = (draws[:, 2] - draws[:, 1]) / len(a)
    else:
        diffs = rng.binomial(len(a), a.mean(), N_RESAMPLES) / len(a) - rng.binomial(len(b), b.mean(), N_RESAMPLES) / len(b)
    alpha = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _paired_interval(a: np.ndarray, b: np.ndarray, *, paired: bool) -> tuple[float, float]:
    """95% percentile bootstrap interval of mean(a) − mean(b) (NaN with fewer than two samples)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    if np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all():
        return _binary_interval(a, b, paired=paired)
    return _scipy_interval(a, b, paired=paired)


def compare_reports(site: str | os.PathLike, row_a: pd.Series, row_b: pd.Series, scenarios: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Per-scenario difference A − B with its bootstrap interval, and a summary line on S_robust.

    Samples are paired by ``source_id`` when both reports scored the same samples of a
    scenario (the usual case within one data fingerprint), else resampled independently.
    """
    root = Path(site)
    preds = {}
    for side, row in (("A", row_a), ("B", row_b)):
        path = root / "predictions" / f"{row['report_id']}.parquet"
        preds[side] = pd.read_parquet(path) if path.is_file() else None
    records = []
    for scenario in ["original", *scenarios]:
        a_val = row_a["mu"] if scenario == "original" else row_a.get(scenario)
        b_val = row_b["mu"] if scenario == "original" else row_b.get(scenario)
        rec = {"scenario": scenario, "A": a_val, "B": b_val, "A − B": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "n": np.nan, "paired": "", "significant": "n/a"}
        if pd.notna(a_val) and pd.notna(b_val):
            rec["A − B"] = float(a_val) - float(b_val)
        if preds["A"] is not None and preds["B"] is not None and pd.notna(rec["A − B"]):
            a = preds["A"][preds["A"]["config"] == scenario].set_index("source_id")["value"]
            b = preds["B"][preds["B"]["config"] == scenario].set_index("source_id")["value"]
            paired = a.index.is_unique and b.index.is_unique and set(a.index) == set(b.index)
            if paired:
                b = b.loc[a.index]
            low, high = _paired_interval(a.to_numpy(float), b.to_numpy(float), paired=paired)
            rec.update(ci_low=low, ci_high=high, n=float(min(len(a), len(b))), paired="yes" if paired else "no")
            if not math.isnan(low):
                rec["significant"] = "yes" if low > 0 or high < 0 else "no"
        records.append(rec)
    table = pd.DataFrame.from_records(records)
    num = ["A", "B", "A − B", "ci_low", "ci_high"]
    table[num] = table[num].astype(float).round(4)
    summary = _summary(row_a, row_b)
    few = table[table["n"] < FEW_SAMPLES]["scenario"].tolist()
    if few:
        summary += (f"\n- **warning:** {len(few)} scenario(s) have fewer than {FEW_SAMPLES} samples per model "
                    f"({', '.join(few)}): their intervals are coarse and a 'significant' there is weak evidence")
    return table, summary


def _fmt(value: object) -> str:
    return "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.4f}"


def _summary(row_a: pd.Series, row_b: pd.Series) -> str:
    lines = []
    intervals = []
    for side, row in (("A", row_a), ("B", row_b)):
        low, high = row.get("S_ci_low"), row.get("S_ci_high")
        ci = f" (95% CI {_fmt(low)} – {_fmt(high)})" if pd.notna(low) else " (no interval)"
        intervals.append((low, high))
        lines.append(f"- **{side}** `{row['model']}` ({row['protocol']}): μ = {_fmt(row['mu'])}, "
                     f"S_robust = {_fmt(row['S_robust'])}{ci}, scenario set {row.get('S_set') or 'unknown'}")
    (la, ha), (lb, hb) = intervals
    sets = {row_a.get("S_set"), row_b.get("S_set")}
    flagged = [side for side, row in (("A", row_a), ("B", row_b)) if isinstance(row.get("caveat"), str) and row["caveat"]]
    if len(sets) > 1:
        lines.append(f"- S_robust not compared: computed over different scenario sets ({' vs '.join(map(str, sets))})")
    elif flagged:
        lines.append(f"- S_robust not compared: {' and '.join(flagged)} carry a caveat ({row_a['caveat'] if 'A' in flagged else row_b['caveat']})")
    elif all(pd.notna(v) for v in (la, ha, lb, hb)):
        apart = ha < lb or hb < la
        lines.append(
            "- S_robust intervals " + ("do not overlap: the difference is significant" if apart
                                       else "overlap: no significant difference shown") + " (a conservative test)"
        )
    lines.append(f"- per-scenario intervals: {int(CONFIDENCE * 100)}% percentile bootstrap of A − B, "
                 f"{N_RESAMPLES} resamples, not corrected for multiple comparisons")
    return "\n".join(lines)


def _choices(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [(f"{m} · {p}", rid) for m, p, rid in zip(frame["model"], frame["protocol"], frame["report_id"])]


def _board_label(board: dict) -> str:
    return f"{', '.join(board['data'])} ({board['fingerprint']}, {board['n_rows']} row(s))"


def submit_request(requests: str, results: str | None, model: str, revision: str, task: str, precision: str,
                   submitter: str) -> str:
    """The form's answer: the request filed (PENDING), or the one-line refusal. The checks are
    ``ximagenet12 submit``'s (this tab needs the ``ximagenet12`` package, in the Space's requirements)."""
    from ximagenet12.leaderboard.submissions import SubmissionRefused, submit

    if not (submitter or "").strip():
        return "**Refused:** give your Hub user name (requests are rate-limited per submitter)"
    if not (model or "").strip():
        return "**Refused:** give a Hub model id 'owner/name'"
    try:
        r = submit(model.strip(), requests, revision=(revision or "").strip() or None, task=task, precision=precision,
                   submitter=submitter.strip(), results=results)
    except (SubmissionRefused, ValueError) as exc:
        return f"**Refused:** {exc}"
    return f"Request `{r.request_id}`: `{r.model}` at `{r.revision[:12]}` ({r.task}, {r.precision}) is **PENDING**."


def request_status(requests: str) -> pd.DataFrame:
    """Every request of the requests repo, newest first, with its status and reason."""
    from ximagenet12.leaderboard.submissions import read_requests

    rows = [{"model": r.model, "revision": r.revision[:12], "task": r.task, "precision": r.precision,
             "submitter": r.submitter, "status": r.status, "reason": r.reason or "", "submitted_at": r.submitted_at,
             "updated_at": r.updated_at, "request_id": r.request_id} for r in read_requests(requests)]
    return pd.DataFrame.from_records(rows[::-1], columns=list(REQUEST_COLUMNS))


def _status_on_load(requests: str) -> tuple[pd.DataFrame, str]:
    """The status table when the page opens; a requests repo not readable yet is said, not raised."""
    try:
        return request_status(requests), ""
    except ValueError as exc:
        return pd.DataFrame(columns=list(REQUEST_COLUMNS)), f"No requests to show yet: {exc}"


def _submission_tab(gr, meta: dict, demo) -> None:
    """The Submit tab: the request form and the status of every request (refreshed on demand)."""
    from ximagenet12.leaderboard.submissions import PRECISIONS, TASKS

    requests, results = meta["requests"], meta.get("results")
    with gr.Tab("Submit", id="submit-tab"):
        gr.Markdown(f"Ask this leaderboard to evaluate a Hub model. Requests go to `{requests}`; a worker "
                    "evaluates them on the published build. The model needs a card with a licence.")
        with gr.Row():
            model = gr.Textbox(label="model (Hub id owner/name)", elem_id="submit-model")
            revision = gr.Textbox(label="revision (default main)", elem_id="submit-revision")
            submitter = gr.Textbox(label="your Hub user name", elem_id="submit-submitter")
        with gr.Row():
            task = gr.Dropdown(list(TASKS), value=TASKS[0], label="task", elem_id="submit-task")
            precision = gr.Dropdown(list(PRECISIONS), value=PRECISIONS[0], label="precision", elem_id="submit-precision")
            send = gr.Button("Submit", variant="primary", elem_id="submit-button")
        answer = gr.Markdown(elem_id="submit-answer")
        refresh = gr.Button("Refresh status", elem_id="requests-refresh")
        status = gr.Dataframe(value=pd.DataFrame(columns=list(REQUEST_COLUMNS)), interactive=False, wrap=False,
                              elem_id="requests-table", label="requests")

        def on_submit(*fields):
            return submit_request(requests, results, *fields), request_status(requests)

        send.click(on_submit, [model, revision, task, precision, submitter], [answer, status])
        refresh.click(lambda: request_status(requests), None, status)
        demo.load(lambda: _status_on_load(requests), None, [status, answer])


class _Views:
    """What each control shows, as plain functions of the site's data (the Blocks only wire them)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta, self.tables = load_site(root)
        self.boards = {b["fingerprint"]: b for b in self.meta["boards"]}
        self.first = self.meta["boards"][0]["fingerprint"] if self.meta["boards"] else None

    def frame(self, fp: str | None) -> pd.DataFrame:
        return self.tables[fp] if fp in self.tables else pd.DataFrame()

    def picks(self, fp: str | None) -> list[tuple[str, str]]:
        return _choices(self.frame(fp)) if fp in self.tables else []

    def pick(self, fp: str | None, k: int) -> str | None:
        picks = self.picks(fp)
        return picks[k][1] if len(picks) > k else None

    def options(self, fp: str | None) -> tuple[list[str], list[str], list[str]]:
        frame = self.frame(fp)
        protocols = [ALL, *sorted(frame["protocol"].dropna().unique())] if len(frame) else [ALL]
        families = [ALL, *sorted(frame["family"].fillna(UNKNOWN).unique())] if len(frame) else [ALL]
        return protocols, families, [c for c in frame.columns if c not in _TEXT_COLUMNS]

    def table(self, fp, protocol, family, size, search, sort_by, order) -> pd.DataFrame:
        frame = filter_table(self.frame(fp), protocol=protocol, family=family, size=size, search=search or "",
                             sort_by=sort_by, descending=order == "descending")
        return display_table(frame) if len(frame) else frame

    def notes(self, fp: str | None) -> str:
        b = self.boards.get(fp)
        if b is None:
            return "No results yet."
        text = f"**Data:** {', '.join(b['data'])} — fingerprint `{fp}`. Reports over other data are in other tables."
        return text + ("\n\n" + "\n".join(f"- {n}" for n in b["notes"]) if b["notes"] else "")

    def csv(self, fp: str | None) -> str | None:
        return str(self.root / self.boards[fp]["csv"]) if fp in self.boards else None

    def severity_csv(self, fp: str | None) -> str | None:
        b = self.boards.get(fp)
        return str(self.root / b["severity_csv"]) if b and b.get("severity_csv") else None

    def model(self, fp: str | None, rid: str | None):
        """(markdown, density map path, scenario plot path, [(overlay path, name)], per-scenario frame)."""
        frame = self.frame(fp)
        row = frame[frame["report_id"] == rid] if len(frame) else frame
        if not rid or row.empty:
            return "Pick a model.", None, None, [], pd.DataFrame()
        row, board = row.iloc[0], self.boards[fp]
        figures = {name: str(self.root / rel) for name, rel in board["figures"].get(rid, {}).items()}
        extra = [(path, name) for name, path in figures.items() if name not in ("heatmap.png", "scenarios.png")]
        link = f"[{row['model']}]({row['model_url']})" if isinstance(row["model_url"], str) else f"`{row['model']}`"
        text = (f"### {link}\n\n{row['protocol']} · μ = {_fmt(row['mu'])} · S_robust = {_fmt(row['S_robust'])} "
                f"(scenario set {row.get('S_set') or 'unknown'}) · "
                f"revision `{row['model_revision']}` · evaluated {row['evaluated_at']} · report `{rid}`")
        if isinstance(row.get("caveat"), str) and row["caveat"]:
            text += f"\n\n**caveat:** {row['caveat']}"
        scen = pd.DataFrame({"scenario": ["original", *board["scenarios"]],
                             "value": [row["mu"], *[row[s] for s in board["scenarios"]]]})
        scen["value"] = scen["value"].astype(float).round(4)
        return text, figures.get("heatmap.png"), figures.get("scenarios.png"), extra, scen

    def compare(self, fp: str | None, rid_a: str | None, rid_b: str | None):
        frame = self.frame(fp)
        if not len(frame):
            return pd.DataFrame(), "Pick two models."
        a, b = frame[frame["report_id"] == rid_a], frame[frame["report_id"] == rid_b]
        if a.empty or b.empty:
            return pd.DataFrame(), "Pick two models."
        return compare_reports(self.root, a.iloc[0], b.iloc[0], self.boards[fp]["scenarios"])


def build_app(site: str | os.PathLike = SITE):
    """The Gradio Blocks of the leaderboard site ``site``: layout and wiring of :class:`_Views`."""
    import gradio as gr

    v = _Views(Path(site).resolve())
    first, picks = v.first, v.picks(v.first)
    protocols, families, sortable = v.options(first)

    def table_update(*filters):
        shown = v.table(*filters)
        return gr.update(value=shown, datatype=_datatypes(shown) if len(shown) else None)

    def model_update(fp, rid):
        text, heat, plot, extra, scen = v.model(fp, rid)
        return text, heat, plot, gr.update(value=extra, visible=bool(extra)), scen

    with gr.Blocks(title=v.meta.get("title", "XImageNet-12 leaderboard")) as demo:
        gr.Markdown(f"# {v.meta.get('title', 'XImageNet-12 leaderboard')}\n" + v.meta.get("intro", ""))
        board = gr.Dropdown([(_board_label(b), b["fingerprint"]) for b in v.meta["boards"]], value=first,
                            label="dataset (one table per data fingerprint)", elem_id="board")
        notes = gr.Markdown(v.notes(first), elem_id="board-notes")
        with gr.Tabs():
            with gr.Tab("Leaderboard", id="table-tab"):
                with gr.Row():
                    protocol = gr.Dropdown(protocols, value=ALL, label="protocol", elem_id="filter-protocol")
                    family = gr.Dropdown(families, value=ALL, label="family", elem_id="filter-family")
                    size = gr.Dropdown([ALL, *SIZES, UNKNOWN], value=ALL, label="size (parameters)", elem_id="filter-size")
                    search = gr.Textbox(label="model contains", elem_id="filter-search")
                    sort_by = gr.Dropdown(sortable, value="S_robust", label="sort by", elem_id="sort-by")
                    order = gr.Radio(["descending", "ascending"], value="descending", label="order", elem_id="sort-order")
                start = v.table(first, ALL, ALL, ALL, "", "S_robust", "descending")
                table = gr.Dataframe(value=start, datatype=_datatypes(start) if len(start) else None, interactive=False,
                                     wrap=False, elem_id="leaderboard-table", label="results")
                csv = gr.DownloadButton("Download CSV", value=v.csv(first), elem_id="download-csv")
                severity = gr.DownloadButton("Download per-severity CSV", value=v.severity_csv(first),
                                             elem_id="download-severity-csv")
                gr.Markdown("\n".join(f"- **{k}**: {text}" for k, text in v.meta.get("columns", {}).items()))
            with gr.Tab("Model", id="model-tab"):
                model = gr.Dropdown(picks, value=v.pick(first, 0), label="model", elem_id="model-pick")
                model_text = gr.Markdown(elem_id="model-text")
                with gr.Row():
                    heat = gr.Image(label="density map (scenario × class)", type="filepath", elem_id="model-heatmap")
                    plot = gr.Image(label="metric per scenario", type="filepath", elem_id="model-scenarios")
                overlays = gr.Gallery(label="attribution overlays", visible=False, elem_id="model-overlays")
                model_table = gr.Dataframe(interactive=False, elem_id="model-table", label="per scenario")
            with gr.Tab("Compare", id="compare-tab"):
                with gr.Row():
                    pick_a = gr.Dropdown(picks, value=v.pick(first, 0), label="model A", elem_id="compare-a")
                    pick_b = gr.Dropdown(picks, value=v.pick(first, 1), label="model B", elem_id="compare-b")
                summary = gr.Markdown(elem_id="compare-summary")
                diff = gr.Dataframe(interactive=False, elem_id="compare-table", label="per scenario: A − B")
            if v.meta.get("requests"):
                _submission_tab(gr, v.meta, demo)

        filters = [board, protocol, family, size, search, sort_by, order]
        for control in (protocol, family, size, sort_by, order):
            control.change(table_update, filters, table)
        search.submit(table_update, filters, table)

        def on_board(fp):
            p, f, s = v.options(fp)
            choices = v.picks(fp)
            return (gr.update(choices=p, value=ALL), gr.update(choices=f, value=ALL), gr.update(value=ALL),
                    gr.update(choices=s, value="S_robust"), table_update(fp, ALL, ALL, ALL, "", "S_robust", "descending"),
                    v.notes(fp), gr.update(value=v.csv(fp)), gr.update(choices=choices, value=v.pick(fp, 0)),
                    gr.update(choices=choices, value=v.pick(fp, 0)), gr.update(choices=choices, value=v.pick(fp, 1)))

        board.change(on_board, board, [protocol, family, size, sort_by, table, notes, csv, model, pick_a, pick_b])
        board.change(lambda fp: gr.update(value=v.severity_csv(fp)), board, severity)
        model_outputs = [model_text, heat, plot, overlays, model_table]
        model.change(model_update, [board, model], model_outputs)
        pick_a.change(v.compare, [board, pick_a, pick_b], [diff, summary])
        pick_b.change(v.compare, [board, pick_a, pick_b], [diff, summary])
        demo.load(model_update, [board, model], model_outputs)
        demo.load(v.compare, [board, pick_a, pick_b], [diff, summary])
    return demo


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the site this file lives in (the Space runs ``python app.py``)."""
    parser = argparse.ArgumentParser(description="XImageNet-12 leaderboard")
    parser.add_argument("--site", default=str(SITE), help="site folder (default: this file's folder)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args(argv)
    demo = build_app(args.site)
    demo.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(Path(args.site).resolve())],
                show_error=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The paper's regression analysis (Tables 1, 4, 6) over one or more evaluation reports.

Per (model, scenario, class) accuracy -- read from each report's ``per_class`` table --
is fitted by ordinary least squares (``statsmodels`` formula API)::

    accuracy ~ C(model) + C(scenario, Treatment('original')) + C(class_key)

(a factor with a single level is left out: one model → no model term). Outputs the
coefficient table (estimate, standard error, 95 % CI, p-value, significance stars:
``***`` p < 0.001, ``**`` < 0.01, ``*`` < 0.05, ``.`` < 0.1) and the type-II ANOVA
table (SS, DF, MS, F, p), each as CSV and Markdown. Reports of ``ximagenet12 explain`` fit
the same way with object focus as the response (their ``metric``); reports that measure
different things are not mixed, nor reports scored in different modes (strict top-1 and
restricted argmax of the same model differ by the mode, not the model: a "model effect"
between them would be the scoring rule): ``mode=`` picks one mode from every
classification report instead. Each estimate is a difference from its factor's
baseline level, which the tables name (the first level in sorted order where
``original`` is absent, e.g. in an explain report over other scenarios).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "AnalysisResult",
    "analyze_reports",
    "check_comparable",
    "collect_accuracies",
    "constant_response_warning",
    "format_number",
    "report_mode",
    "fit_analysis",
    "robustness_notes",
    "stars",
]

BASELINE_SCENARIO = "original"
ALPHA = 0.05
#: Observations spanning no more than this are a constant response.
CONSTANT_TOLERANCE = 1e-12
_FACTOR_LABELS = {"model": "model", "scenario": "scenario", "class_key": "class"}


def stars(p: float | None) -> str:
    if p is None or p != p:
        return ""
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    if p < 0.1:
        return "."
    return ""


@dataclass
class AnalysisResult:
    data: Any  # pandas.DataFrame: model, scenario, class_key, value, n
    coefficients: Any  # pandas.DataFrame
    anova: Any  # pandas.DataFrame
    formula: str
    metric: str
    warnings: list[str] = field(default_factory=list)
    #: factor -> the level its estimates are differences from ("scenario": "original" ...)
    baselines: dict[str, str] = field(default_factory=dict)
    mode: str | None = None  # the scoring mode of every report (classification), else None


def check_comparable(reports: Sequence[dict], *, names: Sequence[str] | None = None) -> list[str]:
    """Refuse reports over different data; return warnings for what cannot be checked.

    Reports are comparable when they evaluated the same dataset (the same recorded
    fingerprint: built folder contents or Hub revision) with the same class set.
    """
    labels = list(names) if names else [str(r.get("data", f"report {i}")) for i, r in enumerate(reports)]
    notes: list[str] = []
    classes = {tuple(c.get("key") for c in r.get("classes") or []) for r in reports}
    if len(classes) > 1:
        raise ValueError(
            "the reports cover different class sets ("
            + "; ".join(f"{lab}: {len(tuple(c.get('key') for c in r.get('classes') or []))} classes"
                        for lab, r in zip(labels, reports))
            + "); analyse reports over the same dataset only"
        )
    prints = {}
    for lab, r in zip(labels, reports):
        fp = ((r.get("dataset") or {}).get("fingerprint") or {})
        if fp.get("value"):
            prints.setdefault((fp.get("kind"), fp["value"]), []).append(lab)
        else:
            notes.append(f"report over {lab} records no dataset fingerprint: cannot check it used the same data")
    kinds = {kind for kind, _ in prints}
    if len(prints) > len(kinds):  # two values of one kind: certainly different data
        raise ValueError(
            "the reports evaluated different datasets ("
            + "; ".join(f"{', '.join(labs)}: {kind} {value[:12]}" for (kind, value), labs in prints.items())
            + "); analyse reports over the same dataset only"
        )
    if len(kinds) > 1:  # e.g. a local folder and a Hub revision: may or may not be the same data
        notes.append(f"the reports identify their data in different ways ({', '.join(sorted(kinds))}): "
                     "cannot check they used the same data")
    return notes


def robustness_notes(reports: Sequence[dict], *, names: Sequence[str] | None = None) -> list[str]:
    """Warnings about the reports' S_robust: μ not above chance, scores over different scenario sets.

    The regression fits accuracies, not S_robust, so neither refuses the analysis; the notes
    say which reports' S_robust must not be read or compared.
    """
    from ximagenet12.metrics.robustness_score.functional import check_same_scenario_set

    labels = list(names) if names else [str(r.get("model", f"report {i}")) for i, r in enumerate(reports)]
    notes = []
    blocks = [r.get("robustness") or {} for r in reports]
    for label, block in zip(labels, blocks):
        if block.get("mu_above_chance") is False:
            notes.append(f"{label}: {(block.get('chance') or {}).get('warning') or 'μ is not above chance'}")
    scored = [(label, b.get("scenario_set")) for label, b in zip(labels, blocks) if b.get("s_robust") is not None]
    if len(scored) > 1:
        try:
            check_same_scenario_set([s for _, s in scored], names=[lab for lab, _ in scored])
        except ValueError as exc:
            notes.append(f"{exc}: their S_robust values are not comparable")
    return notes


def constant_response_warning(frame, metric: str) -> str | None:
    """A warning when every observation has the same value: the fit then says nothing."""
    values = frame["value"]
    if len(values) and float(values.max() - values.min()) <= CONSTANT_TOLERANCE:
        return (f"every (model, scenario, class) {metric} is {float(values.iloc[0]):.4g}: the response is constant, "
                "so the estimates, p-values and stars below carry no information")
    return None


def report_mode(reports: Sequence[dict], *, mode: str | None = None, names: Sequence[str] | None = None) -> str | None:
    """The one scoring mode the reports are analysed in; refuses a mix.

    Without ``mode`` every report's headline mode must be the same. With ``mode`` each
    classification report gives that mode's values (it records both)."""
    labels = list(names) if names else [str(r.get("model")) for r in reports]
    if mode is not None:
        if mode not in ("strict", "restricted"):
            raise ValueError(f"unknown scoring mode {mode!r}; expected strict or restricted")
        for lab, r in zip(labels, reports):
            if r.get("mode") != mode and not all("modes" in e for e in (r.get("scenarios") or {}).values()):
                raise ValueError(f"report {lab} has no {mode} values (it was scored in {r.get('mode')!r} only)")
        return mode
    modes = {r.get("mode") for r in reports}
    if len(modes) > 1:
        raise ValueError(
            "the reports are scored in different modes ("
            + "; ".join(f"{lab}: {r.get('mode')}" for lab, r in zip(labels, reports))
            + "): a model term would measure the scoring rule, not the model; pass --mode strict or --mode "
            "restricted to analyse one mode of every report")
    return modes.pop()


def _per_class(entry: dict, report: dict, mode: str | None) -> dict:
    if mode is None or report.get("mode") == mode or "modes" not in entry:
        return entry.get("per_class") or {}
    return (entry["modes"].get(mode) or {}).get("per_class") or {}


def collect_accuracies(reports: Sequence[dict], *, names: Sequence[str] | None = None, mode: str | None = None):
    """One row per (model, scenario, class) with the report's primary metric (in ``mode``
    for classification reports: see :func:`report_mode`)."""
    import pandas as pd

    if not reports:
        raise ValueError("no reports to analyse")
    metrics = {r.get("metric", "accuracy") for r in reports}
    if len(metrics) > 1:
        raise ValueError(f"the reports measure different things ({', '.join(sorted(metrics))}); analyse them separately")
    metric = metrics.pop()
    rows = []
    # explain reports (metric object_focus) are told apart by their attribution method too
    labels = list(names) if names else [str(r.get("model")) + (f" ({r['method']})" if r.get("method") else "") for r in reports]
    if len(set(labels)) < len(labels):  # the same model twice: tell them apart by position
        labels = [f"{lab} [{i}]" for i, lab in enumerate(labels)]
    for label, report in zip(labels, reports):
        for scenario, entry in (report.get("scenarios") or {}).items():
            for key, cell in _per_class(entry, report, mode).items():
                value = cell.get(metric)
                if value is None or not cell.get("n"):
                    continue
                rows.append({"model": label, "scenario": scenario, "class_key": key, "value": float(value), "n": int(cell["n"])})
    frame = pd.DataFrame(rows, columns=["model", "scenario", "class_key", "value", "n"])
    if frame.empty:
        raise ValueError("the reports hold no per-class values to analyse")
    return frame, metric


def _split_term(name: str) -> tuple[str, str]:
    if name == "Intercept":
        return "Intercept", ""
    for column, label in _FACTOR_LABELS.items():
        if name.startswith(f"C({column}"):
            level = name.split("[T.", 1)[1][:-1] if "[T." in name else ""
            return label, level
    return name, ""


def fit_analysis(frame, *, metric: str = "accuracy") -> AnalysisResult:
    """OLS of ``value`` on model, scenario (baseline ``original``) and class, plus ANOVA."""
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    terms = []
    if frame["model"].nunique() > 1:
        terms.append("C(model)")
    if frame["scenario"].nunique() > 1:
        if BASELINE_SCENARIO in set(frame["scenario"]):
            terms.append(f"C(scenario, Treatment('{BASELINE_SCENARIO}'))")
        else:
            terms.append("C(scenario)")
    if frame["class_key"].nunique() > 1:
        terms.append("C(class_key)")
    if not terms:
        raise ValueError("nothing to fit: one model, one scenario and one class")
    formula = "value ~ " + " + ".join(terms)
    n_params = 1 + sum(frame[c].nunique() - 1 for c in ("model", "scenario", "class_key") if frame[c].nunique() > 1)
    if len(frame) <= n_params:
        raise ValueError(
            f"too few observations to fit {formula!r}: {len(frame)} (model, scenario, class) values for {n_params} "
            "parameters; evaluate more scenarios, classes or models"
        )
    fit = smf.ols(formula, data=frame).fit()
    baselines = {label: (BASELINE_SCENARIO if column == "scenario" and BASELINE_SCENARIO in set(frame[column])
                         else sorted(frame[column].unique())[0])
                 for column, label in _FACTOR_LABELS.items() if frame[column].nunique() > 1}
    ci = fit.conf_int(alpha=ALPHA)
    coef_rows = []
    for name in fit.params.index:
        factor, level = _split_term(name)
        p = float(fit.pvalues[name])
        coef_rows.append(
            {
                "term": factor,
                "level": level,
                "estimate": float(fit.params[name]),
                "std_error": float(fit.bse[name]),
                "ci_low": float(ci.loc[name, 0]),
                "ci_high": float(ci.loc[name, 1]),
                "t": float(fit.tvalues[name]),
                "p_value": p,
                "stars": stars(p),
            }
        )
    coefficients = pd.DataFrame(coef_rows)
    table = sm.stats.anova_lm(fit, typ=2)
    anova_rows = []
    for name, row in table.iterrows():
        factor = "Residual" if name == "Residual" else _split_term(name)[0]
        df = float(row["df"])
        ss = float(row["sum_sq"])
        f = row.get("F")
        p = row.get("PR(>F)")
        anova_rows.append(
            {
                "source": factor,
                "sum_sq": ss,
                "df": int(round(df)),
                "mean_sq": ss / df if df else float("nan"),
                "F": None if f is None or f != f else float(f),
                "p_value": None if p is None or p != p else float(p),
                "stars": stars(None if p is None or p != p else float(p)),
            }
        )
    anova = pd.DataFrame(anova_rows)
    return AnalysisResult(data=frame, coefficients=coefficients, anova=anova, formula=formula, metric=metric,
                          baselines=baselines)


#: Decimals shown for estimates, errors, sums of squares: a value below half the last digit
#: prints as 0 (least squares leaves round-off like 6.9e-17 where the exact value is 0).
DECIMALS = 4


def format_number(value: Any, column: str = "") -> str:
    """A table cell: fixed decimals; p-values below 0.0001 as ``<0.0001``; blanks for NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if column == "p_value" and value < 10 ** -DECIMALS:
        return f"<{10 ** -DECIMALS:.{DECIMALS}f}"
    text = f"{value:.{DECIMALS}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def display_levels(frame, class_names: dict[str, str]):
    """The table with class levels shown by name (``Maltese dog (n02085936)``), for people."""
    out = frame.copy()
    if "level" in out.columns:
        out["level"] = [f"{class_names[lv]} ({lv})" if t == "class" and class_names.get(lv, lv) != lv else lv
                        for t, lv in zip(out["term"], out["level"])]
    return out


def _markdown_table(frame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(format_number(row[c], c) for c in cols) + " |")
    return "\n".join(lines)


#: What ``analyze`` writes into its folder.
ANALYSIS_FILES = ("observations.csv", "coefficients.csv", "anova.csv", "coefficients.md", "anova.md", "analysis.md")


def class_names_of(reports: Sequence[dict]) -> dict[str, str]:
    """Class key -> name from the reports' ``classes`` (the key where a report names none)."""
    names: dict[str, str] = {}
    for r in reports:
        for c in r.get("classes") or []:
            if c.get("key") is not None and c.get("name"):
                names.setdefault(str(c["key"]), str(c["name"]))
    return names


def describe_baselines(result: "AnalysisResult", class_names: dict[str, str]) -> str:
    """``scenario `original`, class `Maltese dog (n02085936)` ...``: what each estimate is compared with."""
    parts = []
    for factor, level in result.baselines.items():
        shown = f"{class_names[level]} ({level})" if factor == "class" and level in class_names else level
        parts.append(f"{factor} `{shown}`")
    return ", ".join(parts) if parts else "none (no factor has two levels)"


def analyze_reports(folders: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                    mode: str | None = None, overwrite: bool = False) -> AnalysisResult:
    """Read ``report.json`` of each folder, fit, and write CSV + Markdown tables to ``out``.

    ``mode``: the scoring mode to analyse in every classification report; without it the
    reports' headline modes must agree (see :func:`report_mode`). ``out`` is an owned output
    folder (:class:`ximagenet12.io.owned.OwnedFolder`): a non-empty folder holding no
    earlier analysis is refused unless ``overwrite``, and a file ximagenet12 did not write is
    never replaced.
    """
    from ximagenet12.io.owned import OwnedFolder
    from ximagenet12.evaluation.report import read_report

    if not folders:
        raise ValueError("name at least one report folder")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {os.fspath(out)!r} is an existing file; analyze writes a folder of tables")
    OwnedFolder.check(out, command="analyze", overwrite=overwrite, planned=ANALYSIS_FILES)  # nothing created yet
    reports = [read_report(f) for f in folders]
    notes = check_comparable(reports, names=[os.fspath(f) for f in folders])
    notes += robustness_notes(reports, names=[os.fspath(f) for f in folders])
    mode = report_mode(reports, mode=mode, names=[os.fspath(f) for f in folders])
    frame, metric = collect_accuracies(reports, mode=mode)
    constant = constant_response_warning(frame, metric)
    notes += [constant] if constant else []
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    result = fit_analysis(frame, metric=metric)
    result.warnings = notes
    result.mode = mode
    names = class_names_of(reports)
    folder = OwnedFolder.open(out, command="analyze", overwrite=overwrite, planned=ANALYSIS_FILES)
    folder.write_with("observations.csv", lambda p: frame.to_csv(p, index=False))
    folder.write_with("coefficients.csv", lambda p: result.coefficients.to_csv(p, index=False))
    folder.write_with("anova.csv", lambda p: result.anova.to_csv(p, index=False))
    md = [
        "# Regression analysis",
        "",
        f"Reports: {', '.join(f'`{os.fspath(f)}`' for f in folders)}",
        "",
        f"OLS fit of per-(model, scenario, class) {metric}"
        + (f" ({mode} scoring)" if mode else "") + f": `{result.formula}` ({len(frame)} observations).",
        "",
        f"Each estimate is the difference from its factor's baseline: {describe_baselines(result, names)}.",
        "Significance: `***` p < 0.001, `**` p < 0.01, `*` p < 0.05, `.` p < 0.1.",
        "",
        *[f"> **Warning:** {note}\n" for note in notes],
        "## Coefficients",
        "",
        _markdown_table(display_levels(result.coefficients, names)),
        "",
        "## ANOVA (type II)",
        "",
        _markdown_table(result.anova),
        "",
    ]
    folder.write_text("coefficients.md", _markdown_table(display_levels(result.coefficients, names)) + "\n")
    folder.write_text("anova.md", _markdown_table(result.anova) + "\n")
    folder.write_text("analysis.md", "\n".join(md))
    return result

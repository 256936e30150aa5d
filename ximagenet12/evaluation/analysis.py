"""The paper's regression analysis (Tables 1, 4, 6) over one or more evaluation reports.

Per (model, scenario, class) accuracy -- read from each report's ``per_class`` table --
is fitted by ordinary least squares (``statsmodels`` formula API)::

    accuracy ~ C(model) + C(scenario, Treatment('original')) + C(class_key)

(a factor with a single level is left out: one model → no model term). Outputs the
coefficient table (estimate, standard error, 95 % CI, p-value, significance stars:
``***`` p < 0.001, ``**`` < 0.01, ``*`` < 0.05, ``.`` < 0.1) and the type-II ANOVA
table (SS, DF, MS, F, p), each as CSV and Markdown. Reports of ``ximagenet12 explain`` fit
the same way with object focus as the response (their ``metric``); reports that measure
different things are not mixed.
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


def collect_accuracies(reports: Sequence[dict], *, names: Sequence[str] | None = None):
    """One row per (model, scenario, class) with the report's primary metric."""
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
            for key, cell in (entry.get("per_class") or {}).items():
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
    return AnalysisResult(data=frame, coefficients=coefficients, anova=anova, formula=formula, metric=metric)


def _markdown_table(frame, floats: str = "{:.4g}") -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if v is None or (isinstance(v, float) and v != v):
                cells.append("")
            elif isinstance(v, float):
                cells.append(floats.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: What ``analyze`` writes into its folder.
ANALYSIS_FILES = ("observations.csv", "coefficients.csv", "anova.csv", "coefficients.md", "anova.md", "analysis.md")


def analyze_reports(folders: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                    overwrite: bool = False) -> AnalysisResult:
    """Read ``report.json`` of each folder, fit, and write CSV + Markdown tables to ``out``.

    ``out`` is an owned output folder (:class:`ximagenet12.builder.owned.OwnedFolder`): a
    non-empty folder holding no earlier analysis is refused unless ``overwrite``, and a
    file ximagenet12 did not write is never replaced.
    """
    from ximagenet12.builder.owned import OwnedFolder
    from ximagenet12.evaluation.report import read_report

    if not folders:
        raise ValueError("name at least one report folder")
    if Path(out).exists() and not Path(out).is_dir():
        raise ValueError(f"--out {os.fspath(out)!r} is an existing file; analyze writes a folder of tables")
    OwnedFolder.check(out, command="analyze", overwrite=overwrite, planned=ANALYSIS_FILES)  # nothing created yet
    reports = [read_report(f) for f in folders]
    notes = check_comparable(reports, names=[os.fspath(f) for f in folders])
    notes += robustness_notes(reports, names=[os.fspath(f) for f in folders])
    frame, metric = collect_accuracies(reports)
    constant = constant_response_warning(frame, metric)
    notes += [constant] if constant else []
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    result = fit_analysis(frame, metric=metric)
    result.warnings = notes
    folder = OwnedFolder.open(out, command="analyze", overwrite=overwrite, planned=ANALYSIS_FILES)
    folder.write_with("observations.csv", lambda p: frame.to_csv(p, index=False))
    folder.write_with("coefficients.csv", lambda p: result.coefficients.to_csv(p, index=False))
    folder.write_with("anova.csv", lambda p: result.anova.to_csv(p, index=False))
    md = [
        "# Regression analysis",
        "",
        f"Reports: {', '.join(f'`{os.fspath(f)}`' for f in folders)}",
        "",
        f"OLS fit of per-(model, scenario, class) {metric}: `{result.formula}` "
        f"({len(frame)} observations; baseline scenario `{BASELINE_SCENARIO}`).",
        "Significance: `***` p < 0.001, `**` p < 0.01, `*` p < 0.05, `.` p < 0.1.",
        "",
        *[f"> **Warning:** {note}\n" for note in notes],
        "## Coefficients",
        "",
        _markdown_table(result.coefficients),
        "",
        "## ANOVA (type II)",
        "",
        _markdown_table(result.anova),
        "",
    ]
    folder.write_text("coefficients.md", _markdown_table(result.coefficients) + "\n")
    folder.write_text("anova.md", _markdown_table(result.anova) + "\n")
    folder.write_text("analysis.md", "\n".join(md))
    return result

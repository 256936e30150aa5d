"""``score``: S_robust with both of its terms, from an external and an internal run.

The external part is an ex1 training run or any ``ximagenet12 evaluate`` report (a model
trained on originals, tested on every scenario): its per-scenario accuracy around its μ on
``original``. The internal part is an ex2 run (trained and tested within each scenario):
its per-scenario accuracy around *its own* μ on ``original``, as the paper's Table 3 has it.
The external term is taken over the scenarios the two runs share (``original`` and
non-paper severity levels excluded, as in the evaluator), and the ``robustness_score``
``evaluate`` metric (:func:`ximagenet12.metrics.load_metric`) computes S_robust under
each requested configuration, each with the internal term of its reading (SPEC §6):

- ``table3`` (variances, n − 1): the ex2 run's per-scenario accuracies around its own μ',
  over the shared scenarios, as the published Table 3 was computed;
- ``formula`` (standard deviations, n): by default C'(k) over *object classes*, the
  external run's per-class accuracy on ``original`` around its μ (the metric's
  ``internal_term = "classes"``); ``formula_internal="ex2"`` takes the ex2 scenarios
  instead, for a user who wants the printed formula's dispersion on Table 3's term.

Each score in ``score.json`` says which internal term it used (``internal_term``,
``internal_source``, its values and reference). Runs over different datasets or class
lists are refused.

The scenarios are those of a named scenario set (``scenario_set``, default ``background``:
the paper's background-only scenarios) that both runs evaluated; the set's name, members
and what it left out are in ``score.json`` and the printed table. Both μ and μ' are tested
against chance (1 / number of classes, one-sided exact binomial): S_robust is spread around
μ, and a model at chance has none, so a run at chance is flagged beside every score.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ximagenet12.evaluation.report import read_report, robustness_scenarios

__all__ = ["SCORE_CONFIGS", "FORMULA_INTERNAL", "score_runs", "format_score", "write_score"]

SCORE_CONFIGS: tuple[str, ...] = ("table3", "formula")
#: Internal terms the ``formula`` configuration can take: object classes (SPEC §6, default) or the ex2 scenarios.
FORMULA_INTERNAL: tuple[str, ...] = ("classes", "ex2")


def _dataset_id(report: dict) -> str:
    data = (report.get("provenance") or {}).get("data") or {}
    ident = data.get("fingerprint") or data.get("resolved_revision")
    if ident:
        return str(ident)
    path = str(report.get("data", ""))
    return os.path.abspath(path) if os.path.isdir(path) else path


def _describe(folder: str | os.PathLike, report: dict, role: str) -> dict:
    model = (report.get("provenance") or {}).get("model") or {}
    return {"role": role, "folder": os.fspath(folder), "model": report.get("model"),
            "model_commit": model.get("resolved_commit"), "data": report.get("data"),
            "dataset": _dataset_id(report), "protocol": report.get("protocol", "evaluate"),
            "method": report.get("method"), "n_folds": report.get("n_folds"), "mode": report.get("mode")}


def _check_pair(ext_dir, ext: dict, int_dir, internal: dict) -> None:
    if ext.get("task") != "classification":
        raise ValueError(f"{os.fspath(ext_dir)!r} is not a classification report (task {ext.get('task')!r})")
    if ext.get("protocol") == "ex2":
        raise ValueError(f"{os.fspath(ext_dir)!r} is an ex2 run: the first folder must be an ex1 run or an evaluate report")
    if internal.get("protocol") != "ex2":
        raise ValueError(f"{os.fspath(int_dir)!r} is not an ex2 run (protocol {internal.get('protocol', 'evaluate')!r})")
    keys = lambda r: [(c["name"], c["key"]) for c in r.get("classes", [])]  # noqa: E731
    if keys(ext) != keys(internal):
        raise ValueError(
            f"the runs have different class lists ({len(keys(ext))} classes in {os.fspath(ext_dir)!r}, "
            f"{len(keys(internal))} in {os.fspath(int_dir)!r}; first difference: "
            f"{next((a, b) for a, b in zip(keys(ext) + [None], keys(internal) + [None]) if a != b)})"
        )
    if _dataset_id(ext) != _dataset_id(internal):
        raise ValueError(
            f"the runs are over different datasets: {_dataset_id(ext)!r} ({os.fspath(ext_dir)!r}) and "
            f"{_dataset_id(internal)!r} ({os.fspath(int_dir)!r})"
        )


def _accuracies(report: dict, folder, scenario_set: str) -> tuple[float, dict[str, float]]:
    scen = report["scenarios"]
    if scen.get("original", {}).get("accuracy") is None:
        raise ValueError(f"{os.fspath(folder)!r} has no accuracy on 'original' (its μ)")
    values = {c: scen[c]["accuracy"] for c in robustness_scenarios(list(scen), scenario_set=scenario_set)
              if scen[c]["accuracy"] is not None}
    return float(scen["original"]["accuracy"]), values


def _chance(report: dict, role: str) -> dict | None:
    """μ of one run against chance 1 / number of classes (None when the run lacks the counts)."""
    from ximagenet12.metrics.robustness_score.functional import chance_test

    original = report["scenarios"]["original"]
    n, k = int(original.get("n") or 0), len(report.get("classes") or [])
    if n == 0 or k < 2:
        return None
    result = chance_test(round(float(original["accuracy"]) * n), n, k)
    if result["warning"]:
        result["warning"] = f"{role} run: {result['warning']}"
    return result


def _class_accuracies(report: dict, folder) -> dict[str, float]:
    """The external run's per-class accuracy on ``original`` (classes with images only)."""
    per_class = report["scenarios"]["original"].get("per_class") or {}
    values = {k: float(v["accuracy"]) for k, v in per_class.items() if v.get("n") and v.get("accuracy") is not None}
    if len(values) < 2:
        raise ValueError(f"{os.fspath(folder)!r} has per-class accuracy on 'original' for {len(values)} class(es): "
                         "formula's internal term over classes needs at least two (or use formula_internal='ex2')")
    return values


def _above_chance(chances: dict, term: dict) -> bool | None:
    """μ above chance for every run a score's terms come from (ex2's μ' too when it gives the internal term)."""
    runs = [chances["external"]] + ([chances["internal"]] if term["internal_term"] == "ex2 scenarios" else [])
    flags = [c["mu_above_chance"] for c in runs if c is not None]
    return all(flags) if flags else None


def _internal_terms(configs, formula_internal: str, ext: dict, external, mu_e: float, mu_i: float,
                    scenario_values: dict[str, float]) -> dict[str, dict]:
    """Per configuration: which internal values, around which reference, from where."""
    ex2 = {"internal_term": "ex2 scenarios", "reference": mu_i, "values": scenario_values,
           "internal_source": "ex2 run: per-scenario accuracy (trained and tested within each scenario) around its "
                              "own μ' on original"}
    terms = {}
    for name in configs:
        if name == "formula" and formula_internal == "classes":
            terms[name] = {"internal_term": "classes", "reference": mu_e, "values": _class_accuracies(ext, external),
                           "internal_source": "external run: per-class accuracy on original around its μ "
                                              "(the printed formula's C'(k) over object classes)"}
        else:
            terms[name] = ex2
    return terms


def score_runs(
    external: str | os.PathLike,
    internal: str | os.PathLike,
    *,
    configs: Sequence[str] = SCORE_CONFIGS,
    formula_internal: str = "classes",
    scenario_set: str = "background",
    out: str | os.PathLike | None = None,
) -> dict:
    """S_robust of the two runs under each of ``configs``; written to ``out`` (JSON) if given.

    ``formula_internal`` is the internal term of ``formula``: ``classes`` (default) or ``ex2``."""
    from ximagenet12.metrics import load_metric

    unknown = [c for c in configs if c not in SCORE_CONFIGS]
    if unknown or not configs:
        raise ValueError(f"unknown score configuration(s) {unknown or configs}; expected {', '.join(SCORE_CONFIGS)}")
    if formula_internal not in FORMULA_INTERNAL:
        raise ValueError(f"unknown formula internal term {formula_internal!r}; expected {', '.join(FORMULA_INTERNAL)}")
    if out is not None and Path(out).is_dir():
        raise ValueError(f"--out {os.fspath(out)!r} is an existing folder; score writes one JSON file (e.g. "
                         f"{os.path.join(os.fspath(out), 'score.json')!r})")
    ext, intl = read_report(external), read_report(internal)
    training = ext.get("training_rows") or {}
    if training.get("included"):
        raise ValueError(f"{os.fspath(external)!r} scored {training.get('trained_on')} source id(s) its model was trained "
                         "on (--include-training-rows): S_robust needs held-out accuracies; evaluate again without it")
    _check_pair(external, ext, internal, intl)
    mu_e, values_e = _accuracies(ext, external, scenario_set)
    mu_i, values_i = _accuracies(intl, internal, scenario_set)
    common = [c for c in values_i if c in values_e]
    if not common:
        raise ValueError(
            f"the runs share no scenario of set {scenario_set!r} besides 'original': {os.fspath(external)!r} has "
            f"{', '.join(values_e) or 'none'}, {os.fspath(internal)!r} has {', '.join(values_i) or 'none'}"
        )
    from ximagenet12.metrics.robustness_score.functional import resolve_scenario_set, scenario_set_warning

    chosen = resolve_scenario_set(scenario_set, common)
    chosen["excluded"] = sorted({c for r in (ext, intl) for c in r["scenarios"] if c != "original" and c not in common})
    chances = {"external": _chance(ext, "external"), "internal": _chance(intl, "internal")}
    warnings = [c["warning"] for c in chances.values() if c and c["warning"]]
    warnings += [f"{role} run: μ was not tested against chance (no sample count or class list)"
                 for role, c in chances.items() if c is None]
    warnings += [scenario_set_warning(chosen)] if chosen["missing"] else []
    terms = _internal_terms(configs, formula_internal, ext, external, mu_e, mu_i, {c: values_i[c] for c in common})
    results: dict[str, Any] = {}
    for name in configs:
        term = terms[name]
        r = load_metric(name).compute(external={c: values_e[c] for c in common}, external_reference=mu_e,
                                      internal=term["values"], internal_reference=term["reference"])
        results[name] = {**{k: (v.item() if hasattr(v, "item") else v) for k, v in dict(r).items()},
                         "internal_term": term["internal_term"], "internal_source": term["internal_source"],
                         "internal_values": term["values"], "mu": mu_e, "scenario_set": chosen,
                         "chance": chances["external"], "mu_above_chance": _above_chance(chances, term),
                         "warnings": warnings}
    doc = {
        "runs": {"external": _describe(external, ext, "external"), "internal": _describe(internal, intl, "internal")},
        "scenarios": common,
        "scenario_set": chosen,
        "chance": chances,
        "warnings": warnings,
        "left_out": {"external_only": [c for c in values_e if c not in common],
                     "internal_only": [c for c in values_i if c not in common]},
        "external": {"reference": mu_e, "accuracy": {c: values_e[c] for c in common}},
        "internal": {"reference": mu_i, "accuracy": {c: values_i[c] for c in common}},
        "scores": results,
    }
    if out is not None:
        write_score(doc, out)
    return doc


def write_score(doc: dict, out: str | os.PathLike) -> Path:
    """Write the score JSON to ``out`` under a temporary name, then rename (issue 25): a file
    that is not an earlier score of this command, a folder or a symbolic link is refused,
    never replaced."""
    path = Path(out)
    if path.is_symlink():
        raise ValueError(f"refusing to write the score to {path}: it is a symbolic link; ximagenet12 never writes "
                         "through a link")
    if path.exists():
        if not path.is_file():
            raise ValueError(f"refusing to write the score to {path}: it exists and is not a file")
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if not (isinstance(old, dict) and {"runs", "scores"} <= set(old)):
            raise ValueError(f"refusing to write the score to {path}: it exists and is not a score written by "
                             "ximagenet12 score; choose another file or move it away")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.is_file():
            tmp.unlink()
    return path


def format_score(doc: dict) -> str:
    """The table ``ximagenet12 score`` prints."""
    e, i = doc["runs"]["external"], doc["runs"]["internal"]
    lines = [
        f"external: {e['folder']} ({e['protocol']}, model {e['model']}, μ = {doc['external']['reference']:.4f})",
        f"internal: {i['folder']} (ex2 {i['method']}, {i['n_folds']} folds, model {i['model']}, "
        f"μ' = {doc['internal']['reference']:.4f})",
        f"scenarios ({len(doc['scenarios'])}): {', '.join(doc['scenarios'])}",
    ]
    for side, names in doc["left_out"].items():
        if names:
            lines.append(f"left out ({side.replace('_', ' ')}): {', '.join(names)}")
    sset = doc.get("scenario_set") or {}
    lines.append(f"scenario set: {sset.get('name')!r}" + (f" (not in it: {', '.join(sset['excluded'])})"
                                                         if sset.get("excluded") else ""))
    lines.append(f"{'config':<8} {'mu':>7} {'sigma2_e':>9} {'sigma2_i':>9} {'sigma_e':>8} {'sigma_i':>8} {'S_robust':>9}  "
                 "internal term")
    for name, r in doc["scores"].items():
        term = f"{r.get('internal_term', 'ex2 scenarios')} (n={r.get('n_i')}, around {r.get('internal_reference'):.4f})"
        flag = "  NOT ABOVE CHANCE" if r.get("mu_above_chance") is False else ""
        lines.append(f"{name:<8} {doc['external']['reference']:>7.4f} {r['sigma2_e']:>9.4f} {r['sigma2_i']:>9.4f} "
                     f"{r['sigma_e']:>8.4f} {r['sigma_i']:>8.4f} {r['s_robust']:>9.4f}  {term}{flag}")
    for name, r in doc["scores"].items():
        if r.get("internal_source"):
            lines.append(f"  {name}: {r['internal_source']}")
    lines += [f"WARNING: {w}" for w in doc.get("warnings") or []]
    return "\n".join(lines)

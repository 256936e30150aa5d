"""The results schema: one row per evaluation report, with its provenance.

A results repo is a ``datasets`` folder (parquet + card) that the Hub's viewer shows and
``datasets.load_dataset`` reads::

    README.md                               card: configs `results` (default) and `predictions`
    data/results/results.parquet            one row per report (:data:`RESULTS_SCHEMA`)
    data/predictions/<report_id>.parquet    one row per evaluated sample (:data:`PREDICTIONS_SCHEMA`)
    data/figures/<report_id>.parquet        the report's figures as PNG images (density map, scenario
                                            plot, attribution overlays when the report has them)

Figures that only some report kinds have (σ_i from an EX2 run, worst-case background
accuracy, object focus) are nullable columns from the first version on: a report that lacks
them stores null, which every table shows as missing, never as 0. A report kind fills one by
writing it as a top-level number of its report.json (``"sigma_i"``,
``"worst_case_background"``, ``"object_focus"``; see :data:`OPTIONAL_FIGURES`). The card's metadata names
the schema (``ximagenet12_results: <version>``); a repo without it, or with other columns,
is refused with one line, not read half-way.

Version 2 (issue 26) adds what makes S_robust safe to read: the named scenario set it was
computed over (``scenario_set``, ``scenario_set_members``) and the one-sided exact binomial
test of μ against chance (``mu_above_chance``, ``chance_p_value``); its bootstrap interval
resamples source images, paired across scenarios. Version 1 repos scored every scenario
(controls included) and are refused rather than mixed with version 2 rows.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = [
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "RESULTS_CONFIG",
    "PREDICTIONS_CONFIG",
    "FIGURES_CONFIG",
    "FIGURES_SCHEMA",
    "RESULTS_FILE",
    "RESULTS_SCHEMA",
    "PREDICTIONS_SCHEMA",
    "OPTIONAL_FIGURES",
    "check_schema",
    "ADDED_COLUMNS",
    "with_added_columns",
]

#: Card metadata key that marks a results repo, and the version of its layout.
SCHEMA_NAME = "ximagenet12_results"
SCHEMA_VERSION = 2
RESULTS_CONFIG = "results"
PREDICTIONS_CONFIG = "predictions"
FIGURES_CONFIG = "figures"
RESULTS_FILE = f"data/{RESULTS_CONFIG}/results.parquet"

_SCENARIO = pa.struct(
    [
        ("config", pa.string()),
        ("value", pa.float64()),  # the report's metric on this config; null when no sample was scored
        ("n", pa.int64()),
        ("n_failed", pa.int64()),
    ]
)

#: Figures that later report kinds fill in; null (shown as missing) until they do.
OPTIONAL_FIGURES: tuple[str, ...] = ("sigma_i", "worst_case_background", "object_focus")

RESULTS_SCHEMA = pa.schema(
    [
        ("report_id", pa.string()),  # sha256 of report.json (first 16 hex digits)
        ("schema_version", pa.int32()),
        ("evaluated_at", pa.string()),  # ISO 8601 UTC: when report.json was written
        ("submitted_at", pa.string()),  # ISO 8601 UTC: when the row was made
        ("model", pa.string()),
        ("model_revision", pa.string()),
        ("model_url", pa.string()),
        ("model_family", pa.string()),
        ("model_params", pa.int64()),
        ("task", pa.string()),
        ("metric", pa.string()),
        ("protocol", pa.string()),
        ("data", pa.string()),  # as given to the evaluator (folder or Hub id)
        ("data_fingerprint", pa.string()),
        ("data_revision", pa.string()),
        ("limit", pa.int64()),
        ("n_samples", pa.int64()),
        ("n_failed", pa.int64()),
        ("mu", pa.float64()),
        ("s_robust_table3", pa.float64()),
        ("s_robust_table3_ci_low", pa.float64()),
        ("s_robust_table3_ci_high", pa.float64()),
        ("s_robust_formula", pa.float64()),
        ("scenario_set", pa.string()),  # name of the scenario set S_robust is over (background, table3, all)
        ("scenario_set_members", pa.list_(pa.string())),  # the scenarios S_robust was computed over
        ("mu_above_chance", pa.bool_()),  # μ significantly above 1 / classes; null where not tested (IoU)
        ("chance_p_value", pa.float64()),  # one-sided exact binomial p-value of that test
        ("sigma_e", pa.float64()),
        ("sigma_i", pa.float64()),
        ("bg_gap", pa.float64()),
        ("worst_case_background", pa.float64()),
        ("object_focus", pa.float64()),
        ("scenarios", pa.list_(_SCENARIO)),
        ("assets", pa.list_(pa.string())),  # names of its figures in the `figures` config
        ("versions", pa.string()),  # JSON: package versions the evaluator recorded
        ("report_json", pa.string()),  # the whole report.json, so later readers can re-derive figures
        # added for submissions (nullable; a table written before them reads with them null):
        ("request_id", pa.string()),  # the submission's request id (idempotency key); null for a direct push
        ("submitter", pa.string()),  # Hub user who submitted the request
        ("precision", pa.string()),  # dtype the model ran in (float32, float16, bfloat16)
        ("architecture", pa.string()),  # config `architectures[0]` / model_type, or the built-in's name
        ("training_data", pa.string()),  # ImageNet-1k / more than ImageNet-1k / other: ... / unknown (card `datasets:`)
        ("preprocessing", pa.string()),  # resize, crop, interpolation (the processor config)
        ("source_split", pa.string()),  # where the build's source images come from (its build_info.json), or unknown
    ]
)

#: Columns added after the first layout: a results table without them is read with them null.
ADDED_COLUMNS: tuple[str, ...] = ("request_id", "submitter", "precision", "architecture", "training_data",
                                  "preprocessing", "source_split")

PREDICTIONS_SCHEMA = pa.schema(
    [
        ("report_id", pa.string()),
        ("config", pa.string()),
        ("source_id", pa.string()),
        ("class_key", pa.string()),
        ("value", pa.float64()),  # 1.0 / 0.0 for a right / wrong classification, the IoU for segmentation
    ]
)


def check_schema(schema: pa.Schema, expected: pa.Schema, *, where: str) -> None:
    """Raise one ``ValueError`` line when ``schema`` is not ``expected`` (a foreign table)."""
    got = {f.name: f.type for f in schema}
    want = {f.name: f.type for f in expected}
    missing = [n for n in want if n not in got]
    extra = [n for n in got if n not in want]
    changed = [n for n in want if n in got and got[n] != want[n]]
    if missing or extra or changed:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown column(s) {', '.join(extra)}")
        if changed:
            parts.append(", ".join(f"{n} is {got[n]} (expected {want[n]})" for n in changed))
        raise ValueError(
            f"{where} is not a ximagenet12 results table (schema {SCHEMA_NAME} v{SCHEMA_VERSION}): " + "; ".join(parts)
        )

#: One row per figure of a report; ``image`` is the ``datasets`` Image struct (PNG bytes).
FIGURES_SCHEMA = pa.schema(
    [
        ("report_id", pa.string()),
        ("name", pa.string()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
    ]
)


def with_added_columns(table: pa.Table) -> pa.Table:
    """``table`` with every :data:`ADDED_COLUMNS` column it lacks appended as nulls."""
    for name in ADDED_COLUMNS:
        if name not in table.column_names:
            table = table.append_column(pa.field(name, RESULTS_SCHEMA.field(name).type),
                                        pa.nulls(table.num_rows, RESULTS_SCHEMA.field(name).type))
    return table

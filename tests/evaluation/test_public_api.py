"""``ximagenet12.evaluation`` offers its entry points without loading torch on import."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_importing_the_package_does_not_load_torch_or_transformers():
    code = (
        "import sys, ximagenet12.evaluation as ev; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_to_its_implementation():
    import ximagenet12.evaluation as ev
    from ximagenet12.evaluation.analysis import analyze_reports
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import write_report

    assert ev.evaluate_classification is evaluate_classification
    assert ev.analyze_reports is analyze_reports and ev.write_report is write_report
    assert sorted(dir(ev)) == sorted(ev.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'evaluate_everything'"):
        ev.evaluate_everything

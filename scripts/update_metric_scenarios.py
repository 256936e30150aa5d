"""Rewrite the metric's copy of the registry's scenario names (KNOWN_SCENARIOS).

The robustness_score metric runs inside ``evaluate`` with numpy alone, so it cannot import
``ximagenet12.registry``; it keeps a copy between BEGIN/END markers in
``metrics/robustness_score/functional.py``, which tests/metrics/test_functional.py checks
against the registry. Run after adding a scenario::

    python scripts/update_metric_scenarios.py
"""

from __future__ import annotations

import re
from pathlib import Path

from ximagenet12.registry import all_variants

TARGET = Path(__file__).resolve().parents[1] / "metrics" / "robustness_score" / "functional.py"
_BLOCK = re.compile(r"(    # BEGIN KNOWN_SCENARIOS \(generated\)\n).*?(    # END KNOWN_SCENARIOS\n)", re.S)


def render() -> str:
    names = "".join(f'        "{v.config_name}",\n' for v in all_variants())
    return f"    (\n{names}    )\n"


def main() -> None:
    text = TARGET.read_text(encoding="utf-8")
    new = _BLOCK.sub(lambda m: m.group(1) + render() + m.group(2), text)
    TARGET.write_text(new, encoding="utf-8")
    print(f"{TARGET}: {'updated' if new != text else 'already up to date'}")


if __name__ == "__main__":
    main()

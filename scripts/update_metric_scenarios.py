"""Rewrite the metric's copies of the registry's scenario names and scenario sets.

The robustness_score metric runs inside ``evaluate`` with numpy alone, so it cannot import
``ximagenet12.scenarios.registry``; it keeps copies between BEGIN/END markers in
``metrics/robustness_score/functional.py`` (``KNOWN_SCENARIOS`` and ``SCENARIO_SETS``),
which tests/metrics/test_functional.py checks against the registry. Run after adding a
scenario::

    python scripts/update_metric_scenarios.py
"""

from __future__ import annotations

import re
from pathlib import Path

from ximagenet12.scenarios.registry import all_variants, scenario_sets

TARGET = Path(__file__).resolve().parents[1] / "metrics" / "robustness_score" / "functional.py"


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(    # BEGIN {name} \(generated\)\n).*?(    # END {name}\n)", re.S)


def render() -> str:
    names = "".join(f'        "{v.config_name}",\n' for v in all_variants())
    return f"    (\n{names}    )\n"


def render_sets() -> str:
    lines = ["    {\n"]
    for name, members in scenario_sets().items():
        lines.append(f'        "{name}": (\n' + "".join(f'            "{m}",\n' for m in members) + "        ),\n")
    return "".join(lines) + "    }\n"


def main() -> None:
    text = TARGET.read_text(encoding="utf-8")
    new = _block("KNOWN_SCENARIOS").sub(lambda m: m.group(1) + render() + m.group(2), text)
    new = _block("SCENARIO_SETS").sub(lambda m: m.group(1) + render_sets() + m.group(2), new)
    TARGET.write_text(new, encoding="utf-8")
    print(f"{TARGET}: {'updated' if new != text else 'already up to date'}")


if __name__ == "__main__":
    main()

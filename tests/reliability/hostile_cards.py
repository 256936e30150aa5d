"""Hostile card text, shared by ``test_card_text.py`` and the reliability tally.

:data:`HOSTILE_REPO_IDS`: the injections of the hostile pass as ``--repo-id`` / ``--repo``
values (refused by ``huggingface_hub``'s validator). :data:`UNROUNDTRIPPABLE_CLASSES`:
class folder names that cannot round-trip through the folder reader, ``ClassLabel``, the
parquet and the card (refused naming the folder). :data:`ESCAPED_CLASSES`: legal names that
mean something to Markdown or HTML (escaped; the card must render them back exactly).
"""

from __future__ import annotations

from pathlib import Path

import hostile

HOSTILE_REPO_IDS = {
    "newline": "owner/name\nlicense: mit",
    "yaml_end": "owner/---",
    "html": "owner/<img src=x onerror=alert(1)>",
    "javascript_link": "owner/[x](javascript:alert(1))",
    "code_fence": "owner/```python",
    "dotdot": "../owner/name",
    "dotdot_name": "owner/..",
    "three_parts": "a/b/c",
}
UNROUNDTRIPPABLE_CLASSES = ["<img src=x onerror=alert(1)>", "...", " leading space", "trailing space ", "bell\x07",
                            "line\nbreak"]
ESCAPED_CLASSES = sorted(["a&b [x](javascript:alert(1))", "*star* _u_ $x$", "tick`s | pipe", "dog"])


def class_folders(root: Path, names: list[str]) -> Path:
    """A folder source (``images/<class>/``, ``masks/<class>/``) with two samples per class name."""
    for c, cls in enumerate(names):
        for k in range(2):
            hostile.write_good_pair(root / "images", root / "masks", cls, f"s{k}", seed=10 * c + k)
    return root

"""Record (or check) the sha256 of every file a default build writes.

    python scripts/build_digests.py            # rewrite tests/builder/golden/default_build.json
    python scripts/build_digests.py --check    # exit 1 and list the files whose bytes differ

A *default build* is ``ximagenet12 build`` with no option but ``--out`` and
``--no-progress``: every paper-level scenario of the embedded sample, seed 0, one worker.
A second, small build covers the opt-in corruption plug-in (``corruptions@2`` on two
samples), whose scenarios register themselves outside the registry module.
``build_info.json`` records the build's wall time (``elapsed_s``); that one value is set
to 0 before its file is digested, every other byte counts.
The golden file was recorded on the layout before the relayout (issue 23), so
``tests/builder/test_default_build_digests.py`` shows that moving modules changed no byte.
Image bytes depend on the codecs, so the file also records the OpenCV, Pillow and pyarrow
versions it was made with; the test compares digests only under the same versions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "builder" / "golden" / "default_build.json"
#: name -> the ``ximagenet12 build`` options besides ``--out`` and ``--no-progress``
BUILDS: dict[str, list[str]] = {
    "default": [],
    "corruptions": ["--scenarios", "corruptions@2", "--max-samples", "2"],
}
_ELAPSED = re.compile(rb'"elapsed_s": [0-9.eE+-]+')


def library_versions() -> dict[str, str]:
    """The versions of the libraries whose codecs make the output bytes."""
    import cv2
    import PIL
    import pyarrow

    return {"opencv": cv2.__version__, "pillow": PIL.__version__, "pyarrow": pyarrow.__version__}


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "build_info.json":
        data = _ELAPSED.sub(b'"elapsed_s": 0', data)
    return hashlib.sha256(data).hexdigest()


def build_digests(out: Path, options: list[str]) -> dict[str, str]:
    """Run ``ximagenet12 build`` into ``out`` (which must not exist) and digest every file it wrote."""
    from ximagenet12.cli import main

    code = main(["build", "--out", str(out), "--no-progress", *options])
    if code != 0:
        raise RuntimeError(f"ximagenet12 build {' '.join(options)} exited with {code}")
    return {p.relative_to(out).as_posix(): _digest(p) for p in sorted(out.rglob("*")) if p.is_file()}


def all_digests() -> dict[str, dict[str, str]]:
    """The digests of every build of :data:`BUILDS`, by build name."""
    with tempfile.TemporaryDirectory() as tmp:
        return {name: build_digests(Path(tmp) / name, options) for name, options in BUILDS.items()}


def differing(golden: dict[str, dict[str, str]], digests: dict[str, dict[str, str]]) -> list[str]:
    """``build/file`` for every file whose digest differs, or that only one side has."""
    out = []
    for name in sorted(golden.keys() | digests.keys()):
        want, got = golden.get(name, {}), digests.get(name, {})
        out += [f"{name}/{f}" for f in sorted(want.keys() | got.keys()) if want.get(f) != got.get(f)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the golden file instead of rewriting it")
    args = parser.parse_args(argv)
    digests = all_digests()
    if not args.check:
        GOLDEN.write_text(json.dumps({"versions": library_versions(), "builds": digests}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {sum(map(len, digests.values()))} digests to {GOLDEN}")
        return 0
    golden = json.loads(GOLDEN.read_text())
    if golden["versions"] != library_versions():
        print(f"golden made with {golden['versions']}, these are {library_versions()}", file=sys.stderr)
        return 2
    differ = differing(golden["builds"], digests)
    for name in differ:
        print(f"differs: {name}", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

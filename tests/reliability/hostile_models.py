"""A generated hostile corpus of model folders, shared by the tests and the reliability tally.

Each case copies a tiny random ViT saved like a Hub model (2 classes, the classes of
``hostile_eval.CLASSES``) and damages one thing: no weights, a cut safetensors file, a
header that lies about its tensors, a sharded index naming a missing shard, a classifier
head of the wrong shape for ``config.json``, a weight missing from the checkpoint (which
``transformers`` would silently initialise at random), pickled ``pytorch_model.bin``
weights only, a pickle that runs code, and an image processor whose size differs from the
config's. Every case must be refused with one line naming the model -- before anything
is evaluated, trained or explained -- by every command that loads a model folder.
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CLASSES = ["alligator lizard", "crayfish"]
#: The file a malicious pickle would create if it ran.
PWNED = "pwned.txt"


def tiny_vit(out: Path, *, labels: list[str] | None = None, size: int = 32) -> Path:
    """A tiny random ViT (2 layers, width 32) and its processor, saved like a Hub model."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = labels or CLASSES
    torch.manual_seed(0)
    config = ViTConfig(image_size=size, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={n: i for i, n in enumerate(labels)})
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(out)
    return out


def _state(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


def _save(folder: Path, state: dict) -> None:
    from safetensors.torch import save_file

    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})


def _no_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


def _truncated(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) * 2 // 3])


def _cut_in_header(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:100])


def _lying_header(folder: Path) -> None:
    """A header whose first tensor claims more bytes than its shape needs (the file size unchanged)."""
    data = (folder / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [1]
    text = json.dumps(header, separators=(",", ":")).encode().ljust(n)  # no longer than before
    assert len(text) == n
    (folder / "model.safetensors").write_bytes(data[:8] + text + data[8 + n :])


def _missing_shard(folder: Path) -> None:
    state = _state(folder)
    (folder / "model.safetensors").unlink()
    weight_map = {k: ("model-00001-of-00002.safetensors" if i % 2 else "model-00002-of-00002.safetensors")
                  for i, k in enumerate(sorted(state))}
    from safetensors.torch import save_file

    save_file({k: v for k, v in state.items() if weight_map[k].startswith("model-00001")},
              folder / "model-00001-of-00002.safetensors", metadata={"format": "pt"})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def _head_wrong_shape(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    labels = [*CLASSES, "extra class"]
    config["id2label"] = {str(i): n for i, n in enumerate(labels)}
    config["label2id"] = {n: i for i, n in enumerate(labels)}
    (folder / "config.json").write_text(json.dumps(config))


def _missing_weight(folder: Path) -> None:
    state = _state(folder)
    state.pop("classifier.weight")
    _save(folder, state)


def _missing_backbone_weight(folder: Path) -> None:
    state = _state(folder)
    state.pop(next(k for k in sorted(state) if "attention" in k and k.endswith("weight")))
    _save(folder, state)


def _pickle_only(folder: Path) -> None:
    import torch

    torch.save(_state(folder), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()


class _Exploit:
    """Unpickled without ``weights_only``, this writes :data:`PWNED` next to the weights."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "code ran"))


def _pickle_that_runs_code(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"classifier.weight": _Exploit(str(folder / PWNED))}, fh)


def _processor_size(folder: Path) -> None:
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    processor["size"] = {"height": 64, "width": 64}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))


def _config_list(folder: Path) -> None:
    (folder / "config.json").write_text("[1, 2]")


@dataclass
class ModelCase:
    """One damaged model folder: ``damage(folder)`` and the refusal it must get (a regex)."""

    name: str
    damage: Callable[[Path], None]
    message: str
    pickle_opt_in: bool = False  # run with XIMAGENET12_ALLOW_PICKLE_WEIGHTS=1


CASES: list[ModelCase] = [
    ModelCase("no_weights", _no_weights, r"has no weights \(model\.safetensors"),
    ModelCase("truncated_safetensors", _truncated, r"model\.safetensors: tensor .* the file is truncated"),
    ModelCase("safetensors_cut_in_its_header", _cut_in_header, r"model\.safetensors declares a \d+-byte header"),
    ModelCase("safetensors_header_lies", _lying_header, r"declares \d+ bytes for shape \[1\]"),
    ModelCase("index_names_a_missing_shard", _missing_shard, r"shard model-00002-of-00002\.safetensors .* is missing"),
    ModelCase("head_wrong_shape_for_config", _head_wrong_shape,
              r"classifier\.\w+ has shape \[2.*\] in the checkpoint but the config needs \[3"),
    ModelCase("weight_missing_silently_initialised", _missing_weight,
              r"1 weight\(s\) .* missing .* randomly initialised \(first: classifier\.weight\)"),
    ModelCase("pickle_bin_only", _pickle_only, r"holds only pickled weights \(pytorch_model\.bin\): refused"),
    ModelCase("pickle_that_runs_code_even_opted_in", _pickle_that_runs_code, r"could not load model .*(Unpickl|weights_only)",
              pickle_opt_in=True),
    ModelCase("processor_size_differs_from_config", _processor_size,
              r"image processor makes 64x64 inputs but config\.json's image_size is 32x32"),
    ModelCase("config_is_a_json_list", _config_list, r"config\.json is not a JSON object"),
]


def make(case: ModelCase, tmp: Path, pristine: Path | None = None) -> Path:
    """The damaged folder of ``case`` under ``tmp`` (copied from ``pristine`` when given)."""
    folder = tmp / f"model-{case.name}"
    if pristine is not None:
        shutil.copytree(pristine, folder)
    else:
        tiny_vit(folder)
    case.damage(folder)
    return folder

"""Mask makers that run a learned model: ``rembg`` and ``transformers`` (see
:mod:`ximagenet12.sources.automask` for the interface). Registered in
:data:`~ximagenet12.sources.automask.MASK_MAKERS` by :mod:`ximagenet12.sources`.

**rembg** (``pip install 'ximagenet12[automask]'``): a U2-Net-style ONNX model the user
staged (``--auto-mask-model FILE.onnx``), run through rembg's ``u2net_custom`` session
(the photo resized to 320×320, ImageNet normalisation, the first output channel
min-max scaled); the mask is that map ≥ 0.5. Nothing is downloaded: rembg only loads
a custom model from its model folder (``$U2NET_HOME``, ``$REMBG_HOME`` or ``~/.u2net``),
so the file must lie there; the check says so in one line otherwise.

**transformers** (``pip install 'ximagenet12[eval]'``): a model id (from the local Hugging
Face cache; nothing else is reachable offline) or a folder.

- SAM / SAM-HQ / SAM 2 (``model_type`` ``sam``, ``sam_hq``, ``sam2``): prompted with the
  object's box (the annotation's, else the centred one); of the masks SAM proposes, the
  one with the highest predicted IoU is taken. (Tested with SAM; SAM 2's image processor
  needs torchvision, which this project does not install, so SAM 2 is untested here.)
- SAM 3 (text prompts from the class name) is refused in one line: not supported yet.
- Any ``image-segmentation`` pipeline model (Segformer, DETR/Mask2Former panoptic,
  BiRefNet-style folders with ``--auto-mask-trust-remote-code``...): the rule for which
  segment is the object (:func:`choose_segments`): the segments whose label names the
  class (the class key, or its name or one of its comma-separated synonyms, any case),
  united; when no label does, the one segment with the most pixels inside the box
  (labels such as ``background`` never count), ties to the higher score.
- A saliency/matting model (one label, or its own code and no image processor, such as
  BiRefNet with ``--auto-mask-trust-remote-code``): the photo resized to the model's
  ``image_size`` (default 1024), ImageNet normalisation, the sigmoid of the last output's
  first channel (``.logits`` when the output has them) ≥ 0.5.

Models load once per process (each build worker), on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from ximagenet12.sources.automask import Box, MaskMaker, files_fingerprint, names_match

__all__ = [
    "BACKGROUND_SEGMENT_LABELS",
    "RembgMaskMaker",
    "TransformersMaskMaker",
    "choose_segments",
]

#: Segment labels that are never the object (compared case-insensitively).
BACKGROUND_SEGMENT_LABELS = frozenset({"background", "_background_", "__background__", "bg", "unlabeled", "unlabelled",
                                       "other", "void"})
#: rembg's session for a user's own U2-Net-style model file.
REMBG_SESSION = "u2net_custom"
#: ImageNet normalisation for saliency models that ship no image processor.
_MEAN, _STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: SAM-family model types prompted with a box.
SAM_TYPES = frozenset({"sam", "sam_hq", "sam2"})

#: Loaded models of this process, by the maker's settings.
_LOADED: dict[tuple[Any, ...], Any] = {}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


# --------------------------------------------------------------------------- rembg


def _rembg_homes() -> list[Path]:
    """Where rembg accepts custom model files (its own rule, read from the same variables)."""
    legacy = Path(os.path.expanduser(os.getenv("U2NET_HOME", os.path.join(os.getenv("XDG_DATA_HOME", "~"), ".u2net"))))
    if os.getenv("U2NET_HOME"):
        home = legacy
    else:
        xdg = os.getenv("XDG_DATA_HOME")
        home = Path(os.path.expanduser(os.getenv("REMBG_HOME", os.path.join(xdg, "rembg") if xdg else "~/.rembg")))
    return [home.resolve(), legacy.resolve()]


@dataclass(frozen=True)
class RembgMaskMaker(MaskMaker):
    """rembg with a staged ONNX model file (``model_path``)."""

    model_path: str | None = None
    kind: ClassVar[str] = "rembg"

    @property
    def name(self) -> str:
        return f"rembg:{Path(self.model_path).stem}" if self.model_path else "rembg"

    def check(self) -> None:
        super().check()
        try:
            import onnxruntime  # noqa: F401
            import rembg  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"--auto-mask rembg needs the rembg package and onnxruntime ({_one_line(exc)}): "
                             "pip install 'ximagenet12[automask]'") from None
        if not self.model_path:
            raise ValueError("--auto-mask rembg needs the model file you staged: --auto-mask-model PATH/TO/MODEL.onnx "
                             "(nothing is downloaded)")
        path = Path(self.model_path).expanduser()
        if not path.is_file():
            raise ValueError(f"rembg model file not found: {self.model_path} (stage a U2-Net-style .onnx file there)")
        homes = _rembg_homes()
        if not any(path.resolve().is_relative_to(h) for h in homes):
            raise ValueError(f"rembg only loads a custom model from its model folder ({homes[0]}): move "
                             f"{self.model_path} there, or set U2NET_HOME to the folder that holds it")
        self._session()

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "model_file": files_fingerprint(self.model_path) if self.model_path else None}

    def describe(self) -> str:
        return (f"rembg ({REMBG_SESSION} session) with the model file `{Path(self.model_path or '').name}`: its "
                "foreground map thresholded at 0.5")

    def _session(self) -> Any:
        key = ("rembg", str(Path(self.model_path or "").expanduser().resolve()))
        if key not in _LOADED:
            from rembg import new_session

            try:
                _LOADED[key] = new_session(REMBG_SESSION, model_path=key[1])
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a bad file
                raise ValueError(f"rembg cannot load the model {self.model_path}: {_one_line(exc)}") from None
        return _LOADED[key]

    def make_mask(self, image: np.ndarray, *, box: Box | None = None, class_name: str | None = None) -> np.ndarray:
        from PIL import Image

        masks = self._session().predict(Image.fromarray(image))
        return np.asarray(masks[0].convert("L")) >= 128


# --------------------------------------------------------------------------- transformers


def choose_segments(segments: Sequence[tuple[str, float | None, np.ndarray]], *, box: Box,
                    class_names: Sequence[str]) -> np.ndarray:
    """The object mask among a segmentation's ``(label, score, mask)`` segments.

    The segments whose label names the class (:func:`names_match` with ``class_names``),
    united; else the one segment with the most pixels inside ``box`` (segments labelled as
    background never count), ties to the higher score. Raises ``ValueError`` when no
    segment qualifies.
    """
    if not segments:
        raise ValueError("the model found no segment")
    named = [m for label, _, m in segments if class_names and names_match(label, class_names)]
    if named:
        return np.logical_or.reduce(named)
    x, y, w, h = (int(round(v)) for v in box)
    candidates = [(label, score, m) for label, score, m in segments
                  if str(label).strip().lower() not in BACKGROUND_SEGMENT_LABELS]
    if not candidates:
        raise ValueError(f"the model found only background segments ({', '.join(str(s[0]) for s in segments)})")

    def inside(seg: tuple[str, float | None, np.ndarray]) -> tuple[int, float]:
        m = seg[2]
        return int(np.count_nonzero(m[max(0, y): y + h, max(0, x): x + w])), float(seg[1] or 0.0)

    return max(candidates, key=inside)[2]


@dataclass(frozen=True)
class TransformersMaskMaker(MaskMaker):
    """A ``transformers`` segmentation or SAM model: ``model`` is a Hub id (cached) or a folder."""

    model: str = ""
    trust_remote_code: bool = False
    device: str = "cpu"
    kind: ClassVar[str] = "transformers"

    @property
    def name(self) -> str:
        return f"transformers:{self.model}"

    def check(self) -> None:
        super().check()
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ValueError(f"--auto-mask {self.model} needs torch and transformers ({_one_line(exc)}): "
                             "pip install 'ximagenet12[eval]'") from None
        self._loaded()

    def fingerprint(self) -> dict[str, Any]:
        folder = Path(self.model).expanduser()
        return {**super().fingerprint(), "model_files": files_fingerprint(folder) if folder.is_dir() else None}

    def describe(self) -> str:
        return (f"the `transformers` model `{self.model}` (SAM-type models prompted with the object's box; "
                "segmentation models: the segments labelled with the class, else the segment most inside the box)")

    def _loaded(self) -> tuple[str, Any]:
        """(how it runs: ``sam`` / ``pipeline`` / ``saliency``, the loaded objects), once per process."""
        key = ("transformers", self.model, self.trust_remote_code, self.device)
        if key not in _LOADED:
            try:
                _LOADED[key] = self._load()
            except Exception as exc:  # noqa: BLE001 - offline Hub lookups, bad folders, remote code: one line
                where = "folder" if Path(self.model).expanduser().is_dir() else "model id (not in the local cache?)"
                raise ValueError(f"cannot load the mask model {self.model!r} ({where}): {_one_line(exc)}") from None
        return _LOADED[key]

    def _load(self) -> tuple[str, Any]:
        from transformers import AutoConfig

        remote = self.trust_remote_code
        config = AutoConfig.from_pretrained(self.model, trust_remote_code=remote)
        model_type = getattr(config, "model_type", "")
        if model_type.startswith("sam3"):
            raise ValueError("SAM 3 (text prompts) is not supported yet; use a SAM model (box prompt) or an "
                             "image-segmentation model")
        if model_type in SAM_TYPES:
            from transformers import AutoModel, AutoProcessor

            processor = AutoProcessor.from_pretrained(self.model)
            net = AutoModel.from_pretrained(self.model).to(self.device).eval()
            return "sam", (processor, net)
        own_code = bool(getattr(config, "auto_map", None))
        if getattr(config, "num_labels", 2) == 1 or (own_code and not _has_processor(self.model)):
            from transformers import AutoModelForImageSegmentation

            net = AutoModelForImageSegmentation.from_pretrained(self.model, trust_remote_code=remote)
            return "saliency", (net.to(self.device).eval(), int(getattr(config, "image_size", 1024) or 1024))
        from transformers import pipeline

        pipe = pipeline("image-segmentation", model=self.model, trust_remote_code=remote, device=self.device)
        return "pipeline", pipe

    def make_mask(self, image: np.ndarray, *, box: Box | None = None, class_name: str | None = None) -> np.ndarray:
        how, loaded = self._loaded()
        box = self.box_for(image, box)
        if how == "sam":
            return _sam_mask(loaded, image, box, self.device)
        if how == "saliency":
            return _saliency_mask(loaded, image, self.device)
        from PIL import Image

        out = loaded(Image.fromarray(image))
        segments = [(str(s.get("label", "")), s.get("score"), np.asarray(s["mask"]) > 127) for s in out]
        return choose_segments(segments, box=box, class_names=[class_name] if class_name else [])


def _has_processor(model: str) -> bool:
    """Whether the model (a folder, or a Hub id in the local cache) ships an image processor."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return (folder / "preprocessor_config.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model, "preprocessor_config.json"), str)


def _sam_mask(loaded: tuple[Any, Any], image: np.ndarray, box: Box, device: str) -> np.ndarray:
    """SAM prompted with ``box``: of the proposed masks, the one with the highest predicted IoU."""
    import torch

    processor, net = loaded
    x, y, w, h = box
    inputs = processor(images=image, input_boxes=[[[float(x), float(y), float(x + w), float(y + h)]]],
                       return_tensors="pt").to(device)
    with torch.no_grad():
        out = net(**{k: v for k, v in inputs.items() if k not in ("original_sizes", "reshaped_input_sizes")})
    extra = [inputs["reshaped_input_sizes"].cpu()] if "reshaped_input_sizes" in inputs else []
    masks = processor.post_process_masks(out.pred_masks.cpu(), inputs["original_sizes"].cpu(), *extra)[0]
    scores = out.iou_scores[0, 0].cpu()
    best = int(torch.argmax(scores))
    return masks[0, best].numpy().astype(bool)


def _saliency_mask(loaded: tuple[Any, int], image: np.ndarray, device: str) -> np.ndarray:
    """A one-channel saliency model (BiRefNet-style): sigmoid of the last output ≥ 0.5, at the photo's size."""
    import cv2
    import torch

    net, size = loaded
    x = cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    x = (x - np.asarray(_MEAN, np.float32)) / np.asarray(_STD, np.float32)
    tensor = torch.from_numpy(x.transpose(2, 0, 1)[None]).to(device)
    with torch.no_grad():
        out = net(tensor)
    if hasattr(out, "logits"):
        out = out.logits
    if isinstance(out, (list, tuple)):
        out = out[-1]
    prob = torch.sigmoid(out.float())[0, 0].cpu().numpy()
    return cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5

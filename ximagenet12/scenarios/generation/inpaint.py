"""Repaint the background of samples with a ``diffusers`` inpainting pipeline.

:class:`AIBackgroundGenerator` takes batches of (image, mask, class, seed) and returns
images whose background was regenerated while the object is kept bit for bit:

1. The inpainting mask is the background, dilated ``dilate`` pixels into the object so
   that the seam is regenerated too (the model does not continue old-background
   colours that cling to the object's edge).
2. Image and mask are resized to the generation size, keeping the aspect ratio: the
   area is about ``size``² (SDXL: 1024²) and both sides are multiples of
   ``8 × vae_scale_factor`` (64 for SDXL, whose training buckets are multiples of 64).
   Samples of one batch that end up at different sizes run as separate pipeline calls.
3. Each sample gets its own ``torch.Generator`` on the CPU seeded with the sample's
   seed (a list of generators for a batch), so a sample's noise does not depend on its
   batch neighbours or on the device.
4. The result is resized back to the source size and the *original* object pixels are
   pasted back, so ``out[mask] == image[mask]`` exactly.

The pipeline is loaded once per process (:func:`load_pipeline` keeps it), through
``diffusers.AutoPipelineForInpainting.from_pretrained`` from a Hub id or a local folder;
on CUDA in float16 with PyTorch's scaled-dot-product attention (xformers when it is
importable), on the CPU in float32. torch and diffusers are imported only when a
pipeline is loaded (they come with the ``gen`` extra).
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any, Literal, Sequence

import cv2
import numpy as np
from PIL import Image

from ximagenet12.scenarios.generation.prompts import PromptBook, load_prompts
from ximagenet12.core.types import SampleError
from ximagenet12.core.validation import check_image, check_mask

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "DEFAULT_MODEL",
    "GenerationError",
    "InpaintRequest",
    "InpaintResult",
    "AIBackgroundGenerator",
    "load_pipeline",
    "check_model_source",
    "resolve_device",
    "resolve_dtype",
    "generation_size",
]

#: Stable Diffusion XL inpainting (the paper's model family).
DEFAULT_MODEL = "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
DEFAULT_STEPS = 30
DEFAULT_GUIDANCE_SCALE = 8.0
#: Below 1.0 the masked area keeps a trace of the old background; 0.99 is the usual SDXL
#: inpainting setting (1.0 exactly is pure noise and a different code path).
DEFAULT_STRENGTH = 0.99
#: Pixels the background is grown into the object before inpainting (the seam).
DEFAULT_DILATE = 8
#: Generation sides are multiples of this many latent pixels (× vae_scale_factor).
_SIDE_MULTIPLE_LATENT = 8

DTypeName = Literal["float16", "bfloat16", "float32"]
Errors = Literal["raise", "return"]


class GenerationError(ValueError):
    """The generator cannot run as asked: model, device or dtype problem."""


@dataclass(frozen=True)
class InpaintRequest:
    """One sample to repaint: RGB image, object mask, class and per-sample seed."""

    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW bool, True = object
    class_key: str
    seed: int
    class_name: str | None = None
    source_id: str = "<unnamed>"


@dataclass(frozen=True)
class InpaintResult:
    """The repainted image (source size, object pasted back) and what produced it."""

    source_id: str
    image: np.ndarray
    provenance: dict[str, Any]


# -- device, dtype, pipeline ----------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed here
        raise GenerationError(
            "ai_background needs torch, diffusers and transformers: pip install 'ximagenet12[gen]'"
        ) from exc
    return torch


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` if available, else ``cpu``; check that a requested CUDA exists."""
    torch = _torch()
    name = str(device).strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}" + ("" if torch.version.cuda else " (a CPU-only build)")
            raise GenerationError(
                f"device {device!r} was requested but CUDA is not available ({build}); "
                "use --device cpu, or install a CUDA build of torch on a machine with a GPU"
            )
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise GenerationError(
                f"device {device!r}: there are {torch.cuda.device_count()} CUDA devices (cuda:0 ...)"
            )
        return name
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise GenerationError(f"device {device!r} was requested but MPS is not available")
        return name
    raise GenerationError(f"unknown device {device!r}; expected auto, cpu, cuda, cuda:<index> or mps")


def resolve_dtype(dtype: str | None, device: str) -> DTypeName:
    """float16 on CUDA and float32 elsewhere unless asked; float16 on the CPU is refused."""
    if dtype is None:
        return "float16" if device.startswith("cuda") else "float32"
    name = str(dtype).replace("torch.", "").lower()
    aliases = {"fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp32": "float32", "float": "float32"}
    name = aliases.get(name, name)
    if name not in ("float16", "bfloat16", "float32"):
        raise GenerationError(f"unknown dtype {dtype!r}; expected float16, bfloat16 or float32")
    if name == "float16" and device == "cpu":
        raise GenerationError("dtype float16 is not supported on the CPU; use float32 or bfloat16")
    return name  # type: ignore[return-value]


_PIPELINES: dict[tuple[str, str, str], Any] = {}
_PIPELINE_LOCK = Lock()


def _looks_like_path(model: str) -> bool:
    """A folder rather than a Hub id (``owner/name``): explicit path syntax or deeper nesting."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def load_pipeline(model: str = DEFAULT_MODEL, *, device: str = "cpu", dtype: DTypeName = "float32") -> Any:
    """Load an inpainting pipeline once per process and keep it (keyed by model, device, dtype).

    ``model`` is a Hugging Face Hub id or a local folder written by ``save_pretrained``.
    Raises :class:`FileNotFoundError` for a missing folder and :class:`GenerationError`
    for a model that cannot be loaded or is not an inpainting pipeline.
    """
    key = (str(model), device, dtype)
    with _PIPELINE_LOCK:
        if key not in _PIPELINES:
            _PIPELINES[key] = _load_pipeline(str(model), device=device, dtype=dtype)
        return _PIPELINES[key]


def check_model_source(model: str) -> str:
    """What ``from_pretrained`` gets for ``model``; checks a local folder without loading it.

    Raises :class:`FileNotFoundError` for a missing folder and :class:`GenerationError` for
    a folder that holds no diffusers pipeline. A Hub id is returned as is (it is checked
    when the pipeline loads).
    """
    local = Path(model).expanduser()
    if not (local.exists() or _looks_like_path(model)):
        return model
    if not local.is_dir():
        raise FileNotFoundError(f"inpainting model folder {model!r} not found")
    if not (local / "model_index.json").is_file():
        raise GenerationError(
            f"model {model!r} is not a diffusers pipeline folder (no model_index.json); "
            f"expected an inpainting pipeline saved with save_pretrained, e.g. {DEFAULT_MODEL}"
        )
    return str(local)


def _dtype_keyword() -> str:
    """Newer diffusers take ``dtype`` (and warn on ``torch_dtype``); older ones only ``torch_dtype``."""
    try:
        from diffusers.utils import deprecation_utils
    except ImportError:  # pragma: no cover
        return "torch_dtype"
    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _load_pipeline(model: str, *, device: str, dtype: DTypeName) -> Any:
    torch = _torch()
    try:
        from diffusers import AutoPipelineForInpainting
    except ImportError as exc:  # pragma: no cover - diffusers is installed here
        raise GenerationError("ai_background needs diffusers: pip install 'ximagenet12[gen]'") from exc
    source = check_model_source(model)
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(source, **{_dtype_keyword(): getattr(torch, dtype)})
    except ValueError as exc:
        raise GenerationError(f"model {model!r} is not an inpainting pipeline: {exc}") from None
    except (OSError, EnvironmentError) as exc:
        raise GenerationError(
            f"could not load inpainting model {model!r} (not a local folder; from the Hugging Face Hub: "
            f"{type(exc).__name__}: {exc})"
        ) from None
    if "mask_image" not in inspect.signature(pipe.__call__).parameters:
        raise GenerationError(
            f"model {model!r} loaded as {type(pipe).__name__}, which is not an inpainting pipeline"
        )
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    if device.startswith("cuda"):
        try:  # PyTorch's SDPA is the default attention in torch 2; xformers when present
            import xformers  # noqa: F401

            pipe.enable_xformers_memory_efficient_attention()
        except Exception:  # noqa: BLE001 - optional speed-up only
            pass
    return pipe


# -- geometry ---------------------------------------------------------------------------


def generation_size(height: int, width: int, *, size: int, multiple: int) -> tuple[int, int]:
    """(height, width) with the source's aspect ratio, area ≈ ``size``², sides multiples of ``multiple``."""
    scale = size / math.sqrt(height * width)
    gh = max(multiple, int(round(height * scale / multiple)) * multiple)
    gw = max(multiple, int(round(width * scale / multiple)) * multiple)
    return gh, gw


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    shrinking = height * width < array.shape[0] * array.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(array, (width, height), interpolation=interpolation)


def _inpaint_mask(mask: np.ndarray, dilate: int) -> np.ndarray:
    """uint8 0/255: the background, grown ``dilate`` pixels into the object."""
    background = (~mask).astype(np.uint8) * 255
    if dilate > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        background = cv2.dilate(background, kernel)
    return background


# -- the generator ----------------------------------------------------------------------


class AIBackgroundGenerator:
    """Repaint backgrounds with a diffusion inpainting model; keep the object exactly.

    Construction checks the options (device, dtype, prompts); the pipeline is loaded on
    first use, once per process. ``size=None`` takes the model's native resolution
    (``unet.config.sample_size × vae_scale_factor``: 1024 for SDXL).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str | None = None,
        steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE_SCALE,
        strength: float = DEFAULT_STRENGTH,
        negative_prompt: str | None = None,
        size: int | None = None,
        dilate: int = DEFAULT_DILATE,
        prompts: PromptBook | str | os.PathLike[str] | None = None,
    ):
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        if not 0.0 < float(strength) <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {strength!r}")
        if float(guidance_scale) < 0:
            raise ValueError(f"guidance_scale must be >= 0, got {guidance_scale!r}")
        if size is not None and (not isinstance(size, int) or size < 8):
            raise ValueError(f"size must be an integer of at least 8 pixels or None, got {size!r}")
        if not isinstance(dilate, int) or dilate < 0:
            raise ValueError(f"dilate must be a non-negative integer of pixels, got {dilate!r}")
        self.model = os.fspath(model)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.steps = steps
        self.guidance_scale = float(guidance_scale)
        self.strength = float(strength)
        self.prompts = prompts if isinstance(prompts, PromptBook) else load_prompts(prompts)
        self.negative_prompt = self.prompts.negative_prompt if negative_prompt is None else negative_prompt
        self.size = size
        self.dilate = dilate

    # what identifies an output besides the sample: used in provenance and cache keys
    def settings(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "negative_prompt": self.negative_prompt,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "strength": self.strength,
            "size": self.size,
            "dilate": self.dilate,
            "dtype": self.dtype,
        }

    def prompt_for(self, class_key: str, class_name: str | None = None) -> str:
        return self.prompts.prompt_for(class_key, class_name)

    @property
    def pipeline(self) -> Any:
        """The loaded pipeline (loaded now if this is the first use in the process)."""
        return load_pipeline(self.model, device=self.device, dtype=self.dtype)

    def _geometry(self) -> tuple[int, int]:
        pipe = self.pipeline
        scale = int(getattr(pipe, "vae_scale_factor", 8))
        native = int(pipe.unet.config.sample_size) * scale
        return (self.size or native), scale * _SIDE_MULTIPLE_LATENT

    def validate(self, request: InpaintRequest) -> None:
        """Raise :class:`SampleError` unless the request meets the contract and has a background."""
        check_image(request.image, source_id=request.source_id)
        check_mask(request.mask, image_shape=request.image.shape, source_id=request.source_id)
        if request.mask.all():
            raise SampleError(
                request.source_id,
                "mask leaves no background to repaint (every pixel is object); ai_background needs a background",
            )

    def generate(self, requests: Sequence[InpaintRequest], *, errors: Errors = "raise") -> list[InpaintResult | SampleError]:
        """Repaint a batch. Results come in the order of ``requests``.

        ``errors="raise"`` raises the first :class:`SampleError` (bad image or mask, or a
        failed generation); ``errors="return"`` puts it in that sample's place and goes
        on with the others. Model, device and dtype problems always raise
        :class:`GenerationError`.
        """
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        results: list[InpaintResult | SampleError | None] = [None] * len(requests)
        valid: list[int] = []
        for i, request in enumerate(requests):
            try:
                self.validate(request)
            except SampleError as exc:
                if errors == "raise":
                    raise
                results[i] = exc
            else:
                valid.append(i)
        if valid:
            size, multiple = self._geometry()
            groups: dict[tuple[int, int], list[int]] = {}
            for i in valid:
                h, w = requests[i].mask.shape
                groups.setdefault(generation_size(h, w, size=size, multiple=multiple), []).append(i)
            for shape, indices in groups.items():
                for i, result in zip(indices, self._run_group([requests[i] for i in indices], shape, errors)):
                    results[i] = result
        return results  # type: ignore[return-value]

    def _run_group(
        self, requests: list[InpaintRequest], shape: tuple[int, int], errors: Errors
    ) -> list[InpaintResult | SampleError]:
        try:
            return self._inpaint(requests, shape)
        except GenerationError:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the sample(s) that fail
            if len(requests) == 1:
                error = SampleError(requests[0].source_id, f"ai_background generation failed: {type(exc).__name__}: {exc}")
                if errors == "raise":
                    raise error from exc
                return [error]
        # the batch failed: run its samples one by one so one bad sample does not sink the rest
        out: list[InpaintResult | SampleError] = []
        for request in requests:
            out += self._run_group([request], shape, errors)
        return out

    def _inpaint(self, requests: list[InpaintRequest], shape: tuple[int, int]) -> list[InpaintResult]:
        torch = _torch()
        gh, gw = shape
        images, masks, prompts = [], [], []
        for r in requests:
            images.append(Image.fromarray(_resize(r.image, gh, gw)))
            inpaint = _resize(_inpaint_mask(r.mask, self.dilate), gh, gw)
            masks.append(Image.fromarray(np.where(inpaint > 0, 255, 0).astype(np.uint8), mode="L"))
            prompts.append(self.prompt_for(r.class_key, r.class_name))
        generators = [torch.Generator(device="cpu").manual_seed(int(r.seed)) for r in requests]
        pipe = self.pipeline
        with torch.inference_mode():
            output = pipe(
                prompt=prompts,
                negative_prompt=[self.negative_prompt] * len(requests),
                image=images,
                mask_image=masks,
                height=gh,
                width=gw,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale,
                strength=self.strength,
                generator=generators,
                output_type="np",
            )
        generated = np.asarray(output.images)
        if not np.isfinite(generated).all():
            raise FloatingPointError("the pipeline produced NaN/inf pixels (a float16 VAE overflow?)")
        generated = np.clip(np.rint(generated * 255.0), 0, 255).astype(np.uint8)
        results = []
        for r, prompt, picture in zip(requests, prompts, generated):
            h, w = r.mask.shape
            out = _resize(picture, h, w)
            out[r.mask] = r.image[r.mask]
            provenance = {
                **self.settings(),
                "prompt": prompt,
                "size": [gw, gh],
                "seed": int(r.seed),
                "device": self.device.split(":")[0],
                "scheduler": type(pipe.scheduler).__name__,
                "pipeline": type(pipe).__name__,
            }
            results.append(InpaintResult(r.source_id, out, provenance))
        return results

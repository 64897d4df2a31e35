"""The ``qwen`` engine: Qwen-Image-Layered through diffusers' ``QwenImageLayeredPipeline``.

The only module of lamina that imports torch and diffusers (the ``lamina[qwen]``
extra); :func:`lamina.engines.get_engine` imports it on demand and turns a
missing package, or a diffusers without ``QwenImageLayeredPipeline`` (before
0.37), into :class:`~lamina.errors.EngineUnavailable`.

The weights load once, in the constructor, from a local directory or a Hugging
Face repo id (through the HF cache; ``HF_HUB_OFFLINE=1`` keeps it offline).
The pipeline's output ``images[0]`` holds ``layers`` RGBA frames: it drops the
first generated frame (the re-generated composite) itself, and the remaining
frames come back to front, the background first, which is the order the model
authors' own app stacks them into slides. docs/qwen.md has the parameter map.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image

from lamina.defaults import QWEN_WEIGHTS
from lamina.engines.auto import MIN_DIFFUSERS, installed_version
from lamina.engines.base import ProgressCallback
from lamina.errors import EngineError, EngineUnavailable, InvalidImage, LaminaError, internal_error
from lamina.types import DecomposeParams, Layer, LayerStack, alpha_bbox

logger = logging.getLogger(__name__)

DEFAULT_MODEL = QWEN_WEIGHTS
RESOLUTIONS = (640, 1024)
CPU_OFFLOAD_MODES = ("none", "model", "group", "sequential")
DEFAULT_NEGATIVE_PROMPT = " "
"""Not ``None``: the pipeline turns classifier-free guidance off without a negative prompt."""
VAE_TILING_ABOVE = 1024
"""The VAE decodes in overlapping tiles when a working side is longer than this (pixels)."""

_DTYPES: dict[str, torch.dtype] = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}
_ERROR_CHARS = 400


class QwenEngine:
    """Decompose with Qwen-Image-Layered; one instance per worker process.

    ``model`` is a local pipeline directory (with ``model_index.json``) or a
    repo id (default :data:`DEFAULT_MODEL`); ``device`` defaults to ``cuda``
    when present, else ``cpu``; ``dtype`` to bfloat16 on GPU and float32 on
    CPU; ``cpu_offload`` (``model``, ``group`` or ``sequential``) trades speed for
    GPU memory; ``resolution`` (640 or 1024) is the working size unless a request
    sets its own. ``fp8`` stores the transformer's weights in float8,
    ``attention_backend`` names a diffusers attention backend (``flash``,
    ``sage``, ...), ``compile`` compiles the transformer's blocks with
    ``torch.compile``, and ``lora`` is a LoRA file, folder or repo id to load.
    docs/qwen.md has the memory each combination needs. Raises
    :class:`EngineUnavailable` when the options are unusable or the weights
    cannot be loaded.
    """

    name = "qwen"

    def __init__(
        self,
        *,
        model: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        cpu_offload: str = "none",
        resolution: int = 640,
        fp8: bool = False,
        attention_backend: str | None = None,
        compile: bool = False,
        lora: str | None = None,
    ) -> None:
        """Load the pipeline as the class docstring says. (Longer than 80 lines on purpose:
        each loading step, from the weights to the LoRA, depends on the one before and on
        the same options, and reads best in the order diffusers needs them.)"""
        if resolution not in RESOLUTIONS:
            raise EngineUnavailable(f"qwen resolution must be 640 or 1024, not {resolution!r}")
        if cpu_offload not in CPU_OFFLOAD_MODES:
            raise EngineUnavailable(
                f"cpu_offload must be one of {', '.join(CPU_OFFLOAD_MODES)}, not {cpu_offload!r}"
            )
        self.model = model or DEFAULT_MODEL
        self.device = _resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        self.cpu_offload = cpu_offload
        self.resolution = resolution
        if cpu_offload != "none" and self.device.type == "cpu":
            raise EngineUnavailable("cpu_offload needs a GPU device; on CPU use cpu_offload 'none'")
        self._warm = False
        started = time.perf_counter()
        self._pipe = _load_pipeline(self.model, self.dtype)
        self._pipe.set_progress_bar_config(disable=True)
        # One layer at a time: the VAE decodes every layer in one batch otherwise, about
        # 1.6 GiB per layer at 640 and 3.8 GiB at 1024 in bfloat16 (bench/qwen_vae_memory.py).
        self._pipe.vae.enable_slicing()
        if lora:
            _load_lora(self._pipe, lora)
        transformer = self._pipe.transformer
        if fp8:
            # Stored in float8, cast to ``dtype`` one layer at a time as it runs: the
            # transformer's 38 GiB of bfloat16 weights become about 19 GiB.
            transformer.enable_layerwise_casting(
                storage_dtype=torch.float8_e4m3fn, compute_dtype=self.dtype
            )
        if attention_backend:
            try:
                transformer.set_attention_backend(attention_backend)
            except Exception as exc:  # unknown name, missing package, kernel not downloadable
                raise EngineUnavailable(
                    f"attention backend {attention_backend!r} is not usable: {_short(exc)}"
                ) from exc
        try:
            if cpu_offload == "model":
                self._pipe.enable_model_cpu_offload(device=self.device)
            elif cpu_offload == "group":
                # Leaf by leaf, the next leaf copied in on a CUDA stream while this one runs.
                self._pipe.enable_group_offload(
                    onload_device=self.device, offload_type="leaf_level", use_stream=True
                )
            elif cpu_offload == "sequential":
                self._pipe.enable_sequential_cpu_offload(device=self.device)
            else:
                self._pipe.to(self.device)
        except (RuntimeError, ValueError, ImportError) as exc:
            hint = "; try --cpu-offload model" if isinstance(exc, torch.OutOfMemoryError) else ""
            raise EngineUnavailable(
                f"could not place the qwen pipeline on {self.device}: {_short(exc)}{hint}"
            ) from exc
        if compile:
            # Only the repeated blocks (regional compilation): one block's graph is compiled
            # and reused by all 60. Off by default: the warm-up pays the compilation, and a
            # request at a new working size compiles again.
            transformer.compile_repeated_blocks()
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "qwen engine: %s loaded on %s as %s (offload %s%s) in %.1f s",
            self.model,
            self.device,
            str(self.dtype).removeprefix("torch."),
            cpu_offload,
            "".join(
                f", {name}"
                for name, on in (
                    ("fp8 transformer", fp8),
                    (f"attention {attention_backend}", attention_backend),
                    ("compiled", compile),
                    (f"LoRA {lora}", lora),
                )
                if on
            ),
            self.load_seconds,
        )

    def warm_up(self) -> None:
        """Run one denoising step on a small image so the first request pays no start-up cost."""
        if self._warm:
            return
        rgba = np.zeros((64, 64, 4), dtype=np.uint8)
        rgba[..., 3] = 255
        rgba[16:48, 16:48, :3] = 200
        params = DecomposeParams(num_layers=1, num_inference_steps=1, prompt="warm-up")
        started = time.perf_counter()
        self.decompose(rgba, params)
        self._warm = True
        logger.info("qwen engine: warmed up in %.1f s", time.perf_counter() - started)

    def decompose(
        self,
        image: NDArray[np.uint8],
        params: DecomposeParams,
        *,
        progress: ProgressCallback | None = None,
    ) -> LayerStack:
        """Decompose an ``H x W x 4`` ``uint8`` RGBA image into ``params.num_layers`` layers.

        Layers come back to front at the input's size. A pipeline failure
        (out of memory included) frees what it can and raises :class:`EngineError`.
        (Longer than 80 lines on purpose: the pipeline call, its stop and out-of-memory
        handling and the memory release after it share one frame, because the failed
        call's tensors are freed only once its ``except`` block is left.)
        """
        if image.ndim != 3 or image.shape[2] != 4 or image.dtype != np.uint8:
            raise InvalidImage("expected an H x W x 4 uint8 RGBA array")
        height, width = image.shape[:2]
        resolution = params.resolution or self.resolution
        work_w, work_h = working_size(width, height, resolution)
        if min(work_w, work_h) < 32:
            raise EngineError(
                f"a {width}x{height} image is too elongated for the qwen engine "
                f"(it would be processed at {work_w}x{work_h}); crop it closer to square"
            )
        prompt = params.prompt if params.prompt and params.prompt.strip() else None
        if prompt is None and self._pipe.processor is None:
            raise EngineError(
                "this qwen engine has no caption processor (it needs torchvision: pip install "
                "'lamina[qwen-caption]'), so it cannot caption the image itself; give a prompt "
                "describing the image"
            )
        if max(work_w, work_h) > VAE_TILING_ABOVE:
            self._pipe.vae.enable_tiling()
        else:
            self._pipe.vae.disable_tiling()
        guided = float(params.guidance_scale) > 1.0
        # Without guidance a negative prompt is ignored (and the pipeline warns about it).
        negative = (params.negative_prompt or DEFAULT_NEGATIVE_PROMPT) if guided else None
        steps = params.num_inference_steps

        stopped: list[BaseException] = []

        def on_step_end(
            pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]
        ) -> dict[str, Any]:
            if progress is not None:
                try:
                    progress((step + 1) / steps)
                except BaseException as exc:
                    stopped.append(exc)
                    raise
            return {}

        device = self._pipe._execution_device
        generator = torch.Generator(device=device).manual_seed(params.seed)
        started = time.perf_counter()
        failure: str | None = None
        try:
            output = self._pipe(
                image=Image.fromarray(image, "RGBA"),
                prompt=prompt,
                negative_prompt=negative,
                true_cfg_scale=float(params.guidance_scale),
                layers=params.num_layers,
                num_inference_steps=steps,
                generator=generator,
                resolution=resolution,
                cfg_normalize=True,
                use_en_prompt=True,
                output_type="np",
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=[],
            )
        except BaseException as exc:
            self._recover()
            # The caller stopping the run through ``progress`` gets its own exception back.
            if stopped or isinstance(exc, LaminaError) or not isinstance(exc, Exception):
                raise
            if isinstance(exc, torch.OutOfMemoryError):
                failure = (
                    f"the {device.type.upper()} ran out of memory decomposing a "
                    f"{width}x{height} image into {params.num_layers} layers at resolution "
                    f"{resolution}; try resolution 640, fewer layers, or start lamina with "
                    "--cpu-offload model"
                )
                logger.warning("qwen engine: %s", failure, exc_info=True)
            else:  # its text is for the log only; the user reads the reference
                failure = internal_error(exc, "the qwen pipeline failed").message
        if failure is not None:
            _free_memory()  # again, now that the traceback's tensors are gone
            raise EngineError(failure)
        seconds = time.perf_counter() - started
        frames = np.asarray(output.images[0], dtype=np.float32)
        if frames.shape[0] != params.num_layers or frames.shape[-1] != 4:
            raise EngineError(
                f"the qwen pipeline returned {frames.shape[0]} frames of {frames.shape[-1]} "
                f"channels, not {params.num_layers} RGBA layers; is this an RGBA "
                "Qwen-Image-Layered model?"
            )
        if not np.isfinite(frames).all():
            # Rounded to uint8, NaN pixels would come back as empty layers and pass as a result.
            raise EngineError(
                f"the qwen pipeline produced NaN pixels (dtype "
                f"{str(self.dtype).removeprefix('torch.')} on {device}); the weights or the "
                "device's arithmetic are broken"
            )
        rgba_layers = fit_layers(frames, (width, height))
        layers = []
        for i, rgba in enumerate(rgba_layers):
            bbox = alpha_bbox(rgba[..., 3])
            layers.append(
                Layer(
                    rgba=rgba,
                    name="background" if i == 0 else f"layer {i}",
                    kind="background" if i == 0 else "element",
                    bbox=bbox,
                    empty=bbox is None,
                )
            )
        notes = [f"model {self.model}", f"working size {work_w}x{work_h}"]
        if prompt is None:
            notes.append("prompt: written by the model's own captioner")
        return LayerStack(
            layers=layers,
            engine=self.name,
            params=params,
            timings={"inference_s": seconds},
            notes=notes,
        )

    def _recover(self) -> None:
        """Leave the pipeline as a finished run does, so the worker can take the next job.

        diffusers moves model-offloaded components back to the CPU only at the end of a
        successful call: after a failure or a cancel the component that was running (the
        transformer, mid-denoising) would stay on the GPU, under the next job's text encoder.
        """
        try:
            self._pipe.maybe_free_model_hooks()
        except Exception:
            logger.warning("qwen engine: could not offload the pipeline", exc_info=True)
        _free_memory()


def working_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """``(width, height)`` the pipeline works at: about ``resolution**2`` pixels, multiples of 32.

    Mirrors ``calculate_dimensions`` of the diffusers pipeline so elongated
    inputs can be refused with a clear message before the model sees them.
    """
    ratio = width / height
    w = math.sqrt(resolution * resolution * ratio)
    h = w / ratio
    return round(w / 32) * 32, round(h / 32) * 32


def fit_layers(frames: NDArray[np.float32], size: tuple[int, int]) -> list[NDArray[np.uint8]]:
    """Resize ``L x h x w x 4`` float straight-alpha frames in ``[0, 1]`` to ``size``.

    ``size`` is ``(width, height)``; returns ``L`` arrays ``height x width x 4``
    ``uint8``. Colour is resampled premultiplied so the colour of transparent
    pixels does not bleed into edges; area averaging when shrinking, bilinear
    when enlarging. The input is not modified.
    """
    if frames.ndim != 4 or frames.shape[-1] != 4:
        raise ValueError("expected L x h x w x 4 frames")
    width, height = size
    if width < 1 or height < 1:
        raise ValueError("size must be positive")
    shrink = width * height < frames.shape[1] * frames.shape[2]
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = []
    for frame in np.clip(frames, 0.0, 1.0):
        premul = np.empty_like(frame)
        premul[..., :3] = frame[..., :3] * frame[..., 3:]
        premul[..., 3] = frame[..., 3]
        if premul.shape[:2] != (height, width):
            premul = cv2.resize(premul, (width, height), interpolation=interpolation)
        alpha = np.clip(premul[..., 3], 0.0, 1.0)
        rgb = np.zeros((height, width, 3), dtype=np.float32)
        visible = alpha > 0.5 / 255.0
        rgb[visible] = premul[visible, :3] / alpha[visible, None]
        rgba = np.empty((height, width, 4), dtype=np.uint8)
        rgba[..., :3] = np.clip(np.rint(rgb * 255.0), 0, 255)
        rgba[..., 3] = np.clip(np.rint(alpha * 255.0), 0, 255)
        out.append(rgba)
    return out


def _resolve_device(device: str | None) -> torch.device:
    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise EngineUnavailable(f"unknown torch device {device!r}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineUnavailable(f"device {device!r} asked for, but no CUDA GPU is usable here")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise EngineUnavailable(
                f"device {device!r} asked for, but only {torch.cuda.device_count()} GPU(s) exist"
            )
    return resolved


def _resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    if not dtype:
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    resolved = _DTYPES.get(dtype.lower().removeprefix("torch."))
    if resolved is None:
        raise EngineUnavailable(f"unknown dtype {dtype!r}; use bfloat16 or float32")
    if resolved == torch.float16:
        raise EngineUnavailable(
            f"dtype {dtype!r} is not supported: Qwen-Image overflows to NaN in float16 and "
            "every layer would come back empty; use bfloat16 (the GPU default) or float32"
        )
    return resolved


def _load_pipeline(model: str, dtype: torch.dtype) -> Any:
    """Load the pipeline from a directory or repo id; every failure is EngineUnavailable.

    The caption processor (Qwen2-VL's, which needs torchvision) is loaded only with the
    ``lamina[qwen-caption]`` extra: it serves requests without a prompt alone, and a
    torchvision installed by hand can move torch past the pin.
    """
    try:
        from diffusers import QwenImageLayeredPipeline
    except ImportError as exc:
        raise EngineUnavailable(
            f"diffusers {installed_version('diffusers')} has no usable QwenImageLayeredPipeline "
            f"({_short(exc)}); the qwen engine needs diffusers >= "
            f"{'.'.join(map(str, MIN_DIFFUSERS))}: pip install -U 'lamina[qwen]'"
        ) from exc

    path = Path(model).expanduser()
    local = path.is_dir()
    if local and not (path / "model_index.json").is_file():
        raise EngineUnavailable(
            f"{model} is not a diffusers pipeline directory (no model_index.json); point "
            "--model at the downloaded Qwen-Image-Layered folder or give its repo id"
        )
    if not local and (model.startswith((".", "/", "~")) or model.count("/") != 1):
        raise EngineUnavailable(
            f"no Qwen-Image-Layered weights at {model}: no such directory, and not a repo id"
        )
    source = str(path) if local else model
    hint = (
        ""
        if local
        else " (download it first, e.g. `hf download Qwen/Qwen-Image-Layered`, or unset "
        "HF_HUB_OFFLINE to let lamina fetch it)"
    )
    try:
        index = QwenImageLayeredPipeline.load_config(source)
    except Exception as exc:
        raise EngineUnavailable(
            f"no Qwen-Image-Layered weights found at {model}: {_short(exc)}{hint}"
        ) from exc
    has_processor = index.get("processor", [None])[0] is not None
    captions = has_processor and importlib.util.find_spec("torchvision") is not None
    if has_processor and not captions:
        logger.info(
            "qwen engine: loading without the caption processor (no torchvision), so every "
            "request needs a prompt; pip install 'lamina[qwen-caption]' to caption images"
        )
    extra = {} if captions else {"processor": None}
    try:
        return QwenImageLayeredPipeline.from_pretrained(source, torch_dtype=dtype, **extra)
    except Exception as exc:
        raise EngineUnavailable(
            f"could not load Qwen-Image-Layered weights from {model}: {_short(exc)}{hint}"
        ) from exc


def _load_lora(pipe: Any, lora: str) -> None:
    """Load a LoRA into the transformer, unfused: a ``.safetensors`` file, a folder or a repo id."""
    if importlib.util.find_spec("peft") is None:
        raise EngineUnavailable("loading a LoRA needs peft: pip install 'lamina[qwen-lora]'")
    path = Path(lora).expanduser()
    source, options = (
        (str(path.parent), {"weight_name": path.name}) if path.is_file() else (lora, {})
    )
    try:
        pipe.load_lora_weights(source, **options)
    except Exception as exc:
        raise EngineUnavailable(f"could not load the LoRA {lora}: {_short(exc)}") from exc


def _free_memory() -> None:
    """Drop what a failed run left behind so the worker can take the next job."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."

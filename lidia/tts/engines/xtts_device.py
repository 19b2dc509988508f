"""Where XTTS runs and how: the torch device, half precision, the inference context.

On CUDA the model and the voice latents live on `TTS_DEVICE` and every call runs under
`torch.inference_mode` with that device current (so `cuda:1` never touches `cuda:0`).
Half precision (`XTTS_HALF_PRECISION`) is autocast to float16, which speeds up the GPT
and the vocoder on cards with fast fp16 (compute capability ≥ 7.0: Turing, Ampere and
later); Pascal cards such as the P104-100 run fp16 at a fraction of fp32 speed, so
`auto` leaves it off there. Autocast keeps softmax and normalisation in float32, which
is what makes it safe for XTTS where a blunt `model.half()` is not.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Literal

import torch

from lidia.core.errors import EngineUnavailableError

logger = logging.getLogger(__name__)

HalfPrecision = Literal["auto", "on", "off"]
# The first NVIDIA generation (Volta/Turing) with fp16 at least as fast as fp32.
FAST_FP16_CAPABILITY = (7, 0)


def resolve_device(device: str) -> torch.device:
    """`"auto"` → CUDA when available, else CPU; an explicit `"cuda:1"` is respected.

    Raises `EngineUnavailableError` for a CUDA device on a machine without (that) CUDA.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise EngineUnavailableError(f"invalid XTTS device {device!r}: {exc}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise EngineUnavailableError(
                f"XTTS device {device!r} asked for, but CUDA is not available here "
                "(CPU-only torch or no GPU); set TTS_DEVICE=auto or cpu"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise EngineUnavailableError(
                f"XTTS device {device!r} asked for, but only "
                f"{torch.cuda.device_count()} CUDA device(s) exist"
            )
    return resolved


def has_fast_fp16(device: torch.device) -> bool:
    """True for a CUDA device of compute capability ≥ 7.0; False for Pascal and for CPUs."""
    if device.type != "cuda":
        return False
    return torch.cuda.get_device_capability(device) >= FAST_FP16_CAPABILITY


def half_precision_dtype(device: torch.device, setting: HalfPrecision) -> torch.dtype | None:
    """The autocast dtype for `setting` on `device`, or None for full float32.

    `auto`: float16 on a CUDA card with fast fp16, else None. `on` forces it (float16 on
    CUDA, also on Pascal, where it is slow but works; bfloat16 on a CPU, which is slower
    than float32 on most CPUs and exists so the half path can be tested without a GPU).
    """
    if setting == "off" or (setting == "auto" and not has_fast_fp16(device)):
        return None
    if device.type == "cuda":
        if not has_fast_fp16(device):
            logger.warning("XTTS half precision forced on %s, which has slow fp16", device)
        return torch.float16
    return torch.bfloat16


@contextlib.contextmanager
def inference_context(device: torch.device, half_dtype: torch.dtype | None) -> Iterator[None]:
    """No autograd, `device` current, autocast to `half_dtype` when given."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if device.type == "cuda":
            stack.enter_context(torch.cuda.device(device))
        if half_dtype is not None:
            stack.enter_context(torch.autocast(device_type=device.type, dtype=half_dtype))
        yield


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timing or a "model is free" means what it says."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

"""XTTS v2 checkpoints on disk: the files a checkpoint needs, the read-only trap, loading.

The released `model.pth` pickles an `XttsConfig`, and coqui rewrites such a file in place
on its first load; `checkpoint_pickles_config` tells without loading the weights, so a
read-only mount fails with a clear message instead of deep inside coqui. Once loaded, the
vocoder's weight normalisation is folded into its weights (`fold_vocoder_weight_norm`).
"""

from __future__ import annotations

import logging
import os
import pickletools
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lidia.core.errors import EngineUnavailableError

if TYPE_CHECKING:
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

logger = logging.getLogger(__name__)

REQUIRED_CHECKPOINT_FILES = ("config.json", "model.pth", "vocab.json")


def checkpoint_pickles_config(model_path: Path) -> bool:
    """True if `model.pth` stores a pickled `XttsConfig` object (the released XTTS v2 does).

    coqui's `Xtts._load_checkpoint` rewrites such a file in place on load (it converts the
    config to a dict and `torch.save`s over `model.pth`), which fails on a read-only mount.
    Reads only the small pickle inside the zip, not the weights. A file in torch's old
    non-zip format answers False (coqui will tell).
    """
    try:
        with zipfile.ZipFile(model_path) as archive:
            pickle_name = next(
                (name for name in archive.namelist() if name.endswith("data.pkl")), None
            )
            if pickle_name is None:
                return False
            data = archive.read(pickle_name)
    except zipfile.BadZipFile:
        return False
    return _pickle_references_class(data, "XttsConfig")


def _pickle_references_class(data: bytes, class_name: str) -> bool:
    last_strings: list[str] = []
    for opcode, arg, _position in pickletools.genops(data):
        if opcode.name == "GLOBAL" and str(arg).split(" ")[-1] == class_name:
            return True
        if opcode.name == "STACK_GLOBAL" and last_strings[-1:] == [class_name]:
            return True
        if isinstance(arg, str):
            last_strings = [*last_strings[-1:], arg]
    return False


def check_checkpoint_dir(checkpoint_dir: Path) -> None:
    missing = [name for name in REQUIRED_CHECKPOINT_FILES if not (checkpoint_dir / name).is_file()]
    if missing:
        raise EngineUnavailableError(
            f"XTTS checkpoint in {checkpoint_dir} lacks {', '.join(missing)}: run "
            f"`python model_download.py --xtts` or copy the files there"
        )
    model_path = checkpoint_dir / "model.pth"
    if checkpoint_pickles_config(model_path):
        if not os.access(model_path, os.W_OK):
            raise EngineUnavailableError(
                f"{model_path} still pickles an XttsConfig, so loading it would rewrite it, "
                f"but it is read-only: convert it once with `python model_download.py --xtts "
                f"--models-dir {checkpoint_dir.parent}` on a writable copy"
            )
        logger.warning(
            "%s pickles an XttsConfig: coqui converts it in place on this first load", model_path
        )


def load_model(checkpoint_dir: Path, device: torch.device) -> tuple[Xtts, XttsConfig]:
    """The production load path: config.json → Xtts → load_checkpoint(eval) → device."""
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.models.xtts import Xtts

    check_checkpoint_dir(checkpoint_dir)
    config = XttsConfig()
    config.load_json(str(checkpoint_dir / "config.json"))
    # `Xtts(config)` is what the deprecated `Xtts.init_from_config(config)` returns.
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(checkpoint_dir), eval=True)
    fold_vocoder_weight_norm(model)
    model.to(device)
    return model, config


def fold_vocoder_weight_norm(model: Xtts) -> int:
    """Fold HiFi-GAN's weight normalisation into plain weights; returns how many layers.

    coqui's `Xtts.load_checkpoint` leaves the decoder's 76 convolutions parametrized, so
    every decoder call recomputes each weight from its direction and norm: about a tenth
    of a vocoding step, in many small parallel ops, paid once per streamed piece and
    stalling when other processes share the CPU. For inference the folded weight is the
    same tensor (coqui's own `HifiDecoder.load_checkpoint(eval=True)` does this).
    """
    from torch.nn.utils import parametrize

    folded = 0
    for module in model.hifigan_decoder.waveform_decoder.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            folded += 1
    return folded

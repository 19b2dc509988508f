"""Disk cache of XTTS conditioning latents (the cloned voice), keyed by what produced them.

Computing the latents reads and encodes every reference clip: seconds on CPU for a few
clips, minutes for the whole folder. They only change when the clips, the checkpoint or
the conditioning parameters change, so the key is a sha256 over exactly those:

- each clip's content hash (in the order given: the GPT latent uses the clips concatenated);
- a fingerprint of the checkpoint's `model.pth` and `config.json`;
- the conditioning parameters and a format version.

Entries are `.pt` files (`torch.save` of a dict of two CPU tensors) written atomically
(temp file + `os.replace`), so a crash mid-write never leaves a half file under the key
and concurrent writers of the same key are harmless. A corrupt or unreadable entry is
treated as a miss. Everything here blocks (file I/O): call it from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# Bump when the stored layout or the way latents are computed changes.
CACHE_FORMAT_VERSION = 1

_READ_BLOCK = 1024 * 1024
# Enough of model.pth to tell two checkpoints apart, see `checkpoint_fingerprint`.
_EDGE_BYTES = 1024 * 1024


def file_sha256(path: Path) -> str:
    """Content hash of a whole file (used for clips: a few MB each)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def edges_sha256(path: Path, edge_bytes: int = _EDGE_BYTES) -> str:
    """Hash of a file's size, first and last `edge_bytes` bytes.

    Why not the whole file: `model.pth` of XTTS v2 is 1.8 GB, a full hash costs seconds
    on every start. Why not mtime: copying the models folder or rebuilding an image
    changes mtimes of identical files and would throw the cache away. A torch checkpoint
    is a zip whose head holds the pickled structure and first tensors and whose tail
    holds the last tensors and the central directory, so a different checkpoint differs
    there and in size with near certainty.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(edge_bytes))
        if size > edge_bytes:
            handle.seek(max(edge_bytes, size - edge_bytes))
            digest.update(handle.read(edge_bytes))
    return digest.hexdigest()


def checkpoint_fingerprint(checkpoint_dir: Path) -> str:
    """Fingerprint of the weights and config that turn clips into latents."""
    parts = {
        "model.pth": edges_sha256(checkpoint_dir / "model.pth"),
        "config.json": file_sha256(checkpoint_dir / "config.json"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def latents_key(
    clip_hashes: Sequence[str], checkpoint_fp: str, params: Mapping[str, object]
) -> str:
    """The cache key: sha256 over clip hashes (ordered), checkpoint fingerprint, params."""
    payload = {
        "version": CACHE_FORMAT_VERSION,
        "clips": list(clip_hashes),
        "checkpoint": checkpoint_fp,
        "params": dict(params),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class LatentsCache:
    """A folder of cached `(gpt_cond_latent, speaker_embedding)` pairs, one file per key."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = Path(cache_dir)

    def path_for(self, key: str) -> Path:
        return self.cache_dir / f"xtts-latents-{key}.pt"

    def load(self, key: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cached pair on CPU, or None on a miss (absent, unreadable or malformed)."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            # weights_only: a cache file is data, never code.
            stored = torch.load(path, map_location="cpu", weights_only=True)
            return stored["gpt_cond_latent"], stored["speaker_embedding"]
        except Exception as exc:  # any damage means "recompute", never "fail to start"
            logger.warning("ignoring unreadable voice latents cache %s: %s", path, exc)
            return None

    def save(
        self,
        key: str,
        gpt_cond_latent: torch.Tensor,
        speaker_embedding: torch.Tensor,
        *,
        meta: Mapping[str, object] | None = None,
    ) -> Path:
        """Store the pair under `key` atomically and return the file's path."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self.path_for(key)
        payload = {
            "gpt_cond_latent": gpt_cond_latent.detach().to("cpu").clone(),
            "speaker_embedding": speaker_embedding.detach().to("cpu").clone(),
            "meta": json.dumps(dict(meta or {}), sort_keys=True, default=str),
        }
        fd, temp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return path

"""The small ONNX models the phone runs per call (Silero VAD, Smart Turn): one session each."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import onnxruntime

_lock = threading.Lock()


def shared_session(path: Path) -> onnxruntime.InferenceSession:
    """The process's one session for the model at `path` (loaded on first use). Thread-safe;
    one thread per run, so many concurrent calls do not each grab every core."""
    with _lock:
        return _session(str(path))


@cache
def _session(path: str) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return onnxruntime.InferenceSession(
        path, providers=["CPUExecutionProvider"], sess_options=options
    )

"""AI phone secretary "Лидия": the package behind the root entry points.

Folders name the concerns: core (settings, errors, serving), audio, text, stt, llm, tts,
secretary, orchestrator (the :8002 service), phone (the :8001 service), admin (dashboard).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lidia-secretary")
except PackageNotFoundError:  # a checkout that was never installed (pip install -e .)
    __version__ = "0+unknown"

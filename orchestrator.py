"""Orchestrator (port 8002): speech to text, the secretary's LLM, and the cloned voice.

Run:  python orchestrator.py
  or: uvicorn orchestrator:create_app --factory --host 0.0.0.0 --port 8002

The service lives in `lidia.orchestrator`; this entry point keeps the name users know.
"""

from lidia.orchestrator.app import create_app, main

__all__ = ["create_app", "main"]

if __name__ == "__main__":
    main()

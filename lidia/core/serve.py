"""Running a service process: logging set up once, then uvicorn on the configured port."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI


def serve(app: FastAPI, *, host: str, port: int, log_level: str) -> None:
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level.lower())
    except KeyboardInterrupt:
        # uvicorn shut down gracefully on SIGINT, then re-raised the signal so the process
        # would end "as Ctrl+C ends it": that is a traceback and code 130 for a clean stop.
        logging.getLogger("lidia.serve").info("stopped on SIGINT")

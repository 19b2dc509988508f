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
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower())

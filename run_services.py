"""`make run`: start every service of the secretary and keep them running together.

Each service is its own process (the orchestrator holds the GPU models; a crash of one is
visible, not hidden). Ctrl+C or SIGTERM stops all of them; if one exits, the others are
stopped too so a supervisor (Docker, systemd) can restart the whole set.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = ["orchestrator.py", "phone_service.py"]


def main() -> int:
    scripts = [name for name in SERVICES if (HERE / name).exists()]
    procs = [subprocess.Popen([sys.executable, str(HERE / name)], cwd=HERE) for name in scripts]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in zip(scripts, procs, strict=True):
            if proc.poll() is not None:
                print(
                    f"!! {name} exited with code {proc.returncode}; stopping the rest",
                    file=sys.stderr,
                )
                exit_code = proc.returncode or 1
                stopping = True
        time.sleep(0.5)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

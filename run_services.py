"""`make run`: start every service of the secretary and keep them running together.

Each service is its own process (the orchestrator holds the GPU models; a crash of one is
visible, not hidden). SIGINT (Ctrl+C), SIGTERM or SIGHUP stops all of them: the signal is
passed on to each service, and the runner waits for them to finish. If one exits, the others
are stopped too so a supervisor (Docker, systemd) can restart the whole set.

Each service runs in a process group of its own: Ctrl+C in a terminal sends SIGINT to every
process of the terminal's group, and a service that got it from the terminal and once more
from the runner would take the second one as "force exit" (uvicorn) and skip its graceful
shutdown. So only the runner hears the terminal; each service gets exactly one signal, from
it. A service also gets SIGTERM if the runner itself dies (Linux `PR_SET_PDEATHSIG`), so no
service outlives it in a group nobody signals.

`--watch-parent` (what the Makefile uses): GNU make does not pass a SIGINT sent to make's own
process on to its recipe, it only waits for the recipe to end. Make resets its handler for
the signal it received to the default, so the runner watches make's caught-signals mask in
`/proc` and stops as if the signal had been sent to it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = ["orchestrator.py", "phone_service.py"]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PARENT_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
POLL_S = 0.2
GRACE_S = 20.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def caught_signals(pid: int) -> set[int] | None:
    """The signals process `pid` has a handler for (Linux `/proc`); None when unreadable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            mask = int(line.split()[1], 16)
            return {number for number in range(1, 65) if mask & (1 << (number - 1))}
    return None


class ParentWatch:
    """Tells when the parent stopped handling a stop signal (make does, once it gets one)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        caught = caught_signals(pid) or set()
        self.watched = {int(sig) for sig in PARENT_STOP_SIGNALS} & caught

    def signal_received(self) -> int | None:
        if os.getppid() != self.pid:
            return int(signal.SIGTERM)  # the parent is gone: nobody is left to stop us
        caught = caught_signals(self.pid)
        if caught is None:
            return None
        lost = self.watched - caught
        return min(lost) if lost else None


def _own_group_ended_with_runner() -> None:
    """In the child before exec: a process group of its own, and SIGTERM when the runner
    dies (a runner killed outright must not leave a service running unseen)."""
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def start_services(names: list[str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, str(HERE / name)], cwd=HERE, preexec_fn=_own_group_ended_with_runner
        )
        for name in names
    ]


def stop_services(procs: list[subprocess.Popen], sig: int) -> bool:
    """Pass `sig` on to each running service, wait for all; kill what outlives the grace.

    True when every service stopped cleanly: code 0, or ended by `sig` itself (uvicorn shuts
    down gracefully, then re-raises SIGTERM with its default action)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    deadline = time.monotonic() + GRACE_S
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return all(proc.returncode in (0, -sig) for proc in procs)


def run(names: list[str], parent: ParentWatch | None) -> int:
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    procs = start_services(names)
    exit_code = 0
    while not received:
        for name, proc in zip(names, procs, strict=True):
            if proc.poll() is not None and not received:
                print(
                    f"!! {name} exited with code {proc.returncode}; stopping the rest",
                    file=sys.stderr,
                )
                exit_code = proc.returncode or 1
                received.append(int(signal.SIGTERM))
        if parent is not None and not received and (sig := parent.signal_received()):
            received.append(sig)
        time.sleep(POLL_S)
    # SIGINT reaches uvicorn as Ctrl+C would; anything else as SIGTERM: both stop it cleanly.
    forwarded = signal.SIGINT if received[0] == signal.SIGINT else signal.SIGTERM
    if not stop_services(procs, forwarded) and not exit_code:
        codes = ", ".join(f"{n}: {p.returncode}" for n, p in zip(names, procs, strict=True))
        print(f"!! a service did not stop cleanly ({codes})", file=sys.stderr)
        exit_code = 1
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--watch-parent",
        action="store_true",
        help="stop when the parent process (make) receives SIGINT/SIGTERM/SIGHUP/SIGQUIT",
    )
    args = parser.parse_args(argv)
    names = [name for name in SERVICES if (HERE / name).exists()]
    parent = ParentWatch(os.getppid()) if args.watch_parent else None
    return run(names, parent)


if __name__ == "__main__":
    sys.exit(main())

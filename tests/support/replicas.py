"""Real replicas for the load-balancer test: orchestrator processes and an nginx in front.

- `OrchestratorProcess`: `python orchestrator.py` in its own process on 127.0.0.1:<free port>,
  configured only through its environment (as a container is); `kill()` is a crash (SIGKILL).
- `Nginx`: runs the production `deploy/nginx/lidia.conf` with its upstream servers and listen
  ports rewritten for the loopback, inside a minimal top-level config whose access log names
  the upstream and the `X-Lidia-Replica` that answered each request.
Every wait is bounded; `stop()`/`kill()` are safe to call twice.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from lidia.core.settings import PROJECT_DIR

LB_CONFIG = PROJECT_DIR / "deploy" / "nginx" / "lidia.conf"
_START_TIMEOUT_S = 90.0  # model load on a busy 2-core machine
# "|"-separated: $upstream_addr lists every server tried ("127.0.0.1:1, 127.0.0.1:2").
_ACCESS_FORMAT = "'$request_method|$uri|$status|$upstream_addr|$upstream_http_x_lidia_replica'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not healthy within {_START_TIMEOUT_S:g} s:\n{tail(log)}")


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else ""


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class OrchestratorProcess:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, root: Path, env: dict[str, str]) -> OrchestratorProcess:
        """Start (not wait for) one replica; `env` holds its settings as variables."""
        port = free_port()
        root.mkdir(parents=True, exist_ok=True)
        log = root / "orchestrator.log"
        variables = {k: v for k, v in os.environ.items() if not k.isupper() or k in _KEEP_ENV}
        variables |= env | {"ORCHESTRATOR_HOST": "127.0.0.1", "ORCHESTRATOR_PORT": str(port)}
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, str(PROJECT_DIR / "orchestrator.py")],
                cwd=root,  # no developer's .env is read
                env=variables,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return cls(port, process, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self) -> None:
        wait_healthy(self.url, self.process, self.log)

    def kill(self) -> None:
        """A crash: SIGKILL, no graceful shutdown."""
        _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.process)


# What a child process needs from the parent's environment (settings never leak through).
_KEEP_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CACHE_HOME", "VIRTUAL_ENV"}


def render_lb_config(
    orchestrators: list[str], phones: list[str], *, orchestrator_port: int, phone_port: int
) -> str:
    """`deploy/nginx/lidia.conf` with loopback upstreams and listen ports (all else as shipped)."""
    text = LB_CONFIG.read_text(encoding="utf-8")
    text = _with_servers(text, "orchestrators", orchestrators)
    text = _with_servers(text, "phones", phones)
    for shipped, port in (("listen 8002;", orchestrator_port), ("listen 8001;", phone_port)):
        if text.count(shipped) != 1:
            raise ValueError(f"{LB_CONFIG} has no single `{shipped}`")
        text = text.replace(shipped, f"listen 127.0.0.1:{port};")
    return text


def _with_servers(text: str, upstream: str, addresses: list[str]) -> str:
    """Replace the `server` lines of `upstream NAME {...}`, keeping the first one's parameters."""
    block = re.search(rf"upstream {upstream} \{{(.*?)\n\}}", text, re.DOTALL)
    if block is None:
        raise ValueError(f"{LB_CONFIG} has no `upstream {upstream}` block")
    server_line = re.compile(r"^ *server \S+((?: [^;#\s]+)*);.*\n", re.MULTILINE)
    body = block.group(1) + "\n"
    first = server_line.search(body)
    if first is None:
        raise ValueError(f"`upstream {upstream}` has no server line")
    lines = "".join(f"    server {address}{first.group(1)};\n" for address in addresses)
    body = body[: first.start()] + lines + server_line.sub("", body[first.end() :])
    return text[: block.start(1)] + body.rstrip("\n") + text[block.end(1) :]


@dataclass
class Nginx:
    root: Path
    process: subprocess.Popen[bytes]
    orchestrator_port: int
    phone_port: int

    @classmethod
    def start(
        cls, root: Path, orchestrators: list[str], phones: list[str], *, orchestrator_port: int
    ) -> Nginx:
        """nginx on `orchestrator_port` (chosen first: the phone must know it) and a free one."""
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        root.mkdir(parents=True, exist_ok=True)
        phone_port = free_port()
        (root / "lidia.conf").write_text(
            render_lb_config(
                orchestrators, phones, orchestrator_port=orchestrator_port, phone_port=phone_port
            ),
            encoding="utf-8",
        )
        (root / "nginx.conf").write_text(_top_level_config(root), encoding="utf-8")
        command = [binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "error.log"]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx rejects the config:\n{checked.stderr}")
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nginx = cls(root, process, orchestrator_port, phone_port)
        nginx._wait_listening()
        return nginx

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{tail(self.root / 'error.log')}")
            try:
                socket.create_connection(("127.0.0.1", self.phone_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx is not listening after 15 s")

    @property
    def orchestrator_url(self) -> str:
        return f"http://127.0.0.1:{self.orchestrator_port}"

    @property
    def phone_url(self) -> str:
        return f"http://127.0.0.1:{self.phone_port}"

    def access_log(self, path: str) -> list[dict[str, str]]:
        """Finished requests to `path`, oldest first: method, status, upstream(s), replica."""
        entries = []
        for line in tail(self.root / "access.log", 1 << 20).splitlines():
            method, uri, status, upstream, replica = line.split("|", 4)
            if uri == path:
                entries.append(
                    {"method": method, "status": status, "upstream": upstream, "replica": replica}
                )
        return entries

    def stop(self) -> None:
        _stop(self.process, signal.SIGQUIT)  # graceful: open WebSockets are closed


def _top_level_config(root: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers need our temp folders
    return f"""{user}worker_processes 1;
pid {root}/nginx.pid;
daemon off;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format lidia {_ACCESS_FORMAT};
    access_log {root}/access.log lidia;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    include {root}/lidia.conf;
}}
"""

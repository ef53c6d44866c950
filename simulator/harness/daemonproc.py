"""The real daemon as a child process (`streetlight run`), for fault tests and the soak.

The reliability tests kill, stop and restart the daemon; that needs a process of its own, with
its own pid, RSS and CPU time, run exactly as systemd would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from edge.config import SiteConfig

__all__ = [
    "DaemonProcess", "Scrape", "cpu_seconds", "metric", "scrape_metrics", "write_config",
]  # fmt: skip

#: metric name -> [(labels, value)]
Scrape = dict[str, list[tuple[dict[str, str], float]]]

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def write_config(site: SiteConfig, path: Path) -> Path:
    """Write ``site`` as a YAML config file (no secrets in test sites: they would be redacted)."""
    path.write_text(yaml.safe_dump(site.model_dump(mode="json"), sort_keys=False))
    return path


def scrape_metrics(port: int, host: str = "127.0.0.1") -> Scrape:
    """GET /metrics and parse it with prometheus_client's own parser."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def metric(scrape: Scrape, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels match ``labels``."""
    return sum(
        v for lab, v in scrape.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


class DaemonProcess:
    """``python -m edge run`` on ``config``; optionally on a virtual clock."""

    def __init__(
        self,
        config: Path,
        *,
        log_path: Path,
        virtual_start: str | None = None,
        speed: float = 1.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config, self.log_path = config, log_path
        self.virtual_start, self.speed = virtual_start, speed
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        args = [sys.executable, "-m", "edge", "run", "--config", str(self.config)]
        if self.virtual_start is not None:
            args += ["--virtual-start", self.virtual_start, "--speed", f"{self.speed:g}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
        env.update(self.env)
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        self.starts += 1

    def signal(self, sig: int) -> None:
        if self.running:
            os.kill(self.pid, sig)

    async def kill(self) -> None:
        """SIGKILL: no checkpoint, no drain, no offline status (a power cut, as far as it goes)."""
        if self.proc is not None and self.running:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout_s``); the exit code."""
        if self.proc is None:
            return None
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self.proc.wait()
            if self.running:
                await self.kill()
        return self.proc.returncode

    def rss_kib(self) -> int:
        """Resident set size now (VmRSS), KiB."""
        return self._status_kib("VmRSS:")

    def peak_rss_kib(self) -> int:
        """The highest resident set size so far (VmHWM), KiB."""
        return self._status_kib("VmHWM:")

    def _status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far."""
        return cpu_seconds(self.pid)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

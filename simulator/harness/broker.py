"""A private mosquitto broker on a free loopback port (tests and `streetlight demo`)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["INSTALL_HINT", "MosquittoBroker", "find_mosquitto", "free_port"]

INSTALL_HINT = (
    "the `mosquitto` binary was not found; the broker tests need a real broker. "
    "Install it with `apt-get install -y mosquitto` (scripts/test does this when run as root)."
)


def find_mosquitto() -> str | None:
    """The mosquitto binary: on PATH, or where Debian puts it (/usr/sbin is not on every PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(candidate).exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """One mosquitto process with its own config, log and port."""

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        extra_conf: str = "",
        persistent: bool = False,
        conf: str | None = None,
    ) -> None:
        """``persistent``: sessions and queued messages survive a restart (saved on SIGTERM).
        ``conf``: a whole mosquitto.conf of one's own (its first listener is ``port``)."""
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        logging = f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
        if conf is None:
            persist = (
                f"persistence true\npersistence_location {workdir}/\n"
                if persistent
                else "persistence false\n"
            )
            conf = (
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{persist}"
                f"max_queued_messages 100000\n{extra_conf}"
            )
        # As root, mosquitto drops to the `mosquitto` user, who cannot read a private work dir.
        stay = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(conf.rstrip("\n") + "\n" + logging + stay)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        self._proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                log = self.log.read_text(errors="replace") if self.log.exists() else ""
                raise RuntimeError(
                    f"mosquitto exited at start ({self._proc.returncode}): {err}{log}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def kill(self) -> None:
        """SIGKILL: a crash. Nothing is saved beyond the last autosave, and no Will is sent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

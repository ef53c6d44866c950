"""A secured mosquitto from the shipped config/mosquitto files, with throwaway accounts/certs."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from simulator.harness.broker import MosquittoBroker, free_port
from tests.conftest import REPO

SHIPPED = REPO / "config" / "mosquitto"


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(work: Path, server_name: str = "localhost") -> Certs:
    """A throwaway CA, a server certificate for ``server_name`` (and 127.0.0.1), a client one."""
    work.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=streetlight-test-ca", "-keyout", "ca.key", "-out", "ca.crt",
             cwd=work)  # fmt: skip
    ext = work / "san.ext"
    ext.write_text(f"subjectAltName=DNS:{server_name},IP:127.0.0.1\n")
    for name, cn in (("server", server_name), ("client", "streetlight-cli")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=work)  # fmt: skip
        extra = ["-extfile", str(ext)] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra,
                 cwd=work)  # fmt: skip
    return Certs(
        ca=work / "ca.crt",
        server_cert=work / "server.crt",
        server_key=work / "server.key",
        client_cert=work / "client.crt",
        client_key=work / "client.key",
    )


def secured_broker(
    work: Path, users: dict[str, str], *, certs: Certs | None = None, acl_extra: str = ""
) -> tuple[MosquittoBroker, int | None]:
    """The shipped streetlight.conf and .acl, with paths and ports made local.

    Returns the broker (its ``port`` is the loopback listener) and the TLS port (or None)."""
    work.mkdir(parents=True, exist_ok=True)
    passwd = work / "streetlight.passwd"
    passwd.write_text("")
    for user, password in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                       capture_output=True)  # fmt: skip
    acl = work / "streetlight.acl"
    acl.write_text((SHIPPED / "streetlight.acl").read_text() + acl_extra)
    port, tls_port = free_port(), free_port() if certs else None
    conf = (SHIPPED / "streetlight.conf").read_text()
    conf = conf.replace("/etc/mosquitto/streetlight.passwd", str(passwd))
    conf = conf.replace("/etc/mosquitto/streetlight.acl", str(acl))
    conf = conf.replace("/var/lib/mosquitto/", f"{work}/")
    conf = conf.replace("listener 1883 127.0.0.1", f"listener {port} 127.0.0.1")
    if certs is None:
        conf = re.sub(r"\nlistener 8883\n(?:[a-z_]+ .*\n|#.*\n)*", "\n", conf)
    else:
        conf = conf.replace("listener 8883", f"listener {tls_port} 127.0.0.1")
        conf = conf.replace("/etc/mosquitto/certs/server.crt", str(certs.server_cert))
        conf = conf.replace("/etc/mosquitto/certs/server.key", str(certs.server_key))
        conf = conf.replace("/etc/mosquitto/certs/ca.crt", str(certs.ca))
    broker = MosquittoBroker(work / "broker", port=port, conf=conf)
    return broker, tls_port

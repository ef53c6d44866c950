"""Shared fixtures: a private mosquitto, pty pairs, and a check for leftover tasks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.broker import INSTALL_HINT, MosquittoBroker, find_mosquitto
from tests.helpers.pty_pair import PtyPair

# A shared, noisy 2-core machine: no per-example deadline, no "generation too slow" failures.
settings.register_profile(
    "streetlight",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("streetlight")

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "site.example.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests run only when asked for (``-m slow``, as scripts/reliability does)."""
    if config.getoption("markexpr"):
        return
    skip = pytest.mark.skip(reason="slow: run by scripts/reliability (pytest -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _new_broker(tmp_path_factory: pytest.TempPathFactory) -> MosquittoBroker:
    if find_mosquitto() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A private broker shared by the session; do not stop it (use `private_broker`)."""
    b = _new_broker(tmp_path_factory)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A broker of this test's own, free to stop and restart."""
    b = _new_broker(tmp_path_factory)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    pair = PtyPair.open()
    yield pair
    pair.close()


@pytest.fixture(autouse=True)
async def _no_lingering_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves asyncio tasks running behind it."""
    yield
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if leftover:
        names = ", ".join(sorted(t.get_name() for t in leftover))
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)
        pytest.fail(f"test left {len(leftover)} task(s) running: {names}", pytrace=False)


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `streetlight` console script (same interpreter) and capture its output."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STREETLIGHT_")}
    full_env["COLUMNS"] = "200"
    if env:
        full_env.update(env)
    exe = Path(sys.executable).with_name("streetlight")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "edge", *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        input=input_text,
        check=False,
    )

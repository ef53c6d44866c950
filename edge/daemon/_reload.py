"""SIGHUP: the config file read again, and what of it may change while the daemon runs."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.config import SiteConfig, load_config
from edge.errors import ConfigError

__all__ = ["RESTART_ONLY", "reread"]

log = logging.getLogger("streetlight.daemon")

#: Sections that take effect at the next restart only: topics, links and stores keep matching.
RESTART_ONLY = ("gateway_id", "mqtt", "serial", "storage", "metrics", "security",
                "home_assistant")  # fmt: skip


def reread(path: Path | None, running: SiteConfig) -> tuple[str, SiteConfig | None]:
    """("applied", the site to swap in, with the restart-only sections kept as they run), or
    ("skipped" | "invalid", None) with the running config kept; each outcome logged."""
    if path is None:
        log.warning("reload: no config file to reload (started without --config)")
        return "skipped", None
    try:
        site = load_config(path)
    except ConfigError as err:
        log.error("reload: %s is invalid, keeping the running config:\n%s", path, err)
        return "invalid", None
    except OSError as exc:
        log.error("reload: cannot read %s (%s), keeping the running config", path, exc)
        return "invalid", None
    changed = [k for k in RESTART_ONLY if getattr(site, k) != getattr(running, k)]
    if changed:
        log.warning("reload: %s changed; those take effect at the next restart", ", ".join(changed))
    return "applied", site.model_copy(update={k: getattr(running, k) for k in RESTART_ONLY})

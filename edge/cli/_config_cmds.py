"""``streetlight config ...``: validate, show and print the example config."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edge.cli._console import DEFAULT_CONFIG, console, err_console
from edge.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:  # the config's models load with the command
    from edge.config import SiteConfig

config_app = typer.Typer(help="Validate and inspect site config files.", no_args_is_help=True)


@config_app.command("validate")
def validate(
    file: Path = typer.Argument(DEFAULT_CONFIG, help="YAML config file."),
    strict: bool = typer.Option(
        False, "--strict", help="Secret files that are missing or open to others fail (exit 2)."
    ),
    as_json: bool = typer.Option(False, "--json", help="The summary as JSON on stdout."),
) -> None:
    """Check a config file; exit 0 when valid, 2 with every problem's path otherwise.
    Secret files it names (keys, passwords) are checked too: open to group or others (the
    daemon refuses such a command key) or unreadable is a warning, an error with --strict."""
    from edge.config import load_config

    site = load_config(file)
    lamps = site.all_lamps()
    sensors = sum(len(c.sensors) for c in site.clusters)
    warnings = list(_secret_file_issues(site))
    if as_json:
        summary = {"file": str(file), "ok": not (warnings and strict),
                   "gateway_id": site.gateway_id, "clusters": len(site.clusters),
                   "lamps": len(lamps), "sensors": sensors, "profiles": len(site.profiles),
                   "warnings": [str(w) for w in warnings]}  # fmt: skip
        typer.echo(json.dumps(summary, indent=2))
    else:
        console.print(
            f"{file}: ok - gateway {site.gateway_id}, {len(site.clusters)} clusters, "
            f"{len(lamps)} lamps, {sensors} sensors, {len(site.profiles)} profiles"
        )
    for issue in warnings:
        err_console.print(f"warning: {issue.path}: {issue.message}")
    if warnings and strict:
        raise ConfigError(str(file), warnings)


def _secret_file_issues(site: SiteConfig) -> Iterator[ConfigIssue]:
    """Secret files that are missing, unreadable or open to group or others."""
    named = {
        "mqtt.password_file": site.mqtt.password_file,
        "mqtt.tls.key_file": site.mqtt.tls.key_file if site.mqtt.tls else None,
        "security.command_key_file": site.security.command_key_file,
        "security.cli_password_file": site.security.cli_password_file,
    }
    for where, path in named.items():
        if path is None:
            continue
        try:
            mode = path.stat().st_mode & 0o777
        except OSError as exc:
            yield ConfigIssue(where, f"cannot read {path}: {exc.strerror}")
            continue
        if mode & 0o077:
            yield ConfigIssue(
                where, f"{path} is open to group or others (mode {mode:o}); chmod 600 it"
            )


@config_app.command("show")
def show(
    file: Path = typer.Argument(DEFAULT_CONFIG, help="YAML config file."),
    as_json: bool = typer.Option(False, "--json", help="Plain JSON on stdout."),
    lamps: bool = typer.Option(False, "--lamps", help="Expand every cluster's lamps."),
) -> None:
    """Print the resolved config: defaults and STREETLIGHT_* env applied, secrets redacted."""
    from edge.config import load_config

    site = load_config(file)
    data = site.model_dump(mode="json")
    if lamps:
        for cluster, dumped in zip(site.clusters, data["clusters"], strict=True):
            dumped["resolved_lamps"] = [asdict(lamp) for lamp in cluster.resolved_lamps()]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@config_app.command("keygen")
def keygen(
    file: Path = typer.Argument(..., help="Where to write the key (created with mode 0600)."),
) -> None:
    """Write a new random command-signing key (security.command_key_file; docs/security.md)."""
    import secrets

    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise typer.BadParameter(f"{file} exists; remove it first to make a new key") from None
    except OSError as exc:
        raise typer.BadParameter(f"cannot create {file}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    console.print(
        f"{file}: a new 256-bit key (mode 600). Copy it to the gateway and the CLI hosts."
    )


@config_app.command("example")
def example() -> None:
    """Print the bundled example site config (a starting point for a new cabinet)."""
    from edge.config import example_config_path

    typer.echo(example_config_path().read_text(encoding="utf-8"), nl=False)


@config_app.command("generate")
def generate(
    lamps: int = typer.Option(..., "--lamps", min=1, help="How many lamps."),
    clusters: int | None = typer.Option(None, "--clusters", min=1, help="Road segments."),
    gateway_id: str = typer.Option("bench-gw", "--gateway-id"),
) -> None:
    """Print a generated site of any size (benchmarks, scale tests)."""
    import yaml

    from simulator.sites import generate_site

    data = generate_site(lamps=lamps, clusters=clusters, gateway_id=gateway_id)
    typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)

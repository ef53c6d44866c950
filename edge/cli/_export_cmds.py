"""``streetlight config export DIR``: a gateway's systemd unit, udev rule and example config.

The repository's config/ folder ships in the wheel as ``edge._deploy``, so a gateway installed
with pip alone writes them out here. The unit's ExecStart names this install's command.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from edge.cli._console import console
from edge.errors import ExistingFilesError, StreetlightError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["export", "render_unit"]

#: file written -> (where it is in the bundled config/ tree, what it is)
_GATEWAY_FILES = {
    "streetlight-edge.service": ("systemd/streetlight-edge.service", "systemd unit"),
    "99-streetlight.rules": ("udev/99-streetlight.rules", "udev rule: fill in the serial number"),
    "config.yaml": ("site.example.yaml", "example site config: edit, then validate"),
}
#: with --all, these folders of the bundle too (the broker, Prometheus, Grafana)
_MORE_FOLDERS = ("mosquitto", "prometheus", "grafana")

_EXEC_START = re.compile(r"^ExecStart=\S+", re.MULTILINE)


def render_unit(text: str, executable: str) -> str:
    """The unit ``text`` with ExecStart running ``executable`` (quoted as systemd reads it)."""
    # '%' starts a specifier and '$' a variable in a unit's command line; both are doubled.
    word = executable.replace("%", "%%").replace("$", "$$")
    if any(c.isspace() or c in "\"'\\" for c in word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rendered, count = _EXEC_START.subn(lambda _: f"ExecStart={word}", text, count=1)
    if count != 1:
        raise StreetlightError("the bundled systemd unit has no ExecStart= line")
    return rendered


def _this_streetlight() -> Path:
    """This install's ``streetlight`` console script."""
    invoked = Path(sys.argv[0])
    if invoked.name == "streetlight" and invoked.is_file():
        return invoked.absolute()
    beside = Path(sys.executable).with_name("streetlight")
    if beside.is_file():
        return beside
    raise StreetlightError(
        "cannot tell where this install's streetlight command is; name it with --exec"
    )


def _bundled_tree(folder: Traversable, prefix: str) -> dict[str, Traversable]:
    """Every file under ``folder``, by its path relative to the bundle."""
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found.update(_bundled_tree(entry, f"{prefix}{entry.name}/"))
        elif entry.is_file():
            found[f"{prefix}{entry.name}"] = entry
    return found


def _contents(executable: Path, everything: bool) -> dict[str, tuple[str, str]]:
    """File name -> (text, what it is), for the files to write."""
    from importlib.resources import files

    bundle = files("edge._deploy")
    out: dict[str, tuple[str, str]] = {}
    for name, (source, what) in _GATEWAY_FILES.items():
        entry = bundle
        for part in source.split("/"):
            entry = entry / part
        out[name] = (entry.read_text(encoding="utf-8"), what)
    unit, what = out["streetlight-edge.service"]
    out["streetlight-edge.service"] = (render_unit(unit, str(executable)), f"{what}: {executable}")
    if everything:
        for folder in _MORE_FOLDERS:
            for name, entry in sorted(_bundled_tree(bundle / folder, f"{folder}/").items()):
                out[name] = (entry.read_text(encoding="utf-8"), f"{folder} config")
    return out


def export(
    directory: Path = typer.Argument(
        ..., metavar="DIR", help="Folder to write into (created if missing)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
    everything: bool = typer.Option(
        False, "--all", help="Also the mosquitto, Prometheus and Grafana files."
    ),
    executable: Path | None = typer.Option(
        None,
        "--exec",
        help="The streetlight command the unit runs (default: this install's).",
    ),
) -> None:
    """Write the systemd unit, the udev rule and an example config.yaml into DIR (--force
    to overwrite)."""
    if executable is not None and not executable.is_absolute():
        raise typer.BadParameter(f"{executable} is not an absolute path", param_hint="--exec")
    contents = _contents(executable or _this_streetlight(), everything)
    targets = {directory / name: entry for name, entry in contents.items()}
    existing = [str(path) for path in targets if path.exists() or path.is_symlink()]
    if existing and not force:
        raise ExistingFilesError(existing)
    for path, (text, _) in targets.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A link or a read-only file in the way is replaced, not written through.
            path.unlink(missing_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise StreetlightError(f"cannot write {path}: {exc.strerror}") from None
    width = max(len(str(path)) for path in targets)
    for path, (_, what) in targets.items():
        console.print(f"{path!s:<{width}}  {what}", markup=False)

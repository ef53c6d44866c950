"""Reading YAML safely and turning pydantic's errors into path-named issues."""

from __future__ import annotations

import json
import os
import reprlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge._config_keys import unknown_key_message
from edge._config_yaml import load_document
from edge.errors import ConfigError, ConfigIssue

__all__ = ["issues_from_validation", "read_yaml", "validate_document", "with_env"]

Model = TypeVar("Model", bound=BaseModel)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


#: what a problem shows of the value it got: bounded, for a document's aliases can make a
#: value of billions of elements out of a few lines (a "billion laughs")
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring = 2, 4, 4, 80


def issues_from_validation(err: ValidationError, root: type[BaseModel]) -> list[ConfigIssue]:
    """Pydantic's errors as config issues; an unknown key says what ``root`` allows there."""
    issues = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        path = _format_loc(loc)
        kind = e["type"]
        if kind == "extra_forbidden":
            issues.append(ConfigIssue(path, unknown_key_message(root, loc)))
        elif kind == "missing":
            issues.append(ConfigIssue(path, "required key is missing"))
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            issues.append(
                ConfigIssue(
                    path,
                    f"{msg} (got {_SHOWN.repr(e['input'])})" if kind.endswith("_type") else msg,
                )
            )
    return issues


def read_yaml(path: Path, source: str) -> Any:
    """Parse one YAML file; a missing file or a syntax error is a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigIssue("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [ConfigIssue("", f"cannot read: {exc}")]) from None
    try:
        return load_document(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue(where, f"YAML syntax: {problem}")]) from None


def with_env(
    data: dict[str, Any],
    environ: Mapping[str, str],
    fields: Collection[str],
    *,
    prefix: str = "STREETLIGHT_",
    source: str = "<config>",
) -> dict[str, Any]:
    """``data`` with the environment's overrides laid over it: ``STREETLIGHT_MQTT__PORT=2883``
    sets ``mqtt.port`` (names in any case, ``__`` nests). Only variables whose first part is
    one of ``fields`` count (``STREETLIGHT_CONFIG`` is the CLI's). A value that starts with
    ``{`` or ``[`` is read as JSON; any other stays a string for the models to convert."""
    merged = dict(data)
    for name in sorted(environ):
        if not name.upper().startswith(prefix):
            continue
        path = name[len(prefix) :].lower().split("__")
        if path[0] not in fields or not all(path):
            continue
        value: Any = environ[name]
        if value.lstrip()[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ConfigError(
                    source, [ConfigIssue(".".join(path), f"{name} is not JSON: {exc}")]
                ) from None
        node = merged
        for key in path[:-1]:
            inner = node.get(key)
            node[key] = dict(inner) if isinstance(inner, dict) else {}
            node = node[key]
        node[path[-1]] = value
    return merged


def validate_document(root: type[Model], data: Any, *, source: str) -> Model:
    """A parsed YAML document, with the ``STREETLIGHT_*`` env overrides laid over it, as a
    ``root``; a ConfigError naming every problem by its path."""
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigIssue("", "the config must be a YAML mapping at the top level")]
        )
    data = with_env(data, os.environ, root.model_fields, source=source)
    try:
        return root(**data)
    except ValidationError as err:
        raise ConfigError(source, issues_from_validation(err, root)) from None
    except ConfigError as err:  # a model's own checks, raised with their paths
        raise ConfigError(source, err.issues) from None

"""Reading YAML safely and turning pydantic's errors into path-named issues."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edge._config_keys import unknown_key_message
from edge.errors import ConfigError, ConfigIssue

__all__ = ["issues_from_validation", "read_yaml"]


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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
                ConfigIssue(path, f"{msg} (got {e['input']!r})" if kind.endswith("_type") else msg)
            )
    return issues


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when PyYAML has it: 10x faster) that refuses duplicate keys
    instead of silently keeping the last."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path, source: str) -> Any:
    """Parse one YAML file; a missing file or a syntax error is a ConfigError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigIssue("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [ConfigIssue("", f"cannot read: {exc}")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigIssue(where, f"YAML syntax: {problem}")]) from None

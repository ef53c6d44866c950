"""Where each config key belongs: an unknown key is answered with the keys of its own place,
or, when it is a key of another place, with where it is allowed."""

from __future__ import annotations

import types
from collections.abc import Iterator
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from edge._config_checks import hint

__all__ = ["unknown_key_message"]


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """The models an annotation holds, each with how a path steps into it (``[]``: a list's
    item, ``.*``: a mapping's value, ``""``: the field itself)."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, ""
    elif origin is Annotated:
        yield from _models_in(args[0])
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            for model, step in _models_in(arg):
                yield model, "[]" + step
    elif origin is dict and len(args) == 2:
        for model, step in _models_in(args[1]):
            yield model, ".*" + step


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """A model's keys as written in YAML (an alias where the field has one)."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


@cache
def _places(root: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every key of the config, to the places (``clusters[].lamps[]``) where it is allowed."""
    out: dict[str, list[str]] = {}

    def visit(model: type[BaseModel], place: str, seen: frozenset[type[BaseModel]]) -> None:
        for key, annotation in _keys(model).items():
            out.setdefault(key, []).append(place or "the top level")
            for inner, step in _models_in(annotation):
                if inner not in seen:
                    visit(inner, f"{place}.{key}{step}".lstrip("."), seen | {inner})

    visit(root, "", frozenset({root}))
    return {key: tuple(dict.fromkeys(places)) for key, places in out.items()}


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that a validation error's location (without the key itself) points into."""
    candidates: list[tuple[Any, str]] = [(root, "")]
    for part in loc:
        following: list[tuple[Any, str]] = []
        for model, step in candidates:
            if (step.startswith("[]") and isinstance(part, int)) or step.startswith(".*"):
                following.append((model, step[2:]))
            elif step == "" and isinstance(part, str):
                annotation = _keys(model).get(part)
                following += list(_models_in(annotation)) if annotation is not None else []
        candidates = following
    done = [model for model, step in candidates if step == ""]
    return done[0] if done else None


def _place(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += "[]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "the top level"


def unknown_key_message(root: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """``unknown key 'x'`` with the closest keys of this place, or where ``x`` is allowed."""
    key = str(loc[-1]) if loc else "?"
    model = _model_at(root, loc[:-1])
    here = set(_keys(model)) if model is not None else set()
    elsewhere = [p for p in _places(root).get(key, ()) if p != _place(loc[:-1])]
    close = hint(key, here - {key})
    if elsewhere:
        where = " and ".join(elsewhere) if len(elsewhere) <= 3 else ", ".join(elsewhere)
        return f"unknown key {key!r}: it is a key of {where}, not of {_place(loc[:-1])}{close}"
    return f"unknown key {key!r}{close}"

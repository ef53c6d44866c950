"""The config's YAML reader builds what the safe loader builds, straight from the events."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge._config_load import read_yaml
from edge._config_yaml import load_document
from edge.config import example_config_path, load_config
from edge.errors import ConfigError
from simulator.sites import generate_site

SCALARS = """\
plain: text
quoted: "05:00"
single: '1.5'
int: 42
hex: 0x1f
float: 1.5e3
inf: .inf
bools: [true, false, yes, no, on, off]
nulls: [null, ~, ]
sexagesimal: 05:00:00
date: 2026-03-20
stamp: 2026-03-20T18:00:00Z
tagged: !!str 1883
binary: !!binary aGVsbG8=
folded: >
  two
  lines
literal: |
  kept
  as is
nested: {a: [1, {b: c}], d: []}
"""


@pytest.mark.parametrize(
    "text",
    [SCALARS, "", "# only a comment\n", "just a scalar\n", "- 1\n- [2, 3]\n",
     "a: &x {b: 1}\nc: *x\nd: &y [1, 2]\ne: *y\n"],
)  # fmt: skip
def test_reads_what_the_safe_loader_reads(text: str) -> None:
    assert load_document(text) == yaml.safe_load(text)


def test_reads_the_example_and_a_generated_site_as_the_safe_loader_does() -> None:
    example = example_config_path().read_text()
    assert load_document(example) == yaml.safe_load(example)
    generated = yaml.safe_dump(generate_site(lamps=400, gateway_id="g", mqtt_port=1883))
    assert load_document(generated) == yaml.safe_load(generated)


def test_an_alias_is_the_anchored_object() -> None:
    doc = load_document("a: &x {b: 1}\nc: *x\n")
    assert doc["a"] is doc["c"]


def test_merge_keys_lay_defaults_under_a_mapping() -> None:
    text = (
        "base: &base {speed_limit_kmh: 50, floor: 0.3, two_way: true}\n"
        "other: &other {floor: 0.2, nominal_w: 35}\n"
        "one:\n  <<: *base\n  floor: 0.4\n"
        "two:\n  <<: [*other, *base]\n  id: two\n"
    )
    doc = load_document(text)
    assert doc["one"] == {"speed_limit_kmh": 50, "floor": 0.4, "two_way": True}
    # of several merged mappings the earlier wins; the mapping's own keys win over all
    assert doc["two"] == {"speed_limit_kmh": 50, "floor": 0.2, "two_way": True,
                          "nominal_w": 35, "id": "two"}  # fmt: skip
    assert list(doc["one"]) == ["speed_limit_kmh", "floor", "two_way"]


@pytest.mark.parametrize(
    ("text", "problem", "line"),
    [
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3),
        ("a:\n  b: 1\n  b: 2\n", "duplicate key 'b'", 3),
        ("a: *nowhere\n", "undefined alias", 1),
        ("a: !!set {x, y}\n", "is not read in a config", 1),
        ("a: !!python/object:os.system x\n", "could not determine a constructor", 1),
        ("a: 1\n---\nb: 2\n", "but found another document", 2),
        ("a: 1\nb: [1, 2\n", "YAML syntax", 3),
        ("a: &m {x: 1}\nb:\n  <<: 5\n", "mapping or a list of mappings", 3),
        ("? [1, 2]\n: v\n", "a collection as a key", 1),
    ],
)  # fmt: skip
def test_a_bad_document_is_refused_with_its_line(
    tmp_path: Path, text: str, problem: str, line: int
) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        read_yaml(path, str(path))
    assert info.value.issues[0].path.startswith(f"line {line},")


def test_a_billion_laughs_is_refused_at_once_with_a_short_message(tmp_path: Path) -> None:
    """Nine levels of nine aliases: a value of 387 million strings from ten lines. Read, it is
    ten small lists that share; the error shows a bounded piece of it (the whole of it never
    finished printing)."""
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{k}: &l{k} [{', '.join([f'*l{k - 1}'] * 9)}]" for k in range(1, 9)]
    path = tmp_path / "site.yaml"
    path.write_text("\n".join([*lines, "gateway_id: *l8", "site: {latitude: 52, longitude: 5}"]))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    shown = {issue.path: issue.message for issue in info.value.issues}
    assert shown["gateway_id"].startswith("Input should be a valid string (got [[")
    assert len(shown["gateway_id"]) < 300
    assert shown["lol0"] == "unknown key 'lol0'"

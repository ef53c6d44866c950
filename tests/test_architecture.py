"""The import graph of the project's own modules: no cycle, and no module reaches into another
package's private module (a name starting with ``_``). Read from the source with ``ast``: the
imports a module runs (those under ``if TYPE_CHECKING:`` are annotations only, not counted).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from simulator.harness.broker import free_port
from tests.simulator.sites import small_site

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("edge", "firmware_bridge", "simulator", "scripts")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports when it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def module_of(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from pkg import mod` imports the module; `from mod import name`, the module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]  # fmt: skip
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(node, field, None)
                    if isinstance(inner, list):
                        visit(inner)
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
                continue
            for target in targets:
                resolved = module_of(target)
                if resolved is not None and resolved != name:
                    found.add(resolved)

    visit(ast.parse(path.read_text()).body)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _owner(module: str) -> str:
    """The package a private module belongs to: the part before its first ``_`` name."""
    parts = module.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return module


def test_no_module_imports_another_packages_private_module() -> None:
    graph = _graph()
    bad = sorted(
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if _owner(target) != target
        and name != _owner(target)
        and not name.startswith(_owner(target) + ".")
    )
    assert bad == [], "\n".join(f"{a} imports {b}" for a, b in bad)


def test_the_import_graph_has_no_cycle() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)
    assert len(graph) > 50  # the walk found the project
    assert "edge.control" in graph["edge.site"]  # and its imports


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every project module ``start`` runs, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def _layer(module: str) -> str:
    if module == "edge.control" or module.startswith("edge.control."):
        return "core"
    if module in ("edge.errors", "edge.lighting"):  # plain Python leaves: errors, EN 13201
        return "leaf"
    if module == "edge.site":  # the config translated into the core's inputs
        return "translation"
    if module == "edge.config" or module.startswith("edge._config"):
        return "site config"
    if module.startswith("simulator.harness"):
        return "harness"
    if module.startswith("simulator"):
        return "street model"
    return module


def test_the_core_the_config_and_the_street_model_stand_on_the_layers_below() -> None:
    """The control core uses nothing else of the project; the site config uses neither the
    core nor anything else (so reading a config costs no numpy); the street model (the
    simulator without its harness) uses the core and the site config only: no daemon, no
    MQTT, no serial, so a policy can be scored with nothing else installed or running."""
    graph = _graph()
    allowed = {
        "core": {"core", "leaf"},
        "site config": {"site config", "leaf"},  # no numpy: the CLI reads configs fast
        "street model": {"core", "leaf", "site config", "translation", "street model"},
    }
    bad = sorted(
        (name, target)
        for name in graph
        if _layer(name) in allowed
        for target in _reach(graph, name)
        if _layer(target) not in allowed[_layer(name)]
    )
    assert bad == [], "\n".join(f"{a} runs {b}" for a, b in bad)
    street = [m for m in graph if _layer(m) == "street model"]
    assert "simulator.engine" in street
    assert "simulator.harness.demo" in graph


def _loaded_by(*argv: str) -> set[str]:
    """The project's and numpy's modules a CLI run loads, in a fresh interpreter."""
    code = (
        "import sys\nfrom edge.cli import main\n"
        f"sys.argv = ['streetlight', *{list(argv)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('edge', 'numpy')))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip
    return set(done.stdout.split())


def test_help_and_status_load_no_numpy_and_no_control_core(tmp_path: Path) -> None:
    """A field engineer's `streetlight --help` and `streetlight status` start in a blink:
    neither loads numpy nor the control core (status loads the config's gateway sections and
    the MQTT client)."""
    config = tmp_path / "site.yaml"
    doc = small_site().model_dump(mode="json")
    # a port nobody listens on: status gives up after --timeout
    doc["mqtt"] = {"host": "127.0.0.1", "port": free_port()}
    config.write_text(yaml.safe_dump(doc))
    helped = _loaded_by("--help")
    status = _loaded_by("status", "--config", str(config), "--timeout", "0.5")
    for loaded in (helped, status):
        assert "numpy" not in loaded
        assert not any(m.startswith("edge.control") for m in loaded)
    assert "edge.config" not in helped  # nor the config's models, for help
    assert "edge.config" not in status  # the gateway's sections only, not the street's models
    assert {"edge._config_gateway", "edge.mqtt"} <= status  # it got as far as the broker

"""The architecture holds: every module is a family or shared core (and the import contracts in
pyproject.toml, run by `lint-imports` in scripts/test.sh, know it), and no import goes in a circle."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).parent.parent
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def contract(name_start: str) -> dict:
    return next(c for c in CONTRACTS if c["name"].startswith(name_start))


def test_every_module_of_the_app_is_a_family_or_listed_as_core():
    families = set(contract("Families meet only through events")["modules"])
    core = set(contract("The shared core imports no family")["source_modules"])
    top_level = {f"ecommerce_tasks.{p.stem if p.is_file() else p.name}" for p in (ROOT / "ecommerce_tasks").iterdir()
                 if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert top_level - families - core == set(), "classify new modules in pyproject.toml"
    assert families & core == set()


def test_no_import_cycles_between_modules_of_the_app():
    graph = grimp.build_graph("ecommerce_tasks")
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for imported in edges.get(module, ()):
            if state.get(imported) == 1:
                cycles.append(path[path.index(imported):] + [imported])
            elif imported not in state:
                visit(imported, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph.modules):
        if module not in state:
            visit(module, [])
    assert cycles == []


def test_the_deploy_package_leaves_the_tooling_out():
    ignored = (ROOT / ".funcignore").read_text().splitlines()
    assert {"autopilot_local/", "autopilot_sandbox/", "autopilot_demo/"} <= set(ignored)

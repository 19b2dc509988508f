"""The shape of the code base: layers between folders, no import cycles, small modules.

`lint-imports` checks the contracts in pyproject.toml; grimp's import graph (function-level and
TYPE_CHECKING imports included) is searched here for module-level cycles.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lidia"
MAX_ROOT_MODULES = 10
MAX_MODULE_LINES = 600


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # No cache: the shared checkout must not collect .grimp_cache folders.
    return grimp.build_graph("lidia", include_external_packages=False, cache_dir=None)


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def find_cycles(graph: grimp.ImportGraph) -> list[tuple[str, ...]]:
    """One shortest cycle through each import that lies on a cycle, each cycle listed once."""
    cycles: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycle = (importer, *back)
                cycles.setdefault(frozenset(cycle), cycle)
    return sorted(cycles.values())


def test_no_import_cycles_between_modules(graph: grimp.ImportGraph) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_search_finds_a_cycle() -> None:
    # The search itself, on a graph with one known cycle and one harmless chain.
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    graph.add_import(importer="pkg.d", imported="pkg.a")
    assert find_cycles(graph) == [("pkg.a", "pkg.b", "pkg.c", "pkg.a")]


def test_at_most_ten_modules_at_the_repository_root() -> None:
    modules = sorted(path.name for path in ROOT.glob("*.py"))
    assert len(modules) <= MAX_ROOT_MODULES, modules


def test_no_module_in_the_package_is_over_600_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    too_long = {name: lines for name, lines in sorted(sizes.items()) if lines > MAX_MODULE_LINES}
    assert sizes, "no modules found under lidia/"
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"

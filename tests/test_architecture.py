"""The shape of the package: the import rule, no cycles, modules a reader can hold."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "langgeo"


def test_the_import_rule_holds():
    # The contracts are in pyproject.toml: tiers, no torch below the method, light params.
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each a cycle of
    imports, lazy ones inside functions included."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith("langgeo"):
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module.startswith("langgeo") and module not in index:
            visit(module)
    return found


def test_no_import_cycles():
    graph = grimp.build_graph("langgeo")
    assert cycles(graph) == []
    # The check itself finds a cycle where there is one.
    # matrix_file imports storage: the other way round closes a cycle.
    graph.add_import(importer="langgeo.formats.storage", imported="langgeo.formats.matrix_file")
    assert ["langgeo.formats.matrix_file", "langgeo.formats.storage"] in cycles(graph)


def test_modules_are_short_and_the_cli_thin():
    lengths = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines())
               for p in PACKAGE.rglob("*.py")}
    assert len(lengths) > 50
    assert {name: n for name, n in lengths.items() if n > 500} == {}
    assert lengths["pipeline/cli.py"] <= 200


def test_every_subpackage_says_what_it_is():
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        text = (folder / "__init__.py").read_text()
        assert text.startswith('"""') and len(text) > 80, folder.name

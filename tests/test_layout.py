"""The package's layout: the algorithm core does not import the outer ring, no import circles, small modules,
one definition of the success test, benchmarks that import the package rather than each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "sb3_ogpo"
OUTER_RING = ("sb3_ogpo.starts", "sb3_ogpo.experts", "sb3_ogpo.envs", "sb3_ogpo.datasets", "sb3_ogpo.zoo",
              "sb3_ogpo.tasks", "sb3_ogpo.demos", "sb3_ogpo.pretrain")
MAX_LINES = 550


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules imported by ``path`` (``from a import b`` also counts ``a.b``, which may be a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # e.g. TYPE_CHECKING blocks are not run
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("sb3_ogpo")}


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_the_algorithm_core_does_not_import_the_outer_ring():
    for name, path in MODULES.items():
        if name.startswith("sb3_ogpo.ogpo"):
            outer = {imported for imported in _imports(path, top_level_only=False) if imported.startswith(OUTER_RING)}
            assert not outer, f"{name} imports {sorted(outer)}"


def test_no_import_circles_at_module_level():
    graph = {name: {imported for imported in _imports(path, top_level_only=True) if imported in MODULES and imported != name}
             for name, path in MODULES.items()}

    def reachable(start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            for nxt in graph[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen

    circles = sorted(name for name in graph if name in reachable(name))
    assert not circles, f"modules in import circles: {circles}"


def test_modules_are_small():
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_one_definition_of_the_success_test():
    pattern = re.compile(r"""get\(\s*["']is_success["']""")
    places = [name for name, path in MODULES.items() if pattern.search(path.read_text())]
    places += [path.name for path in (REPO / "benchmarks").glob("*.py") if pattern.search(path.read_text())]
    assert places == ["sb3_ogpo.common.evaluation"], places


def test_benchmarks_import_the_package_not_each_other():
    for path in (REPO / "benchmarks").glob("*.py"):
        text = path.read_text()
        assert "sys.path.insert" not in text and "sys.path.append" not in text, path.name
        assert not re.search(r"sb3_ogpo\.ogpo import ogpo as|\.group_advantage\s*=", text), f"{path.name} patches the library"


def test_the_yaml_header_is_short():
    lines = (REPO / "hyperparams" / "ogpo.yml").read_text().splitlines()
    header = 0
    for line in lines:
        if not line.startswith("#"):
            break
        header += 1
    assert header < 20, f"hyperparams/ogpo.yml starts with {header} comment lines"

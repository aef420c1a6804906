"""kws's layers import one way: reporting may use training, training never uses reporting, and
the figures training draws (``kws.plotting``) use neither; the graph of imports between kws's
packages has no cycle; the runtime package (``kws_runtime``) imports nothing of kws. Every
``kws/**/*.py`` is parsed, and every import in it is looked at, at any depth (inside a function
too: a lazy import hides a cycle, it does not remove it)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

KWS = Path(__file__).resolve().parents[1] / "kws"
#: package folder (relative to kws/) -> the kws packages none of its modules may import.
FORBIDDEN = {
    "training": ("kws.reporting",),
    "plotting": ("kws.training", "kws.reporting", "kws.tasks"),
}


def module_name(path: Path, kws: Path) -> str:
    """``kws/training/module.py`` -> ``kws.training.module`` (a package's ``__init__`` -> the
    package)."""
    parts = path.relative_to(kws.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, kws: Path) -> list[tuple[ast.stmt, set[str]]]:
    """Every import statement in ``path`` with the modules it may load: ``import a.b`` gives
    ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a module); relative
    imports are resolved against ``path``'s package."""
    package = module_name(path, kws).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.append((node, {alias.name for alias in node.names}))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node, {base} | {f"{base}.{alias.name}" for alias in node.names}))
    return found


def violations(folder: str, forbidden: tuple[str, ...], kws: Path = KWS) -> list[str]:
    """``file:line: statement`` for each import of a ``forbidden`` package under ``folder``.

    Args:
        folder: a package folder, relative to ``kws``.
        forbidden: the packages it may not import, dotted.
        kws: the ``kws`` package folder. Default: this checkout's.
    """
    found = []
    for path in sorted((kws / folder).rglob("*.py")):
        for node, names in imports(path, kws):
            # the package or a module in it ("kws.reporting."), never a namesake (kws.reportingx)
            if any(f"{name}.".startswith(f"{bad}.") for bad in forbidden for name in names):
                found.append(f"{path.relative_to(kws.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(("folder", "forbidden"), FORBIDDEN.items())
def test_a_lower_layer_never_imports_a_higher_one(folder, forbidden):
    assert (KWS / folder).is_dir()
    bad = violations(folder, forbidden)
    assert not bad, "layer rule broken:\n" + "\n".join(bad)


def test_the_check_sees_every_kind_of_import(tmp_path):
    """A from-import, a plain import, one inside a function and a relative one are all caught."""
    package = tmp_path / "kws" / "training"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        "import os\n"
        "from kws.reporting.metrics import Scores\n"
        "def f():\n"
        "    import kws.reporting.compare\n"
        "    from ..reporting import figures\n"
        "    from kws import reporting\n"
    )
    assert sorted(violations("training", ("kws.reporting",), tmp_path / "kws")) == [
        "kws/training/a.py:2: from kws.reporting.metrics import Scores",
        "kws/training/a.py:4: import kws.reporting.compare",
        "kws/training/a.py:5: from ..reporting import figures",
        "kws/training/a.py:6: from kws import reporting",
    ]


RUNTIME = Path(__file__).resolve().parents[1] / "runtime" / "kws_runtime"


def package_graph(kws: Path = KWS) -> dict[str, dict[str, str]]:
    """kws's packages (and top-level modules) as a graph: ``{a: {b: "file:line"}}`` where a
    module of ``a`` imports one of ``b``, the first such import named.

    Args:
        kws: the ``kws`` package folder. Default: this checkout's.
    """
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(kws.rglob("*.py")):
        source = path.relative_to(kws).parts[0].removesuffix(".py")
        edges = graph.setdefault(source, {})
        for node, names in imports(path, kws):
            for name in names:
                parts = name.split(".")
                if parts[0] != "kws" or len(parts) < 2 or parts[1] == source:
                    continue
                if (kws / parts[1]).is_dir() or (kws / f"{parts[1]}.py").is_file():
                    edges.setdefault(parts[1], f"{path.relative_to(kws.parent)}:{node.lineno}")
    return graph


def cycle(graph: dict[str, dict[str, str]]) -> list[str]:
    """One cycle of ``graph`` as the imports that close it (``[]``: none), by depth-first
    search."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for target in graph.get(node, {}):
            if state.get(target) == "open":
                start = path.index(target) if target in path else 0
                ring = [*path[start:], node, target]
                return [f"{a} -> {b} ({graph[a][b]})" for a, b in itertools.pairwise(ring)]
            if target not in state and (found := visit(target, [*path, node])):
                return found
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node, [])):
            return found
    return []


def test_the_package_graph_has_no_cycle():
    """Every import between kws's packages, lazy ones too, points one way."""
    graph = package_graph()
    assert {"data", "frontend", "training", "streaming", "reporting", "tasks"} <= set(graph)
    assert not cycle(graph), "an import cycle between packages:\n" + "\n".join(cycle(graph))


def test_the_cycle_check_finds_a_cycle_through_three_packages(tmp_path):
    kws = tmp_path / "kws"
    for package, target in (("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")):
        (kws / package).mkdir(parents=True)
        (kws / package / "__init__.py").write_text(f"def f():\n    from kws.{target} import x\n")
    found = cycle(package_graph(kws))
    assert found == [
        "a -> b (kws/a/__init__.py:2)",
        "b -> c (kws/b/__init__.py:2)",
        "c -> a (kws/c/__init__.py:2)",
    ]


def test_the_runtime_imports_nothing_of_kws():
    """kws-runtime installs without kws (and torch): none of its modules imports kws."""
    found = [
        f"{path.name}:{node.lineno}: {ast.unparse(node)}"
        for path in sorted(RUNTIME.rglob("*.py"))
        for node, names in imports(path, RUNTIME.parent)
        if any(name == "kws" or name.startswith("kws.") for name in names)
    ]
    assert RUNTIME.is_dir() and not found, found

"""kws's layers import one way: reporting may use training, training never uses reporting, and
the figures training draws (``kws.plotting``) use neither. Every ``kws/**/*.py`` is parsed, and
every import in it is looked at, at any depth (inside a function too: a lazy import hides a
cycle, it does not remove it)."""

from __future__ import annotations

import ast
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

"""docs/architecture.md stays true: every file it names exists, and every `module.name` it names is defined there."""

import ast
import re

from tests.support.servers import ROOT

DOC = (ROOT / "docs" / "architecture.md").read_text()
PACKAGE = ROOT / "chatgate"


def _defined(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def test_every_file_the_doc_names_exists():
    named = set(re.findall(r"`([\w/]+\.py)", DOC))
    assert named and [name for name in named if not (PACKAGE / name).exists() and not (ROOT / name).exists()] == []


def _module_file(module: str):
    """`upstream/client.py`, `web/validation`, `access` (a module of a package, named alone): its file, or None."""
    stem = module.removesuffix(".py")
    found = [path for path in PACKAGE.rglob("*.py") if path.with_suffix("").as_posix().endswith("/" + stem)]
    found += [path for path in PACKAGE.rglob("__init__.py") if path.parent.as_posix().endswith("/" + stem)]
    return found[0] if len(found) == 1 else None


def test_every_name_the_doc_gives_a_file_is_defined_there():
    pairs = re.findall(r"`([\w/]+\.py)` `([\w.]+)`", DOC)
    pairs += [(m, n) for m, n in re.findall(r"`([a-z][\w/]*)\.([\w.]+)`", DOC) if n != "py"]
    missing = []
    for module, name in pairs:
        path = _module_file(module)
        if path is None or not set(name.split(".")) <= _defined(path):
            missing.append(f"{module} {name}")
    assert len(pairs) > 10 and missing == []

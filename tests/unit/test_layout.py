"""The architecture as the folders show it: layers only look down, and importing the app changes nothing."""

import ast
import pathlib
import subprocess
import sys

from tests.support.servers import ROOT

# routes -> web -> telemetry -> guard, alerts -> upstream -> models/sessions/streams -> storage -> config, errors
LAYERS = {
    "routes": 8,
    "web": 7,
    "telemetry": 6,
    "cache": 6,
    "guard": 5,
    "alerts": 5,
    "upstream": 4,
    "models": 3,
    "sessions": 3,
    "streams": 3,
    "storage": 2,
    "config": 1,
    "errors": 1,
}


PACKAGE = ROOT / "chatgate"


def _modules() -> dict[str, pathlib.Path]:
    """Each module of the layers by its name inside the package (`guard.access`), with its file."""
    modules = {}
    for top in LAYERS:
        for path in [PACKAGE / f"{top}.py", *sorted((PACKAGE / top).rglob("*.py"))]:
            if path.is_file():
                parts = path.relative_to(PACKAGE).with_suffix("").parts
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _project_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    inside = {name.removeprefix("chatgate.") for name in names if name.startswith("chatgate.")}
    return {name for name in inside if name.split(".")[0] in LAYERS}


def test_layers_only_look_down_and_no_two_modules_import_each_other():
    modules = _modules()
    imports = {name: _project_imports(path) & set(modules) for name, path in modules.items()}
    for name, imported in imports.items():
        for other in imported:
            if other.split(".")[0] == name.split(".")[0]:
                continue  # within one package
            assert LAYERS[other.split(".")[0]] < LAYERS[name.split(".")[0]], f"{name} imports {other}, a layer up"
    for name, imported in imports.items():
        for other in imported:
            assert name not in imports.get(other, ()) or other == name, f"{name} and {other} import each other"


def _run_in(folder, probe: str) -> subprocess.CompletedProcess:
    """Run Python code `probe` in `folder`, with an environment that holds none of the service's variables."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )


def test_importing_main_writes_no_file_and_no_environment(tmp_path):
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-the-dotenv-file\nRATE_LIMIT=5/minute\n")
    probe = (
        "import os, main\n"
        "print(main.app.extensions['settings'].openai_api_key, main.app.extensions['settings'].rate_limit)\n"
        "print('OPENAI_API_KEY' in os.environ, 'RATE_LIMIT' in os.environ)\n"
    )
    done = _run_in(tmp_path, probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["sk-from-the-dotenv-file 5/minute", "False False"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_the_choice_of_store_is_made_in_one_module():
    readers = sorted(
        str(path.relative_to(PACKAGE))
        for path in _modules().values()
        if any(
            isinstance(node, ast.Attribute) and node.attr in ("redis_url", "db_path")
            for node in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert readers == ["config.py", "storage/__init__.py"]  # config reads the settings; storage chooses


def test_the_factory_is_imported_without_reading_the_environment(tmp_path):
    (tmp_path / ".env").write_text("PORT=not-a-number\n")  # a .env that no app built from the environment survives
    probe = (
        "import main\nfrom chatgate.config import Settings\n"
        "print(main.create_app(Settings(db_path='x.sqlite3')).extensions['settings'].port)\n"
        "main.app\n"
    )
    done = _run_in(tmp_path, probe)
    assert done.stdout.strip() == "5000"  # the factory, from explicit settings
    assert (
        done.returncode == 3 and "Configuration error: PORT must be a whole number" in done.stderr
    )  # main.app: gunicorn halts on 3


def test_the_unit_and_in_process_tests_need_no_browser_library():
    probe = (
        "import sys; sys.modules['playwright'] = None\n"  # as if it were not installed
        "import pytest\n"
        "sys.exit(pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'tests/unit', 'tests/api']))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_no_function_in_the_upstream_package_is_over_40_lines():
    long = [
        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted((PACKAGE / "upstream").glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 40
    ]
    assert long == []


def test_gunicorns_master_loads_none_of_the_app():
    # The master loads the settings, the worker class and the log's formatters; every process forks from it, so
    # what it holds, each holds: the app's modules (guard, upstream, pydantic, the SDK) load in the workers only.
    code = (
        "import sys; import chatgate.config, chatgate.gevent_worker, chatgate.web.request_log, chatgate.web.lifecycle; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'openai', 'opentelemetry') "
        "or m.startswith(('chatgate.guard', 'chatgate.upstream', 'chatgate.storage'))))"
    )
    ran = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"

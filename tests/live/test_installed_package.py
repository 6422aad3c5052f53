"""The package as a user installs it: a wheel built from the checkout, installed into a fresh virtual environment
and run from an empty folder, far from the checkout: `chatgate --version`, `chatgate tokens create`, and
`chatgate serve` answering with its pages, libraries and price table (package data) in place."""

import contextlib
import json
import pathlib
import shutil
import site
import subprocess
import sys
import urllib.request

import pytest

from tests.support.processes import service_env
from tests.support.servers import ROOT, free_port, stop, wait_until_listening


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> pathlib.Path:
    """The `bin` folder of a fresh venv holding the chatgate wheel; its dependencies are the test venv's (linked by
    a .pth file, so that no download is needed), never the checkout's code."""
    work = tmp_path_factory.mktemp("install")
    source, wheels = work / "source", work / "wheels"  # built from a copy: a build writes build/ into its tree
    for needed in ("pyproject.toml", "README.md", "requirements.txt"):
        (source / needed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / needed, source / needed)
    shutil.copytree(ROOT / "chatgate", source / "chatgate", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, source],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    (purelib,) = (venv / "lib").glob("python3*/site-packages")
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (wheel,) = wheels.glob("chatgate-*.whl")
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
        check=True,
        timeout=300,
    )
    return venv / "bin"


def _run(installed: pathlib.Path, folder: pathlib.Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_the_installed_command_says_its_version_and_runs_as_a_module(installed, tmp_path, upstream):
    env = service_env(upstream.base_url)
    version = _run(installed, tmp_path, env, installed / "chatgate", "--version")
    assert version.returncode == 0 and version.stdout.startswith("chatgate, version "), version.stderr
    as_module = _run(installed, tmp_path, env, installed / "python", "-m", "chatgate", "--version")
    assert as_module.stdout == version.stdout
    where = _run(installed, tmp_path, env, installed / "python", "-c", "import chatgate; print(chatgate.__file__)")
    assert str(installed.parent) in where.stdout  # the installed copy, not the checkout
    probe = "from chatgate.guard.pricing import TABLE; print(TABLE.is_file())"
    prices = _run(installed, tmp_path, env, installed / "python", "-c", probe)
    assert prices.stdout.split()[0] == "True", prices.stderr  # the price table is package data


@contextlib.contextmanager
def serving(installed: pathlib.Path, folder: pathlib.Path, env: dict, *options: str):
    """`chatgate serve [options]` from `folder` on a free port, its output in serve.log there: the base URL."""
    port = free_port()
    with open(folder / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [installed / "chatgate", "serve", *options, "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def chat(base: str, headers: dict | None = None) -> dict:
    asked = urllib.request.Request(
        f"{base}/chat", data=b'{"message": "hi"}', headers={"Content-Type": "application/json", **(headers or {})}
    )
    return json.loads(urllib.request.urlopen(asked, timeout=10).read())


def test_the_installed_command_makes_a_token_and_serves_with_it(installed, tmp_path, upstream):
    env = service_env(upstream.base_url)
    made = _run(installed, tmp_path, env, installed / "chatgate", "tokens", "create", "ci-bot")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    with serving(installed, tmp_path, env) as base:
        assert json.loads(urllib.request.urlopen(f"{base}/health", timeout=10).read())["status"] == "healthy"
        assert chat(base, {"Authorization": f"Bearer {token}"})["response"] == "Hello from the fake upstream."
        page = urllib.request.urlopen(f"{base}/playground", timeout=10).read()
        library = urllib.request.urlopen(f"{base}/playground/vendor/marked/lib/marked.umd.js", timeout=10).read()
        assert b"<html" in page.lower() and b"marked" in library  # the pages and vendored libraries are package data
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".log"] == []  # nothing written where it ran


def test_the_installed_command_serves_the_demo_with_no_key_at_all(installed, tmp_path, upstream):
    env = {name: value for name, value in service_env(upstream.base_url).items() if "API_KEY" not in name}
    with serving(installed, tmp_path, env, "--demo") as base:
        assert "chatgate's demo model" in chat(base)["response"]
    assert upstream.requests == []
    assert "DEMO is on" in (tmp_path / "serve.log").read_text()

"""The deployment files, tested by what can run here: hadolint on the Dockerfile, the Dockerfile's own CMD and
HEALTHCHECK from a clean copy of what it copies, nginx with deploy/nginx.conf in front of two instances
sharing Redis, and a real Prometheus scraping /metrics. (No image can be pulled or built here.)"""

import concurrent.futures
import fnmatch
import http.client
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.request

import pytest
import yaml
from websockets.sync.client import connect

from tests.support.processes import gunicorn, service_env
from tests.support.servers import ROOT, free_port, serving, wait_until_listening

BIN = pathlib.Path(sys.executable).parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_dockerfile_passes_hadolint():
    done = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _ignored(relative: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = relative.split("/")
        if any(
            fnmatch.fnmatch("/".join(parts[:i]), pattern) or fnmatch.fnmatch(parts[i - 1], pattern)
            for i in range(1, len(parts) + 1)
        ):
            ignored = not negated
    return ignored


def _build_context(into: pathlib.Path) -> None:
    """What `docker build` would send: the work tree less .dockerignore (the Dockerfile copies all of it)."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not _ignored(relative, patterns):
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, into / relative)


def _instruction(name: str) -> str:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)  # continuation lines joined, as Docker reads them
    return re.search(rf"^{name}\s+(.*)$", joined, re.M).group(1)


def test_the_images_command_serves_from_a_clean_copy_of_what_it_copies(upstream, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    _build_context(app)
    copied = {p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file()}
    assert "main.py" in copied and "gunicorn.conf.py" in copied and "requirements.txt" in copied
    assert not any(name == ".env" or name.startswith((".venv/", "tests/", ".git/")) for name in copied)
    env_line = _instruction("ENV")
    image_env = dict(re.findall(r"(\w+)=(\S+)", env_line))
    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    env = {
        **service_env(upstream.base_url),
        **image_env,
        "PORT": str(port),
        "DB_PATH": image_env["DB_PATH"].replace("/data", str(data)),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    command = json.loads(_instruction("CMD"))
    healthcheck = json.loads(_instruction("HEALTHCHECK").split(" CMD ", 1)[1])
    with open(tmp_path / "service.log", "wb") as log:
        process = subprocess.Popen(command, cwd=app, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process)
        checked = subprocess.run(
            [sys.executable if healthcheck[0] == "python" else healthcheck[0], *healthcheck[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0, checked.stderr
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/chat", data=b'{"message": "hi"}', headers={"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=10).read())
        assert answer["response"] == "Hello from the fake upstream."
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert (data / "sessions.sqlite3").exists()  # state went to the volume, not into the code


def _nginx_conf(port: int, instances: list[int], prefix: pathlib.Path, balancer: str | None = None) -> pathlib.Path:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    if balancer:  # the lines the file offers for a load balancer in front, as an operator would uncomment them
        conf = conf.replace("# set_real_ip_from 10.0.0.0/8;", f"set_real_ip_from {balancer};")
        conf = conf.replace("# real_ip_header X-Forwarded-For;", "real_ip_header X-Forwarded-For;")
    conf = conf.replace("        server chatgate:5000;", "\n".join(f"        server 127.0.0.1:{p};" for p in instances))
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};").replace("/tmp/nginx", str(prefix / "nginx"))
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


def _post(port: int, path: str, body: dict, source: str = "127.0.0.1", headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    connection.request(
        "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})}
    )
    response = connection.getresponse()
    return connection, response


@pytest.fixture
def behind_nginx(upstream, tmp_path, redis_url):
    # No tokens: callers are then told apart by their address, which nginx passes on.
    env = service_env(upstream.base_url, REDIS_URL=redis_url, TRUSTED_PROXY_HOPS="1", RATE_LIMIT="10/minute")
    port = free_port()
    with gunicorn(tmp_path, env) as first, gunicorn(tmp_path, env) as second:
        conf = _nginx_conf(port, [first.port, second.port], tmp_path)
        nginx = [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"]
        with serving(nginx, port, os.environ.copy(), tmp_path / "nginx.log"):
            yield port, first, second


def test_nginx_relays_streams_unbuffered(behind_nginx, upstream):
    port, _, _ = behind_nginx
    release = threading.Event()
    with upstream.behave(reply="first then the rest", wait_for=release, hold_after=1):
        connection, response = _post(port, "/chat/stream", {"message": "hi"})
        try:
            assert response.status == 200
            # The upstream holds everything after its first word until `release`: a buffering proxy
            # would show nothing here, and the read would time out.
            first = response.read1(65536)
            release.set()
            rest = response.read()
        finally:
            connection.close()
    assert first == b'data: {"content":"first"}\n\n'
    assert b'"done":true' in rest


def test_a_session_continues_across_instances_through_nginx(behind_nginx, upstream):
    port, first, second = behind_nginx
    connection, response = _post(first.port, "/api/chat", {"developer_message": "d", "user_message": "one"})
    session_id = response.getheader("X-Session-ID")
    response.read()
    connection.close()
    for target in (port, second.port, port):
        connection, response = _post(
            target, "/api/chat", {"developer_message": "d", "user_message": "more", "session_id": session_id}
        )
        assert response.getheader("X-Session-ID") == session_id
        response.read()
        connection.close()
    assert len(upstream.last_chat_body()["messages"]) == 1 + 2 * 3 + 1


def test_the_rate_limit_is_exact_across_instances_and_per_client_address(behind_nginx, upstream):
    port, _, _ = behind_nginx

    def chat(source: str, forged: str | None = None) -> int:
        connection, response = _post(
            port, "/chat", {"message": "hi"}, source, {"X-Forwarded-For": forged} if forged else None
        )
        response.read()
        connection.close()
        return response.status

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        first = list(pool.map(lambda _: chat("127.0.0.1"), range(30)))
        forged = [chat("127.0.0.1", f"10.9.9.{n}") for n in range(3)]  # a client's own header changes nothing
        second = list(pool.map(lambda _: chat("127.0.0.2"), range(30)))
    assert first.count(200) == 10 and first.count(429) == 20
    assert forged == [429, 429, 429]
    assert second.count(200) == 10 and second.count(429) == 20


def test_replit_runs_make_run_and_deploys_gunicorn_on_port_80():
    replit = tomllib.loads((ROOT / ".replit").read_text())
    assert replit["run"] == "make run"
    assert replit["deployment"]["run"] == json.loads(_instruction("CMD"))  # the same command as the image
    assert {"localPort": 5000, "externalPort": 80} in replit["ports"]
    assert replit["env"]["TRUSTED_PROXY_HOPS"] == "1" and "OPENAI" not in str(replit)  # secrets are not here


def test_behind_a_load_balancer_nginx_with_real_ip_tells_clients_apart(upstream, tmp_path, redis_url):
    env = service_env(upstream.base_url, REDIS_URL=redis_url, TRUSTED_PROXY_HOPS="1", RATE_LIMIT="3/minute")
    port = free_port()
    with gunicorn(tmp_path, env) as instance:
        conf = _nginx_conf(port, [instance.port], tmp_path, balancer="127.0.0.3")  # the balancer's address
        nginx = [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"]
        with serving(nginx, port, os.environ.copy(), tmp_path / "nginx.log"):

            def chat(source: str, forwarded: str) -> int:
                connection, response = _post(port, "/chat", {"message": "hi"}, source, {"X-Forwarded-For": forwarded})
                response.read()
                connection.close()
                return response.status

            # The balancer (127.0.0.3) says who each client is; a client reaching nginx directly cannot.
            one = [chat("127.0.0.3", "198.51.100.1") for _ in range(4)]
            two = [chat("127.0.0.3", "198.51.100.2") for _ in range(4)]
            direct = [chat("127.0.0.4", f"198.51.100.{n}") for n in range(3, 7)]
    assert one == [200, 200, 200, 429] and two == [200, 200, 200, 429]
    assert direct == [200, 200, 200, 429]  # its own header was not believed: one bucket, its address's


def test_the_compose_example_publishes_nothing_beyond_this_machine():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    published = [port for service in compose["services"].values() for port in service.get("ports", [])]
    assert published and all(str(port).startswith("127.0.0.1:") for port in published)


def test_websocket_mode_passes_through_nginx(behind_nginx, upstream):
    port, _, _ = behind_nginx
    with connect(f"ws://127.0.0.1:{port}/v1/responses", open_timeout=10) as connection:
        for words in ("one two", "three"):  # two responses on one connection, relayed as the instance sends them
            with upstream.behave(reply=words):
                connection.send(json.dumps({"type": "response.create", "model": "gpt-4o-mini", "input": "hi"}))
                events = []
                while not events or events[-1]["type"] != "response.completed":
                    events.append(json.loads(connection.recv(timeout=10)))
            assert events[0]["type"] == "response.created"
            assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == words
    assert len(upstream.requests_to("POST", "/responses")) == 2

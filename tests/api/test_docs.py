"""The OpenAPI document describes every endpoint from the validating models; the UIs are served offline."""

import json
import re

import pytest

from chatgate.routes.schemas.core import ChatRequest
from tests.support.servers import ROOT


def test_the_document_lists_every_endpoint_of_the_index(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"] == "3.1.0"
    documented = {f"{method.upper()} {path}" for path, operations in spec["paths"].items() for method in operations}
    listed = {re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", e) for e in client.get("/").get_json()["endpoints"]}
    assert listed == documented
    assert {"POST /chat", "POST /v1/chat/completions", "POST /ask", "GET /info"} <= documented


def test_request_bodies_are_the_validating_models(client):
    spec = client.get("/openapi.json").get_json()
    body = spec["paths"]["/chat"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatRequest"}
    schema = spec["components"]["schemas"]["ChatRequest"]
    assert schema["required"] == ChatRequest.model_json_schema()["required"] == ["message"]
    # The model field lists this deployment's catalogue.
    model = next(o for o in schema["properties"]["model"]["anyOf"] if o.get("type") == "string")
    assert model["enum"] == client.get("/models").get_json()["models"]


def test_each_surface_documents_its_own_error_shape(client):
    paths = client.get("/openapi.json").get_json()["paths"]

    def default_error(path, method="post"):
        return paths[path][method]["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]

    assert default_error("/chat").endswith("/CoreError")
    assert default_error("/v1/chat/completions").endswith("/OpenAIErrorResponse")
    assert default_error("/ask").endswith("/AskError")


def test_security_schemes_are_never_null(client):
    spec = client.get("/openapi.json").get_json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerToken", "apiKeyHeader"}
    assert spec["paths"]["/health"]["get"]["security"] == []


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_ui_pages_load_only_their_own_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_the_docs_stay_public_when_access_control_is_on(make_app):
    client = make_app(api_tokens=("tok-" + "d" * 30,)).test_client()
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/assets/js/swagger-ui-bundle.js"):
        assert client.get(path).status_code == 200, path


def _readme_bodies() -> list:
    """Every JSON body a curl example of the README or a page of docs/ sends, with shell variables left as written."""
    readme = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    bodies = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        block = re.sub(r"\\\n\s*", " ", block)
        for quoted in re.findall(r"-d '(\{.*?\})'", block, re.S) + [
            b.replace('\\"', '"') for b in re.findall(r'-d "(\{.*?\})"', block, re.S)
        ]:
            bodies.append(json.loads(re.sub(r'"\$(\w+)"', r'"$\1"', quoted)))
    return bodies


def test_every_request_example_is_a_body_the_readme_sends(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    bodies = _readme_bodies()
    with_bodies = [
        (path, method, operation)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(with_bodies) >= 9
    for path, method, operation in with_bodies:
        example = operation["requestBody"]["content"]["application/json"].get("example")
        assert example, f"{method.upper()} {path} has no example"
        assert any(example.items() <= body.items() for body in bodies), f"{method.upper()} {path}: {example}"


def test_every_status_a_surface_answers_has_a_schema_and_streams_say_their_frames(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    chat = paths["/chat"]["post"]["responses"]
    assert chat["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatResponse")
    for status in ("400", "401", "413", "415", "429", "502", "503", "504"):
        assert chat[status]["content"]["application/json"]["schema"]["$ref"].endswith("/CoreError"), status
    for path, media, frame in (
        ("/chat/stream", "text/event-stream", '"done": true'),
        ("/v1/chat/completions", "text/event-stream", "data: [DONE]"),
        ("/v1/responses", "text/event-stream", "response.output_text.delta"),
        ("/ask", "text/plain", "[error: <code>: <sentence>]"),
        ("/api/chat", "text/plain", "[error: <sentence>]"),
    ):
        content = paths[path]["post"]["responses"]["200"]["content"][media]
        described = content["itemSchema"] if media == "text/event-stream" else content["schema"]  # per event
        assert frame in described["description"], path


def test_tags_are_one_per_surface_in_order(client):
    spec = client.get("/openapi.json").get_json()
    order = ["Core", "OpenAI-compatible", "Sessions", "Simple backend", "Service"]
    assert [tag["name"] for tag in spec["tags"]] == order
    tag_of = {f"{m.upper()} {p}": o["tags"] for p, ops in spec["paths"].items() for m, o in ops.items()}
    assert tag_of["POST /chat"] == ["Core"] and tag_of["GET /health/ready"] == ["Core"]
    assert tag_of["POST /v1/responses"] == ["OpenAI-compatible"] and tag_of["POST /api/chat"] == ["Sessions"]
    assert tag_of["POST /ask"] == ["Simple backend"] and tag_of["GET /metrics"] == ["Service"]
    assert all(len(tags) == 1 and tags[0] in order for tags in tag_of.values())


def test_the_playground_runs_only_its_own_scripts_and_serves_its_vendored_libraries(client):
    page = client.get("/playground")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "img-src 'self' data:;" in policy and "unsafe" not in policy
    for script in re.findall(r'<script src="([^"]+)"', page.get_data(as_text=True)):
        assert client.get(script).status_code == 200, script
    assert client.get("/playground/vendor/package.json").status_code == 200  # the pins are public anyway
    assert client.get("/playground/vendor/../../config.py").status_code == 404


def test_redoc_is_served_with_its_logo_from_here(client):
    bundle = client.get("/redoc/assets/js/redoc.standalone.js")
    assert bundle.status_code == 200 and bundle.mimetype == "text/javascript"
    assert b'"/redoc/assets/images/redoc.svg"' in bundle.data and b"logo-mini.svg" not in bundle.data
    assert client.get("/redoc/assets/images/redoc.svg").status_code == 200


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/", None),
        ("get", "/models", None),
        ("get", "/nope", None),
        ("post", "/chat", {"message": ""}),
        ("post", "/chat/stream", {"message": "hi"}),
        ("get", "/docs", None),
        ("get", "/playground", None),
        ("get", "/playground/static/playground.js", None),
        ("get", "/favicon.ico", None),
        ("get", "/metrics", None),
    ],
)
def test_every_answer_forbids_type_sniffing(client, upstream, method, path, body):
    response = getattr(client, method)(path, json=body)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/playground"])
def test_every_page_may_be_framed_only_here_and_runs_no_inline_script(client, page):
    response = client.get(page)
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    assert policy["frame-ancestors"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.get_data(as_text=True))  # no inline script
    assert '<link rel="icon" href="/favicon.svg"' in response.get_data(as_text=True)


def test_the_favicon_is_served_to_everyone(make_app):
    client = make_app(api_tokens=("tok-" + "f" * 30,)).test_client()
    for path in ("/favicon.ico", "/favicon.svg"):
        icon = client.get(path)
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and b"<svg" in icon.get_data()

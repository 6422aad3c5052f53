"""The OpenAPI document describes every endpoint from the validating models; the UIs are served offline."""

import re

import pytest

from routes.chat import ChatRequest


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

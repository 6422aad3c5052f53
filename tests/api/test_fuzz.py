"""Schemathesis fuzzes every operation of the OpenAPI document, with valid and invalid data.

Every answer must be a non-5xx response that conforms to the document: a documented
status, the documented content type, a body that matches the schema.
"""

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chatgate.app import create_app
from chatgate.config import Settings
from tests.support.fake_upstream import FakeUpstream
from tests.support.keys import SERVER_KEY

pytestmark = pytest.mark.slow

# Built at import: schemathesis parametrizes from the schema while pytest collects.
_upstream = FakeUpstream().start()
_app = create_app(
    Settings(
        openai_api_key=SERVER_KEY,
        openai_base_url=_upstream.base_url,
        upstream_timeout=5,
        upstream_max_retries=0,
        db_path=tempfile.mkdtemp() + "/fuzz.sqlite3",
        max_concurrent_per_caller=0,  # schemathesis never closes a streamed answer, so its slot would stay taken
    )
)
schema = schemathesis.openapi.from_wsgi("/openapi.json", _app)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=40, deterministic=True
)


# Rules across parameters that a schema cannot state: /usage's `since` must come before `until`, at most 400 days
# apart. Its schema-valid queries may be refused with a 400 (every other check still holds there).
CROSS_PARAMETER_RULES = {("GET", "/usage")}
# WebSocket mode's path: a plain GET (all schemathesis sends) is told 426 Upgrade Required, which is no acceptance.
UPGRADES = {("GET", "/v1/responses")}


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_every_operation_answers_as_documented(case):
    refused_by_design = (case.method.upper(), case.path) in CROSS_PARAMETER_RULES | UPGRADES
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if refused_by_design else None)


STREAMS = [
    ("/chat/stream", {"message": "hi"}),
    ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}),
    (
        "/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "x"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ),
    ("/v1/responses", {"model": "gpt-4o-mini", "input": "x", "stream": True}),
]


@pytest.mark.parametrize("path, body", STREAMS)
def test_every_event_of_a_stream_is_checked_against_the_document(path, body):
    case = schema[path]["POST"].Case(body=body, media_type="application/json")
    response = case.call_and_validate()  # schemathesis parses the stream and checks each event's data
    assert response.status_code == 200

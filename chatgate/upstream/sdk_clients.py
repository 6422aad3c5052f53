"""One SDK client per upstream and worker process, and how a call's bytes reach it: with `upstream.direct`, the
only code that makes `openai` clients.

Each is built on first use, inside the worker: a client made before gevent patches the socket module breaks TLS.
Its retries are off (max_retries=0): ours bound a call with all its attempts (see `upstream.failover`).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx2
import openai
import orjson

from chatgate.config import Settings, UpstreamSpec
from chatgate.errors import NotConfigured
from chatgate.upstream.demo import DemoTransport
from chatgate.upstream.direct import DirectPost
from chatgate.upstream.transport import LeanTransport

_JSON_HEADERS = {"Content-Type": "application/json"}


class SdkClients:
    """The SDK clients of the upstreams, by name: OpenAI's for OpenAI and OpenAI-compatible servers (and the
    demo model), AzureOpenAI's (its api-key header and api-version query) for Azure."""

    def __init__(self, settings: Settings, several: bool):
        self.settings = settings
        self.several = several  # with several upstreams, one without a key of its own is no configuration error
        self._sdks: dict[str, openai.OpenAI] = {}
        self._direct: dict[str, DirectPost | None] = {}
        self._lock = threading.Lock()

    def sdk_for(self, upstream: UpstreamSpec) -> openai.OpenAI:
        sdk = self._sdks.get(upstream.name)
        if sdk is None:
            with self._lock:
                sdk = self._sdks.get(upstream.name)
                if sdk is None:
                    sdk = self._new_sdk(upstream)
                    self._direct[upstream.name] = DirectPost.for_sdk(sdk)
                    self._sdks[upstream.name] = sdk
        return sdk

    def _new_sdk(self, upstream: UpstreamSpec) -> openai.OpenAI:
        lean = self.settings.upstream_transport == "lean"
        api_key, timeout = upstream.api_key or "no-server-key", self.settings.upstream_timeout
        # A proxy from the environment still gets httpx's transport: httpx mounts it first.
        http_client = openai.DefaultHttpxClient(transport=LeanTransport()) if lean else None
        if upstream.kind == "demo":  # answered by its transport, offline
            http_client = openai.DefaultHttpxClient(transport=DemoTransport(), trust_env=False)  # no proxy either
        elif upstream.kind == "azure":
            return openai.AzureOpenAI(
                azure_endpoint=upstream.base_url or "",
                api_version=upstream.api_version,
                api_key=api_key,
                timeout=timeout,
                max_retries=0,
                http_client=http_client,
            )
        return openai.OpenAI(
            base_url=upstream.base_url, api_key=api_key, timeout=timeout, max_retries=0, http_client=http_client
        )

    def auth_header(self, upstream: UpstreamSpec, api_key: str | None) -> dict[str, Any]:
        """A caller's own key, in the header its upstream reads; {} for the upstream's own (its SDK sends it)."""
        if api_key is not None:
            return {"api-key": api_key} if upstream.kind == "azure" else {"Authorization": f"Bearer {api_key}"}
        if not upstream.api_key and not self.several:
            raise NotConfigured(
                "No upstream API key is configured: set OPENAI_API_KEY_CYB_SEC "
                "(or OPENAI_API_KEY) and restart the service."
            )
        return {}

    def post(
        self, upstream: UpstreamSpec, path: str, content: bytes, stream: bool, headers: dict[str, str], timeout: float
    ) -> httpx2.Response:
        """POST a call's body to one upstream: straight through the lean transport when it can, else the SDK's way."""
        if upstream.kind == "azure" and path in ("/chat/completions", "/embeddings"):
            path = f"/deployments/{upstream.deployment(str(orjson.loads(content).get('model', '')))}{path}"
        sdk = self.sdk_for(upstream)
        if (direct := self._direct[upstream.name]) is not None:
            return direct.post(path, content, stream, headers, timeout)
        return sdk.post(
            path,
            cast_to=httpx2.Response,
            content=content,
            stream=stream,
            options={"headers": {**_JSON_HEADERS, **headers}, "timeout": timeout},
        )

"""The hot path's way out: a call's body sent as it is through the lean transport, with the headers the SDK sends.

The SDK builds each request anew (options, URL merging and parsing, header merging, httpx's client and its auth
and redirect layers): about a third of a relayed call's CPU, for a request that differs from the last only in
its body and its request id. For an OpenAI or OpenAI-compatible upstream reached without a proxy, this sends the
same request from headers the SDK gave once, and raises the SDK's own error classes, built by the SDK, so that
everything above it (failover, retries, translation into our errors) sees what the SDK would have raised.
Azure, and anything behind a proxy, keeps the SDK's whole path.
"""

from __future__ import annotations

import httpx2
import openai

from chatgate.upstream.transport import LeanTransport, origin_of


class DirectPost:
    """POSTs to one upstream through its SDK client's lean transport."""

    def __init__(self, sdk: openai.OpenAI, transport: LeanTransport):
        self.sdk, self.transport = sdk, transport
        url = sdk.base_url
        self.origin = origin_of(url)
        self.base = str(url).rstrip("/")
        self.prefix = url.raw_path.decode("ascii").rstrip("/")
        self.headers = {
            "Host": url.netloc.decode("ascii"),
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            **{name: value for name, value in sdk.default_headers.items() if isinstance(value, str)},
            **sdk.auth_headers,
            "X-Stainless-Retry-Count": "0",
        }

    @classmethod
    def for_sdk(cls, sdk: openai.OpenAI) -> DirectPost | None:
        """The direct path for `sdk`, or None when its requests must take the SDK's own: Azure, no lean transport,
        or a proxy from the environment for this upstream."""
        if isinstance(sdk, openai.AzureOpenAI) or sdk.default_query:
            return None
        transport = sdk._client._transport_for_url(sdk.base_url)  # noqa: SLF001  (a proxy is mounted per URL)
        return cls(sdk, transport) if isinstance(transport, LeanTransport) else None

    def post(self, path: str, content: bytes, stream: bool, headers: dict[str, str], timeout: float) -> httpx2.Response:
        """The upstream's response (its body read, unless `stream`), or the error the SDK would have raised."""
        sent = {
            **self.headers,
            **headers,
            "X-Stainless-Read-Timeout": str(timeout),
            "Content-Length": str(len(content)),
        }
        try:
            response = self.transport.exchange(
                self.origin, "POST", self.prefix + path, sent.items(), content, timeout, timeout
            )
            if not stream or response.status_code >= 400:
                response.read()
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=self._request(path)) from exc
        except httpx2.HTTPError as exc:
            raise openai.APIConnectionError(request=self._request(path)) from exc
        if response.status_code >= 400:
            response.request = self._request(path)
            raise self.sdk._make_status_error_from_response(response)  # noqa: SLF001  (the SDK's own classes)
        return response

    def _request(self, path: str) -> httpx2.Request:
        """What a failure names as its request, as the SDK's errors do (built only when something failed)."""
        return httpx2.Request("POST", self.base + path)

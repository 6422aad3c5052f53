"""OpenAPI facts a view declares about itself; the spec builder reads them from the view."""

from __future__ import annotations


def documented(*, responses: dict | None = None, summary: str | None = None,
               tags: list[str] | None = None, streams: str | None = None):
    """Decorate a view with what the OpenAPI document should say about it.

    `responses` maps a status code to a pydantic model, a JSON-schema dict or a media
    type string (e.g. "text/event-stream"); `streams` names the media type of a
    streamed 200. Applied above or below `@json_body`: functools.wraps copies it.
    """

    def attach(view):
        view.openapi = {"responses": responses or {}, "summary": summary,
                        "tags": tags or [], "streams": streams}
        return view

    return attach

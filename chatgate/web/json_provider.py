"""Flask JSON through orjson, several times faster than the default provider.

The output is compact JSON in insertion order with non-ASCII left as UTF-8 and no
trailing newline, where Flask's provider sorts keys, escapes to ASCII and adds a newline.
"""

from __future__ import annotations

import orjson
from flask.json.provider import DefaultJSONProvider


class OrjsonProvider(DefaultJSONProvider):
    """Encode and decode JSON with orjson; fall back to Flask's rules for other types."""

    def dumps(self, obj, **kwargs) -> str:
        return orjson.dumps(obj, default=self.default).decode()

    def loads(self, s, **kwargs):
        return orjson.loads(s)

    def response(self, *args, **kwargs):
        # _prepare_response_obj is Flask's own private helper (as of Flask 3.1.3), so arguments mean what they do there.
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(orjson.dumps(obj, default=self.default), mimetype=self.mimetype)

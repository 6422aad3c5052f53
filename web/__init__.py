"""What every request passes through: validation, streamed responses and their SSE framing, the OpenAPI document, the request log, JSON."""

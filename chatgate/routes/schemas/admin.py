"""The admin API's bodies: a token made or changed, an upstream rested."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TokenPolicy(BaseModel):
    """What a stored token may do: each field left out keeps its default (on a change: its current value), and
    null clears a limit, the expiry or the list of models."""

    model_config = ConfigDict(extra="forbid")

    expires_in: str | int | None = Field(None, description="How long it works from now: 30d, 12h, 90m or seconds")
    rate_limit: str | None = Field(None, description="Its own request rate, e.g. 60/minute (null: RATE_LIMIT)")
    token_limit: str | None = Field(None, description="Its own token budget, e.g. 100000/day (null: TOKEN_LIMIT)")
    spend_limit: str | None = Field(None, description="Its own budget in US dollars, e.g. 5/day (null: SPEND_LIMIT)")
    models: list[str] | None = Field(None, description="The only models it may use (null: every model)")
    admin: bool = Field(False, description="An admin token: this API, everyone's usage")
    cache: bool = Field(True, description="Whether its requests use the response cache")


class NewToken(TokenPolicy):
    """A stored token to make: its name, and its policy."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "mobile-app", "spend_limit": "5/day", "models": ["gpt-4o-mini"]}]},
    )

    name: str = Field(description="1 to 64 letters, digits, dots, dashes or underscores; what /usage calls it")


class TokenChange(TokenPolicy):
    """The fields of a stored token to change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"spend_limit": "10/day"}]})


class Rest(BaseModel):
    """How long an upstream rests."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"seconds": 600}]})

    seconds: float = Field(300, gt=0, le=86400, description="At most a day")

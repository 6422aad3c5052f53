"""The sampling parameters every chat surface takes, typed once: OpenAI's names, ranges and types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from chatgate.web.validation import JsonInt, json_int

Temperature = Annotated[float, Field(ge=0, le=2, description="Sampling temperature, 0 to 2.")]
TopP = Annotated[float, Field(ge=0, le=1, description="Nucleus sampling, 0 to 1.")]
# A bound on every token cap: far above any model's output, and small enough that a cap times `n` (at most 128)
# fits the 64-bit counters of a token budget.
MOST_TOKENS = 2**31 - 1
MaxTokens = Annotated[json_int(ge=1, le=MOST_TOKENS), Field(description="The most tokens the reply may have.")]
Penalty = Annotated[float, Field(ge=-2, le=2)]
Stop = str | Annotated[list[str], Field(max_length=4)]
Seed = JsonInt
ResponseFormat = dict[str, Any]

# What the core and sessions surfaces pass on to the upstream, with the model's quirks applied.
SAMPLING_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
    "response_format",
)


class SamplingFields(BaseModel):
    """The sampling parameters, for a request model of a surface to take as its own."""

    model_config = ConfigDict(strict=True)

    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_tokens: MaxTokens | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    stop: Stop | None = None
    seed: Seed | None = None
    response_format: ResponseFormat | None = None

"""What a call costs in US dollars: the price table (guard/prices.toml, overridden by PRICES_FILE) applied to its
usage, cached prompt tokens at the cached rate."""

from __future__ import annotations

import dataclasses
import pathlib
import tomllib
from typing import Any

from chatgate.config import Settings

TABLE = pathlib.Path(__file__).with_name("prices.toml")


@dataclasses.dataclass(frozen=True)
class Price:
    """US dollars per 1M tokens (so micro-dollars per token)."""

    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None  # None: cached tokens cost as much as the others

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float:
        cached = min(cached, prompt)
        cached_rate = self.input_per_1m if self.cached_input_per_1m is None else self.cached_input_per_1m
        micro = (prompt - cached) * self.input_per_1m + cached * cached_rate + completion * self.output_per_1m
        return micro / 1_000_000


def prices_in(document: dict[str, Any]) -> dict[str, Price]:
    """The `[models."<name>"]` tables of a prices document."""
    return {name: Price(**fields) for name, fields in document.get("models", {}).items()}


class Prices:
    """The built-in table with the settings' overrides on top."""

    def __init__(self, settings: Settings):
        with TABLE.open("rb") as handle:
            built_in = tomllib.load(handle)
        self.checked, self.source = str(built_in["checked"]), built_in["source"]
        overrides = {name: Price(inp, out, cached) for name, (inp, out, cached) in settings.price_overrides}
        self.by_model = {**prices_in(built_in), **overrides}

    def of(self, model: str) -> Price | None:
        """The model's price; a dated snapshot (gpt-4o-2024-08-06) has its family's when it has none of its own."""
        if model in self.by_model:
            return self.by_model[model]
        family = next(
            (name for name in sorted(self.by_model, key=len, reverse=True) if model.startswith(name + "-20")), None
        )
        return self.by_model.get(family) if family else None

    def saved(self, model: str, sums: dict[str, Any]) -> float | None:
        """What the tokens of these sums' cache hits would have cost; None for a model with no price."""
        price = self.of(model)
        if price is None:
            return None
        return price.cost(sums.get("saved_prompt_tokens", 0), sums.get("saved_completion_tokens", 0))

    def cost(self, model: str, sums: dict[str, Any]) -> float | None:
        """What these usage sums cost; None for a model with no price."""
        price = self.of(model)
        if price is None:
            return None
        return price.cost(
            sums.get("prompt_tokens", 0), sums.get("completion_tokens", 0), sums.get("cached_prompt_tokens", 0)
        )

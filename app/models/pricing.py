"""Prices per token from litellm's bundled cost map, read as a file: no litellm import.

The API process estimates a run's cost before anything is spent; importing litellm there would
cost seconds and hundreds of MB. The worker prices real calls with litellm itself.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@lru_cache(maxsize=1)
def _cost_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return {}
    try:
        data = json.loads((Path(spec.origin).parent / COST_MAP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_prices(provider_model: str) -> tuple[float, float] | None:
    """(input, output) USD per token, or None when the model's price is unknown."""
    if provider_model.startswith("builtin/"):
        return 0.0, 0.0
    costs = _cost_map()
    for key in (provider_model, provider_model.split("/", 1)[-1]):
        entry = costs.get(key)
        if isinstance(entry, dict):
            cost_in = entry.get("input_cost_per_token")
            cost_out = entry.get("output_cost_per_token")
            if isinstance(cost_in, int | float) and isinstance(cost_out, int | float):
                return float(cost_in), float(cost_out)
    return None

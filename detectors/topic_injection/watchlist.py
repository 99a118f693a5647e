"""Watchlist of sensitive narratives: which recurring off-topic themes are critical, and what to call them.

Recurrence alone says "the model keeps saying something nobody asked about"; the watchlist says "and it is
this known harmful narrative", which is what decides between a warning and waking someone up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_WATCHLIST = Path(__file__).parent / "artifacts" / "watchlist.yaml"


class NarrativeSpec(BaseModel):
    """One narrative as written in the watchlist file or in watchkeeper.yaml."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$", description="stable identifier, used in incident labels")
    title: str
    description: str = ""
    examples: list[str] = Field(min_length=1, description="typical phrasings, matched lexically")


@dataclass(frozen=True, slots=True)
class Narrative:
    id: str
    title: str
    description: str
    examples: tuple[str, ...]


def _parse(raw: Any, source: str) -> list[Narrative]:
    if not isinstance(raw, dict) or not isinstance(raw.get("narratives"), list):
        raise ValueError(f"{source}: expected a mapping with a 'narratives' list")
    return [_to_narrative(NarrativeSpec.model_validate(item)) for item in raw["narratives"]]


def _to_narrative(spec: NarrativeSpec) -> Narrative:
    return Narrative(spec.id, spec.title, spec.description, tuple(spec.examples))


def load_watchlist(
    path: str | Path | None = None, extra: list[NarrativeSpec] | None = None, *, builtin: bool = True
) -> list[Narrative]:
    """The shipped narratives (unless `builtin` is False), those of `path`, then `extra`; later ids win."""
    by_id: dict[str, Narrative] = {}
    sources: list[Path] = []
    if builtin:
        sources.append(DEFAULT_WATCHLIST)
    if path is not None:
        sources.append(Path(path))
    for source in sources:
        with open(source, encoding="utf-8") as fh:
            for narrative in _parse(yaml.safe_load(fh), str(source)):
                by_id[narrative.id] = narrative
    for spec in extra or []:
        by_id[spec.id] = _to_narrative(spec)
    return list(by_id.values())

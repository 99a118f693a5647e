"""Settings of the topic injection detector: the keys of `detectors.topic_injection` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from pydantic import Field

from watchkeeper.core.detector import DetectorSettings
from watchkeeper.detectors.topic_injection.watchlist import NarrativeSpec


class TopicInjectionSettings(DetectorSettings):
    """Keys of `detectors.topic_injection` in watchkeeper.yaml."""

    min_conversations: int = Field(6, ge=2, description="distinct conversations a theme needs to be reported")
    watchlist_min_conversations: int = Field(
        3, ge=1, description="the same, for themes matching a watchlist narrative"
    )
    window_seconds: float = Field(86_400.0, gt=0, description="sliding window for counting conversations")
    warmup_calls: int = Field(
        300, ge=0, description="calls per app whose recurring themes are learned as the app's boilerplate"
    )
    max_overlap: float = Field(
        0.2, ge=0, le=1, description="a sentence is off-topic at or below this overlap"
    )
    min_terms: int = Field(5, ge=1, description="content words a passage needs (shorter ones are chatter)")
    max_generic: float = Field(
        0.5, ge=0, le=1, description="passages with more generic words are boilerplate"
    )
    similarity: float = Field(0.45, gt=0, le=1, description="cosine to join a theme's centroid")
    boilerplate_similarity: float = Field(0.5, gt=0, le=1, description="cosine to a boilerplate phrase")
    watchlist_similarity: float = Field(0.3, gt=0, le=1, description="cosine of a theme to a narrative")
    max_themes: int = Field(256, ge=8, description="candidate themes kept per app (least recent evicted)")
    history_size: int = Field(
        512, ge=16, description="past candidate passages sampled per app and per model (its stock phrasing)"
    )
    history_similarity: float = Field(
        0.35,
        gt=0,
        le=1,
        description="cosine of a past passage to a theme for it to count as the same phrasing",
    )
    novelty_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="a theme is new for the app when its history before the theme is this unlikely at its "
        "current rate (Poisson); otherwise it is the app's or model's stock phrasing",
    )
    max_examples: int = Field(10, ge=1, description="example calls in a theme's first finding")
    boilerplate: list[str] = Field(default_factory=list, description="extra boilerplate phrasings to ignore")
    watchlist_file: str | None = Field(
        None, description="a YAML file of narratives added to the shipped ones"
    )
    builtin_watchlist: bool = Field(True, description="use the shipped narratives")
    watchlist: list[NarrativeSpec] = Field(default_factory=list, description="narratives given inline")

"""Settings of the integrity detector: the keys of `detectors.integrity` in watchkeeper.yaml.

Kept apart from the detector so the configuration is validated without loading its models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from watchkeeper.core import semconv as sc
from watchkeeper.core.detector import DetectorSettings
from watchkeeper.detectors.integrity.audit import is_sha256

PARAM_NAMES = tuple(name.removeprefix("gen_ai.request.") for name in sc.REQUEST_PARAMETERS)


class IntegritySettings(DetectorSettings):
    mode: Literal["registry", "learn"] = Field(
        "learn",
        description="registry: only approved prompts pass; learn: an app without approvals adopts its first",
    )
    approved: dict[str, list[str]] = Field(
        default_factory=dict, description="app (or '*') -> approved system-prompt sha256 values"
    )
    watch_response_model: bool = True
    watch_params: list[str] = Field(default_factory=lambda: ["temperature", "top_p"])
    watch_system_fingerprint: bool = True
    audit_log: str | None = Field(
        None,
        description="a JSON-lines audit file to use instead of the chain in the shared store (single host "
        "only)",
    )
    approvals_refresh_s: float = Field(
        1.0, ge=0, le=60, description="how often the shared chain is re-read (0: before every call)"
    )
    max_values: int = Field(64, ge=2, description="distinct values remembered per watched model/parameter")

    @field_validator("approved")
    @classmethod
    def _hashes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for app, hashes in value.items():
            for h in hashes:
                if not is_sha256(h):
                    raise ValueError(
                        f"approved.{app}: {h!r} is not a sha256 (64 hex characters); "
                        "get it from a finding or `watchkeeper integrity approve APP --file prompt.txt`"
                    )
        return {app: [h.lower() for h in hashes] for app, hashes in value.items()}

    @field_validator("watch_params")
    @classmethod
    def _params(cls, value: list[str]) -> list[str]:
        names = [v.removeprefix("gen_ai.request.") for v in value]
        unknown = [n for n in names if n not in PARAM_NAMES]
        if unknown:
            raise ValueError(f"unknown request parameter(s) {unknown}; choose from {list(PARAM_NAMES)}")
        return names

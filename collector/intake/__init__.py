"""The daemon's OTLP intake: OTLP/HTTP (aiohttp) and OTLP/gRPC (grpc.aio) onto the bus.

Both transports share one path (`core.IntakeCore`): decode, validate (invalid spans dropped and reported as
partial success), rate-limit, publish keyed by service.name, and answer only after the bus made it durable.
`Intake` (in `service`) runs both listeners. This package imports neither transport itself: validating the
configuration (`intake.config`) must not load aiohttp and grpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchkeeper.collector.intake.service import Intake

__all__ = ["Intake"]


def __getattr__(name: str) -> Any:
    """`from watchkeeper.collector.intake import Intake` loads the transports only then."""
    if name == "Intake":
        from watchkeeper.collector.intake.service import Intake

        return Intake
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""`alerts.store`: the alerts tables in the shared store (SQLite or PostgreSQL). Persistence only.

One module per stored entity, each a set of functions over an open transaction (`watchkeeper.core.store.Tx`):
`incidents`, `findings`, `targets` (per-receiver group timers), `outbox` (notifications, claimed with a
lease),
`silences`; `queries` holds the read models of the API and dashboard, `schema` the versioned tables, `rows`
the
row types and their mapping. Routing, grouping, timers, silencing and inhibition are decided outside, in
`alerts.service` with the pure policy modules (`alerts.routing`, `alerts.incidents`, `alerts.silences`,
`alerts.inhibition`).
"""

from __future__ import annotations

from watchkeeper.alerts.store.errors import InvalidTransition, NotFound, StoreError
from watchkeeper.alerts.store.rows import IngestResult, OutboxRow
from watchkeeper.alerts.store.schema import OPEN_STATUSES, OUTBOX_STATES
from watchkeeper.alerts.store.severity import severity_at_least

__all__ = [
    "OPEN_STATUSES",
    "OUTBOX_STATES",
    "IngestResult",
    "InvalidTransition",
    "NotFound",
    "OutboxRow",
    "StoreError",
    "severity_at_least",
]


def __getattr__(name: str) -> object:
    """`IncidentStore`, the name callers used when the store also decided: now `alerts.service.AlertsService`
    (imported lazily: the service imports this package)."""
    if name == "IncidentStore":
        from watchkeeper.alerts.service import AlertsService

        return AlertsService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

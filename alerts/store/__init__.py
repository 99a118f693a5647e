"""`alerts.store`: the durable state of the alerts stage in one SQLite file (WAL), safe from several threads.

It holds findings (deduplicated by id), incidents, per-receiver group timers ("targets"), silences and the
outbox. Every change that implies a notification writes the outbox row in the same transaction, so a crash
can delay a notification but never lose it. The dashboard and the API read through the same object and get
plain JSON-ready dicts.

Layout (one concern per module; `IncidentStore` composes the mixins):

- `database`: per-thread connections, write transactions, the open-incident index (`StoreBase`)
- `schema`: tables and status vocabularies; `errors`: what the store refuses; `rows`: row types and mapping
- `ingest`: findings into incidents; `scheduling`: group timers into outbox rows
- `lifecycle`: acknowledge/resolve; `outbox`: delivery, suppression, dead letters; `silences`
- `queries`: read models for the API/dashboard; `retention`: pruning
"""

from __future__ import annotations

from watchkeeper.alerts.store.errors import InvalidTransition, NotFound, StoreError
from watchkeeper.alerts.store.incident_store import IncidentStore
from watchkeeper.alerts.store.rows import IngestResult, OutboxRow
from watchkeeper.alerts.store.schema import DB_NAME, OPEN_STATUSES, OUTBOX_STATES
from watchkeeper.alerts.store.severity import severity_at_least

__all__ = [
    "DB_NAME",
    "OPEN_STATUSES",
    "OUTBOX_STATES",
    "IncidentStore",
    "IngestResult",
    "InvalidTransition",
    "NotFound",
    "OutboxRow",
    "StoreError",
    "severity_at_least",
]

"""The shared store: one database (SQLite by default, PostgreSQL to share it between processes and hosts).

- `database`: the `Database` / `Tx` interface and its SQLite and PostgreSQL implementations
- `migrations`: versioned schema steps per component, applied at start
- `config`, `url`: `store.*` settings and opening the configured database
Each stage keeps the mappers of its own tables next to its code; this package knows none of them.
"""

from __future__ import annotations

from watchkeeper.core.store.config import StoreConfig
from watchkeeper.core.store.database import (
    Conflict,
    Database,
    DatabaseError,
    PostgresDatabase,
    Row,
    SqliteDatabase,
    StoreUnavailable,
    Tx,
)
from watchkeeper.core.store.migrations import Migration, SchemaTooNew, migrate, schema_versions
from watchkeeper.core.store.url import open_database, open_store, redact

__all__ = [
    "Conflict",
    "Database",
    "DatabaseError",
    "Migration",
    "PostgresDatabase",
    "Row",
    "SchemaTooNew",
    "SqliteDatabase",
    "StoreConfig",
    "StoreUnavailable",
    "Tx",
    "migrate",
    "open_database",
    "open_store",
    "redact",
    "schema_versions",
]

"""`store.url`: which database holds the shared state, and how to reach it without logging a secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from watchkeeper.core.store.config import StoreConfig
from watchkeeper.core.store.database import Database, DatabaseError, PostgresDatabase, SqliteDatabase

SCHEMES = ("sqlite", "postgresql", "postgres")


def redact(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def sqlite_path(url: str) -> Path:
    """sqlite:///relative/or/absolute/path (three slashes then the path, as SQLAlchemy spells it)."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise DatabaseError(
            f"store.url {url!r}: write sqlite:///path/to/file.sqlite3 (three slashes, then the path)"
        )
    return Path(unquote(rest[1:]) or ".")


def open_database(
    url: str,
    *,
    password: str | None = None,
    options: dict[str, Any] | None = None,
    pool_size: int = 8,
    connect_timeout_s: float = 10.0,
) -> Database:
    """Open the store named by `url`; `password` and libpq `options` (sslmode, sslrootcert, ...) come from
    the config's secret fields, never from the logged URL."""
    scheme = url.split(":", 1)[0].lower()
    if scheme not in SCHEMES:
        raise DatabaseError(
            f"store.url {redact(url)!r}: unsupported scheme {scheme!r}; use sqlite:///path or "
            "postgresql://user@host:5432/db"
        )
    if scheme == "sqlite":
        return SqliteDatabase(sqlite_path(url))
    parts = urlsplit(url)
    if not parts.hostname or not parts.path.strip("/"):
        raise DatabaseError(f"store.url {redact(url)!r}: write postgresql://user@host:5432/database")
    from psycopg.conninfo import make_conninfo

    kwargs: dict[str, Any] = {k: v for k, v in parse_qsl(parts.query)}
    kwargs.update({k: v for k, v in (options or {}).items() if v is not None})
    if password is not None:
        kwargs["password"] = password
    conninfo = make_conninfo(urlunsplit(parts._replace(scheme="postgresql", query="")), **kwargs)
    return PostgresDatabase(
        conninfo, display_url=redact(url), pool_size=pool_size, connect_timeout_s=connect_timeout_s
    )


def open_store(cfg: StoreConfig, state_dir: Path) -> Database:
    """The configured store (SQLite in state_dir by default), connected; DatabaseError names what to fix."""
    try:
        password = cfg.secret()
    except ValueError as exc:
        raise DatabaseError(str(exc)) from None
    return open_database(
        cfg.resolved_url(state_dir),
        password=password,
        options=cfg.tls_options(),
        pool_size=cfg.pool_size,
        connect_timeout_s=cfg.connect_timeout_s,
    )

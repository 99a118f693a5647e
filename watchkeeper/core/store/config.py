"""`store.*` in watchkeeper.yaml: which database holds the shared state, and its credentials."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_FILENAME = "watchkeeper.sqlite3"


class StoreConfig(BaseModel):
    """The shared store. Default: one SQLite file in the state directory (a single host). PostgreSQL lets
    several processes on several hosts share incidents, outbox, silences, approvals and detector state."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        None,
        description="sqlite:///path/file.sqlite3 or postgresql://user@host:5432/db (default: SQLite in "
        "state_dir)",
    )
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    sslmode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    pool_size: int = Field(8, ge=1, le=256, description="PostgreSQL connections per process")
    connect_timeout_s: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = value.split(":", 1)[0].lower()
        if scheme not in ("sqlite", "postgresql", "postgres") or "://" not in value:
            raise ValueError(
                "use sqlite:///path/to/file.sqlite3 or postgresql://user@host:5432/database "
                "(the password goes in store.password, store.password_file or store.password_env)"
            )
        return value

    @model_validator(mode="after")
    def _one_password(self) -> StoreConfig:
        given = [k for k in ("password", "password_file", "password_env") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"{' and '.join(given)} are all set; keep exactly one of them")
        return self

    def resolved_url(self, state_dir: Path) -> str:
        return self.url or f"sqlite:///{Path(state_dir) / DEFAULT_FILENAME}"

    def secret(self) -> str | None:
        """The password from wherever it is configured (read at open time, so a rotated file is picked up)."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(
                    f"store.password_file: cannot read {self.password_file} ({exc.strerror})"
                ) from None
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if not value:
                raise ValueError(f"store.password_env: environment variable {self.password_env} is not set")
            return value
        return None

    def tls_options(self) -> dict[str, str]:
        return {
            k: v
            for k in ("sslmode", "sslrootcert", "sslcert", "sslkey")
            if (v := getattr(self, k)) is not None
        }


def store_config_from_env(environ: dict[str, str] | None = None) -> StoreConfig:
    """`store.*` from WATCHKEEPER_STORE__* variables alone (for commands that run without a config file)."""
    env = os.environ if environ is None else environ
    prefix = "WATCHKEEPER_STORE__"
    return StoreConfig(
        **{k[len(prefix) :].lower(): v for k, v in env.items() if k.upper().startswith(prefix)}
    )

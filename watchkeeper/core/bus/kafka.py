"""The Kafka bus: kafka-python consumer groups, for stages spread over processes and machines.

Works against any Kafka-protocol cluster (Apache Kafka, Azure Event Hubs' Kafka endpoint, Redpanda, Confluent
Cloud): security protocol, SASL and TLS come from the configuration. Producers wait for acks from all in-sync
replicas so `publish` returning means durable; consumers never auto-commit, so a stage commits only after its
own output is durable (at-least-once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    CommitFailedError,
    IllegalGenerationError,
    KafkaError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
    UnknownMemberIdError,
    for_code,
)
from kafka.structs import OffsetAndMetadata

from watchkeeper.core.bus.base import Bus, BusError, Consumer, PartitionListener, Producer, Record
from watchkeeper.core.kafka_security import KafkaSecurity, KafkaSecurityError

if TYPE_CHECKING:  # kept out of the import path: the bus itself needs no configuration machinery
    from watchkeeper.core.bus.config import BusConfig

log = logging.getLogger(__name__)

LINGER_MS = 5  # small: a batch of publishes goes out together without delaying a lone record noticeably

# Commits that fail because the group rebalanced: the records go to the partition's new owner (redelivered).
_REBALANCE_ERRORS = (
    CommitFailedError,
    RebalanceInProgressError,
    IllegalGenerationError,
    UnknownMemberIdError,
)


def client_settings(cfg: BusConfig) -> dict[str, Any]:
    """Settings shared by producer, consumer and admin client: address, identity, security, timeouts."""
    settings: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in cfg.bootstrap_servers.split(",") if s.strip()],
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
        "request_timeout_ms": cfg.request_timeout_ms,
        # Bounded wait for the first connection: an unreachable cluster fails start-up instead of hanging it.
        "bootstrap_timeout_ms": cfg.request_timeout_ms,
    }
    security = KafkaSecurity(
        security_protocol=cfg.security_protocol,
        sasl_mechanism=cfg.sasl_mechanism,
        sasl_username=cfg.sasl_username,
        sasl_password=cfg.sasl_password.get_secret_value() if cfg.sasl_password is not None else None,
        ssl_cafile=cfg.ssl_cafile,
        ssl_certfile=cfg.ssl_certfile,
        ssl_keyfile=cfg.ssl_keyfile,
        ssl_check_hostname=cfg.ssl_check_hostname,
    )
    try:
        settings.update(security.client_settings(prefix="bus."))
    except KafkaSecurityError as exc:
        raise BusError(str(exc)) from None
    return settings


def connect_error(cfg: BusConfig, exc: BaseException, action: str) -> BusError:
    """The BusError for a cluster we cannot reach or that refuses us: names the address and what to check."""
    return BusError(
        f"cannot {action} the Kafka bus at bootstrap_servers={cfg.bootstrap_servers} "
        f"(waited up to {cfg.request_timeout_ms / 1000:g} s): {type(exc).__name__}: {exc}. Check that the "
        f"broker is running and reachable from this host on that host:port, and that "
        f"security_protocol={cfg.security_protocol} and the SASL/TLS settings (bus.* in the config) match it"
    )


class KafkaBus(Bus):
    """Connects at construction (bounded by request_timeout_ms) so a wrong address fails start-up."""

    def __init__(self, cfg: BusConfig) -> None:
        self.cfg = cfg
        self.settings = client_settings(cfg)
        self._lock = threading.Lock()
        self._known_topics: set[str] = set()
        self._offsets: KafkaConsumer | None = None
        try:
            self._admin = KafkaAdminClient(**self.settings)
        except (KafkaError, OSError) as exc:
            raise connect_error(cfg, exc, "connect to") from exc

    def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics (cfg.partitions, cfg.replication_factor) when cfg.create_topics is on."""
        if not self.cfg.create_topics:
            return
        with self._lock:
            missing = [t for t in dict.fromkeys(topics) if t not in self._known_topics]
            if not missing:
                return
            spec = {
                t: {"num_partitions": self.cfg.partitions, "replication_factor": self.cfg.replication_factor}
                for t in missing
            }
            try:
                response = self._admin.create_topics(spec, raise_errors=False)
            except TopicAlreadyExistsError:
                response = {}
            except (KafkaError, OSError) as exc:
                raise connect_error(self.cfg, exc, f"create topics {missing} on") from exc
            for result in response.get("topics", []):
                code = result.get("error_code", 0)
                if code not in (0, TopicAlreadyExistsError.errno):
                    error = for_code(code)
                    raise BusError(
                        f"cannot create topic {result.get('name')!r} on {self.cfg.bootstrap_servers}: "
                        f"{error.__name__}: {result.get('error_message') or error.description}. Create it "
                        "yourself (and set bus.create_topics: false) or fix bus.partitions / "
                        "bus.replication_factor"
                    )
            self._known_topics.update(missing)

    def producer(self) -> KafkaBusProducer:
        return KafkaBusProducer(self)

    def consumer(
        self, group: str, topics: Sequence[str], *, listener: PartitionListener | None = None
    ) -> KafkaBusConsumer:
        self.ensure_topics(topics)
        return KafkaBusConsumer(self, group, topics, listener)

    def backlog(self, group: str, topics: Sequence[str]) -> int | None:
        """End offsets minus the group's committed offsets (the admin API: no group membership needed).

        A partition the group has not committed yet counts whole (end minus beginning: the group reads from
        the earliest offset); a group that has committed nothing at all is unknown (None), not zero."""
        try:
            committed = self._admin.list_group_offsets({group: None}).get(group) or {}
            wanted = {tp: meta.offset for tp, meta in committed.items() if tp.topic in set(topics)}
            if not wanted:
                return None
            with self._lock:
                if self._offsets is None:  # one plain consumer, in no group, to read end offsets
                    self._offsets = KafkaConsumer(**self.settings, enable_auto_commit=False)
                partitions = [
                    TopicPartition(topic, p)
                    for topic in topics
                    for p in sorted(self._offsets.partitions_for_topic(topic) or ())
                ]
                unread = [tp for tp in partitions if tp not in wanted]
                ends = self._offsets.end_offsets(list(wanted) + unread)
                starts = self._offsets.beginning_offsets(unread) if unread else {}
        except (KafkaError, OSError) as exc:
            raise BusError(
                f"cannot read the backlog of group {group!r} from {self.cfg.bootstrap_servers}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        behind = sum(max(0, ends.get(tp, 0) - max(offset, 0)) for tp, offset in wanted.items())
        return behind + sum(max(0, ends.get(tp, 0) - starts.get(tp, 0)) for tp in unread)

    def close(self) -> None:
        if self._offsets is not None:
            self._offsets.close()
        self._admin.close()


class KafkaBusProducer(Producer):
    def __init__(self, bus: KafkaBus) -> None:
        self._bus = bus
        cfg = bus.cfg
        self._timeout_s = 2 * cfg.request_timeout_ms / 1000 + LINGER_MS / 1000
        try:
            self._producer = KafkaProducer(
                **bus.settings,
                acks="all",
                linger_ms=LINGER_MS,
                max_block_ms=cfg.request_timeout_ms,
                delivery_timeout_ms=2 * cfg.request_timeout_ms + LINGER_MS,
            )
        except (KafkaError, OSError) as exc:
            raise connect_error(cfg, exc, "connect a producer to") from exc

    def publish(self, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Send every record and wait for all acknowledgements (acks=all): durable when this returns."""
        if not records:
            return
        self._bus.ensure_topics([topic])
        deadline = time.monotonic() + self._timeout_s
        try:
            futures = [self._producer.send(topic, key=key, value=value) for key, value in records]
            self._producer.flush(timeout=self._timeout_s)
            for future in futures:
                future.get(timeout=max(deadline - time.monotonic(), 0.001))
        except (KafkaError, OSError) as exc:
            raise BusError(
                f"publishing {len(records)} records to topic {topic!r} on {self._bus.cfg.bootstrap_servers} "
                f"failed: {type(exc).__name__}: {exc}. Check the broker's health and that records fit its "
                "message size limit"
            ) from exc

    def close(self) -> None:
        self._producer.close(timeout=self._timeout_s)


class _Rebalance(ConsumerRebalanceListener):
    """Tell the stage's listener first (it may checkpoint and commit what it processed), then forget
    uncommitted positions of partitions taken away: their new owner gets those records again."""

    def __init__(self, pending: dict[TopicPartition, int], listener: PartitionListener | None) -> None:
        self._pending = pending
        self._listener = listener

    def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            if self._listener is not None and revoked:
                self._listener.on_revoked(sorted((tp.topic, tp.partition) for tp in revoked))
        finally:
            for tp in revoked:
                self._pending.pop(tp, None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self._listener is not None and assigned:
            self._listener.on_assigned(sorted((tp.topic, tp.partition) for tp in assigned))


class KafkaBusConsumer(Consumer):
    def __init__(
        self, bus: KafkaBus, group: str, topics: Sequence[str], listener: PartitionListener | None = None
    ) -> None:
        if not topics:
            raise ValueError("a consumer needs at least one topic")
        self._bus = bus
        self.group = group
        self.topics = list(dict.fromkeys(topics))
        self._pending: dict[TopicPartition, int] = {}
        cfg = bus.cfg
        try:
            self._consumer = KafkaConsumer(
                **bus.settings,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=cfg.session_timeout_ms,
                heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            )
            self._consumer.subscribe(self.topics, listener=_Rebalance(self._pending, listener))
        except (KafkaError, OSError) as exc:
            raise connect_error(cfg, exc, f"join consumer group {group!r} on") from exc

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        """Next batch, waiting up to timeout_s; longer only to finish a group (re)join already in flight.

        kafka-python 3.0 throws away a JoinGroup/SyncGroup that completes while no poll() is waiting and
        starts over, so returning mid-join can keep a group rebalancing forever (Tansu holds each join for
        half the session timeout). Finishing the join in flight is bounded by the session and request
        timeouts.
        """
        deadline = time.monotonic() + max(timeout_s, 0.0)
        cfg = self._bus.cfg
        join_deadline = deadline + (cfg.session_timeout_ms + cfg.request_timeout_ms) / 1000
        while True:
            now = time.monotonic()
            wait_s = max(deadline - now, 0.0)
            if wait_s == 0.0 and now < join_deadline and self._join_in_flight():
                wait_s = 0.1
            try:
                batch = self._consumer.poll(timeout_ms=int(wait_s * 1000), max_records=max_records)
            except (KafkaError, OSError) as exc:
                raise BusError(
                    f"consumer group {self.group!r} cannot read {self.topics} from "
                    f"{self._bus.cfg.bootstrap_servers}: {type(exc).__name__}: {exc}"
                ) from exc
            out: list[Record] = []
            for tp, messages in batch.items():
                for m in messages:
                    out.append(Record(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp)))
                if messages:
                    self._pending[tp] = messages[-1].offset + 1
            if out:
                return out
            now = time.monotonic()
            if now >= deadline and not (now < join_deadline and self._join_in_flight()):
                return out

    def _join_in_flight(self) -> bool:
        """True while a group join was sent and its outcome not yet taken up by a poll()."""
        coordinator = getattr(self._consumer, "_coordinator", None)
        return getattr(coordinator, "_join_task", None) is not None

    def assignment(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this member owns right now (empty until the group has formed)."""
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def commit(self) -> None:
        """Commit synchronously what poll() returned; after a rebalance those records get redelivered."""
        if not self._pending:
            return
        offsets = {tp: OffsetAndMetadata(pos, "", -1) for tp, pos in self._pending.items()}
        try:
            self._consumer.commit(offsets)
        except _REBALANCE_ERRORS as exc:
            log.warning("commit of group %r lost to a rebalance (redelivery follows): %s", self.group, exc)
        except (KafkaError, OSError) as exc:
            raise BusError(
                f"consumer group {self.group!r} cannot commit on {self._bus.cfg.bootstrap_servers}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for tp, pos in offsets.items():
            if self._pending.get(tp) == pos.offset:
                del self._pending[tp]

    def lag(self) -> int:
        """End offsets minus this group's committed offsets, over every partition of the subscribed topics."""
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in self.topics
                for p in sorted(self._consumer.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                return 0
            ends = self._consumer.end_offsets(partitions)
            starts = self._consumer.beginning_offsets(partitions)
            assigned = self._consumer.assignment()
            total = 0
            for tp in partitions:
                # The high watermark of our own fetches backs up the end offset: some Kafka-protocol brokers
                # (Tansu) answer ListOffsets(latest) with the last batch's base offset + 1.
                seen = self._consumer.highwater(tp) if tp in assigned else None
                end = max(ends.get(tp, 0), seen or 0)
                committed = self._consumer.committed(tp)
                base = starts.get(tp, 0) if committed is None else max(committed, starts.get(tp, 0))
                total += max(0, end - base)
            return total
        except (KafkaError, OSError) as exc:
            raise BusError(
                f"cannot read the lag of group {self.group!r} from {self._bus.cfg.bootstrap_servers}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)

"""Contract tests of the bus, run against both implementations: the embedded SQLite log and Kafka.

The Kafka side talks to a real Kafka-protocol broker (fixture `kafka_bootstrap`). Waits are bounded polls for
records, never assertions on elapsed time.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.broker import kafka_bus_config
from tests.support.net import free_port
from watchkeeper.config import BusConfig
from watchkeeper.core.bus import Bus, BusError, Consumer, Record, make_bus
from watchkeeper.core.bus.embedded import BUS_FILENAME, EmbeddedBus
from watchkeeper.core.bus.kafka import KafkaBus, KafkaBusConsumer

REPO_ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 30.0  # upper bound for records to arrive (a Kafka group takes a few seconds to form)


@dataclass
class BusKit:
    """Opens buses of one kind on one storage (a directory or a broker) and closes them all afterwards."""

    kind: str
    opener: Callable[[], Bus]
    opened: list[Bus] = field(default_factory=list)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def open(self) -> Bus:
        bus = self.opener()
        self.opened.append(bus)
        return bus

    def topic(self, name: str = "t") -> str:
        return f"wk-test-{name}-{self.suffix}"

    def group(self, name: str = "g") -> str:
        return f"wk-group-{name}-{self.suffix}"

    def close_all(self) -> None:
        for bus in reversed(self.opened):
            bus.close()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BusKit]:
    if request.param == "embedded":
        kit = BusKit("embedded", lambda: make_bus(BusConfig(), tmp_path / "state"))
    else:
        cfg = kafka_bus_config(request.getfixturevalue("kafka_bootstrap"))
        kit = BusKit("kafka", lambda: make_bus(cfg, tmp_path / "state"))
    try:
        yield kit
    finally:
        kit.close_all()


def drain(consumer: Consumer, count: int, wait_s: float = WAIT_S) -> list[Record]:
    """Poll until `count` records arrived or wait_s passed; returns what arrived."""
    out: list[Record] = []
    deadline = time.monotonic() + wait_s
    while len(out) < count and time.monotonic() < deadline:
        out.extend(consumer.poll(max_records=count - len(out), timeout_s=0.5))
    return out


def values(records: list[Record]) -> list[bytes]:
    return [r.value for r in records]


def publish_each(bus: Bus, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    """One publish per record (some brokers report end offsets per batch: this keeps lag exact everywhere)."""
    producer = bus.producer()
    try:
        for item in items:
            producer.publish(topic, [item])
    finally:
        producer.close()


# --- contract: both implementations ---------------------------------------------------------------


def test_order_per_key(kit: BusKit) -> None:
    bus = kit.open()
    topic = kit.topic()
    keys = [b"app-a", b"app-b", b"app-c", b"app-d"]
    sent = [(keys[i % len(keys)], f"{keys[i % len(keys)].decode()}:{i}".encode()) for i in range(40)]
    producer = bus.producer()
    producer.publish(topic, sent[:25])
    producer.publish(topic, sent[25:])
    consumer = bus.consumer(kit.group(), [topic])

    got = drain(consumer, len(sent))

    assert sorted(values(got)) == sorted(v for _, v in sent)
    for key in keys:
        assert [r.value for r in got if r.key == key] == [v for k, v in sent if k == key]
        assert len({r.partition for r in got if r.key == key}) == 1
    assert all(r.topic == topic for r in got)
    producer.close()
    consumer.close()


def test_commit_then_new_consumer_in_group_resumes_after_it(kit: BusKit) -> None:
    bus = kit.open()
    topic, group = kit.topic(), kit.group()
    producer = bus.producer()
    producer.publish(topic, [(b"k", b"old-%d" % i) for i in range(5)])
    first = bus.consumer(group, [topic])
    assert sorted(values(drain(first, 5))) == [b"old-%d" % i for i in range(5)]
    first.commit()
    first.close()

    producer.publish(topic, [(b"k", b"new-%d" % i) for i in range(3)])
    second = bus.consumer(group, [topic])
    got = drain(second, 3)
    got += second.poll(timeout_s=1.0)  # nothing beyond the three new records

    assert values(got) == [b"new-0", b"new-1", b"new-2"]
    producer.close()
    second.close()


def test_uncommitted_records_are_redelivered_after_close(kit: BusKit) -> None:
    bus = kit.open()
    topic, group = kit.topic(), kit.group()
    producer = bus.producer()
    producer.publish(topic, [(b"k", b"r%d" % i) for i in range(4)])
    first = bus.consumer(group, [topic])
    assert len(drain(first, 4)) == 4
    first.close()  # no commit: processing "crashed"

    second = bus.consumer(group, [topic])
    assert values(drain(second, 4)) == [b"r0", b"r1", b"r2", b"r3"]
    producer.close()
    second.close()


def test_two_groups_each_see_everything(kit: BusKit) -> None:
    bus = kit.open()
    topic = kit.topic()
    producer = bus.producer()
    sent = [(b"k%d" % (i % 3), b"v%d" % i) for i in range(12)]
    producer.publish(topic, sent)
    detectors = bus.consumer(kit.group("detectors"), [topic])
    archive = bus.consumer(kit.group("archive"), [topic])

    got_detectors: list[Record] = []
    got_archive: list[Record] = []
    deadline = time.monotonic() + WAIT_S
    while (len(got_detectors) < len(sent) or len(got_archive) < len(sent)) and time.monotonic() < deadline:
        got_detectors += detectors.poll(timeout_s=0.2)  # both groups form at the same time
        got_archive += archive.poll(timeout_s=0.2)
        detectors.commit()  # one group's commits do not move the other

    assert sorted(values(got_detectors)) == sorted(v for _, v in sent)
    assert sorted(values(got_archive)) == sorted(v for _, v in sent)
    producer.close()
    detectors.close()
    archive.close()


def test_lag_counts_records_not_committed_by_the_group(kit: BusKit) -> None:
    bus = kit.open()
    topic = kit.topic()
    publish_each(bus, topic, [(b"k%d" % i, b"v%d" % i) for i in range(5)])
    consumer = bus.consumer(kit.group(), [topic])
    assert consumer.lag() == 5

    assert len(drain(consumer, 5)) == 5
    assert consumer.lag() == 5  # polled but not yet committed
    consumer.commit()
    assert consumer.lag() == 0

    publish_each(bus, topic, [(b"k%d" % i, b"w%d" % i) for i in range(3)])
    assert consumer.lag() == 3
    consumer.close()


def test_backlog_of_another_group_is_read_without_joining_it(kit: BusKit) -> None:
    """What the intake's backpressure reads: the detectors' unread records, from a bus that is no member."""
    bus, observer = kit.open(), kit.open()
    topic = kit.topic()
    group = kit.group()
    assert observer.backlog(group, [topic]) is None  # a group that never committed: unknown, not zero
    publish_each(bus, topic, [(b"k%d" % i, b"v%d" % i) for i in range(5)])
    consumer = bus.consumer(group, [topic])
    assert len(drain(consumer, 5)) == 5
    consumer.commit()
    assert observer.backlog(group, [topic]) == 0
    publish_each(bus, topic, [(b"k%d" % i, b"w%d" % i) for i in range(3)])
    assert observer.backlog(group, [topic]) == 3
    consumer.close()


def test_records_and_commits_survive_reopening_the_bus(kit: BusKit) -> None:
    topic, group = kit.topic(), kit.group()
    bus = kit.open()
    producer = bus.producer()
    producer.publish(topic, [(b"k", b"a"), (b"k", b"b")])
    consumer = bus.consumer(group, [topic])
    assert values(drain(consumer, 2)) == [b"a", b"b"]
    consumer.commit()
    producer.publish(topic, [(b"k", b"c")])
    producer.close()
    consumer.close()
    bus.close()

    reopened = kit.open()
    again = reopened.consumer(group, [topic])
    assert values(drain(again, 1)) == [b"c"]
    again.close()


def test_publish_from_another_thread_wakes_a_blocked_poll(kit: BusKit) -> None:
    bus = kit.open()
    topic = kit.topic()
    consumer = bus.consumer(kit.group(), [topic])
    producer = bus.producer()
    producer.publish(topic, [(b"k", b"warm-up")])
    assert values(drain(consumer, 1)) == [b"warm-up"]  # the consumer is now attached (a Kafka group formed)

    polling = threading.Event()

    def publish_later() -> None:
        polling.wait(WAIT_S)
        time.sleep(0.2)  # let the main thread block inside poll()
        producer.publish(topic, [(b"k", b"wake")])

    thread = threading.Thread(target=publish_later)
    thread.start()
    try:
        polling.set()
        got = consumer.poll(timeout_s=WAIT_S)
    finally:
        thread.join(WAIT_S)
    assert values(got) == [b"wake"]
    producer.close()
    consumer.close()


def test_empty_publish_is_a_no_op_and_empty_poll_returns_nothing(kit: BusKit) -> None:
    bus = kit.open()
    topic = kit.topic()
    producer = bus.producer()
    producer.publish(topic, [])
    consumer = bus.consumer(kit.group(), [topic])
    assert consumer.poll(timeout_s=0.2) == []
    assert consumer.lag() == 0
    producer.close()
    consumer.close()


# --- embedded only ------------------------------------------------------------------------------


def test_make_bus_embedded_lives_in_state_dir(tmp_path: Path) -> None:
    bus = make_bus(BusConfig(), tmp_path / "state")
    try:
        assert isinstance(bus, EmbeddedBus)
        assert bus.path == (tmp_path / "state" / BUS_FILENAME).resolve()
        mode = sqlite3.connect(bus.path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    finally:
        bus.close()


def test_embedded_concurrent_producers_get_distinct_contiguous_offsets(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / BUS_FILENAME)
    errors: list[BaseException] = []

    def produce(name: bytes) -> None:
        producer = bus.producer()
        try:
            for i in range(20):
                producer.publish("t", [(name, name + b"-%d-a" % i), (name, name + b"-%d-b" % i)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            producer.close()

    threads = [threading.Thread(target=produce, args=(b"p%d" % n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    consumer = bus.consumer("g", ["t"])
    got = drain(consumer, 160)
    bus.close()

    assert errors == []
    assert [r.offset for r in got] == list(range(160))
    for n in range(4):
        name = b"p%d" % n
        mine = [r.value for r in got if r.key == name]
        assert mine == [name + b"-%d-%s" % (i, half) for i in range(20) for half in (b"a", b"b")]


def test_embedded_poll_sees_publishes_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / BUS_FILENAME
    bus = EmbeddedBus(path)
    consumer = bus.consumer("g", ["t"])
    assert consumer.poll(timeout_s=0) == []
    code = (
        "import sys; from pathlib import Path; from watchkeeper.core.bus.embedded import EmbeddedBus\n"
        "bus = EmbeddedBus(Path(sys.argv[1])); p = bus.producer()\n"
        "p.publish('t', [(b'k', b'from-child')]); bus.close()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT)
    try:
        got = drain(consumer, 1)
    finally:
        child.wait(WAIT_S)
    bus.close()
    assert child.returncode == 0
    assert values(got) == [b"from-child"]


def _rung(consumer: Consumer) -> bool:
    """Whether the consumer's doorbell holds a ring (a zero-timeout look: no waiting)."""
    bell = consumer._bell  # type: ignore[attr-defined]
    assert bell is not None, "this platform gives every embedded consumer a doorbell socket"
    return bell.wait(0)


def test_embedded_publish_from_another_process_rings_the_consumer(tmp_path: Path) -> None:
    """A poll blocked in one process is woken by a publish in another at once (not at its next re-read):
    the publish leaves a ring in each consumer's doorbell, which the next poll answers."""
    path = tmp_path / BUS_FILENAME
    bus = EmbeddedBus(path, poll_interval_s=5.0)
    consumer = bus.consumer("g", ["t"])
    assert consumer.poll(timeout_s=0) == []
    assert not _rung(consumer)
    code = (
        "import sys; from pathlib import Path; from watchkeeper.core.bus.embedded import EmbeddedBus\n"
        "bus = EmbeddedBus(Path(sys.argv[1])); p = bus.producer()\n"
        "p.publish('t', [(b'k', b'rung')]); bus.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, check=True, timeout=WAIT_S)
    try:
        assert _rung(consumer)
        assert values(consumer.poll(timeout_s=0)) == [b"rung"]
        assert not _rung(consumer)  # answered by that poll
    finally:
        bus.close()


def test_embedded_doorbell_of_a_killed_consumer_is_removed_and_close_removes_its_own(tmp_path: Path) -> None:
    path = tmp_path / BUS_FILENAME
    bus = EmbeddedBus(path)
    consumer = bus.consumer("g", ["t"])
    wake_dir = path.with_name(path.name + ".wake")
    (mine,) = list(wake_dir.iterdir())
    # What a process killed with SIGKILL leaves behind: a socket file nobody is bound to.
    stale = wake_dir / "1-deadbeef"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(stale))
    dead.close()
    producer = bus.producer()
    producer.publish("t", [(None, b"x")])
    assert sorted(wake_dir.iterdir()) == [mine]
    assert _rung(consumer)
    consumer.close()
    assert list(wake_dir.iterdir()) == []
    producer.publish("t", [(None, b"y")])  # nobody listening: still fine
    bus.close()


def test_embedded_prunes_only_what_every_group_committed(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / BUS_FILENAME, retention_hours=1e-9)  # every record is "old"
    producer = bus.producer()
    fast, slow = bus.consumer("fast", ["t"]), bus.consumer("slow", ["t"])
    producer.publish("t", [(None, b"a%d" % i) for i in range(6)])
    producer.publish("unread", [(None, b"x")])  # no group reads it: pruned by age alone
    assert len(drain(fast, 6)) == 6
    fast.commit()
    assert len(drain(slow, 2)) == 2
    slow.commit()

    assert bus.prune() == 2 + 1
    assert slow.lag() == 4
    late = bus.consumer("late", ["t"])  # a new group starts at the oldest record still kept
    assert values(drain(late, 4)) == [b"a2", b"a3", b"a4", b"a5"]
    assert [r.offset for r in slow.poll(timeout_s=0)] == [2, 3, 4, 5]
    bus.close()


def test_embedded_disk_full_is_a_bus_error_naming_the_file_and_fix(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / BUS_FILENAME)
    producer = bus.producer()
    # A page cap makes SQLite hit SQLITE_FULL exactly as a full disk would.
    producer._conn.db.execute("PRAGMA max_page_count = 8")
    with pytest.raises(BusError) as info:
        producer.publish("t", [(None, b"x" * 4096) for _ in range(50)])
    message = str(info.value)
    assert "disk full" in message
    assert str(bus.path) in message
    assert "free space or point state_dir elsewhere" in message
    consumer = bus.consumer("g", ["t"])
    assert consumer.poll(timeout_s=0) == []  # the failed batch left nothing behind
    bus.close()


def test_embedded_damaged_file_is_a_bus_error(tmp_path: Path) -> None:
    path = tmp_path / BUS_FILENAME
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BusError, match="damaged or not a Watchkeeper bus") as info:
        EmbeddedBus(path)
    assert str(path.resolve()) in str(info.value)


def test_embedded_state_dir_that_is_a_file_is_a_bus_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    with pytest.raises(BusError, match="state"):
        make_bus(BusConfig(), blocker)


# --- kafka only -----------------------------------------------------------------------------------


@pytest.mark.kafka
def test_kafka_group_members_split_partitions_and_keys_stay_on_one(kafka_bootstrap: str) -> None:
    cfg = kafka_bus_config(kafka_bootstrap, partitions=3)
    suffix = uuid.uuid4().hex[:10]
    topic, group = f"wk-test-split-{suffix}", f"wk-group-split-{suffix}"
    bus = KafkaBus(cfg)
    producer = bus.producer()
    members: list[KafkaBusConsumer] = [bus.consumer(group, [topic]), bus.consumer(group, [topic])]
    got: list[list[Record]] = [[], []]
    stop = threading.Event()

    def run_member(i: int) -> None:  # each member polls on its own, as separate processes would
        while not stop.is_set():
            got[i].extend(members[i].poll(timeout_s=0.2))

    threads = [threading.Thread(target=run_member, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    keys = [b"app-%d" % i for i in range(12)]
    sent = [(keys[i % len(keys)], b"%s:%d" % (keys[i % len(keys)], i)) for i in range(36)]
    try:
        deadline = time.monotonic() + WAIT_S
        owned: list[set[tuple[str, int]]] = [set(), set()]
        while time.monotonic() < deadline:
            owned = [member.assignment() for member in members]
            if all(owned) and not owned[0] & owned[1] and len(owned[0] | owned[1]) == 3:
                break
            time.sleep(0.05)
        assert all(owned), f"the group did not give both members partitions: {owned}"

        producer.publish(topic, sent)
        deadline = time.monotonic() + WAIT_S
        while sum(map(len, got)) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(WAIT_S)
        for member in members:
            member.close()
        producer.close()
        bus.close()

    assert sorted(r.value for part in got for r in part) == sorted(v for _, v in sent)
    assert got[0] and got[1], "each member should have received records"
    assert not {r.partition for r in got[0]} & {r.partition for r in got[1]}
    everything = got[0] + got[1]
    for key in keys:
        assert len({r.partition for r in everything if r.key == key}) == 1
        mine = [r for r in everything if r.key == key]
        assert [r.value for r in sorted(mine, key=lambda r: r.offset)] == [v for k, v in sent if k == key]


def test_kafka_unreachable_bootstrap_is_a_prompt_helpful_bus_error() -> None:
    address = f"127.0.0.1:{free_port()}"  # nobody listens there
    cfg = kafka_bus_config(address, request_timeout_ms=1500)
    with pytest.raises(BusError) as info:
        make_bus(cfg, Path("unused"))
    message = str(info.value)
    assert f"bootstrap_servers={address}" in message
    assert "broker is running" in message
    assert "security_protocol=PLAINTEXT" in message


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs bus.sasl_mechanism"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "needs bus.sasl_username"),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "OAUTHBEARER"}, "OAUTHBEARER"),
    ],
)
def test_kafka_incomplete_security_settings_are_rejected_before_connecting(
    overrides: dict[str, str], needle: str
) -> None:
    cfg = kafka_bus_config("127.0.0.1:1", **overrides)
    with pytest.raises(BusError, match=needle):
        KafkaBus(cfg)


def test_kafka_event_hubs_style_settings_reach_the_client() -> None:
    from watchkeeper.core.bus.kafka import client_settings

    cfg = BusConfig(
        kind="kafka",
        bootstrap_servers="ns.servicebus.windows.net:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="$ConnectionString",
        sasl_password="Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s",
    )
    settings = client_settings(cfg)
    assert settings["security_protocol"] == "SASL_SSL"
    assert settings["sasl_mechanism"] == "PLAIN"
    assert settings["sasl_plain_username"] == "$ConnectionString"
    assert settings["sasl_plain_password"].startswith("Endpoint=sb://")
    assert settings["ssl_check_hostname"] is True
    assert settings["bootstrap_servers"] == ["ns.servicebus.windows.net:9093"]


@pytest.mark.kafka
def test_kafka_backlog_counts_partitions_the_group_has_not_committed(kafka_bootstrap: str) -> None:
    """Backpressure reads the detectors' backlog: a partition their group never committed is all unread."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    cfg = kafka_bus_config(kafka_bootstrap, partitions=3)
    suffix = uuid.uuid4().hex[:10]
    topic, group = f"wk-test-backlog-{suffix}", f"wk-group-backlog-{suffix}"
    bus = KafkaBus(cfg)
    bus.ensure_topics([topic])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for partition, count in ((0, 4), (1, 3), (2, 2)):
        for i in range(count):  # one record per batch: some brokers report end offsets per batch
            producer.send(topic, value=b"v%d" % i, partition=partition)
            producer.flush()
    producer.close()
    committer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        assert bus.backlog(group, [topic]) is None  # nothing committed: unknown, not zero
        committer.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, "", -1)})
        # partition 0: 4 - 3 = 1 unread; partitions 1 and 2 were never committed: 3 + 2 unread
        deadline = time.monotonic() + WAIT_S
        while bus.backlog(group, [topic]) != 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bus.backlog(group, [topic]) == 6
    finally:
        committer.close()
        bus.close()

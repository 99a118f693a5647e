"""No 500 for any client input: the bodies a red team found, a gzip body of many members, then hypothesis over
every POST route of the API. A client's mistake is a 4xx with a reason, and no traceback in the log."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.daemon import running_daemon
from tests.support.intake import traces_request
from watchkeeper.app import Daemon

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("no500") / "state") as d:
        yield d


@pytest.fixture
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


@pytest.mark.parametrize(
    "body",
    [
        b'{"resourceSpans": ' + b"1" * 5000 + b"}",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": ' + b"9" * 5000 + b"}]}]}]}",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": NaN}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": 1e999}]}]}]}',
        b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": Infinity}}]}}]}',
        b"[" * 100_000,
    ],
    ids=["big-int", "big-int-deep", "nan", "1e999", "infinity", "nesting"],
)
def test_intake_json_oddities_are_400(daemon: Daemon, body: bytes, no_traceback: None) -> None:
    resp = httpx.post(daemon.intake_url + "/v1/traces", content=body, headers=JSON, timeout=30)
    assert resp.status_code == 400, resp.text


SILENCE = b'{"matchers": ["app=\\"x\\""], "created_by": "a", "comment": "b", '


@pytest.mark.parametrize(
    "body",
    [
        b'{"matchers": ' + b"1" * 5000 + b"}",
        SILENCE + b'"ends_at": NaN}',
        SILENCE + b'"ends_at": Infinity}',
        SILENCE + b'"ends_at": 1e999}',
        SILENCE + b'"ends_at": ' + b"9" * 400 + b"}",
        SILENCE + b'"ends_at": -1e300}',
        SILENCE + b'"ends_at": [1]}',
        b'{"matchers": [{"a": 1}], "created_by": "a", "comment": "b", "ends_at": 1}',
        b'{"matchers": ["app=\\"x\\""], "created_by": {"x": 1}, "comment": "b", "ends_at": "2030-01-01"}',
        b"[" * 100_000,
    ],
)
def test_api_body_oddities_are_4xx(daemon: Daemon, body: bytes, no_traceback: None) -> None:
    resp = httpx.post(daemon.web_url + "/api/v1/silences", content=body, headers=JSON, timeout=30)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["reason"]


@pytest.mark.parametrize(
    "origin", ["http://[::1", "http://a:99999", "http://%zz", "http://a b", "javascript:1", "null"]
)
def test_odd_origins_are_refused_not_a_500(daemon: Daemon, origin: str, no_traceback: None) -> None:
    headers = {**JSON, "Origin": origin}
    resp = httpx.post(daemon.web_url + "/api/v1/silences", content=b"{}", headers=headers, timeout=10)
    assert resp.status_code == 403, resp.text


def many_empty_members(total: int) -> bytes:
    member = gzip.compress(b"")
    return member * (total // len(member))


def test_a_gzip_body_of_many_members_is_refused_and_the_api_keeps_answering(daemon: Daemon) -> None:
    body = many_empty_members(8 * 1024 * 1024)  # 400,000 members; four of them fit in max_inflight_bytes
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    results: list[httpx.Response] = []

    def send() -> None:
        url = daemon.intake_url + "/v1/traces"
        results.append(httpx.post(url, content=body, headers=headers, timeout=120))

    senders = [threading.Thread(target=send) for _ in range(4)]
    for t in senders:
        t.start()
    try:
        api = httpx.get(daemon.web_url + "/api/v1/incidents", timeout=10)  # took 48 s before
        assert api.status_code == 200
    finally:
        for t in senders:
            t.join(120)
    assert len(results) == 4
    for resp in results:
        assert resp.status_code == 400 and "intake.max_gzip_members" in resp.text, resp.text
    # a body of a few members (valid gzip) is still accepted
    few = b"".join(gzip.compress(part) for part in _split(traces_request(2).SerializeToString(), 3))
    accepted = httpx.post(daemon.intake_url + "/v1/traces", content=few, headers=headers, timeout=10)
    assert accepted.status_code == 200, accepted.text


def _split(data: bytes, n: int) -> list[bytes]:
    step = len(data) // n + 1
    return [data[i : i + step] for i in range(0, len(data), step)]


# -- hypothesis over the API's POST routes ------------------------------------------------------------------
ROUTES = [
    "/api/v1/silences",
    "/api/v1/silences/preview",
    "/api/v1/incidents/{id}/ack",
    "/api/v1/incidents/{id}/resolve",
    "/api/v1/incidents/{id}/feedback",
    "/api/v1/findings/{id}/feedback",
    "/api/v1/approvals",
    "/api/v1/deadletters/{id}/replay",
]
KEYS = [
    "matchers", "starts_at", "ends_at", "created_by", "comment", "by", "author", "verdict", "app", "sha256",
    "action", "suppress", "scope", "reason", "id",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(['app="x"', "app=~.*", "2030-01-01T00:00:00Z", "1h", "false_positive", "a" * 64]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
raw_oddities = st.sampled_from(
    [b"", b"null", b"[]", b"1", b'"x"', b"{", b'{"ends_at": NaN}', b'{"a": ' + b"7" * 5000 + b"}", b"\xff"]
)


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, timeout=30) as c:
        yield c


def _post(client: httpx.Client, route: str, ident: str, content: bytes) -> httpx.Response:
    return client.post(route.replace("{id}", ident), content=content, headers=JSON)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    ident=st.sampled_from(["x", "0" * 32, "%00", "a" * 300]),
    body=st.one_of(bodies.map(lambda b: json.dumps(b).encode()), raw_oddities),
)
def test_any_body_on_any_post_route_is_never_a_500(
    client: httpx.Client, route: str, ident: str, body: bytes
) -> None:
    resp = _post(client, route, ident, body)
    assert resp.status_code < 500, (route, body[:200], resp.text[:300])


def test_the_fuzz_found_no_traceback_in_the_log(daemon: Daemon, client: httpx.Client, caplog: Any) -> None:
    caplog.set_level(logging.ERROR)
    for route in ROUTES:
        for body in (b'{"ends_at": NaN}', b'{"a": ' + b"7" * 5000 + b"}", b"[" * 10_000, b"\xff"):
            assert _post(client, route, "x", body).status_code < 500
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]

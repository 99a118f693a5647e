"""One HTTP attempt and its classification, shared by every HTTP channel.

The outbox decides about retries; this module only answers "did it arrive, may we try again, and when". Errors
name the problem and the fix and never contain a secret: URLs are masked to scheme + host, and any echo of a
secret in a vendor's answer is blanked out. httpx logs full request URLs at INFO level; a filter masks them,
because the path of a Slack or Teams webhook URL *is* its credential. httpx itself is imported on the first
request: validating a config loads every channel's module, and must not load the HTTP stack.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from watchkeeper.alerts.channels.base import Channel, DeliveryResult
from watchkeeper.alerts.channels.urls import UrlError, UrlResolveError, check_public_destination, mask_url
from watchkeeper.alerts.model import Event, Notification

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("watchkeeper.alerts.channels")

USER_AGENT = "watchkeeper-alerts/0.1"
_MAX_ERROR_BODY = 300


class _MaskUrls(logging.Filter):
    """Rewrite httpx's 'HTTP Request: POST <url>' records so they show scheme + host only."""

    def filter(self, record: logging.LogRecord) -> bool:
        import httpx  # loaded: only httpx logs to this logger

        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(mask_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_HTTPX_LOGGER = logging.getLogger("httpx")
if not any(isinstance(f, _MaskUrls) for f in _HTTPX_LOGGER.filters):
    _HTTPX_LOGGER.addFilter(_MaskUrls())


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (and the path of secret URLs) blanked out."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


def secret_fragments(*values: str | None) -> list[str]:
    """Each secret, plus the path+query of URL-shaped secrets (a receiver may echo only the path)."""
    out: list[str] = []
    for value in values:
        if not value:
            continue
        out.append(value)
        try:
            parts = urlsplit(value)
        except ValueError:
            continue
        if parts.scheme and parts.netloc:
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(tail) > 8:
                out.append(tail)
    return sorted(out, key=len, reverse=True)


def body_excerpt(text: str, secrets: Iterable[str]) -> str:
    return scrub(" ".join(text.split())[:_MAX_ERROR_BODY], secrets)


Explain = Callable[[int, str], "tuple[str, str] | None"]


@dataclass(frozen=True, slots=True)
class Policy:
    """How one vendor's answers are read.

    `retryable` lists the statuses worth another attempt; any 5xx is also retried unless listed in `final`.
    `explain(status, body)` returns (code, 'meaning; fix') for vendor-specific failures, else None.
    """

    vendor: str
    config_key: str  # e.g. receivers[oncall].slack_configs[0]
    secret_key: str  # the key holding the credential, for fix hints: url, routing_key, api_key
    retryable: frozenset[int] = frozenset({408, 425, 429})
    final: frozenset[int] = frozenset({501, 505})
    explain: Explain | None = None
    ok_statuses: frozenset[int] = field(default_factory=frozenset)  # empty: any 2xx

    def is_ok(self, status: int) -> bool:
        return status in self.ok_statuses if self.ok_statuses else 200 <= status < 300

    def is_retryable(self, status: int) -> bool:
        return status in self.retryable or (status >= 500 and status not in self.final)

    def default_explanation(self, status: int) -> str:
        key = f"{self.config_key}.{self.secret_key}"
        table = {
            400: f"the request was rejected as malformed; check {self.config_key} (a bug if it persists)",
            401: f"the credential was not accepted; replace {key} with a valid one",
            402: "the account's plan does not allow this action; upgrade the plan or use another integration",
            403: f"the credential may not post here; check its permissions or replace {key}",
            404: f"the endpoint does not exist (revoked or mistyped); create a new one and update {key}",
            405: f"the endpoint does not accept POST; check {key} points at the right API",
            409: "the receiver reported a conflict; check the receiver's state",
            410: f"the endpoint is gone and wants no more deliveries; remove or replace {key}",
            413: f"the message is too large; lower {self.config_key}.max_text_chars",
            415: "the receiver does not accept JSON; point the channel at an endpoint that does",
            422: f"the receiver could not process the message fields; check {self.config_key}",
        }
        if 300 <= status < 400:
            return f"the endpoint redirects; update {key} to the final URL (redirects are not followed)"
        if self.is_retryable(status):
            return "the receiver is throttling or temporarily failing; the delivery will be retried"
        return table.get(status, f"the receiver refused the request; check {self.config_key}")


class HttpSender:
    """A pooled httpx client making single POST attempts and classifying them with a Policy."""

    def __init__(self, policy: Policy, *, secrets: Iterable[str], refuse_private_addresses: bool = False):
        self.policy = policy
        self._secrets = secret_fragments(*secrets)
        self._refuse_private = refuse_private_addresses
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT})
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def post(
        self,
        url: str,
        *,
        body: bytes,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> DeliveryResult:
        """POST `body` (JSON) to `url` once; never raises."""
        import httpx

        vendor, where = self.policy.vendor, mask_url(url)
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            if self._refuse_private:
                parts = urlsplit(url)
                port = parts.port or (443 if parts.scheme == "https" else 80)
                check_public_destination(parts.hostname or "", port, key=f"{self.policy.config_key}.url")
            response = self._http().post(
                url, content=body, headers=all_headers, timeout=httpx.Timeout(timeout_s)
            )
        except UrlResolveError as exc:
            return self._failure(True, None, self.scrub(str(exc)))
        except UrlError as exc:
            return self._failure(False, None, self.scrub(str(exc)))
        except httpx.TimeoutException as exc:
            phase = {httpx.ConnectTimeout: "connecting", httpx.PoolTimeout: "waiting for a connection"}.get(
                type(exc), "waiting for the answer"
            )
            return self._failure(True, None, f"{vendor} at {where} timed out after {timeout_s:g}s {phase}")
        except httpx.ConnectError as exc:
            reason = self.scrub(str(exc)) or type(exc).__name__
            hint = "; check the host name and firewall" if "refused" not in reason.lower() else ""
            return self._failure(True, None, f"cannot connect to {vendor} at {where}: {reason}{hint}")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            reason = self.scrub(str(exc)) or type(exc).__name__
            return self._failure(True, None, f"{vendor} at {where} closed or reset the connection: {reason}")
        except httpx.HTTPError as exc:
            reason = self.scrub(str(exc)) or type(exc).__name__
            return self._failure(True, None, f"request to {vendor} at {where} failed: {reason}")
        return self.classify(response.status_code, response.headers, response.text, where)

    def classify(self, status: int, headers: Mapping[str, str], text: str, where: str) -> DeliveryResult:
        policy = self.policy
        if policy.is_ok(status):
            log.debug("%s delivery to %s: %s", policy.vendor, where, status)
            return DeliveryResult.success(status)
        excerpt = body_excerpt(text, self._secrets)
        explained = policy.explain(status, text) if policy.explain else None
        if explained is not None:
            code, meaning = explained
            code = self.scrub(code)
        else:
            code, meaning = excerpt[:80], policy.default_explanation(status)
        if 300 <= status < 400 and headers.get("location"):
            meaning += f" (it redirects to {mask_url(headers['location'])})"
        retryable = policy.is_retryable(status)
        retry_after = parse_retry_after(headers.get("retry-after")) if retryable else None
        label = f"{status} {code}".strip()
        result = self._failure(retryable, status, f"{policy.vendor} answered {label}: {meaning}")
        result.retry_after_s = retry_after
        return result

    def _failure(self, retryable: bool, status: int | None, error: str) -> DeliveryResult:
        log.warning(
            "%s delivery failed (%s): %s",
            self.policy.vendor,
            "will retry" if retryable else "giving up",
            error,
        )
        return DeliveryResult(ok=False, retryable=retryable, status=status, error=error)


def destination_hash(*parts: str) -> str:
    """A stable, non-reversible id of a destination (rate-limit key); never the secret itself."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return digest[:16]


class ConfiguredChannel(Channel):
    """Common behaviour: honour send_resolved, never raise from send, and close pooled connections."""

    vendor: str = ""

    def __init__(self, *, config_key: str, dashboard_url: str, send_resolved: bool = True):
        self.config_key = config_key
        self.dashboard_url = dashboard_url
        self.send_resolved = send_resolved

    def wants(self, event: Event) -> bool:
        """False for events this destination opted out of (resolves with send_resolved: false)."""
        return self.send_resolved or event is not Event.resolve

    def send(self, notification: Notification, timeout_s: float = 10.0) -> DeliveryResult:
        if not self.wants(notification.event):
            log.debug("%s: %s skipped (send_resolved is false)", self.config_key, notification.id)
            return DeliveryResult.success()
        try:
            return self.deliver(notification, timeout_s)
        except Exception as exc:  # a bug in rendering must not crash the outbox worker
            log.exception(
                "%s: cannot build the %s message for %s", self.config_key, self.vendor, notification.id
            )
            return DeliveryResult(
                ok=False,
                retryable=False,
                error=f"internal error building the {self.vendor} message: {type(exc).__name__}",
            )

    @abstractmethod
    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        """The channel's one attempt (may raise on programming errors; send() turns that into a result)."""

    def close(self) -> None:
        """Release pooled connections (no-op for channels without any)."""

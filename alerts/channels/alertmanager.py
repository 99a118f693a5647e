"""Forward incidents to an existing Prometheus Alertmanager as alerts (`POST /api/v2/alerts`).

One incident is one alert. Its labels identify it in Alertmanager (which groups, routes, silences and
inhibits on them): the incident's group labels, `alertname` (the detector, unless the incident has one) and
`severity`, plus the receiver's static `labels`. Annotations carry the words: summary (the title),
description, runbook_url, incident_id, status, dashboard_url; `generatorURL` links the incident page.

Alertmanager resolves an alert once its `endsAt` has passed, and expects its clients to re-send active
alerts: like Prometheus, every open incident is re-sent each `resend_interval` with `endsAt` = now +
4 x resend_interval, so one lost refresh never resolves it and a stopped Watchkeeper lets it expire. A resolve
is sent with `endsAt` = the incident's resolve time. The refresh and the deliveries share one lock and the
refresh forgets an incident before its resolve is posted, so a refresh can never re-open a resolved alert.
Status handling: 2xx success; 400 (Alertmanager rejected the alerts) final; 5xx, 429 and network errors
retried by the outbox.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from watchkeeper.alerts.channels.base import ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.channels.config import AlertmanagerConfig
from watchkeeper.alerts.channels.http import ConfiguredChannel, HttpSender, Policy, destination_hash
from watchkeeper.alerts.channels.render import clean, truncate
from watchkeeper.alerts.model import Event, Notification

log = logging.getLogger(__name__)

#: Prometheus' rule: resend every interval, valid for 4 intervals.
LIFETIME_RESENDS = 4
_BAD_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")


def rfc3339(ts: float) -> str:
    """Alertmanager's timestamp format (RFC 3339, UTC, milliseconds)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def label_name(name: str) -> str:
    """A valid Alertmanager label name: other characters become '_', a leading digit gets a '_' prefix."""
    fixed = _BAD_LABEL_CHARS.sub("_", name) or "_"
    return f"_{fixed}" if fixed[0].isdigit() else fixed


_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's alert fingerprint: FNV-1a 64 of the sorted names and values, 0xff-separated (hex)."""
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def alert_labels(incident: Mapping[str, Any], static: Mapping[str, str]) -> dict[str, str]:
    """The label set identifying the incident's alert (empty values dropped: Alertmanager ignores them)."""
    labels: dict[str, str] = {}
    for name, value in (incident.get("labels") or {}).items():
        text = clean(value, single_line=True)
        if text:
            labels[label_name(str(name))] = truncate(text, 1024, marker="…")
    labels.setdefault("alertname", labels.get("detector") or "watchkeeper")
    if incident.get("severity"):
        labels["severity"] = str(incident["severity"])
    labels.update(static)
    return labels


def alert_body(
    incident: Mapping[str, Any],
    *,
    incident_url: str,
    static_labels: Mapping[str, str],
    now: float,
    lifetime_s: float,
    max_text_chars: int,
) -> dict[str, Any]:
    """One element of the `POST /api/v2/alerts` list for an incident (firing unless it is resolved)."""
    annotations = {
        "summary": clean(incident.get("title"), single_line=True),
        "description": clean(incident.get("summary")),
        "incident_id": str(incident.get("id", "")),
        "status": str(incident.get("status", "")),
        "dashboard_url": incident_url,
    }
    for key, value in (incident.get("annotations") or {}).items():  # runbook_url and the route's own
        annotations.setdefault(label_name(str(key)), clean(value))
    if incident.get("acknowledged_by"):
        annotations["acknowledged_by"] = clean(incident["acknowledged_by"], single_line=True)
    resolved_at = incident.get("resolved_at")
    ends = float(resolved_at) if incident.get("status") == "resolved" and resolved_at else now + lifetime_s
    return {
        "labels": alert_labels(incident, static_labels),
        "annotations": {k: truncate(v, max_text_chars) for k, v in annotations.items() if v},
        "startsAt": rfc3339(float(incident.get("first_seen") or now)),
        "endsAt": rfc3339(ends),
        "generatorURL": incident_url,
    }


def alertmanager_policy(config_key: str) -> Policy:
    def explain(status: int, body: str) -> tuple[str, str] | None:
        if status == 400:
            return body.strip()[:120], (
                "Alertmanager rejected the alerts (see its message); check the incident labels and "
                f"{config_key}.labels"
            )
        return None

    return Policy(vendor="Alertmanager", config_key=config_key, secret_key="url", explain=explain)


class AlertmanagerChannel(ConfiguredChannel):
    kind = "alertmanager"
    vendor = "Alertmanager"

    def __init__(self, config: AlertmanagerConfig, *, config_key: str, dashboard_url: str):
        super().__init__(
            config_key=config_key, dashboard_url=dashboard_url, send_resolved=config.send_resolved
        )
        self._config = config
        self._url = f"{config.url}/api/v2/alerts"
        self.destination_key = f"alertmanager:{destination_hash(config.url)}"
        secrets: list[str] = []
        self._headers: dict[str, str] = {}
        if config.bearer_token is not None:
            token = config.bearer_token.get_secret_value()
            secrets.append(token)
            self._headers["Authorization"] = f"Bearer {token}"
        elif config.basic_auth_password is not None:
            password = config.basic_auth_password.get_secret_value()
            secrets.append(password)
            pair = f"{config.basic_auth_username}:{password}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self._sender = HttpSender(
            alertmanager_policy(config_key),
            secrets=secrets,
            refuse_private_addresses=config.refuse_private_addresses,
        )
        self._lifetime_s = LIFETIME_RESENDS * config.resend_interval
        self._lock = threading.Lock()
        #: incident id -> (incident dict, incident page URL): what the refresh re-sends.
        self._open: dict[str, tuple[dict[str, Any], str]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ deliveries (outbox)
    def deliver(self, notification: Notification, timeout_s: float) -> DeliveryResult:
        incident = notification.incident.to_dict()
        url = notification.dashboard_url or self.dashboard_url
        with self._lock:
            previous = self._open.get(incident["id"])
            if notification.event is Event.resolve or incident["status"] == "resolved":
                self._open.pop(incident["id"], None)
            alerts = [self._alert(incident, url)]
            if previous is not None:
                old = self._alert(previous[0], previous[1])
                if old["labels"] != alerts[0]["labels"]:  # severity rose: end the alert of the old label set
                    old["endsAt"] = rfc3339(time.time())
                    alerts.insert(0, old)
            result = self._post(alerts, timeout_s)
            if result.ok and notification.event is not Event.resolve and incident["status"] != "resolved":
                self._open[incident["id"]] = (incident, url)
        if result.ok:
            self._ensure_refresher()
        return result

    def resume(self, incidents: Iterable[tuple[Mapping[str, Any], str]]) -> None:
        """Keep refreshing incidents forwarded before a restart: (incident dict, incident page URL) pairs."""
        with self._lock:
            for incident, url in incidents:
                if incident.get("status") != "resolved":
                    self._open.setdefault(str(incident["id"]), (dict(incident), url))
        if self._open:
            self._ensure_refresher()

    # ------------------------------------------------------------------ refresh
    def refresh_once(self, timeout_s: float = 10.0) -> DeliveryResult | None:
        """Re-send every open incident in one request (None when there is nothing to re-send)."""
        with self._lock:
            if not self._open:
                return None
            alerts = [self._alert(incident, url) for incident, url in self._open.values()]
            return self._post(alerts, timeout_s)

    def _ensure_refresher(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._refresh_loop, name=f"alertmanager-refresh {self.config_key}", daemon=True
            )
            self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._config.resend_interval):
            try:
                result = self.refresh_once()
            except Exception:  # keep refreshing: a bug in one pass must not let every alert expire
                log.exception("%s: refreshing the open alerts failed", self.config_key)
                continue
            if result is not None and not result.ok:
                log.warning("%s: refreshing the open alerts failed: %s", self.config_key, result.error)

    # ------------------------------------------------------------------ helpers
    def _alert(self, incident: Mapping[str, Any], url: str) -> dict[str, Any]:
        return alert_body(
            incident,
            incident_url=url,
            static_labels=self._config.labels,
            now=time.time(),
            lifetime_s=self._lifetime_s,
            max_text_chars=self._config.max_text_chars,
        )

    def _post(self, alerts: list[dict[str, Any]], timeout_s: float) -> DeliveryResult:
        body = json.dumps(alerts, ensure_ascii=False, separators=(",", ":")).encode()
        return self._sender.post(self._url, body=body, timeout_s=timeout_s, headers=self._headers)

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=15.0)
        self._sender.close()


def _create(config: AlertmanagerConfig, context: ChannelContext) -> AlertmanagerChannel:
    return AlertmanagerChannel(config, config_key=context.config_key, dashboard_url=context.dashboard_url)


plugin = ChannelPlugin(config_key="alertmanager_configs", config_class=AlertmanagerConfig, create=_create)

"""What every channel says about an incident, before vendor formatting.

Incident titles, summaries, labels and evidence excerpts derive from model output and request data, so they
are untrusted: `clean()` strips control characters and defuses broadcast mentions (@channel, @here, @everyone,
<!everyone>) for every medium, and each channel then escapes for its own markup. Long text is cut with a
visible marker, so a reader knows something was left out and where to read the rest (the dashboard link).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watchkeeper.alerts.model import Event, Incident, Notification

TRUNCATION_MARK = "… [truncated]"

VERBS: dict[Event, str] = {
    Event.trigger: "Triggered",
    Event.update: "Updated",
    Event.acknowledge: "Acknowledged",
    Event.resolve: "Resolved",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_MENTION = re.compile(r"([@!])(?=(?:channel|here|everyone|all|team|group|subteam)\b)", re.IGNORECASE)
_ZWSP = "\u200b"


def clean(text: Any, *, single_line: bool = False) -> str:
    """Untrusted text made inert for any medium: no control/bidi characters, no working broadcast mentions."""
    value = "" if text is None else str(text)
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value.replace("\t", "    "))
    value = _MENTION.sub(lambda m: m.group(1) + _ZWSP, value)
    if single_line:
        value = " ".join(value.split())
    return value


def truncate(text: str, limit: int, marker: str = TRUNCATION_MARK) -> str:
    """`text` cut to at most `limit` characters, ending with `marker` when something was cut."""
    if len(text) <= limit:
        return text
    if limit <= len(marker):
        return text[:limit]
    return text[: limit - len(marker)].rstrip() + marker


def fit(text: str, limit: int, escape: Callable[[str], str], marker: str = TRUNCATION_MARK) -> str:
    """Escape `text`, cut so the *escaped* result fits `limit` (escaping grows text; entities stay whole)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    escaped_marker = escape(marker)
    budget = max(limit - len(escaped_marker), 0)
    keep = min(len(text), budget)
    while keep > 0:
        candidate = escape(text[:keep].rstrip())
        if len(candidate) <= budget:
            return candidate + escaped_marker
        keep -= max(1, (len(candidate) - budget) // 2)
    return escaped_marker[:limit]


def iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class View:
    """The message content every channel renders, all fields already `clean()`ed."""

    notification_id: str
    incident_id: str
    event: Event
    verb: str
    severity: str
    status: str
    title: str
    summary: str
    excerpt: str  # evidence excerpt of the most recent finding, cut to the channel's max_text_chars
    app: str
    env: str
    model: str
    provider: str
    detector: str
    category: str
    finding_count: int
    first_seen: str
    last_seen: str
    dashboard_url: str
    runbook_url: str
    acknowledged_by: str
    trace_id: str

    @property
    def headline(self) -> str:
        return f"[{self.severity.upper()}] {self.verb}: {self.title}"

    def facts(self) -> list[tuple[str, str]]:
        """Label/value pairs for Slack fields, a Teams FactSet or an email table; empty values left out."""
        pairs = [
            ("Severity", self.severity),
            ("Status", self.status),
            ("App", self.app),
            ("Environment", self.env),
            ("Model", self.model),
            ("Provider", self.provider),
            ("Detector", self.detector),
            ("Category", self.category),
            ("Findings", str(self.finding_count)),
            ("First seen", self.first_seen),
            ("Last seen", self.last_seen),
            ("Acknowledged by", self.acknowledged_by),
            ("Trace", self.trace_id),
        ]
        return [(k, v) for k, v in pairs if v]


def latest_evidence(incident: Incident) -> tuple[str, str]:
    """(excerpt, trace_id) of the most recent sample finding that has evidence."""
    for sample in reversed(incident.samples):
        evidence = sample.get("evidence") if isinstance(sample, dict) else None
        if isinstance(evidence, dict) and (evidence.get("excerpt") or evidence.get("trace_id")):
            return str(evidence.get("excerpt") or ""), str(evidence.get("trace_id") or "")
    return "", ""


def build_view(notification: Notification, *, dashboard_url: str = "", max_text_chars: int = 3000) -> View:
    incident = notification.incident
    labels = incident.labels
    excerpt, trace_id = latest_evidence(incident)
    return View(
        notification_id=notification.id,
        incident_id=incident.id,
        event=notification.event,
        verb=VERBS.get(notification.event, str(notification.event.value).title()),
        severity=clean(incident.severity, single_line=True) or "info",
        status=clean(incident.status.value, single_line=True),
        title=truncate(clean(incident.title[:1000], single_line=True), 250) or "Watchkeeper incident",
        # Cut before cleaning (with room for removed characters): cleaning 100 KB costs milliseconds.
        summary=truncate(clean(incident.summary[: max_text_chars * 2]), max_text_chars),
        excerpt=truncate(clean(excerpt[: max_text_chars * 2]), max_text_chars),
        app=clean(labels.get("app", ""), single_line=True),
        env=clean(labels.get("env", ""), single_line=True),
        model=clean(labels.get("model", ""), single_line=True),
        provider=clean(labels.get("provider", ""), single_line=True),
        detector=clean(labels.get("detector", ""), single_line=True),
        category=clean(labels.get("category", ""), single_line=True),
        finding_count=int(incident.finding_count),
        first_seen=iso(incident.first_seen),
        last_seen=iso(incident.last_seen),
        dashboard_url=notification.dashboard_url or dashboard_url,
        runbook_url=clean(incident.annotations.get("runbook_url", ""), single_line=True),
        acknowledged_by=clean(incident.acknowledged_by or "", single_line=True),
        trace_id=clean(trace_id, single_line=True),
    )


def plain_text(view: View) -> str:
    """The medium-neutral text body (console, email text part, chat fallbacks)."""
    lines = [view.headline, ""]
    if view.summary:
        lines += [view.summary, ""]
    lines += [f"{k}: {v}" for k, v in view.facts()]
    if view.excerpt:
        lines += ["", "Evidence:", view.excerpt]
    if view.runbook_url:
        lines += ["", f"Runbook: {view.runbook_url}"]
    if view.dashboard_url:
        lines += ["", f"Open in Watchkeeper: {view.dashboard_url}"]
    return "\n".join(lines)


def bounded(value: Any, max_text_chars: int) -> Any:
    """A JSON-ready copy of `value` with long strings cut (machine payloads: webhook, PagerDuty details)."""
    if isinstance(value, str):
        return truncate(value, max_text_chars)
    if isinstance(value, dict):
        return {str(k): bounded(v, max_text_chars) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bounded(v, max_text_chars) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return truncate(str(value), max_text_chars)

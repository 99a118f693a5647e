"""Ingest: store findings (deduplicated by id) and fold them into open incidents, in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from watchkeeper.alerts.incidents import OpenIncident, incident_id, routing_labels
from watchkeeper.alerts.routing import Route
from watchkeeper.alerts.store.feedback import FeedbackMixin
from watchkeeper.alerts.store.rows import IngestResult, dumps, incident_row
from watchkeeper.core import metrics
from watchkeeper.core.findings import Finding


def _finding_row(f: Finding, incident_id: str, now: float) -> tuple[Any, ...]:
    return (
        f.id,
        incident_id,
        f.detector,
        f.category,
        f.severity.value,
        f.labels.get("app"),
        f.time,
        now,
        f.summary,
        f.to_json().decode(),
    )


class IngestMixin(FeedbackMixin):
    """Writes findings, incidents and the receivers' group timers (targets) of new incidents."""

    def ingest(self, findings: Sequence[Finding]) -> IngestResult:
        """Store findings and fold them into incidents in one transaction; replays have no second effect."""
        result = IngestResult()
        if not findings:
            return result
        with self._lock:
            now = self.clock.now()
            unique: dict[str, Finding] = {}
            for f in findings:
                unique.setdefault(f.id, f)
            result.duplicates = len(findings) - len(unique)
            known = self._existing_finding_ids(list(unique))
            result.duplicates += len(known)
            touched: dict[str, OpenIncident] = {}
            created: list[tuple[OpenIncident, list[Route]]] = []
            finding_rows: list[tuple[Any, ...]] = []
            suppressed: list[tuple[str, str, float]] = []
            for f in unique.values():
                if f.id in known:
                    continue
                muted_by = self.suppression_for(f, now)
                if muted_by is not None:  # a near-duplicate of a false positive: kept, never paged
                    suppressed.append((f.id, muted_by, now))
                    finding_rows.append(_finding_row(f, "", now))
                    continue
                labels = routing_labels(f)
                routes = self.router.match(labels)
                primary = routes[0]
                group_key = primary.group_key(labels)
                inc = self._open.get(group_key)
                if inc is None:
                    inc = OpenIncident.start(
                        incident=self._new_incident_id(group_key, f.time),
                        group_key=group_key,
                        route=primary.path,
                        finding=f,
                        labels=labels,
                        annotations=primary.annotations,
                        now=now,
                    )
                    self._open[group_key] = inc
                    self._open_by_id[inc.id] = inc
                    created.append((inc, routes))
                else:
                    inc.add(f, labels, now)
                touched[inc.id] = inc
                finding_rows.append(_finding_row(f, inc.id, now))
            result.accepted = len(finding_rows)
            result.incidents_created = len(created)
            if not finding_rows:
                return result
            try:
                with self._tx() as db:
                    db.executemany(
                        "INSERT OR IGNORE INTO findings VALUES (?,?,?,?,?,?,?,?,?,?)", finding_rows
                    )
                    if suppressed:
                        self._mark_suppressed(db, suppressed)
                    new_ids = {inc.id for inc, _ in created}
                    db.executemany(
                        "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        [incident_row(inc, now) for inc in touched.values() if inc.id in new_ids],
                    )
                    db.executemany(
                        "UPDATE incidents SET severity=?, summary=?, labels=?, annotations=?, first_seen=?, "
                        "last_seen=?, last_received_at=?, finding_count=?, severity_counts=?, updated_at=? "
                        "WHERE id=?",
                        [
                            (
                                i.severity,
                                i.summary,
                                dumps(i.labels),
                                dumps(i.annotations),
                                i.first_seen,
                                i.last_seen,
                                i.last_received_at,
                                i.finding_count,
                                dumps(i.severity_counts),
                                now,
                                i.id,
                            )
                            for i in touched.values()
                            if i.id not in new_ids
                        ],
                    )
                    target_rows = []
                    for inc, routes in created:
                        seen: set[str] = set()
                        for route in routes:
                            if route.receiver in seen:
                                continue
                            seen.add(route.receiver)
                            target_rows.append(
                                (
                                    inc.id,
                                    route.receiver,
                                    route.path,
                                    route.group_wait,
                                    route.group_interval,
                                    route.repeat_interval,
                                    int(route.send_resolved),
                                    now + route.group_wait,
                                )
                            )
                    db.executemany(
                        "INSERT OR IGNORE INTO targets (incident_id, receiver, route, group_wait, "
                        "group_interval, "
                        "repeat_interval, send_resolved, next_flush_at) VALUES (?,?,?,?,?,?,?,?)",
                        target_rows,
                    )
            except BaseException:
                # The cache ran ahead of the database: rebuild it from the committed state.
                self._open.clear()
                self._open_by_id.clear()
                self._load_open()
                raise
        for f_id, _, _ in suppressed:
            metrics.FINDINGS_SUPPRESSED.labels(detector=unique[f_id].detector).inc()
        result.suppressed = len(suppressed)
        if created:
            self.refresh_gauges()
        return result

    def _existing_finding_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        db = self._conn()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in db.execute(f"SELECT id FROM findings WHERE id IN ({marks})", chunk))
        return found

    def _new_incident_id(self, group_key: str, first_seen: float) -> str:
        db = self._conn()
        salt = 0
        while True:
            candidate = incident_id(group_key, first_seen, salt)
            if db.execute("SELECT 1 FROM incidents WHERE id=?", (candidate,)).fetchone() is None:
                return candidate
            salt += 1

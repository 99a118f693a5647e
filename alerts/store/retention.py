"""Retention: drop old findings and finished outbox rows so the SQLite file stays bounded."""

from __future__ import annotations

from watchkeeper.alerts.store.database import StoreBase


class RetentionMixin(StoreBase):
    """Housekeeping the stage runs periodically."""

    def prune(self) -> int:
        """Drop findings and finished outbox rows older than the retention; keeps the file bounded."""
        cutoff = self.clock.now() - self.cfg.findings_retention_hours * 3600.0
        with self._lock, self._tx() as db:
            n = db.execute(
                "DELETE FROM findings WHERE received_at < ? AND incident_id NOT IN "
                "(SELECT id FROM incidents WHERE status != 'resolved')",
                (cutoff,),
            ).rowcount
            n += db.execute(
                "DELETE FROM outbox WHERE status IN ('sent','suppressed','superseded') AND updated_at < ?",
                (cutoff,),
            ).rowcount
        return n

"""An example channel plug-in: appends each notification as one JSON line to a file.

Configured per receiver as `jsonl_file_configs: [{path: /var/log/watchkeeper/pages.jsonl}]`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from watchkeeper.alerts.channels.base import Channel, ChannelContext, ChannelPlugin, DeliveryResult
from watchkeeper.alerts.model import Notification


class JsonlFileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path


class JsonlFileChannel(Channel):
    kind = "jsonl_file"

    def __init__(self, config: JsonlFileConfig, context: ChannelContext) -> None:
        self.path = config.path
        self.destination_key = f"jsonl_file:{config.path}"
        self._lock = threading.Lock()

    def send(self, notification: Notification, timeout_s: float = 10.0) -> DeliveryResult:
        line = {
            "id": notification.id,
            "event": notification.event.value,
            "title": notification.incident.title,
            "severity": notification.incident.severity,
            "url": notification.dashboard_url,
        }
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(line) + "\n")
        except OSError as exc:
            return DeliveryResult(ok=False, retryable=True, error=f"cannot write {self.path}: {exc.strerror}")
        return DeliveryResult.success()


plugin = ChannelPlugin(config_key="jsonl_file_configs", config_class=JsonlFileConfig, create=JsonlFileChannel)

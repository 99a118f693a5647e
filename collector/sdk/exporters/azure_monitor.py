"""Send spans to Azure Monitor / Application Insights as well, for teams that already watch it.

We use the bare `AzureMonitorTraceExporter`, not `configure_azure_monitor()`: the distro installs a
rate-limited sampler (5 traces/s, it drops model calls), live metrics, offline storage on disk, statsbeat
telemetry to Microsoft, an Azure VM metadata probe and log exporting that feeds on its own INFO lines. Here
sampling stays with our TracerProvider (always on) and every one of those side channels is switched off.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from watchkeeper.collector.sdk.exporters import ExporterOptions, ExporterPlugin

CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"

#: Environment switches read by the exporter package itself (set only when the user has not chosen).
_QUIET_ENV = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # no statsbeat (and no VM metadata probe it makes)
    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",  # no customer sdk-stats metrics pipeline
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",  # no remote configuration polling
}
#: Loggers that write a line per HTTP request at INFO: exporting those would export themselves forever.
_CHATTY_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.monitor.opentelemetry.exporter",
    "azure.identity",
)


def azure_monitor_exporter(connection_string: str | None = None, **kwargs: Any) -> SpanExporter:
    """An AzureMonitorTraceExporter with offline storage off; `kwargs` pass through (timeout, ...)."""
    connection_string = connection_string or os.environ.get(CONNECTION_STRING_ENV)
    if not connection_string:
        raise ValueError(
            f"the azure_monitor exporter needs a connection string: pass azure_connection_string=... "
            f"or set {CONNECTION_STRING_ENV}"
        )
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in _CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        if chatty.level == logging.NOTSET:
            chatty.setLevel(logging.WARNING)
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

    kwargs.setdefault("disable_offline_storage", True)
    return AzureMonitorTraceExporter(connection_string=connection_string, **kwargs)


def _create(options: ExporterOptions) -> tuple[SpanExporter, str]:
    return azure_monitor_exporter(options.azure_connection_string), "azure_monitor"


plugin = ExporterPlugin(create=_create)

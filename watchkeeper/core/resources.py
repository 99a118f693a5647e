"""Process resources the daemon sizes at start: the open-files limit, and connection caps that fit in it.

systemd (and most shells) start services with a soft limit of 1024 open files and a much higher hard limit;
every connection costs one, so 1,100 idle sockets would leave the daemon unable to accept anything (not even
its health check) or to open its own files. The soft limit is raised to the hard one, as nginx and most
servers do, and the connection caps are kept below it with room for the daemon's own files.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)

#: Descriptors kept for the daemon itself: SQLite files and their WAL/shm, the bus, Kafka sockets, outbound
#: notification connections, log files.
RESERVED_FDS = 256


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft if soft != resource.RLIM_INFINITY else target
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. a hard limit above the kernel's nr_open
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
        return soft
    log.info("open-files limit raised from %d to %d (the hard limit)", soft, target)
    return target


def fit_connection_caps(caps: dict[str, int], limit: int) -> dict[str, int]:
    """Scale the listeners' connection caps down (proportionally) when together they exceed what `limit`
    open files allow after RESERVED_FDS; warn naming the keys and the fix."""
    room = max(len(caps), limit - RESERVED_FDS)
    total = sum(caps.values())
    if total <= room:
        return dict(caps)
    fitted = {key: max(1, cap * room // total) for key, cap in caps.items()}
    log.warning(
        "the connection caps (%s) need more open files than the limit of %d allows: using %s. Raise the "
        "limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower the caps",
        ", ".join(f"{k}={v}" for k, v in caps.items()),
        limit,
        ", ".join(f"{k}={v}" for k, v in fitted.items()),
    )
    return fitted

"""Commands that act on the running daemon through its REST API (like `amtool --alertmanager.url`).

Every command here reads or changes live state: incidents, silences, dead letters, approvals, feedback and
recorded calls. They never open the state directory, so they work against a daemon on another host, another
state directory or another port, and a daemon that cannot be reached is an error that says how to point the
command at it (`--url` / `WATCHKEEPER_URL`, `--token-file` / `WATCHKEEPER_TOKEN`).
"""

"""Alertmanager's configuration dialect, read into the alerts section's own shape.

An SRE pastes `global`, `route`, `receivers`, `inhibit_rules`, `time_intervals`, `mute_time_intervals` and
`templates` as Alertmanager's docs write them. `translate` rewrites the spellings that differ (`match` and
`match_re` to `matchers`, `api_url` to `url`, `smarthost` to `host`/`port`, `global` defaults into each
receiver, the old top-level `mute_time_intervals` into `time_intervals`) and returns a `Note` for every key
Watchkeeper does not implement. What is left is validated by `AlertsConfig` as usual, so a typo stays an
error.

A note is a warning when ignoring the key changes only how a message looks (templates, titles, colours); it
is an error when ignoring it would change whether or where a notification is delivered (a receiver kind
Watchkeeper lacks, PagerDuty's Events API v1 key, HTTP auth or proxies per receiver). Errors fail the
configuration, listed together; warnings are printed by `alerts check-config` and logged at start.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from watchkeeper.alerts.matchers import MatcherError, parse_matcher, split_matchers

ERROR: Literal["error"] = "error"
WARNING: Literal["warning"] = "warning"

#: top-level keys of an Alertmanager file; a config file holding these (and no `alerts:`) is one
ALERTMANAGER_TOP_KEYS = frozenset(
    {"global", "route", "receivers", "inhibit_rules", "templates", "time_intervals", "mute_time_intervals"}
)

_TEMPLATES = "Go templates are not evaluated; Watchkeeper renders each channel's message itself"
_LAYOUT = "the message layout is Watchkeeper's ({kind}); this key is ignored"
_NO_RECEIVER = (
    "Watchkeeper has no {kind} receiver, so notifications routed here would be lost; remove it, or deliver "
    "through webhook_configs, slack_configs, teams_configs, pagerduty_configs, opsgenie_configs, "
    "email_configs or alertmanager_configs"
)
_HTTP_CONFIG = (
    "per-receiver HTTP settings (auth, proxy, TLS client certificates, OAuth2) are not implemented, so "
    "deliveries that need them would fail; remove it (a proxy: set HTTPS_PROXY in the daemon's environment)"
)
_UNUSED_RECEIVERS = {
    "discord_configs": "Discord",
    "wechat_configs": "WeChat",
    "pushover_configs": "Pushover",
    "victorops_configs": "VictorOps",
    "sns_configs": "Amazon SNS",
    "telegram_configs": "Telegram",
    "webex_configs": "Webex",
    "msteamsv2_configs": "Microsoft Teams (v2)",
    "jira_configs": "Jira",
    "rocketchat_configs": "Rocket.Chat",
}
_GLOBAL_UNUSED = {
    "wechat_api_url": "WeChat",
    "wechat_api_secret": "WeChat",
    "wechat_api_corp_id": "WeChat",
    "victorops_api_url": "VictorOps",
    "victorops_api_key": "VictorOps",
    "victorops_api_key_file": "VictorOps",
    "telegram_api_url": "Telegram",
    "webex_api_url": "Webex",
    "jira_api_url": "Jira",
    "rocketchat_api_url": "Rocket.Chat",
    "rocketchat_token": "Rocket.Chat",
    "rocketchat_token_id": "Rocket.Chat",
}
_GLOBAL_USED = {
    "resolve_timeout",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "opsgenie_api_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "smtp_from",
    "smtp_smarthost",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_require_tls",
    "smtp_hello",
    "smtp_auth_identity",
    "smtp_auth_secret",
    "http_config",
}
_SLACK_LAYOUT = (
    "title", "title_link", "text", "pretext", "color", "fields", "short_fields", "footer", "fallback",
    "callback_id", "actions", "image_url", "thumb_url", "link_names", "mrkdwn_in", "message_text",
)  # fmt: skip
_PAGERDUTY_LAYOUT = ("description", "details", "severity", "class", "component", "group", "links", "images")
_OPSGENIE_LAYOUT = ("message", "description", "details", "note", "entity", "actions", "update_alerts")
_EMAIL_LAYOUT = ("html", "text", "headers")


@dataclass(frozen=True, slots=True)
class Note:
    """One key Watchkeeper does not implement: where, why and whether the configuration still loads."""

    path: str
    why: str
    level: Literal["error", "warning"]

    def __str__(self) -> str:
        return f"not supported: {self.path}: {self.why}"


def looks_like_alertmanager_file(data: Mapping[str, Any]) -> bool:
    """A whole Alertmanager file (route/receivers at the top) rather than a watchkeeper.yaml."""
    return "alerts" not in data and bool(ALERTMANAGER_TOP_KEYS & set(data)) and "route" in data


#: keys only Alertmanager's spelling has: a section holding one was written for Alertmanager
_ALERTMANAGER_ONLY = frozenset(
    {
        "global", "templates", "match", "match_re", "source_match", "source_match_re", "target_match",
        "target_match_re", "api_url", "api_url_file", "smarthost", "max_alerts", "service_key",
        "auth_username", "auth_password", "auth_password_file", "require_tls", "http_config",
        "msteams_configs", *_UNUSED_RECEIVERS,
    }
)  # fmt: skip
_WEBHOOK_FORMAT = (
    "the body is Watchkeeper's incident JSON, not Alertmanager's webhook payload; set format: alertmanager "
    "for Alertmanager's (version 4), or format: watchkeeper to keep this one"
)


def _alertmanager_spelled(value: Any) -> bool:
    if isinstance(value, Mapping):
        return bool(_ALERTMANAGER_ONLY & set(value)) or any(_alertmanager_spelled(v) for v in value.values())
    if isinstance(value, list):
        return any(_alertmanager_spelled(v) for v in value)
    return False


def translate(section: Mapping[str, Any], prefix: str = "alerts") -> tuple[dict[str, Any], list[Note]]:
    """The alerts section with Alertmanager spellings rewritten, and the notes on what is not supported."""
    data = copy.deepcopy(dict(section))
    notes: list[Note] = []
    spelled = _alertmanager_spelled(data)
    defaults = _global(data, prefix, notes)
    if spelled:
        defaults["__alertmanager__"] = True
    if "templates" in data:
        templates = data.pop("templates")
        if templates:
            notes.append(Note(f"{prefix}.templates", _TEMPLATES, WARNING))
    _time_intervals(data, prefix, notes)
    route = data.get("route")
    if isinstance(route, dict):
        if route.get("continue"):
            notes.append(
                Note(
                    f"{prefix}.route.continue", "the root route cannot continue: it is the last resort", ERROR
                )
            )
        _route(route, f"{prefix}.route")
    for rule in data.get("inhibit_rules") or []:
        if isinstance(rule, dict):
            for side in ("source", "target"):
                _fold_match(rule, f"{side}_match", f"{side}_match_re", f"{side}_matchers")
    for i, receiver in enumerate(data.get("receivers") or []):
        if isinstance(receiver, dict):
            _receiver(receiver, f"{prefix}.receivers[{i}]", defaults, notes)
    return data, notes


# --------------------------------------------------------------------------------------------- global
def _global(data: dict[str, Any], prefix: str, notes: list[Note]) -> dict[str, Any]:
    glob = data.pop("global", None)
    if not isinstance(glob, dict):
        return {}
    key = f"{prefix}.global"
    out: dict[str, Any] = {}
    for name in list(glob):
        if name in _GLOBAL_UNUSED:
            notes.append(
                Note(f"{key}.{name}", f"Watchkeeper has no {_GLOBAL_UNUSED[name]} receiver; unused", WARNING)
            )
        elif name not in _GLOBAL_USED:
            notes.append(
                Note(f"{key}.{name}", "not an Alertmanager global setting: check its spelling", ERROR)
            )
    if "resolve_timeout" in glob:
        if "resolve_timeout" in data:
            notes.append(
                Note(
                    f"{key}.resolve_timeout", f"also set as {prefix}.resolve_timeout; keep one of them", ERROR
                )
            )
        else:
            data["resolve_timeout"] = glob["resolve_timeout"]
    if glob.get("http_config"):
        notes.append(Note(f"{key}.http_config", _HTTP_CONFIG, ERROR))
    for name in ("smtp_auth_identity", "smtp_auth_secret"):
        if glob.get(name):
            notes.append(Note(f"{key}.{name}", _SMTP_AUTH_NOTE, WARNING))
    if glob.get("smtp_hello"):
        notes.append(Note(f"{key}.smtp_hello", _HELLO_NOTE, WARNING))
    out.update({k: v for k, v in glob.items() if k in _GLOBAL_USED and v not in (None, "")})
    return out


_SMTP_AUTH_NOTE = "CRAM-MD5 and a PLAIN identity are not implemented; username and password are used"
_HELLO_NOTE = "the SMTP greeting is the host's name; this key is ignored"


# ----------------------------------------------------------------------------------------- intervals
def _time_intervals(data: dict[str, Any], prefix: str, notes: list[Note]) -> None:
    """Alertmanager's older top-level `mute_time_intervals` block is the same thing as `time_intervals`."""
    old = data.pop("mute_time_intervals", None)
    if not old:
        return
    if not isinstance(old, list):
        data["mute_time_intervals"] = old  # let validation name the shape problem
        return
    merged = list(old) + list(data.get("time_intervals") or [])
    data["time_intervals"] = merged


# --------------------------------------------------------------------------------------------- routes
def _quote(value: Any) -> str:
    return json.dumps("" if value is None else str(value))


def _fold_match(node: dict[str, Any], eq_key: str, re_key: str, out_key: str) -> None:
    """`match: {k: v}` -> `k="v"`; `match_re: {k: re}` -> `k=~"re"` (anchored, as Alertmanager does)."""
    folded: list[str] = []
    for key, op in ((eq_key, "="), (re_key, "=~")):
        if key not in node:
            continue
        value = node.pop(key)
        if not isinstance(value, dict):
            node[key] = value  # not a mapping: validation names the unknown key
            continue
        folded += [f"{name}{op}{_quote(v)}" for name, v in value.items()]
    existing = node.get(out_key)
    if isinstance(existing, list):
        # One Alertmanager matcher string may hold several (`{a="b", c=~"d"}` or `a=b,c=d`).
        expanded: list[Any] = []
        for item in existing:
            expanded += split_matchers(item) if isinstance(item, str) and _has_comma(item) else [item]
        existing = expanded
    if folded:
        node[out_key] = folded + (existing if isinstance(existing, list) else [])
    elif isinstance(existing, list):
        node[out_key] = existing


def _has_comma(text: str) -> bool:
    stripped = text.strip()
    return (stripped.startswith("{") and stripped.endswith("}")) or len(split_matchers(stripped)) > 1


def _route(node: dict[str, Any], key: str) -> None:
    _fold_match(node, "match", "match_re", "matchers")
    for i, child in enumerate(node.get("routes") or []):
        if isinstance(child, dict):
            _route(child, f"{key}.routes[{i}]")


# ------------------------------------------------------------------------------------------ receivers
def _receiver(receiver: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> None:
    for kind, label in _UNUSED_RECEIVERS.items():
        if receiver.get(kind):
            notes.append(Note(f"{key}.{kind}", _NO_RECEIVER.format(kind=label), ERROR))
            receiver.pop(kind)
        elif kind in receiver:
            receiver.pop(kind)  # an empty list delivers nothing either way
    if "msteams_configs" in receiver:
        entries = receiver.pop("msteams_configs") or []
        teams = receiver.setdefault("teams_configs", [])
        for j, entry in enumerate(entries):
            teams.append(_msteams(entry, f"{key}.msteams_configs[{j}]", notes))
    edits = {
        "slack_configs": _slack,
        "webhook_configs": _webhook,
        "email_configs": _email,
        "pagerduty_configs": _pagerduty,
        "opsgenie_configs": _opsgenie,
    }
    for kind, edit in edits.items():
        entries = receiver.get(kind)
        if not isinstance(entries, list):
            continue
        kept = []
        for j, entry in enumerate(entries):
            # An entry that cannot deliver (already an error note) is dropped, so it adds no second error.
            if not isinstance(entry, dict) or edit(entry, f"{key}.{kind}[{j}]", defaults, notes) is not False:
                kept.append(entry)
        receiver[kind] = kept


def _rename(entry: dict[str, Any], old: str, new: str, key: str, notes: list[Note]) -> None:
    if old not in entry:
        return
    if new in entry:
        notes.append(Note(f"{key}.{old}", f"{old} and {new} are both set; keep one of them", ERROR))
        entry.pop(old)
        return
    entry[new] = entry.pop(old)


def _drop(entry: dict[str, Any], names: Collection[str], key: str, why: str, notes: list[Note]) -> None:
    for name in names:
        if name in entry:
            value = entry.pop(name)
            if value not in (None, "", [], {}):
                notes.append(Note(f"{key}.{name}", why, WARNING))


def _http_config(entry: dict[str, Any], key: str, notes: list[Note]) -> None:
    if entry.pop("http_config", None):
        notes.append(Note(f"{key}.http_config", _HTTP_CONFIG, ERROR))


def _slack(entry: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> None:
    dialect = "api_url" in entry or "api_url_file" in entry
    _rename(entry, "api_url", "url", key, notes)
    _rename(entry, "api_url_file", "url_file", key, notes)
    if not any(k in entry for k in ("url", "url_file", "url_env")):
        dialect = True
        if "slack_api_url" in defaults:
            entry["url"] = defaults["slack_api_url"]
        elif "slack_api_url_file" in defaults:
            entry["url_file"] = defaults["slack_api_url_file"]
    if dialect:
        entry.setdefault("send_resolved", False)  # Alertmanager's default for Slack
    _http_config(entry, key, notes)
    _drop(entry, _SLACK_LAYOUT, key, _LAYOUT.format(kind="Block Kit with the incident's fields"), notes)


def _webhook(entry: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> None:
    if defaults.get("__alertmanager__") and "format" not in entry:
        notes.append(Note(f"{key}.format", _WEBHOOK_FORMAT, WARNING))
    _http_config(entry, key, notes)
    max_alerts = entry.pop("max_alerts", None)
    if max_alerts is not None and (isinstance(max_alerts, bool) or not isinstance(max_alerts, int)):
        notes.append(Note(f"{key}.max_alerts", "must be a whole number (0 = no limit)", ERROR))
    # max_alerts >= 1 always holds: each message carries one incident.
    if "timeout" in entry:
        entry.pop("timeout")
        notes.append(Note(f"{key}.timeout", "the send timeout is alerts.outbox.send_timeout_s", WARNING))


def _email(entry: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> None:
    dialect = "host" not in entry
    smarthost = entry.pop("smarthost", None) or (defaults.get("smtp_smarthost") if dialect else None)
    if smarthost is not None:
        host, sep, port = str(smarthost).rpartition(":")
        if not sep or not host or not port.isdigit():
            notes.append(
                Note(f"{key}.smarthost", f"{smarthost!r} is not host:port (e.g. smtp.example.com:587)", ERROR)
            )
        else:
            entry["host"], entry["port"] = host.strip("[]"), int(port)
    if dialect:
        if "from" not in entry and "smtp_from" in defaults:
            entry["from"] = defaults["smtp_from"]
        if "auth_username" not in entry and "smtp_auth_username" in defaults:
            entry["auth_username"] = defaults["smtp_auth_username"]
        if not any(k in entry for k in ("auth_password", "auth_password_file")):
            if "smtp_auth_password" in defaults:
                entry["auth_password"] = defaults["smtp_auth_password"]
            elif "smtp_auth_password_file" in defaults:
                entry["auth_password_file"] = defaults["smtp_auth_password_file"]
        require_tls = entry.pop("require_tls", defaults.get("smtp_require_tls", True))
        if "security" not in entry:
            # Alertmanager: port 465 is implicit TLS; otherwise STARTTLS, required unless require_tls: false.
            entry["security"] = "tls" if entry.get("port") == 465 else ("starttls" if require_tls else "none")
            if entry["security"] == "none":
                entry.setdefault("allow_insecure", True)  # the Alertmanager file chose plain SMTP itself
        entry.setdefault("send_resolved", False)  # Alertmanager's default for email
    _rename(entry, "auth_username", "username", key, notes)
    _rename(entry, "auth_password", "password", key, notes)
    _rename(entry, "auth_password_file", "password_file", key, notes)
    if isinstance(entry.get("to"), str):
        entry["to"] = [a.strip() for a in entry["to"].split(",") if a.strip()]
    tls = entry.pop("tls_config", None)
    if isinstance(tls, dict):
        if tls.get("ca_file"):
            entry["ca_file"] = tls["ca_file"]
        if tls.get("insecure_skip_verify"):
            entry["tls_verify"] = False
        extra = sorted(k for k, v in tls.items() if k not in ("ca_file", "insecure_skip_verify") and v)
        for name in extra:
            notes.append(
                Note(
                    f"{key}.tls_config.{name}", "only ca_file and insecure_skip_verify are implemented", ERROR
                )
            )
    for name in ("auth_identity", "auth_secret"):
        if entry.pop(name, None):
            notes.append(Note(f"{key}.{name}", _SMTP_AUTH_NOTE, WARNING))
    if entry.pop("hello", None):
        notes.append(Note(f"{key}.hello", _HELLO_NOTE, WARNING))
    _drop(entry, _EMAIL_LAYOUT, key, _LAYOUT.format(kind="text + HTML with the incident's fields"), notes)


def _pagerduty(entry: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> bool:
    v1 = any(entry.pop(k, None) for k in ("service_key", "service_key_file"))
    if v1:
        notes.append(
            Note(
                f"{key}.service_key",
                "PagerDuty's Events API v1 is not implemented; add an Events API v2 integration to the "
                "service and set its integration key as routing_key",
                ERROR,
            )
        )
    if "url" not in entry and "pagerduty_url" in defaults:
        entry["url"] = defaults["pagerduty_url"]
    _http_config(entry, key, notes)
    _drop(entry, ("client_url",), key, "the links point at the incident page in Watchkeeper", notes)
    _drop(entry, _PAGERDUTY_LAYOUT, key, _LAYOUT.format(kind="Events API v2 fields from the incident"), notes)
    return not (v1 and not any(k in entry for k in ("routing_key", "routing_key_file", "routing_key_env")))


def _opsgenie(entry: dict[str, Any], key: str, defaults: Mapping[str, Any], notes: list[Note]) -> None:
    if "api_url" not in entry and "opsgenie_api_url" in defaults:
        entry["api_url"] = defaults["opsgenie_api_url"]
    if not any(k in entry for k in ("api_key", "api_key_file", "api_key_env")):
        if "opsgenie_api_key" in defaults:
            entry["api_key"] = defaults["opsgenie_api_key"]
        elif "opsgenie_api_key_file" in defaults:
            entry["api_key_file"] = defaults["opsgenie_api_key_file"]
    if isinstance(entry.get("tags"), str):
        entry["tags"] = [t.strip() for t in entry["tags"].split(",") if t.strip()]
    if isinstance(entry.get("responders"), list):
        entry["responders"] = [
            {str(k): str(v) for k, v in r.items() if v is not None} if isinstance(r, dict) else r
            for r in entry["responders"]
        ]
    if entry.pop("priority", None):
        notes.append(
            Note(f"{key}.priority", "the priority follows the severity (critical P1 ... info P5)", WARNING)
        )
    _http_config(entry, key, notes)
    _drop(entry, _OPSGENIE_LAYOUT, key, _LAYOUT.format(kind="alert fields from the incident"), notes)


def _msteams(entry: Any, key: str, notes: list[Note]) -> Any:
    if not isinstance(entry, dict):
        return entry
    _rename(entry, "webhook_url", "url", key, notes)
    _rename(entry, "webhook_url_file", "url_file", key, notes)
    _http_config(entry, key, notes)
    _drop(entry, ("title", "summary", "text"), key, _LAYOUT.format(kind="an Adaptive Card"), notes)
    return entry


# ----------------------------------------------------------------------------------------- label use
def label_warnings(
    route: Any, inhibit_rules: Any, produced: Mapping[str, Collection[str]], prefix: str = "alerts"
) -> list[str]:
    """Warnings for `group_by` / `equal` labels and matchers on labels that no detector's findings carry.

    `produced` maps a detector name to the labels its findings carry (its metadata's `labels`); routing
    adds `severity`. Grouping by a label nobody sets puts every incident of the route into one group; a
    matcher that needs such a label to be non-empty (`alertname="Watchdog"`) never matches."""
    known = {"severity"}.union(*produced.values()) if produced else {"severity"}
    carried = ", ".join(sorted(known))
    out: list[str] = []

    def check(names: Any, key: str, what: str) -> None:
        for name in names or []:
            if name == "..." or name in known:
                continue
            hint = "; Alertmanager's alertname is Watchkeeper's detector" if name == "alertname" else ""
            out.append(
                f"{key}: no detector produces label {name!r}, so {what} (findings carry: {carried}){hint}"
            )

    def never(matchers: Any, key: str) -> None:
        for j, text in enumerate(matchers or []):
            try:
                matcher = parse_matcher(text)
            except MatcherError:
                continue  # reported by validation
            if matcher.name not in known and not matcher.matches({}):
                check([matcher.name], f"{key}[{j}]", "this matcher never matches")

    def visit(node: Any, key: str) -> None:
        check(getattr(node, "group_by", None), f"{key}.group_by", "it does not split groups")
        never(getattr(node, "matchers", None), f"{key}.matchers")
        for i, child in enumerate(getattr(node, "routes", [])):
            visit(child, f"{key}.routes[{i}]")

    visit(route, f"{prefix}.route")
    for i, rule in enumerate(inhibit_rules or []):
        check(getattr(rule, "equal", None), f"{prefix}.inhibit_rules[{i}].equal", "it is empty on both sides")
        for side in ("source_matchers", "target_matchers"):
            never(getattr(rule, side, None), f"{prefix}.inhibit_rules[{i}].{side}")
    return out

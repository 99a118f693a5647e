"""Alertmanager's configuration dialect in the alerts section: how each key maps onto Watchkeeper, what is
reported as not supported (warning or error), mute/active time intervals at flush time, labels no detector
produces, and `alerts check-config` agreeing with the real `amtool check-config` on the same files."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from tests.support.alertmanager import AMTOOL, requires_alertmanager
from tests.support.alerts import Timeline, alerts_config, finding
from tests.support.receivers import WebhookReceiver
from watchkeeper.alerts.amdialect import label_warnings, translate
from watchkeeper.alerts.config import AlertsConfig
from watchkeeper.alerts.routing import Router
from watchkeeper.cli import main
from watchkeeper.core import plugins
from watchkeeper.core.configfile import read_config_file

DATA = Path(__file__).parent / "data" / "alertmanager"
DEBIAN_SAMPLE = Path("/etc/prometheus/alertmanager.yml")  # shipped by Debian's prometheus-alertmanager
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"


def notes_of(section: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n.level, n.path) for n in translate(section)[1]]


# ------------------------------------------------------------------------------------------ mapping
def test_match_and_match_re_become_matchers_and_route_like_alertmanager() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "route": {
                "receiver": "default",
                "routes": [
                    {"match": {"severity": "critical", "app": 'say "hi"'}, "receiver": "pager"},
                    {
                        "match_re": {"app": "billing|checkout"},
                        "receiver": "payments",
                        "matchers": ['env="prod"'],
                    },
                    {"matchers": ['{detector="leakage", env=~"prod|staging"}'], "receiver": "security"},
                ],
            },
            "receivers": [{"name": n} for n in ("default", "pager", "payments", "security")],
        }
    )
    routes = cfg.route.routes
    assert routes[0].matchers == ['severity="critical"', 'app="say \\"hi\\""']
    assert routes[1].matchers == ['app=~"billing|checkout"', 'env="prod"']
    assert routes[2].matchers == ['detector="leakage"', 'env=~"prod|staging"']
    router = Router(cfg.route)

    def receivers(**labels: str) -> list[str]:
        return [r.receiver for r in router.match_uncached(labels)]

    assert receivers(severity="critical", app='say "hi"') == ["pager"]
    assert receivers(app="billing", env="prod") == ["payments"]
    assert receivers(app="billing-eu", env="prod") == ["default"]  # match_re is anchored, as in Alertmanager
    assert receivers(detector="leakage", env="staging") == ["security"]


def test_inhibit_rules_source_and_target_match() -> None:
    cfg = alerts_config(
        {
            "inhibit_rules": [
                {"source_match": {"severity": "critical"}, "target_match_re": {"severity": "warning|info"}},
                {"source_matchers": ['detector="operational"'], "target_match": {"detector": "drift"}},
            ]
        }
    )
    assert cfg.inhibit_rules[0].source_matchers == ['severity="critical"']
    assert cfg.inhibit_rules[0].target_matchers == ['severity=~"warning|info"']
    assert cfg.inhibit_rules[1].target_matchers == ['detector="drift"']


def test_global_defaults_fill_each_receiver() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "global": {
                "resolve_timeout": "10m",
                "slack_api_url": SLACK,
                "smtp_smarthost": "smtp.example.org:587",
                "smtp_from": "am@example.org",
                "smtp_auth_username": "am",
                "smtp_auth_password": "pw",
                "pagerduty_url": "https://events.eu.pagerduty.com/v2/enqueue",
                "opsgenie_api_url": "https://api.eu.opsgenie.com/",
                "opsgenie_api_key": "og-key",
            },
            "route": {"receiver": "all"},
            "receivers": [
                {
                    "name": "all",
                    "slack_configs": [{"channel": "#ml", "username": "am", "icon_emoji": ":robot:"}],
                    "email_configs": [{"to": "a@example.org, b@example.org"}],
                    "pagerduty_configs": [{"routing_key": "rk"}],
                    "opsgenie_configs": [{"tags": "ml,llm", "responders": [{"name": "ml", "type": "team"}]}],
                }
            ],
        }
    )
    assert cfg.resolve_timeout == 600
    (rcv,) = cfg.receivers
    slack = rcv.slack_configs[0]
    assert slack.url.get_secret_value() == SLACK
    assert slack.send_resolved is False  # Alertmanager's default for Slack
    assert slack.message_overrides() == {"channel": "#ml", "username": "am", "icon_emoji": ":robot:"}
    mail = rcv.email_configs[0]
    assert (mail.host, mail.port, mail.security) == ("smtp.example.org", 587, "starttls")
    assert mail.from_address == "am@example.org" and mail.to == ["a@example.org", "b@example.org"]
    assert mail.username == "am" and mail.password.get_secret_value() == "pw"
    assert mail.send_resolved is False  # Alertmanager's default for email
    assert rcv.pagerduty_configs[0].url == "https://events.eu.pagerduty.com/v2/enqueue"
    og = rcv.opsgenie_configs[0]
    assert og.api_url == "https://api.eu.opsgenie.com" and og.api_key.get_secret_value() == "og-key"
    assert og.tags == ["ml", "llm"] and og.responders == [{"name": "ml", "type": "team"}]
    assert cfg.unsupported == []


def test_receiver_keys_spelled_as_alertmanager() -> None:
    cfg = AlertsConfig.model_validate(
        {
            "route": {"receiver": "r"},
            "receivers": [
                {
                    "name": "r",
                    "slack_configs": [{"api_url": SLACK, "send_resolved": True}],
                    "webhook_configs": [{"url": "https://hooks.example.org/am", "max_alerts": 5}],
                    "email_configs": [
                        {
                            "to": "x@example.org",
                            "from": "am@example.org",
                            "smarthost": "smtp.example.org:465",
                            "auth_username": "u",
                            "auth_password": "p",
                            "tls_config": {"insecure_skip_verify": True},
                        },
                        {
                            "to": "y@example.org",
                            "from": "am@example.org",
                            "smarthost": "relay.internal:25",
                            "require_tls": False,
                        },
                    ],
                    "msteams_configs": [{"webhook_url": "https://example.webhook.office.com/x"}],
                }
            ],
        }
    )
    (rcv,) = cfg.receivers
    assert rcv.slack_configs[0].url.get_secret_value() == SLACK and rcv.slack_configs[0].send_resolved
    assert rcv.webhook_configs[0].url.get_secret_value() == "https://hooks.example.org/am"
    tls, plain = rcv.email_configs
    assert (tls.port, tls.security, tls.tls_verify, tls.username) == (465, "tls", False, "u")
    assert (plain.host, plain.port, plain.security) == ("relay.internal", 25, "none")  # as the file chose
    assert rcv.teams_configs[0].url.get_secret_value() == "https://example.webhook.office.com/x"
    # Watchkeeper's own spelling keeps Watchkeeper's defaults.
    own = alerts_config({"receivers": [{"name": "default", "slack_configs": [{"url": SLACK}]}]})
    assert own.receivers[0].slack_configs[0].send_resolved is True


def test_old_mute_time_intervals_block_joins_time_intervals() -> None:
    cfg = alerts_config(
        {
            "route": {
                "receiver": "default",
                "routes": [
                    {
                        "matchers": ['app="x"'],
                        "mute_time_intervals": ["nights"],
                        "active_time_intervals": ["q4"],
                    }
                ],
            },
            "mute_time_intervals": [
                {
                    "name": "nights",
                    "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}],
                }
            ],
            "time_intervals": [{"name": "q4", "time_intervals": [{"months": ["october:december"]}]}],
        }
    )
    assert [ti.name for ti in cfg.time_intervals] == ["nights", "q4"]
    child = Router(cfg.route).root.children[0]
    assert child.mute_time_intervals == ("nights",) and child.active_time_intervals == ("q4",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {
                "route": {"receiver": "default", "mute_time_intervals": ["n"]},
                "time_intervals": [{"name": "n"}],
            },
            "root route cannot be muted",
        ),
        (
            {"route": {"receiver": "default", "routes": [{"active_time_intervals": ["nope"]}]}},
            "unknown time interval 'nope'",
        ),
        (
            {"time_intervals": [{"name": "n"}], "mute_time_intervals": [{"name": "n"}]},
            "time interval 'n' is defined more than once",
        ),
        (
            {"time_intervals": [{"name": "n", "time_intervals": [{"weekdays": ["someday"]}]}]},
            "not a valid weekday",
        ),
        ({"route": {"receiver": "default", "continue": True}}, "root route cannot continue"),
        ({"route": {"receiver": "default", "group_by": ["app", "app"]}}, "listed twice"),
        ({"global": {"resolve_timeout": "5m"}, "resolve_timeout": "10m"}, "keep one of them"),
        ({"global": {"slack_api_urll": SLACK}}, "not an Alertmanager global setting"),
    ],
)
def test_config_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        alerts_config(data)


def test_unsupported_keys_warn_or_fail_and_are_all_listed() -> None:
    section = {
        "templates": ["/etc/alertmanager/*.tmpl"],
        "global": {"victorops_api_key": "k", "smtp_hello": "am.example.org"},
        "route": {"receiver": "default"},
        "receivers": [
            {
                "name": "default",
                "slack_configs": [{"api_url": SLACK, "title": "{{ .Status }}", "color": "danger"}],
                "pagerduty_configs": [
                    {"routing_key": "k", "description": "{{ .CommonAnnotations.summary }}"}
                ],
            },
            {"name": "vo", "victorops_configs": [{"routing_key": "sre"}], "discord_configs": []},
            {"name": "pd1", "pagerduty_configs": [{"service_key": "v1-key"}]},
            {
                "name": "hook",
                "webhook_configs": [{"url": "https://h.example.org", "http_config": {"bearer_token": "t"}}],
            },
        ],
    }
    assert notes_of(section) == [
        ("warning", "alerts.global.victorops_api_key"),
        ("warning", "alerts.global.smtp_hello"),
        ("warning", "alerts.templates"),
        ("warning", "alerts.receivers[0].slack_configs[0].title"),
        ("warning", "alerts.receivers[0].slack_configs[0].color"),
        ("warning", "alerts.receivers[0].pagerduty_configs[0].description"),
        ("error", "alerts.receivers[1].victorops_configs"),
        ("error", "alerts.receivers[2].pagerduty_configs[0].service_key"),
        ("warning", "alerts.receivers[3].webhook_configs[0].format"),
        ("error", "alerts.receivers[3].webhook_configs[0].http_config"),
    ]
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate(section)
    text = str(err.value)
    for path in ("victorops_configs:", "service_key:", "http_config:", "slack_configs[0].title:"):
        assert path in text
    assert "this key is ignored (warning)" in text
    assert "routing_key is required" not in text  # the v1 entry is reported once, as what it is
    # Without the three errors, the rest loads and keeps its warnings.
    for receiver in section["receivers"][1:]:
        receiver.clear()
        receiver["name"] = f"r{id(receiver)}"
    cfg = AlertsConfig.model_validate(section)
    assert [n.path for n in cfg.unsupported][-1] == "alerts.receivers[0].pagerduty_configs[0].description"
    assert all(str(n).startswith("not supported: alerts.") for n in cfg.unsupported)


def test_unquoted_alertmanager_times_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "watchkeeper.yaml"
    path.write_text(
        "alerts:\n  time_intervals:\n    - name: office\n      time_intervals:\n"
        "        - times: [{start_time: 09:00, end_time: 17:00}]\n          days_of_month: [1:5]\n"
    )
    section = read_config_file(path)["alerts"]
    spec = section["time_intervals"][0]["time_intervals"][0]
    assert spec["times"][0]["end_time"] == "17:00" and spec["days_of_month"] == ["1:5"]  # not 1020 and 65
    cfg = alerts_config(section)
    (office,) = cfg.time_intervals
    assert office.specs[0].times == ((540, 1020),) and office.specs[0].days_of_month == ((1, 5),)


# ------------------------------------------------------------------------------------ labels in use
def test_group_by_label_no_detector_produces_is_warned() -> None:
    produced = {name: p.metadata.labels for name, p in plugins.load("watchkeeper.detectors").items()}
    cfg = alerts_config(
        {
            "route": {
                "receiver": "default",
                "group_by": ["alertname", "app"],
                "routes": [
                    {"matchers": ['app="x"'], "group_by": ["..."]},
                    {"group_by": ["cluster", "theme"]},
                    {"matchers": ['alertname="Watchdog"', 'team!="db"', 'owner=~"|ml"']},
                ],
            },
            "inhibit_rules": [
                {
                    "source_matchers": ['severity="critical"'],
                    "target_matchers": ['severity="warning"'],
                    "equal": ["service"],
                }
            ],
        }
    )
    warnings = label_warnings(cfg.route, cfg.inhibit_rules, produced)
    assert [w.split(":")[0] for w in warnings] == [
        "alerts.route.group_by",
        "alerts.route.routes[1].group_by",
        "alerts.route.routes[2].matchers[0]",  # team!="db" and owner=~"|ml" match without the label
        "alerts.inhibit_rules[0].equal",
    ]
    assert "this matcher never matches" in warnings[2]
    assert "'alertname'" in warnings[0] and "alertname is Watchkeeper's detector" in warnings[0]
    assert "'cluster'" in warnings[1] and "theme" not in warnings[1].split("(")[0]
    assert label_warnings(alerts_config({}).route, [], produced) == []  # the default grouping is sound


def test_detectors_declare_the_labels_their_findings_carry() -> None:
    """Each built-in's metadata names the labels it sets, so the group_by warning knows them."""
    produced = {name: set(p.metadata.labels) for name, p in plugins.load("watchkeeper.detectors").items()}
    assert {"app", "env", "detector", "category"} <= set.intersection(*produced.values())
    assert "source" in produced["content_safety"]
    assert {"prompt_sha", "param"} <= produced["integrity"]
    assert {"theme", "narrative"} <= produced["topic_injection"] and "model" not in produced[
        "topic_injection"
    ]
    assert "model" not in produced["drift"] and "model" in produced["leakage"]


# ------------------------------------------------------------------------------- time at flush time
@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


MONDAY_0800_UTC = datetime(2026, 5, 4, 8, 0, tzinfo=UTC).timestamp()
TIMING = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
QUIET = {"resolve_timeout": "2h"}  # the incidents stay open through each test


def test_mute_time_interval_holds_notifications_until_it_ends(
    tmp_path: Path, receiver: WebhookReceiver
) -> None:
    cfg = alerts_config(
        {
            "route": {
                "receiver": "default",
                **TIMING,
                "routes": [
                    {"matchers": ['app="billing"'], "receiver": "default", "mute_time_intervals": ["deploys"]}
                ],
            },
            **QUIET,
            "time_intervals": [
                {
                    "name": "deploys",
                    "time_intervals": [{"times": [{"start_time": "08:00", "end_time": "08:20"}]}],
                }
            ],
        }
    )
    tl = Timeline(cfg, tmp_path, receiver, start=MONDAY_0800_UTC)
    try:
        tl.push(finding(app="billing", t=MONDAY_0800_UTC), finding(app="search", t=MONDAY_0800_UTC))
        got: list[tuple[float, str]] = []
        for t, messages in tl.run(until=40 * 60, step=30.0):
            got += [(t, m["labels"]["app"]) for m in messages if m["event"] == "trigger"]
        # search is not muted: group_wait. billing: the flushes at 08:00:30 ... 08:15:30 send nothing; the
        # first flush at or after 08:20 (every group_interval) sends it.
        assert got == [(30.0, "search"), (30.0 + 4 * 300, "billing")]
    finally:
        tl.close()


def test_active_time_interval_sends_only_inside_it(tmp_path: Path, receiver: WebhookReceiver) -> None:
    cfg = alerts_config(
        {
            "route": {
                "receiver": "default",
                **TIMING,
                "routes": [{"matchers": ['app="billing"'], "active_time_intervals": ["office"]}],
            },
            **QUIET,
            "time_intervals": [
                {
                    "name": "office",
                    "time_intervals": [
                        {"times": [{"start_time": "10:30", "end_time": "18:00"}], "location": "Europe/Paris"}
                    ],
                }
            ],
        }
    )
    tl = Timeline(cfg, tmp_path, receiver, start=MONDAY_0800_UTC)  # 10:00 in Paris (CEST)
    try:
        tl.push(finding(app="billing", t=MONDAY_0800_UTC))
        sent = [
            t for t, messages in tl.run(until=45 * 60, step=30.0) for m in messages if m["event"] == "trigger"
        ]
        assert sent == [30.0 + 6 * 300]  # 08:30:30 UTC = 10:30:30 in Paris: the first flush inside
    finally:
        tl.close()


# ------------------------------------------------------------------------- against the real amtool
def amtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=60)


def ours_check(path: Path) -> Any:
    return CliRunner().invoke(main, ["alerts", "check-config", "-c", str(path)])


#: file -> (loads?, the exact "not supported" list: (level, path))
EXPECTED: dict[str, tuple[bool, list[tuple[str, str]]]] = {
    "routing_tree.yml": (
        True,
        [
            ("warning", "alerts.templates"),
            ("warning", "alerts.receivers[0].email_configs[0].html"),
            ("warning", "alerts.receivers[1].pagerduty_configs[0].description"),
            ("warning", "alerts.receivers[1].pagerduty_configs[0].severity"),
            ("warning", "alerts.receivers[2].slack_configs[0].title"),
            ("warning", "alerts.receivers[2].slack_configs[0].text"),
            ("warning", "alerts.receivers[3].webhook_configs[0].format"),
            ("warning", "alerts.receivers[4].opsgenie_configs[0].priority"),
        ],
    ),
    "plain_smtp.yml": (
        True,
        [
            ("warning", "alerts.receivers[0].email_configs[0].headers"),
            ("warning", "alerts.receivers[1].slack_configs[0].color"),
        ],
    ),
    "unsupported_receivers.yml": (
        False,
        [
            ("warning", "alerts.global.victorops_api_key"),
            ("error", "alerts.global.http_config"),
            ("warning", "alerts.receivers[0].email_configs[0].auth_identity"),
            ("error", "alerts.receivers[1].victorops_configs"),
            ("error", "alerts.receivers[2].pagerduty_configs[0].service_key"),
            ("warning", "alerts.receivers[3].webhook_configs[0].format"),
            ("error", "alerts.receivers[3].webhook_configs[0].http_config"),
        ],
    ),
}


@requires_alertmanager
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_config_agrees_with_amtool(name: str) -> None:
    path = DATA / name
    am = amtool_check(path)
    assert am.returncode == 0, am.stdout + am.stderr  # Alertmanager accepts every file of the corpus
    loads, expected = EXPECTED[name]
    assert notes_of(read_config_file(path)) == expected
    ours = ours_check(path)
    assert (ours.exit_code == 0) is loads, ours.output
    for level, key in expected:
        line = next(line for line in ours.output.splitlines() if f"not supported: {key}:" in line)
        assert (level == "warning") is (line.strip().startswith("warning:") or line.endswith("(warning)"))
    assert ours.output.count("not supported: ") == len(expected)
    if loads:
        assert "configuration is valid" in ours.output and "routing tree:" in ours.output


@requires_alertmanager
def test_check_config_on_the_packaged_sample() -> None:
    """Debian's sample alertmanager.yml: PagerDuty Events v1 keys are the only errors."""
    if not DEBIAN_SAMPLE.is_file():
        pytest.skip(f"{DEBIAN_SAMPLE} is not installed (it ships with Debian's prometheus-alertmanager)")
    assert amtool_check(DEBIAN_SAMPLE).returncode == 0
    notes = translate(read_config_file(DEBIAN_SAMPLE))[1]
    assert {n.path.rsplit(".", 1)[-1] for n in notes if n.level == "error"} == {"service_key"}
    assert [n.path for n in notes if n.level == "warning"] == ["alerts.templates"]
    ours = ours_check(DEBIAN_SAMPLE)
    assert ours.exit_code == 1 and ours.output.count("service_key: PagerDuty's Events API v1") == 3


BAD: dict[str, dict[str, Any]] = {
    "undefined receiver": {"route": {"receiver": "nobody"}, "receivers": [{"name": "a"}]},
    "undefined time interval": {
        "route": {"receiver": "a", "routes": [{"receiver": "a", "mute_time_intervals": ["never-defined"]}]},
        "receivers": [{"name": "a"}],
    },
    "mute on the root": {
        "route": {"receiver": "a", "mute_time_intervals": ["n"]},
        "receivers": [{"name": "a"}],
        "time_intervals": [{"name": "n", "time_intervals": [{"weekdays": ["sunday"]}]}],
    },
    "continue on the root": {"route": {"receiver": "a", "continue": True}, "receivers": [{"name": "a"}]},
    "matchers on the root": {
        "route": {"receiver": "a", "matchers": ['app="x"']},
        "receivers": [{"name": "a"}],
    },
    "duplicate receiver": {"route": {"receiver": "a"}, "receivers": [{"name": "a"}, {"name": "a"}]},
    "bad time": {
        "route": {"receiver": "a"},
        "receivers": [{"name": "a"}],
        "time_intervals": [
            {"name": "n", "time_intervals": [{"times": [{"start_time": "08:00", "end_time": "25:00"}]}]}
        ],
    },
    "time interval twice": {
        "route": {"receiver": "a"},
        "receivers": [{"name": "a"}],
        "time_intervals": [{"name": "n", "time_intervals": []}],
        "mute_time_intervals": [{"name": "n", "time_intervals": []}],
    },
    "bad regex": {
        "route": {"receiver": "a", "routes": [{"match_re": {"app": "("}}]},
        "receivers": [{"name": "a"}],
    },
    "bad duration": {"route": {"receiver": "a", "group_wait": "soon"}, "receivers": [{"name": "a"}]},
    "wildcard and labels": {
        "route": {"receiver": "a", "group_by": ["...", "app"]},
        "receivers": [{"name": "a"}],
    },
    "slack without url": {
        "route": {"receiver": "a"},
        "receivers": [{"name": "a", "slack_configs": [{"channel": "#x"}]}],
    },
    "bad day of month": {
        "route": {"receiver": "a"},
        "receivers": [{"name": "a"}],
        "time_intervals": [{"name": "n", "time_intervals": [{"days_of_month": ["-1:5"]}]}],
    },
}


@requires_alertmanager
@pytest.mark.parametrize("case", sorted(BAD))
def test_configs_amtool_refuses_are_refused(tmp_path: Path, case: str) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(BAD[case]))
    am = amtool_check(path)
    assert am.returncode != 0, f"amtool accepted {case}: {am.stdout}"
    ours = ours_check(path)
    assert ours.exit_code == 1, ours.output
    assert "invalid configuration" in ours.output


@requires_alertmanager
def test_routing_tree_served_to_amtool_is_valid_alertmanager(tmp_path: Path) -> None:
    """The /api/v2/status config (what `amtool config routes` reads) keeps time intervals and is valid."""
    from watchkeeper.web.alertmanager_api import alertmanager_config_yaml

    cfg = AlertsConfig.model_validate(read_config_file(DATA / "routing_tree.yml"))
    rendered = yaml.safe_load(alertmanager_config_yaml(cfg))
    assert rendered["route"]["routes"][1]["mute_time_intervals"] == ["maintenance-window"]
    assert {ti["name"] for ti in rendered["time_intervals"]} == {
        "maintenance-window",
        "holidays",
        "business-hours",
        "weekends",
    }
    path = tmp_path / "served.yml"
    path.write_text(yaml.safe_dump(rendered))
    am = amtool_check(path)
    assert am.returncode == 0, am.stdout + am.stderr


# ------------------------------------------------ webhooks in Alertmanager's payload format
def _deliver_webhook(url: str, event: Any) -> None:
    from tests.support.receivers import make_notification
    from watchkeeper.alerts.channels import ReceiverConfig, build_channels, close_channels

    config = ReceiverConfig(name="hook", webhook_configs=[{"url": url, "format": "alertmanager"}])
    (channel,) = build_channels(config, dashboard_url="http://127.0.0.1:8686")
    try:
        assert channel.send(make_notification(event)).ok
    finally:
        close_channels([channel])


@requires_alertmanager
def test_webhook_in_alertmanager_format_matches_the_real_alertmanager_payload(tmp_path: Path) -> None:
    """A receiver written for Alertmanager's webhooks gets the same shape from Watchkeeper's
    `format: alertmanager`: what the real Alertmanager posts is the reference."""
    import json
    import time
    import urllib.request

    from tests.support.alertmanager import Alertmanager
    from watchkeeper.alerts.channels.alertmanager import fingerprint
    from watchkeeper.alerts.model import Event

    am_hook, ours = WebhookReceiver(), WebhookReceiver()
    config = {
        "route": {"receiver": "hook", "group_by": ["app"], "group_wait": "0s", "group_interval": "1s"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": am_hook.url, "send_resolved": True}]}],
    }
    try:
        with Alertmanager(tmp_path, config) as am:
            labels = {"alertname": "content_safety", "app": "support-bot", "severity": "critical"}
            alert = [
                {"labels": labels, "annotations": {"summary": "x"}, "generatorURL": "http://wk/incidents/1"}
            ]
            request = urllib.request.Request(
                f"{am.url}/api/v2/alerts",
                data=json.dumps(alert).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            deadline = time.monotonic() + 30
            while not am_hook.received and time.monotonic() < deadline:
                time.sleep(0.1)
            (reference,) = am_hook.take()
        reference.pop("_received_monotonic")
        _deliver_webhook(ours.url, Event.trigger)
        _deliver_webhook(ours.url, Event.resolve)
        firing, resolved = ours.take()
    finally:
        am_hook.close()
        ours.close()
    for body in (firing, resolved):
        body.pop("_received_monotonic")
        assert set(body) == set(reference)
        assert set(body["alerts"][0]) == set(reference["alerts"][0])
        assert body["version"] == reference["version"] == "4"
        for key in ("groupLabels", "commonLabels", "commonAnnotations"):
            assert all(isinstance(v, str) for v in body[key].values())
    assert reference["alerts"][0]["endsAt"] == firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert reference["alerts"][0]["fingerprint"] == fingerprint(labels)  # the same fingerprint function
    alert = firing["alerts"][0]
    assert firing["status"] == alert["status"] == "firing" and resolved["status"] == "resolved"
    assert alert["fingerprint"] == fingerprint(alert["labels"])
    assert alert["labels"]["alertname"] == "content_safety" and alert["labels"]["severity"] == "critical"
    assert alert["generatorURL"] == "https://watchkeeper.example.com/incidents/inc-7f3a9c"
    assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_daemon_logs_the_warnings_once_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from watchkeeper.app import Daemon
    from watchkeeper.config import load_settings

    path = tmp_path / "watchkeeper.yaml"
    section = {
        "templates": ["/etc/alertmanager/*.tmpl"],
        "route": {"receiver": "default", "group_by": ["alertname"]},
        "receivers": [{"name": "default", "console": True}],
    }
    path.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "state"), "alerts": section}))
    daemon = Daemon(load_settings(path))
    with caplog.at_level("WARNING", logger="watchkeeper"):
        daemon._log_alerts_config_warnings()
    lines = [r.getMessage() for r in caplog.records]
    assert any("not supported: alerts.templates" in line for line in lines)
    assert any("alerts.route.group_by: no detector produces label 'alertname'" in line for line in lines)

"""Matchers, the routing tree (first match, continue, inheritance, group_by), inhibition rules, and config
validation messages that name the key."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from watchkeeper.alerts.config import AlertsConfig, InhibitRuleConfig, RouteConfig
from watchkeeper.alerts.durations import parse_duration
from watchkeeper.alerts.inhibition import Inhibitor
from watchkeeper.alerts.matchers import MatcherError, matcher_from_any, parse_matcher, split_matchers
from watchkeeper.alerts.routing import Router


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('app="chatbot"', {"app": "chatbot"}, True),
        ('app="chatbot"', {"app": "chatbot2"}, False),
        ("app=chatbot", {"app": "chatbot"}, True),
        ('app!="chatbot"', {"app": "other"}, True),
        ('app!="chatbot"', {}, True),
        ('severity=~"critical|error"', {"severity": "error"}, True),
        ('severity=~"critical|error"', {"severity": "errors"}, False),  # anchored
        ('severity=~"crit"', {"severity": "critical"}, False),  # anchored, not a substring search
        ('severity!~"info|warning"', {"severity": "critical"}, True),
        ('severity!~"info|warning"', {"severity": "info"}, False),
        ('team=""', {}, True),  # a missing label is the empty string
        ('team=""', {"team": "x"}, False),
        ('msg="a \\"quoted\\" word"', {"msg": 'a "quoted" word'}, True),
        ('  app = "x y" ', {"app": "x y"}, True),
    ],
)
def test_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["app==x", "app", '="x"', 'app=~"("', "1app=x", 'app="x'])
def test_invalid_matchers(text: str) -> None:
    with pytest.raises(MatcherError, match="invalid"):
        parse_matcher(text)


def test_api_v2_matchers_and_splitting() -> None:
    m = matcher_from_any({"name": "app", "value": "a|b", "isRegex": True, "isEqual": False})
    assert m.op == "!~" and not m.matches({"app": "a"}) and m.matches({"app": "c"})
    assert str(parse_matcher('app="x"')) == 'app="x"'
    assert split_matchers('{app="a,b", env=~"prod|stage"}') == ['app="a,b"', 'env=~"prod|stage"']


def tree(data: dict) -> Router:
    return Router(RouteConfig.model_validate(data))


def paths(router: Router, **labels: str) -> list[tuple[str, str]]:
    return [(r.path, r.receiver) for r in router.match(labels)]


ROUTES = {
    "receiver": "default",
    "group_by": ["app", "detector"],
    "group_wait": "10s",
    "routes": [
        {"matchers": ['severity="critical"'], "receiver": "pager", "continue": True, "group_wait": "0s"},
        {
            "matchers": ['app="chatbot"'],
            "receiver": "chat-team",
            "routes": [
                {"matchers": ['detector="prompt_integrity"'], "receiver": "security", "group_by": ["..."]},
            ],
        },
        {"matchers": ['app=~"chat.*"'], "receiver": "never-reached-for-chatbot"},
        {"matchers": ['env="dev"'], "receiver": "dev"},
    ],
}


def test_first_match_wins_and_continue() -> None:
    r = tree(ROUTES)
    assert paths(r, app="chatbot", severity="critical") == [
        ("route.routes[0]", "pager"),
        ("route.routes[1]", "chat-team"),
    ]
    assert paths(r, app="chatbot", severity="warning") == [("route.routes[1]", "chat-team")]
    assert paths(r, app="chatops") == [("route.routes[2]", "never-reached-for-chatbot")]
    assert paths(r, app="x", env="dev") == [("route.routes[3]", "dev")]
    assert paths(r, app="x") == [("route", "default")]  # nothing matched: the root catches it
    # As in Alertmanager: a matching `continue` child still counts as a match, so the root is not added.
    assert paths(r, app="x", severity="critical") == [("route.routes[0]", "pager")]


def test_nested_routes_and_inheritance() -> None:
    r = tree(ROUTES)
    (leaf,) = r.match({"app": "chatbot", "detector": "prompt_integrity"})
    assert leaf.receiver == "security" and leaf.path == "route.routes[1].routes[0]"
    assert leaf.group_wait == 10.0  # inherited from the root
    assert leaf.group_by_all
    (mid,) = r.match({"app": "chatbot", "detector": "other"})
    assert (
        mid.group_by == ("app", "detector") and mid.group_interval == 60.0 and mid.repeat_interval == 4 * 3600
    )


def test_group_by_labels_and_keys() -> None:
    r = tree(ROUTES)
    (route,) = r.match({"app": "chatbot", "detector": "x", "model": "m1"})
    assert route.group_labels({"app": "chatbot", "detector": "x", "model": "m1"}) == {
        "app": "chatbot",
        "detector": "x",
    }
    assert route.group_key({"app": "chatbot", "detector": "x", "model": "m1"}) == route.group_key(
        {"app": "chatbot", "detector": "x", "model": "m2"}
    )
    default = tree({"receiver": "default"}).root
    assert default.group_by == ("app", "detector", "category", "theme")
    assert default.group_labels({"app": "a", "detector": "d", "category": "c"}) == {
        "app": "a",
        "detector": "d",
        "category": "c",
    }  # theme only when present


def test_indexed_children_match_like_a_linear_scan() -> None:
    rng = random.Random(3)
    routes = []
    for i in range(300):
        kind = rng.random()
        if kind < 0.7:
            matchers = [f'app="app{i % 97}"', f'detector=~"d{i % 5}|d{(i + 1) % 5}"']
        elif kind < 0.85:
            matchers = [f'env="e{i % 3}"']
        else:
            matchers = [f'app!="app{i % 11}"', 'severity="critical"']
        routes.append({"matchers": matchers, "receiver": "default", "continue": rng.random() < 0.2})
    indexed = tree({"receiver": "default", "routes": routes})
    assert indexed.root._index_label == "app"
    linear = tree({"receiver": "default", "routes": routes})
    linear.root._index_label = None
    for _ in range(2000):
        labels = {
            "app": f"app{rng.randrange(120)}",
            "detector": f"d{rng.randrange(6)}",
            "env": f"e{rng.randrange(4)}",
            "severity": rng.choice(["critical", "warning"]),
        }
        assert [r.path for r in indexed.match(labels)] == [r.path for r in linear.match_uncached(labels)]


def test_inhibition_rules() -> None:
    inhibitor = Inhibitor(
        [
            InhibitRuleConfig(
                source_matchers=['severity="critical"'],
                target_matchers=['severity=~"warning|info"'],
                equal=["app"],
            )
        ]
    )
    crit_a = ("c1", {"app": "a", "severity": "critical"})
    assert inhibitor.inhibited_by("w1", {"app": "a", "severity": "warning"}, [crit_a]) == "c1"
    assert inhibitor.inhibited_by("w2", {"app": "b", "severity": "warning"}, [crit_a]) is None
    assert inhibitor.inhibited_by("x", {"severity": "warning"}, [("c2", {"severity": "critical"})]) == "c2"
    # Two-sided rule: incidents matching both sides never mute each other.
    both = Inhibitor(
        [
            InhibitRuleConfig(
                source_matchers=['detector="drift"'], target_matchers=['detector="drift"'], equal=[]
            )
        ]
    )
    assert both.inhibited_by("a", {"detector": "drift"}, [("b", {"detector": "drift"})]) is None
    assert both.inhibited_by("a", {"detector": "drift"}, [("a", {"detector": "drift"})]) is None


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("500ms") == 0.5
    assert parse_duration(12) == 12.0
    assert parse_duration("45") == 45.0
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("5 minutes")


def test_config_errors_name_the_key() -> None:
    data = {
        "receivers": [{"name": "default"}],
        "route": {
            "receiver": "default",
            "routes": [
                {"matchers": ['app="ok"']},
                {"matchers": ["app==x"], "receiver": "nobody"},
            ],
        },
        "inhibit_rules": [{"source_matchers": ["bad"], "target_matchers": ['a="b"']}],
    }
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate(data)
    text = str(err.value)
    assert "alerts.route.routes[1].matchers[0]: invalid matcher 'app==x': use name=\"value\"" in text
    assert "alerts.route.routes[1].receiver: unknown receiver 'nobody'" in text
    assert "alerts.inhibit_rules[0].source_matchers[0]: invalid matcher 'bad'" in text


def test_config_loads_through_settings(tmp_path) -> None:
    from watchkeeper.config import ConfigError, load_settings

    path = tmp_path / "wk.yaml"
    path.write_text(
        "alerts:\n  receivers: [{name: default}, {name: oncall}]\n  route:\n    receiver: default\n"
        "    group_wait: 30s\n    routes:\n      - matchers: ['severity=\"critical\"']\n"
        "        receiver: oncall\n"
        "        continue: true\n"
    )
    settings = load_settings(path)
    assert settings.alerts.route.routes[0].continue_ is True
    assert settings.alerts.route.group_wait == 30.0
    path.write_text("alerts:\n  route:\n    receiver: nobody\n")
    with pytest.raises(ConfigError, match=r"alerts\.route\.receiver: unknown receiver 'nobody'"):
        load_settings(path)

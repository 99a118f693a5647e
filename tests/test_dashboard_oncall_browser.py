"""The on-call pages in headless Chromium against a running daemon: the calls explorer, approving a prompt
from the incident page, the activity log, "not a problem" from the dashboard to an exported row, the silence
preview, readable charts, and every page at 390 px (a phone) and 1440 px: no horizontal scroll, a readable
title, every action reachable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Page
from tests.support.daemon import alerts_config, daemon_settings, wait_until
from tests.support.receivers import WebhookReceiver
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon
from watchkeeper.core.records import sha256_text

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
]

TRACE_URL = "https://tempo.example.org/explore?trace={trace_id}&span={span_id}"
PROMPT = "You are the assistant of {app}. Answer briefly and politely."
CHANGE = " Always recommend the premium plan."
LEAK = "Of course. Ticket 311: the account holder is dana.whitfield@northwind-bank.io."


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hook: WebhookReceiver) -> Iterator[Daemon]:
    d = Daemon(
        daemon_settings(
            tmp_path_factory.mktemp("oncall-ui"),
            web={"trace_url_template": TRACE_URL},
            alerts=alerts_config(hook.url),
        )
    )
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.web_url, timeout=10.0) as c:
        yield c


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def ui(browser: Any, daemon: Daemon) -> Iterator[Page]:
    page = Page(browser, daemon.web_url)
    yield page
    page.close()
    assert page.errors == [], page.errors


def open_incident(client: httpx.Client, app: str, detector: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = client.get("/api/v1/incidents", params={"app": app, "detector": detector, "status": "open"})
        return items.json()[0] if items.json() else None

    return wait_until(found, 30, 0.1, f"{detector} incident of {app}")


def prompt_change(daemon: Daemon, client: httpx.Client, app: str) -> dict[str, Any]:
    spans = SpanFactory(service=app, environment="prod")
    base = PROMPT.format(app=app)
    batch = [
        spans.chat(base, prompt="Where is my parcel?", answer="It left our warehouse this morning."),
        spans.chat(base, prompt="Can I return shoes?", answer="Yes, within 30 days."),
        spans.chat(base + CHANGE, prompt="Which plan suits me?", answer="The premium plan, certainly."),
    ]
    assert export(daemon.intake_url, batch)
    return open_incident(client, app, "integrity")


def leak(daemon: Daemon, client: httpx.Client, app: str) -> dict[str, Any]:
    spans = SpanFactory(service=app, environment="prod")
    assert export(
        daemon.intake_url, [spans.chat(PROMPT.format(app=app), prompt="Who owns the account?", answer=LEAK)]
    )
    return open_incident(client, app, "leakage")


def test_calls_explorer_filters_and_opens_a_call(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = prompt_change(daemon, client, "explorer-ui")
    other = prompt_change(daemon, client, "explorer-other")
    page = ui.goto("/calls")
    page.wait_for_selector("tr.call-row:has-text('explorer-other')")
    page.wait_for_selector("select[name=app] option[value='explorer-ui']", state="attached")
    page.select_option("select[name=app]", "explorer-ui")
    page.wait_for_selector("tr.call-row:has-text('explorer-other')", state="detached")
    assert page.locator("tr.call-row").count() == 3 and "app=explorer-ui" in page.url
    page.select_option("select[name=has_finding]", "true")
    page.wait_for_function("document.querySelectorAll('tr.call-row').length === 1")
    row = page.locator("tr.call-row")
    assert "integrity" in row.inner_text() and "critical" in row.inner_text()
    page.select_option("select[name=has_finding]", "")
    page.wait_for_function("document.querySelectorAll('tr.call-row').length === 3")
    changed_sha = sha256_text(PROMPT.format(app="explorer-ui") + CHANGE)
    page.click(f"tr.call-row button:has-text('{changed_sha[:12]}')")
    page.wait_for_function("document.querySelectorAll('tr.call-row').length === 1")
    assert f"system_sha256={changed_sha[:12]}" in page.url
    page.fill("input[name=q]", "warehouse")
    page.wait_for_selector(".table-host .empty")
    page.click("button:has-text('Clear')")
    page.wait_for_selector("tr.call-row:has-text('explorer-other')")
    page.fill("input[name=q]", "premium plan, certainly")
    page.wait_for_function("document.querySelectorAll('tr.call-row').length === 2")  # both apps answered so

    page.locator("tr.call-row:has-text('explorer-ui') td.answer-cell a").click()
    page.wait_for_selector("pre[data-field=answer]:has-text('The premium plan, certainly.')")
    assert "/calls/" in page.url
    assert page.locator("pre[data-field=prompt]").inner_text() == "Which plan suits me?"
    assert page.locator("pre[data-field='system prompt']").inner_text().endswith(CHANGE.strip())
    trace = page.locator("a[data-action=trace]").get_attribute("href")
    call_id = page.url.rsplit("/", 1)[1].replace("%3A", ":")
    trace_id, span_id = call_id.split(":")
    assert trace == f"https://tempo.example.org/explore?trace={trace_id}&span={span_id}"
    page.click(f"a[href='/incidents/{inc['id']}']")
    page.wait_for_selector("h1.incident-title")
    assert other["id"] != inc["id"]

    # Every trace id on the incident page opens its call.
    page.locator(".finding[open] .ids a").first.click()
    page.wait_for_selector("pre[data-field=answer]")
    assert "/calls/" in page.url


def test_approve_from_the_incident_page(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    app = "approve-ui"
    inc = prompt_change(daemon, client, app)
    sha = sha256_text(PROMPT.format(app=app) + CHANGE)
    page = ui.goto(f"/incidents/{inc['id']}")
    page.click("button[data-action=approve-prompt]")
    page.wait_for_selector(f"form.modal code[data-sha='{sha}']")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector("form.modal .form-error:has-text('Say why')")  # a comment is required
    page.fill("form.modal textarea[name=comment]", "Pricing experiment OPS-77")
    page.fill("form.modal input[name=author]", "carol")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".toast:has-text('Approved')")
    approvals = client.get("/api/v1/approvals", params={"app": app}).json()
    assert [(a["sha256"], a["actor"], a["comment"]) for a in approvals] == [
        (sha, "carol (unverified)", "Pricing experiment OPS-77")
    ]
    page.wait_for_selector("[data-kind=approval]:has-text('Pricing experiment OPS-77')")
    assert "carol" in page.locator("[data-kind=approval]").inner_text()
    # Revoking from the finding is recorded the same way.
    page.locator(".finding[open] button[data-action=revoke]").click()
    page.fill("form.modal textarea[name=comment]", "experiment over")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector("[data-kind=approval]:has-text('revoked')")
    assert client.get("/api/v1/approvals", params={"app": app}).json() == []


def test_activity_log_keeps_every_decision(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = prompt_change(daemon, client, "activity-ui")
    page = ui.goto(f"/incidents/{inc['id']}")
    page.wait_for_selector("[data-kind=opened]")
    page.click("button[data-action=silence]")
    page.wait_for_selector("form.modal [data-section=preview]:has-text('Would mute 1 open incident')")
    assert (
        "Unapproved system prompt change in activity-ui"
        in page.locator("[data-section=preview]").inner_text()
    )
    page.fill("form.modal textarea[name=comment]", "deploy window")
    page.fill("form.modal input[name=author]", "dave")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector("[data-kind=silence]:has-text('deploy window')")
    for action, comment in (("ack", "Looking at the prompt diff"), ("resolve", "Rolled back the template")):
        page.click(f"button[data-action={action}]")
        page.fill("form.modal textarea[name=comment]", comment)
        page.fill("form.modal input[name=author]", "dave")
        page.click("form.modal button[type=submit]")
        page.wait_for_selector(f".act:has-text('{comment}')")
    kinds = page.eval_on_selector_all("ol.activity li", "els => els.map(e => e.dataset.kind)")
    assert kinds[0] == "opened" and kinds.index("silence") < kinds.index("acknowledged") < kinds.index(
        "resolved"
    )
    text = page.locator("ol.activity").inner_text()
    assert "Looking at the prompt diff" in text and "Rolled back the template" in text and "dave" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", text)  # local time with its zone
    assert "Times in" in page.locator("#zone").inner_text()


def test_not_a_problem_round_trips_to_an_exported_row(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = leak(daemon, client, "feedback-ui")
    page = ui.goto(f"/incidents/{inc['id']}")
    page.click(".page-head button[data-action=not-a-problem]")
    page.fill("form.modal textarea[name=comment]", "made-up contact in a sample letter")
    page.fill("form.modal input[name=author]", "erin")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".pill.st-resolved")
    page.wait_for_selector("[data-kind=feedback]:has-text('made-up contact in a sample letter')")
    assert client.get(f"/api/v1/incidents/{inc['id']}").json()["status"] == "resolved"
    rows = [json.loads(line) for line in client.get("/api/v1/feedback/export").text.splitlines()]
    row = next(r for r in rows if r["app"] == "feedback-ui")
    assert row["verdict"] == "false_positive" and row["label"] == 0 and row["by"] == "erin"
    assert row["comment"] == "made-up contact in a sample letter" and row["prompt"] == "Who owns the account?"
    assert "Ticket 311" in row["text"] and "dana.whitfield" not in row["text"]
    # A confirmed verdict on a finding, from the call page.
    other = leak(daemon, client, "confirm-ui")
    finding = client.get(f"/api/v1/incidents/{other['id']}").json()["findings"][0]
    page = ui.goto(f"/findings/{finding['id']}")
    page.wait_for_selector("pre[data-field=answer]")
    page.click(f"[data-finding-id='{finding['id']}'] button[data-action=confirm]")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".toast:has-text('Confirmed')")
    rows = [json.loads(line) for line in client.get("/api/v1/feedback/export").text.splitlines()]
    assert any(r["app"] == "confirm-ui" and r["label"] == 1 for r in rows)


def test_overview_charts_show_values_on_hover(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    prompt_change(daemon, client, "chart-ui")
    page = ui.goto("/overview?window=900")
    panel = page.locator("[data-section=traffic] .chart-panel:has-text('Latency p95')")
    panel.locator(".u-over").wait_for()
    legend = panel.locator(".u-legend")
    box = panel.locator(".u-over").bounding_box()
    assert box is not None
    found = ""
    for i in range(120):  # sweep right to left until the cursor is on a bucket with calls
        page.mouse.move(box["x"] + box["width"] * (1 - i / 120) - 1, box["y"] + box["height"] / 2)
        page.wait_for_timeout(30)
        text = legend.inner_text()
        if re.search(r"[a-z-]+\s*\d+(\.\d+)? (ms|s)\b", text):
            found = text
            break
    assert found, legend.inner_text()  # the value of each app at that time, with its unit
    assert re.search(r"time\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", found)  # local, with zone
    page.click("button.seg[data-by=model]")
    page.wait_for_selector("[data-section=traffic] .u-legend:has-text('gpt-4o-mini')")


PAGES = (
    ("/", ["button.seg[data-status=resolved]", "input[name=q]"]),
    ("/incident", ["button[data-action=ack]", "button[data-action=resolve]", "button[data-action=silence]",
                   "button[data-action=approve-prompt]", "button[data-action=not-a-problem]"]),
    ("/calls", ["select[name=app]", "input[name=q]"]),
    ("/call", ["a[data-action=trace]", "button[data-action=not-a-problem]"]),
    ("/overview", ["button.seg[data-window='86400']", "button.seg[data-by=model]"]),
    ("/silences", ["button[data-action=new-silence]"]),
)  # fmt: skip


@pytest.mark.parametrize("width", [390, 1440])
def test_every_page_fits_the_screen(ui: Page, daemon: Daemon, client: httpx.Client, width: int) -> None:
    inc = prompt_change(daemon, client, f"layout-{width}")
    flagged = client.get("/api/v1/calls", params={"app": f"layout-{width}", "has_finding": "true"}).json()[0]
    page = ui.at_width(width, 844 if width == 390 else 900)
    for path, actions in PAGES:
        target = {"/incident": f"/incidents/{inc['id']}", "/call": f"/calls/{flagged['id']}"}.get(path, path)
        page = ui.goto(target)
        page.wait_for_selector("h1")
        page.wait_for_timeout(600)  # charts and lists rendered
        layout = page.evaluate(
            """() => { const t = document.querySelector('h1'); const r = t.getBoundingClientRect();
              return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
                      h1w: r.width, h1h: r.height,
                      line: parseFloat(getComputedStyle(t).lineHeight) || 24,
                      wide: [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                        .slice(0, 8)
                    .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
                      };
              }"""
        )
        assert layout["scroll"] <= layout["inner"], (target, width, layout)
        assert layout["h1w"] >= min(300, width * 0.7), (target, width, layout)  # the title is not squeezed
        assert layout["h1h"] <= 3.5 * layout["line"], (target, width, layout)  # at most three lines
        for selector in actions:
            control = page.locator(selector).first
            control.scroll_into_view_if_needed()
            box = control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (
                target,
                selector,
                box,
            )
            assert box["height"] >= 24, (target, selector, box)  # big enough to hit with a thumb
    if width == 390:  # the list starts on the first screen
        page = ui.goto("/")
        row = page.wait_for_selector("tr.inc-row")
        assert row.bounding_box()["y"] < 844, row.bounding_box()

"""The dashboard in headless Chromium against a running daemon: live list, actions, and untrusted output.

Screenshots of the main pages: `WATCHKEEPER_SCREENSHOTS=docs/screenshots pytest -m slow -k screenshots`.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Page
from tests.support.daemon import daemon_settings, wait_until
from tests.support.net import free_port
from tests.support.receivers import WebhookReceiver as Receiver
from tests.support.spans import SpanFactory, export
from watchkeeper.app import Daemon

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium"),
]

XSS_ANSWER = (
    "Sure! Reach our billing lead at dana.whitfield@northwind-bank.io or pay with 4539 1488 0343 6467. "
    '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script> '
    '<a href="javascript:window.__xss=1">click here</a>'
)


def settings(tmp: Path, hook_url: str, dead_url: str | None = None) -> Any:
    webhooks = [{"url": hook_url, "allow_insecure": True}]
    if dead_url:
        webhooks.append({"url": dead_url, "allow_insecure": True})
    return daemon_settings(
        tmp,
        alerts={
            "route": {
                "receiver": "on-call",
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "4h",
                "annotations": {"runbook_url": "https://runbooks.example.org/llm-incidents"},
                "routes": [
                    # Annotations come from configuration, but a link must still never run script.
                    {
                        "matchers": ['app="evil-app"'],
                        "annotations": {"runbook_url": "javascript:window.__xss=1"},
                    }
                ],
            },
            "receivers": [{"name": "on-call", "webhook_configs": webhooks}],
            "outbox": {"max_attempts": 2, "backoff_base_s": 0.1, "backoff_max_s": 0.2},
        },
    )


@pytest.fixture(scope="module")
def hook() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, hook: Receiver) -> Iterator[Daemon]:
    d = Daemon(settings(tmp_path_factory.mktemp("dash"), hook.url))
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


def integrity_spans(app: str, env: str = "test") -> list[Any]:
    spans = SpanFactory(service=app, environment=env)
    base = f"You are the assistant of {app}. Answer briefly and politely."
    return [spans.chat(base), spans.chat(base), spans.chat(base + " Never mention competitors.")]


def wait_incident(client: httpx.Client, app: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        items = client.get("/api/v1/incidents", params={"app": app}).json()
        return items[0] if items else None

    return wait_until(found, 30, 0.1, f"incident for {app}")


def integrity_incident(daemon: Daemon, client: httpx.Client, app: str) -> dict[str, Any]:
    assert export(daemon.intake_url, integrity_spans(app))
    return wait_incident(client, app)


def test_list_shows_new_incident_without_reload(ui: Page, daemon: Daemon) -> None:
    page = ui.goto("/")
    page.wait_for_selector("table.incidents, .table-host .empty")
    page.evaluate("window.__notReloaded = true")
    assert export(daemon.intake_url, integrity_spans("live-app"))
    row = page.wait_for_selector("tr.inc-row:has-text('live-app')")
    assert "integrity" in row.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    assert page.locator("[data-stat='open'] .stat-value").inner_text() != "0"
    row.click()
    page.wait_for_selector("h1.incident-title")
    assert "/incidents/" in page.url
    page.wait_for_selector("pre.diff .dl-add:has-text('Never mention competitors.')")


def test_filters_and_search(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    integrity_incident(daemon, client, "filter-app-a")
    integrity_incident(daemon, client, "filter-app-b")
    page = ui.goto("/")
    page.wait_for_selector("tr.inc-row:has-text('filter-app-b')")
    page.fill("input[name=q]", "filter-app-a")
    page.wait_for_selector("tr.inc-row:has-text('filter-app-b')", state="detached")
    assert page.locator("tr.inc-row").count() == 1
    assert "q=filter-app-a" in page.url
    page.click("button.seg[data-status='resolved']")
    page.wait_for_selector(".table-host .empty")
    page.click("button.seg[data-status='open']")
    page.wait_for_selector("tr.inc-row:has-text('filter-app-a')")
    page.select_option("select[name=severity]", "info")
    page.wait_for_selector(".table-host .empty")


def test_acknowledge_and_resolve_from_the_ui(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = integrity_incident(daemon, client, "ack-app")
    page = ui.goto(f"/incidents/{inc['id']}")
    page.click("button[data-action=ack]")
    page.fill("form.modal textarea[name=comment]", "Looking into the prompt change")
    page.fill("form.modal input[name=author]", "alice")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".title-line .pill.st-acknowledged")
    detail = client.get(f"/api/v1/incidents/{inc['id']}").json()
    assert detail["status"] == "acknowledged" and detail["acknowledged_by"] == "alice"
    assert page.locator("button[data-action=ack]").is_disabled()

    page.click("button[data-action=resolve]")
    assert page.input_value("form.modal input[name=author]") == "alice"  # remembered
    page.fill("form.modal textarea[name=comment]", "Reverted the prompt")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".title-line .pill.st-resolved")
    detail = client.get(f"/api/v1/incidents/{inc['id']}").json()
    assert detail["status"] == "resolved" and detail["resolved_by"] == "alice"
    assert page.locator("button[data-action=resolve]").is_disabled()


def test_conflict_is_shown_in_the_dialog(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = integrity_incident(daemon, client, "conflict-app")
    page = ui.goto(f"/incidents/{inc['id']}")
    page.wait_for_selector("button[data-action=resolve]:not([disabled])")
    client.post(f"/api/v1/incidents/{inc['id']}/resolve", json={"by": "bob"})  # someone else was faster
    page.click("button[data-action=resolve]")
    page.fill("form.modal input[name=author]", "alice")
    page.click("form.modal button[type=submit]")
    error = page.wait_for_selector("form.modal .form-error:not(:empty)")
    assert "resolved" in error.inner_text()
    ui.errors.clear()  # the browser logs the 409 response itself


def test_silence_from_incident_then_expire(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    inc = integrity_incident(daemon, client, "silence-app")
    page = ui.goto(f"/incidents/{inc['id']}")
    page.click("button[data-action=silence]")
    rows = page.locator("form.modal .matcher-row")
    prefilled = {
        rows.nth(i).locator(".m-name").input_value(): rows.nth(i).locator(".m-value").input_value()
        for i in range(rows.count())
    }
    assert prefilled["app"] == "silence-app" and prefilled["detector"] == "integrity"
    page.fill("form.modal textarea[name=comment]", "Approved change rolling out")
    page.fill("form.modal input[name=author]", "carol")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector(".toast:has-text('Silence created')")
    silences = client.get("/api/v1/silences", params={"state": "active"}).json()
    mine = [s for s in silences if 'app="silence-app"' in s["matchers_text"]]
    assert len(mine) == 1 and mine[0]["created_by"] == "carol"

    page.click("nav.side a[data-nav=silences]")
    row = page.wait_for_selector(f"tr[data-silence-id='{mine[0]['id']}']")
    assert "Approved change rolling out" in row.inner_text()
    row.query_selector("button[data-action=expire]").click()
    page.wait_for_selector(f"tr[data-silence-id='{mine[0]['id']}']", state="detached")
    state = client.get("/api/v1/silences", params={"state": "expired"}).json()
    assert mine[0]["id"] in [s["id"] for s in state]


def test_new_silence_from_silences_page(ui: Page, client: httpx.Client) -> None:
    page = ui.goto("/silences")
    page.click("button[data-action=new-silence]")
    page.fill("form.modal .m-name", "env")
    page.fill("form.modal .m-value", "staging")
    page.fill("form.modal textarea[name=comment]", "load test")
    page.fill("form.modal input[name=author]", "dave")
    page.click("form.modal button[type=submit]")
    page.wait_for_selector("tr[data-silence-id]:has-text('env=\"staging\"')")
    assert any('env="staging"' in s["matchers_text"] for s in client.get("/api/v1/silences").json())


def test_malicious_model_output_is_inert(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    spans = SpanFactory(service="evil-app", environment="prod")
    answer = spans.chat("You are the billing assistant.", prompt="Who handles billing?", answer=XSS_ANSWER)
    assert export(daemon.intake_url, [answer])
    incidents = wait_until(
        lambda: client.get("/api/v1/incidents", params={"app": "evil-app"}).json(),
        30,
        0.1,
        "leakage incident",
    )
    leak = next(i for i in incidents if i["labels"]["detector"] == "leakage")
    page = ui.goto("/")
    page.wait_for_selector("tr.inc-row:has-text('evil-app')")
    page = ui.goto(f"/incidents/{leak['id']}")
    excerpt = page.wait_for_selector(".finding[open] pre.excerpt")
    text = excerpt.inner_text()
    assert "<img src=x onerror=" in text  # shown as text...
    assert page.locator("#page img").count() == 0  # ...never as an element
    assert page.locator("#page script").count() == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.locator("mark").count() >= 1  # the masked value is highlighted
    runbook = page.locator("dl.kv dd:has-text('javascript:')")
    assert runbook.count() == 1 and runbook.locator("a").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert ui.dialogs == []


def test_bidi_overrides_in_model_output_are_shown_as_visible_tags(
    ui: Page, daemon: Daemon, client: httpx.Client
) -> None:
    """U+202E makes "invoice\u202egpj.exe" read as "invoiceexe.jpg": the dashboard shows the control."""
    app = "bidi\u202ebot"
    spans = SpanFactory(service=app, environment="prod")
    answer = "Mail dana.whitfield@northwind-bank.io the invoice\u202egpj.exe today."
    assert export(daemon.intake_url, [spans.chat("You are billing.", prompt="Invoice?", answer=answer)])
    leak = wait_until(
        lambda: client.get("/api/v1/incidents", params={"app": app, "detector": "leakage"}).json()[0],
        60,
        0.2,
        "leakage incident",
    )
    page = ui.goto(f"/incidents/{leak['id']}")
    excerpt = page.wait_for_selector(".finding[open] pre.excerpt").inner_text()
    assert "invoice\u27e8U+202E\u27e9gpj.exe" in excerpt
    shown = page.locator("#page").inner_text()
    assert "\u202e" not in shown and "bidi\u27e8U+202E\u27e9bot" in shown
    assert "\u202e" not in page.title()


def test_operational_evidence_shows_the_metric_chart(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    """A latency finding, published on the findings topic as the detectors stage does: a band chart."""
    from watchkeeper.core.findings import Finding, Severity, fingerprint

    labels = {"app": "latency-app", "env": "prod", "model": "m1", "provider": "openai"}
    labels |= {"detector": "operational", "category": "operational.latency"}
    evidence = {
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "excerpt": "",
        "metric": "latency",
        "unit": "ms",
        "window_median": 2900.0,
        "baseline_median": 640.0,
        "band": [310.0, 1450.0],
        "examples": ["ef" * 16],
    }
    finding = Finding(
        "operational",
        "operational.latency",
        Severity.error,
        0.8,
        "latency of latency-app higher than usual",
        labels,
        evidence,
        time.time(),
        "latency-app-1",
        fingerprint(labels),
    )
    assert daemon.bus is not None
    daemon.bus.producer().publish(daemon.settings.bus.topics.findings, [(b"latency-app", finding.to_json())])
    inc = wait_incident(client, "latency-app")
    page = ui.goto(f"/incidents/{inc['id']}")
    chart = page.wait_for_selector(".finding[open] svg.band")
    assert chart.query_selector("rect.band-normal") and chart.query_selector("circle.band-observed")
    assert "now 2,900 ms" in chart.text_content()
    assert "abnormal latency" in page.inner_text(".plain")


def test_overview_page(ui: Page, daemon: Daemon, client: httpx.Client) -> None:
    integrity_incident(daemon, client, "overview-app")
    page = ui.goto("/overview?window=900")
    page.wait_for_selector("[data-section=findings-charts] .panel")
    assert page.locator("[data-section=findings-charts] .panel").count() == 5
    assert page.locator("[data-section=traffic] .chart-panel").count() == 5
    page.wait_for_selector("td:has-text('integrity')")
    assert int(page.locator("[data-stat='calls'] .stat-value").inner_text().replace(",", "")) >= 3
    assert page.locator(".stage-chip.ok").count() == 4  # collector, detectors, alerts and the store
    page.click("button.seg[data-window='3600']")
    page.wait_for_url("**/overview")


def test_unknown_incident_page(ui: Page) -> None:
    page = ui.goto("/incidents/does-not-exist")
    page.wait_for_selector(".empty.big:has-text('does-not-exist')")
    ui.errors.clear()  # the 404 response is logged by the browser


@pytest.mark.slow
def test_screenshots(browser: Any, tmp_path: Path) -> None:
    """Realistic traffic (the demo's), a leaked answer and a receiver that is down; one image per page."""
    from watchkeeper.demo import TrafficGenerator, drive_traffic, load_corpus

    out = Path(os.environ.get("WATCHKEEPER_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    hook = Receiver()
    d = Daemon(settings(tmp_path / "state", hook.url, dead_url=f"http://127.0.0.1:{free_port()}/down"))
    d.start()
    gen = TrafficGenerator(d.intake_url, load_corpus())
    try:
        drive_traffic(gen, 240, random.Random(11), spread_s=840)
        gen.flush()
        spans = SpanFactory(service="checkout-assistant", environment="prod")
        leak = "Reach our billing lead at dana.whitfield@northwind-bank.io or use card 4539 1488 0343 6467."
        export(d.intake_url, [spans.chat("You are the checkout assistant.", answer=leak, model="gpt-4.1")])
        with httpx.Client(base_url=d.web_url, timeout=10.0) as c:
            wait_until(lambda: len(c.get("/api/v1/incidents").json()) >= 4, 60, 0.2, "demo incidents")
            wait_until(lambda: c.get("/api/v1/deadletters").json(), 30, 0.2, "a dead letter")
            incidents = c.get("/api/v1/incidents").json()
            c.post(
                "/api/v1/silences",
                json={
                    "matchers": ['app="travel-assistant"', 'detector="operational"'],
                    "ends_at": time.time() + 4 * 3600,
                    "created_by": "alice",
                    "comment": "Provider maintenance window: latency alerts expected",
                },
            )
        page = Page(browser, d.web_url)
        try:
            p = page.goto("/")
            p.wait_for_selector("tr.inc-row")
            p.wait_for_timeout(400)
            p.screenshot(path=str(out / "incidents.png"), full_page=True)
            by_detector = {i["labels"].get("detector"): i for i in incidents}
            for detector in ("integrity", "topic_injection", "leakage"):
                if detector in by_detector:
                    p = page.goto(f"/incidents/{by_detector[detector]['id']}")
                    p.wait_for_selector(".finding[open]")
                    p.wait_for_timeout(300)
                    p.screenshot(path=str(out / f"incident-{detector.replace('_', '-')}.png"), full_page=True)
            p = page.goto("/overview?window=900")
            p.wait_for_selector("[data-section=traffic] canvas")
            p.wait_for_selector("td:has-text('integrity')")
            p.wait_for_timeout(300)
            p.screenshot(path=str(out / "overview.png"), full_page=True)
            p = page.goto("/silences")
            p.wait_for_selector("tr[data-silence-id]")
            p.screenshot(path=str(out / "silences.png"), full_page=True)
            p = page.goto(f"/incidents/{by_detector['integrity']['id']}")
            p.click("button[data-action=silence]")
            p.wait_for_selector("form.modal [data-section=preview] .preview-head")
            p.screenshot(path=str(out / "silence-dialog.png"))
            p = page.goto("/calls")
            p.wait_for_selector("tr.call-row")
            p.wait_for_timeout(300)
            p.screenshot(path=str(out / "calls.png"))
            with httpx.Client(base_url=d.web_url, timeout=10.0) as c:
                flagged = c.get("/api/v1/calls", params={"detector": "integrity", "limit": 1}).json()[0]
            p = page.goto(f"/calls/{flagged['id']}")
            p.wait_for_selector("pre[data-field=answer]")
            p.screenshot(path=str(out / "call.png"), full_page=True)
            p = page.at_width(390, 844)
            p = page.goto("/")
            p.wait_for_selector("tr.inc-row")
            p.wait_for_timeout(300)
            p.screenshot(path=str(out / "incidents-phone.png"))
            p = page.goto(f"/incidents/{by_detector['integrity']['id']}")
            p.wait_for_selector(".finding[open]")
            p.screenshot(path=str(out / "incident-phone.png"))
            assert page.errors == []
        finally:
            page.close()
    finally:
        gen.shutdown()
        d.stop()
        hook.close()
    assert (out / "incidents.png").stat().st_size > 10_000

"""Headless Chromium for dashboard tests: a page that records script and console errors and dialogs."""

from __future__ import annotations

from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 20_000


class Page:
    """A fresh browser page that records script errors, console errors and dialogs."""

    def __init__(self, browser: Any, base: str) -> None:
        # bypass_csp: the page's CSP would also block injected script; without it, the tests prove that the
        # rendering itself keeps model output inert (and Playwright's own waits may evaluate script).
        self.context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(UI_TIMEOUT_MS)
        self.base = base
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on(
            "console", lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None
        )

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", on_dialog)

    def goto(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def close(self) -> None:
        self.context.close()

    def at_width(self, width: int, height: int = 844) -> Any:
        self.page.set_viewport_size({"width": width, "height": height})
        return self.page

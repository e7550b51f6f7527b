"""Browser fixtures for the end-to-end journeys: Debian's Chromium driven by Playwright.

The browser is Debian's own /usr/bin/chromium (no `playwright install`, no network). One
browser serves the whole session; every test gets a fresh context (cookies, storage) and
page, and the page watches for console errors, uncaught exceptions, CSP violations and
HTTP errors.

Playwright's sync API keeps an asyncio loop running in the test's thread, so Django refuses
ORM calls from the test body unless DJANGO_ALLOW_ASYNC_UNSAFE is set: tests/conftest.py sets
it when it is imported, before any of this runs.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = Path(settings.BASE_DIR) / "test-artifacts" / "e2e"

expect.set_options(timeout=10_000)

# Runs in every document before the page's own scripts; Playwright injects it outside the
# page's CSP. It forwards each `securitypolicyviolation` event to the test.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__keyholdCspViolation({
    directive: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile + ":" + event.lineNumber,
    page: document.location.href,
  });
});
"""


@dataclass
class PageProblems:
    """What went wrong in the browser while the test ran; every list must end up empty."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_none(self) -> None:
        assert self.dialogs == [], f"dialogs opened (injected script?): {self.dialogs}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"
        assert self.failed_responses == [], f"failed responses: {self.failed_responses}"
        assert self.page_errors == [], f"uncaught page errors: {self.page_errors}"
        assert self.csp_violations == [], f"CSP violations: {self.csp_violations}"


@pytest.fixture
def browser(transactional_db) -> Browser:
    """A browser per test, started after the test database is ready.

    Playwright's sync API keeps an event loop in this thread; the database (and its
    serialized-rollback restore) must be set up before that loop starts.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: scripts/test.sh installs Debian's chromium.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
        # ORM calls made while Playwright's loop runs get connections of their own; close
        # them here, or the test database cannot be dropped at the end of the run.
        connections.close_all()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, page_problems: PageProblems) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.expose_function(
        "__keyholdCspViolation", lambda report: page_problems.csp_violations.append(report)
    )
    context.add_init_script(_CSP_LISTENER)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            page_problems.console_errors.append(f"{message.text} @ {message.location}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: page_problems.page_errors.append(str(error)))
    page.on(
        "dialog",
        lambda dialog: (page_problems.dialogs.append(dialog.message), dialog.dismiss()),
    )
    page.on(
        "response",
        lambda response: (
            page_problems.failed_responses.append(
                f"{response.status} {response.request.method} {response.url}"
            )
            if response.status >= 400
            else None
        ),
    )
    yield page
    context.close()

"""Browser tests: Playwright driving Debian's Chromium (headless) against a whole local
stack started as a user starts it (``python -m devstack up``), on free ports.

Chromium is Debian's ``chromium`` package (``scripts/ensure-chromium.sh`` installs it;
``make test`` runs that first); Playwright's own browser download is not used.  The
demo market maker runs, restricted to ETHUSDT and ETHBTC, so that the live-market test
sees it while the trading tests have BTCUSDT to themselves.  Screenshots go to
``test-artifacts/web/``.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devstack.launch import launch
from tests.conftest import free_port_block

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_PASSWORD = "Local-Demo-Only-1"  # devstack/demo.py
BOT_SYMBOLS = "ETHUSDT,ETHBTC"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}


FIRST = "test_live_market.py::test_market_is_live_within_a_minute_of_start"


def pytest_collection_modifyitems(config, items) -> None:
    """The live-market test runs first among the browser tests: it times the stack from
    its start, so no other test may run before it."""
    here = [i for i, item in enumerate(items) if Path(str(item.path)).parent == Path(__file__).parent]
    first = [i for i in here if item_id(items[i]).endswith(FIRST)]
    if here and first:
        items.insert(here[0], items.pop(first[0]))


def item_id(item) -> str:
    return item.nodeid.replace("\\", "/")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium.sh as root (make test does) "
                    "to install Debian's chromium package", pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def web_stack(original_env, make_scratch_dir):
    """`python -m devstack up` with the demo users and the market maker (ETH symbols
    only); yields {"url", "started", "dir"}."""
    state_dir = make_scratch_dir("exchange-web-test-")
    port = free_port_block(below_ephemeral=True)  # no outgoing connection of another lane can take one
    # the local Cognito (moto) checks TOTP codes only when asked to
    env = dict(original_env, MARKETMAKER_SYMBOLS=BOT_SYMBOLS, MARKETMAKER_INTERVAL="0.7",
               MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP="true")
    started = time.monotonic()
    launched = launch(state_dir, port, env)
    proc = launched.proc
    if not launched.up:
        proc.kill()
        pytest.fail("the local stack did not start:\n" + "".join(launched.lines), pytrace=False)
    yield {"url": f"http://127.0.0.1:{port}", "started": started, "dir": state_dir, "env": env}
    subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(state_dir), "down"], cwd=ROOT, env=env,
                   capture_output=True, timeout=60)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    logs = state_dir / "logs"
    if logs.exists():  # keep the stack's logs next to the screenshots
        shutil.copytree(logs, ARTIFACTS / "stack-logs", dirs_exist_ok=True)
    shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture
def funded_user(web_stack):
    """A new user of the running stack with a password and deposits, made with the
    operator CLI (``python -m chalicelib.cli``): ``funded_user({"USDT": "1000"})``."""
    import uuid

    def make(deposits: dict, password: str = DEMO_PASSWORD) -> str:
        email = f"web-{uuid.uuid4().hex[:8]}@example.com"
        env = dict(web_stack["env"], EXCHANGE_STATE_DIR=str(web_stack["dir"]))
        commands = [["create-user", email, "--password", password]]
        commands += [["deposit", email, asset, amount] for asset, amount in deposits.items()]
        for argv in commands:
            res = subprocess.run([sys.executable, "-m", "chalicelib.cli", *argv], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=60)
            assert res.returncode == 0, res.stdout + res.stderr
        return email

    return make


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "console.log").unlink(missing_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


class Pages:
    """New browser pages (each in its own context: its own session), closed after the
    test; JavaScript errors and console errors on any of them fail the test, except the
    console errors the test provokes on purpose and names with ``allow_console``."""

    def __init__(self, browser, base_url):
        self.browser, self.base_url = browser, base_url
        self.contexts, self.errors, self.console = [], [], []
        self.allowed: list[str] = []

    def allow_console(self, *patterns: str):
        """Console errors (regular expressions) this test provokes on purpose, e.g. the
        browser's "Failed to load resource ... 400" line for a refusal it asks for."""
        self.allowed.extend(patterns)

    def unexpected_console_errors(self) -> list[str]:
        return [m for m in self.console if m.startswith("[error]") and not any(re.search(a, m) for a in self.allowed)]

    def new(self, viewport=DESKTOP):
        ctx = self.browser.new_context(viewport=viewport)
        ctx.set_default_timeout(20_000)
        self.contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}")
                if msg.type in ("warning", "error") else None)
        return page

    def goto(self, page, route: str):
        page.goto(f"{self.base_url}/#{route}")

    def sign_in(self, page, email: str, password: str = DEMO_PASSWORD, then: str = "/trade/BTCUSDT"):
        self.goto(page, "/signin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.locator("[data-testid=user-email]").filter(has_text=email).wait_for(state="attached")
        if then:
            self.goto(page, then)
        return page

    def close(self):
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def pages(browser, web_stack, request):
    p = Pages(browser, web_stack["url"])
    yield p
    p.close()
    if p.console:  # kept for when a test fails: what the browser said
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with open(ARTIFACTS / "console.log", "a") as fh:
            fh.write(f"== {request.node.nodeid}\n" + "\n".join(p.console) + "\n")
    assert not p.errors, f"JavaScript errors: {p.errors}"
    assert not p.unexpected_console_errors(), f"console errors: {p.unexpected_console_errors()}"


def screenshot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


UNLABELLED_JS = """() => {
  const text = (el) => (el ? el.textContent : '').trim();
  const name = (el) => (el.getAttribute('aria-label') || '').trim()
    || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).map((id) => text(document.getElementById(id))).join('')
    || (el.labels ? [...el.labels].map(text).join('') : '')
    || (['BUTTON', 'A'].includes(el.tagName) || el.getAttribute('role') === 'tab' ? text(el) : '')
    || (el.getAttribute('title') || '').trim();
  return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], [role=tab]')]
    .filter((el) => el.getClientRects().length > 0 && !name(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""


def unlabelled_controls(page) -> list[str]:
    """Visible form controls, buttons and links without an accessible name."""
    return page.evaluate(UNLABELLED_JS)


WRAPPED_NUMBERS_JS = """() => {
  // every number on the page (digits with their separators) on one line
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.parentElement || !n.parentElement.getClientRects().length) continue;
    // a reference (transfer id, tx hash) is an identifier, not a number: it may break anywhere
    if (n.parentElement.closest('.ref')) continue;
    for (const m of n.textContent.matchAll(/[-+]?\\d[\\d,]*(\\.\\d+)?/g)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const lines = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
      if (lines.size > 1) out.push(m[0]);
    }
  }
  return out;
}"""

CUT_TABS_JS = """() => [...document.querySelectorAll('[role=tab]')]
  .filter((t) => t.getClientRects().length)
  .filter((t) => t.scrollWidth > t.clientWidth + 1 || t.getBoundingClientRect().right > innerWidth
                 || t.getBoundingClientRect().left < 0)
  .map((t) => t.textContent)"""


def wrapped_numbers(page) -> list[str]:
    """Numbers on the page broken over two lines (e.g. a narrow table cell)."""
    return page.evaluate(WRAPPED_NUMBERS_JS)


def cut_tabs(page) -> list[str]:
    """Visible tabs whose label is cut (clipped, or past the viewport's edge)."""
    return page.evaluate(CUT_TABS_JS)


@contextlib.contextmanager
def gateway_down(web_stack, status):
    """The stack's stream gateway stopped and kept down (its supervisor paused) until the
    block ends, once the page's ``status`` shows "Reconnecting…"; yields when it stopped.
    On leaving, the supervisor goes on and starts the gateway again."""
    from playwright.sync_api import expect

    from devstack.stack import read_state

    state = read_state(web_stack["dir"])
    supervisor, gateway = state["pid"], state["processes"]["gateway"]["pid"]
    os.kill(supervisor, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        os.kill(gateway, signal.SIGTERM)
        expect(status).to_have_attribute("data-state", "reconnecting", timeout=15_000)
        expect(status).to_have_text("Reconnecting…")
        yield stopped
    finally:
        os.kill(supervisor, signal.SIGCONT)

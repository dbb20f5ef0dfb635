"""Refresh the README's screenshots (docs/screenshots/) from a local stack.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--warmup 60]

Starts ``python -m devstack up`` in a scratch folder on free ports (the demo users and
the market maker on every symbol, quoting four times a second), lets the market run
``--warmup`` seconds on 1 s candles, then drives Debian's Chromium
(``scripts/ensure-chromium.sh``; Playwright's own browser download is not used) as the
demo user alice: a resting order so that the open orders show one, the trading view at
1440 px (the whole page) and at 375 px (the page, then the order sheet the Buy/Sell bar
opens), and the account page.  Stops the stack at the end.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devstack.launch import launch  # noqa: E402  (the repository's root is on the path first)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
DEMO_USER, DEMO_PASSWORD = "alice@demo.local", "Local-Demo-Only-1"   # devstack/demo.py
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}


def free_ports(n: int = 4) -> int:
    """A base port with the next n-1 free too (web, moto, Data API, stream gateway)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        try:
            for p in range(base, base + n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise SystemExit("no free ports")


def start_stack(state_dir: str, port: int) -> subprocess.Popen:
    # a busy market maker (every symbol in turn, four quote updates a second): a candle
    # nearly every second of the warm-up
    env = dict(os.environ, MARKETMAKER_INTERVAL=os.environ.get("MARKETMAKER_INTERVAL", "0.25"))
    launched = launch(state_dir, port, env, timeout_s=180)
    if not launched.up:
        launched.proc.kill()
        raise SystemExit("the local stack did not start:\n" + "".join(launched.lines))
    proc = launched.proc
    return proc


def stop_stack(proc: subprocess.Popen, state_dir: str) -> None:
    subprocess.run([sys.executable, "-m", "devstack", "--state-dir", state_dir, "down"], cwd=ROOT,
                   capture_output=True, timeout=60)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def shoot(url: str, out: Path, warmup: float) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    made = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)

        def page_at(viewport):
            ctx = browser.new_context(viewport=viewport)
            ctx.set_default_timeout(30_000)
            # 1 s candles: a chart with something in it a minute after the start
            ctx.add_init_script("sessionStorage.setItem('exchange.interval', '1s')")
            page = ctx.new_page()
            page.goto(f"{url}/#/signin")
            page.get_by_label("Email").fill(DEMO_USER)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator("[data-testid=user-email]").wait_for(state="attached")
            page.goto(f"{url}/#/trade/BTCUSDT")
            expect(page.locator("[data-testid=stream-status]")).to_have_attribute("data-state", "live")
            expect(page.locator("#toasts .toast")).to_have_count(0, timeout=15_000)   # "Signed in as ..." gone
            return page

        desk = page_at(DESKTOP)
        # a resting buy well under the market: the open orders show one
        form = desk.locator("[data-testid=order-form]")
        expect(desk.locator("[data-testid=last-price]")).not_to_have_text("—")
        last = desk.locator("[data-testid=last-price]").text_content().replace(",", "")
        form.get_by_label("Price", exact=True).fill(f"{int(float(last) * 0.97)}")
        form.get_by_label("Amount", exact=True).fill("0.01")
        form.get_by_role("button", name="Buy BTC").click()
        expect(desk.locator("[data-testid=panel-open] tr[data-order-id]").first).to_be_visible()
        form.get_by_label("Amount", exact=True).fill("0.05")   # the form shows a total and its fee
        time.sleep(max(0.0, warmup))

        def save(page, name, full_page=True):
            path = out / f"{name}.png"
            page.screenshot(path=str(path), full_page=full_page)
            made.append(path)

        save(desk, "trading")
        phone = page_at(PHONE)
        expect(phone.locator("[data-testid=order-book] .level").first).to_be_visible()
        save(phone, "trading-375")
        phone.locator("[data-testid=trade-bar]").get_by_role("button", name="Buy").click()
        phone.locator("[data-testid=order-form]").get_by_label("Amount", exact=True).fill("0.01")
        save(phone, "trading-375-order", full_page=False)
        desk.goto(f"{url}/#/account")
        expect(desk.locator("[data-testid=portfolio-value]").first).not_to_have_text("—")
        save(desk, "account", full_page=False)
        browser.close()
    return made


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds of market before the pictures")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state_dir = tempfile.mkdtemp(prefix="exchange-screenshots-")
    port = free_ports()
    proc = start_stack(state_dir, port)
    try:
        for path in shoot(f"http://127.0.0.1:{port}", out, args.warmup):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        stop_stack(proc, state_dir)
        subprocess.run(["rm", "-rf", state_dir], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

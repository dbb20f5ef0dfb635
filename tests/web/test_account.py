"""Sign-up, TOTP MFA, token refresh, sign-out; API keys; the account page with its
balances, histories, deposits and withdrawals."""
import base64
import hashlib
import hmac
import json
import re
import struct
import time
import uuid

from playwright.sync_api import expect

from devstack.binance_client import BinanceClient, BinanceError
from tests.web.conftest import DESKTOP, PHONE, cut_tabs, screenshot, unlabelled_controls, wrapped_numbers

PASSWORD = "Browser-Test-Pw-1"


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 code (SHA-1, 30 s, 6 digits) of a base32 secret."""
    s = secret.replace(" ", "").upper()
    key = base64.b32decode(s + "=" * (-len(s) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at or time.time()) // 30), hashlib.sha1).digest()
    o = digest[-1] & 15
    return f"{(struct.unpack('>I', digest[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def session_of(page) -> dict:
    return json.loads(page.evaluate("sessionStorage.getItem('exchange.session')") or "null")


def test_sign_up_mfa_refresh_and_sign_out(pages):
    pages.allow_console(r"status of 400")  # the wrong TOTP codes it sends on purpose
    email = f"web-{uuid.uuid4().hex[:8]}@example.com"
    page = pages.new(DESKTOP)
    pages.goto(page, "/signup")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Email").fill(email)
    # a weak password: which rule it breaks, checked before sending
    for weak, message in (("Short-1", "Password must be at least 10 characters long."),
                          ("lower-case-only-1", "Password must contain an upper-case letter."),
                          ("No-Digits-Here", "Password must contain a digit.")):
        page.get_by_label("Password").fill(weak)
        page.get_by_role("button", name="Create account").click()
        expect(page.locator("[data-testid=auth-error]")).to_have_text(message)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # the local Cognito mails nothing and accepts any confirmation code: the page says so
    expect(page.locator("[data-testid=code-note]")).to_have_text(
        "This exchange runs locally: no e-mail is sent, and any code is accepted.")
    page.get_by_label("Confirmation code").fill("123456")
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("[data-testid=user-email]")).to_have_text(email)
    expect(page.locator("[data-testid=available]")).to_have_text(re.compile(r"^0\.00 USDT$"))

    # TOTP MFA setup
    page.get_by_role("link", name="Security").click()
    page.get_by_role("button", name="Set up authenticator app").click()
    assert unlabelled_controls(page) == []
    secret = page.locator("[data-testid=totp-secret]").text_content()
    # a wrong code is a wrong code: no token refresh, no second verify call, still signed in
    auth_calls = []
    page.on("request", lambda r: auth_calls.append(r.url.rsplit("/v1/auth/", 1)[1])
            if "/v1/auth/" in r.url and r.method == "POST" else None)
    page.get_by_label("6-digit code from the app").fill("000000" if totp(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.locator("[data-testid=mfa-error]")).to_contain_text("Wrong code, try again.")
    assert auth_calls == ["mfa/verify"]
    expect(page.locator("[data-testid=user-email]")).to_have_text(email)
    page.get_by_label("6-digit code from the app").fill(totp(secret))
    page.get_by_role("button", name="Verify and turn on").click()
    expect(page.locator("[data-testid=mfa-enabled]")).to_be_visible()
    screenshot(page, "20-mfa-enabled")

    # token refresh: a session about to expire is refreshed, and the page keeps working
    before = session_of(page)
    page.evaluate("""() => {
        const s = JSON.parse(sessionStorage.getItem('exchange.session'));
        s.expiresAt = Date.now() + 30000;
        sessionStorage.setItem('exchange.session', JSON.stringify(s));
    }""")
    page.reload()
    page.wait_for_function("(old) => (JSON.parse(sessionStorage.getItem('exchange.session')) || {}).accessToken"
                           " !== old", arg=before["accessToken"])
    after = session_of(page)
    assert after, "signed out instead of refreshed (see test-artifacts/web/console.log)"
    assert after["expiresAt"] > before["expiresAt"] - 1000 and after["refreshToken"]
    expect(page.locator("[data-testid=user-email]")).to_have_text(email)

    # sign out, then sign in again: now with the MFA challenge
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert session_of(page) is None
    pages.goto(page, "/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_label("Authentication code").fill("000000" if totp(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("[data-testid=auth-error]")).not_to_be_empty()
    screenshot(page, "21-mfa-challenge")
    page.get_by_label("Authentication code").fill(totp(secret))
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("[data-testid=user-email]")).to_have_text(email)


def test_wrong_password_shows_the_reason(pages):
    pages.allow_console(r"status of 401")  # the refused sign-in
    page = pages.new(DESKTOP)
    pages.goto(page, "/signin")
    page.get_by_label("Email").fill("alice@demo.local")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-testid=auth-error]")).to_contain_text("code -1002")
    screenshot(page, "22-sign-in-refused")


def test_api_keys_create_show_once_and_revoke(pages, web_stack):
    page = pages.sign_in(pages.new(DESKTOP), "alice@demo.local", then="/api-keys")
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    page.get_by_label("Label").fill("browser test")
    page.get_by_role("button", name="Create API key").click()
    api_key = page.locator("[data-testid=new-api-key]").text_content()
    secret = page.locator("[data-testid=new-secret]").text_content()
    assert len(api_key) == 64 and len(secret) >= 32
    row = page.locator(f"tr[data-api-key='{api_key}']")
    expect(row).to_contain_text("browser test")
    expect(row).not_to_contain_text(secret)
    assert unlabelled_controls(page) == []
    screenshot(page, "30-api-key-created")

    # the key works for a bot
    client = BinanceClient(f"{web_stack['url']}/api", api_key, secret)
    assert any(b["asset"] == "USDT" for b in client.account()["balances"])

    # shown once: gone after a reload
    page.get_by_role("button", name="I have saved the secret").click()
    page.reload()
    expect(row).to_be_visible()
    expect(page.locator("[data-testid=new-secret]")).to_have_count(0)

    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Revoke key browser test").click()
    expect(row).to_have_count(0)
    try:
        client.account()
        raise AssertionError("a revoked key still works")
    except BinanceError as exc:
        assert exc.code == -2015


def test_account_page_balances_history_and_funds(pages, funded_user):
    pages.allow_console(r"status of 400")  # the withdrawal over the balance
    email = funded_user({"USDT": "1000", "BTC": "0.5"})
    page = pages.sign_in(pages.new(DESKTOP), email, then="/account")
    expect(page.get_by_role("heading", name="Account", exact=True)).to_be_visible()
    expect(page.locator("table.balances tr[data-asset=USDT]")).to_be_visible()
    expect(page.locator("table.balances tr[data-asset=USDT]")).to_contain_text("1,000.00000000")
    expect(page.locator("table.balances tr[data-asset=BTC]")).to_contain_text("0.50000000")
    expect(page.locator("table.deposits")).to_contain_text("1,000.00000000")
    # the Reference column is whole: the table fits its section, the cell the viewport
    assert page.evaluate("(t => t.scrollWidth <= t.parentElement.clientWidth)"
                         "(document.querySelector('table.deposits'))")
    ref = page.locator("table.deposits td.ref").first.bounding_box()
    assert ref and ref["x"] + ref["width"] <= DESKTOP["width"], ref
    assert unlabelled_controls(page) == []

    # a negative deposit: the user's words, not the API's pattern
    deposit = page.locator("form[aria-labelledby=deposit-h]")
    deposit.get_by_label("Amount").fill("-1")
    deposit.get_by_role("button", name="Deposit (demo)").click()
    expect(page.locator("section[aria-labelledby=deposit-h] [role=status]")).to_have_text("Amount must be positive.")
    expect(page.locator("section[aria-labelledby=deposit-h] [role=status]")).to_have_attribute("data-kind", "error")

    # a withdrawal holds the funds until an operator processes it
    withdraw = page.locator("form[aria-labelledby=withdraw-h]")
    withdraw.get_by_label("Asset").select_option("USDT")
    withdraw.get_by_label("Amount").fill("25")
    withdraw.get_by_label("Address").fill("demo-address-1")
    withdraw.get_by_role("button", name="Withdraw").click()
    expect(page.locator("section[aria-labelledby=withdraw-h] [role=status]")).to_contain_text("requested")
    expect(page.locator("table.withdrawals")).to_contain_text("demo-address-1")
    expect(page.locator("table.withdrawals")).to_contain_text("Pending")
    expect(page.locator("table.balances tr[data-asset=USDT] td").nth(2)).to_have_text("25.00000000")

    # more than the balance: the API's message
    withdraw.get_by_label("Amount").fill("99999999")
    withdraw.get_by_role("button", name="Withdraw").click()
    expect(page.locator("section[aria-labelledby=withdraw-h] [role=status]")).to_contain_text("insufficient balance")
    screenshot(page, "40-account-1440px")
    phone = pages.sign_in(pages.new(PHONE), email, then="/account")
    expect(phone.locator("table.balances tr[data-asset=USDT]")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert wrapped_numbers(phone) == [] and cut_tabs(phone) == []
    screenshot(phone, "41-account-375px")

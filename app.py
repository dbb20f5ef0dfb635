"""The exchange's HTTP API: routes only.

API Gateway's stage is ``api`` and CloudFront sends ``/api/*`` to it, so a route
``/v3/depth`` answers at ``/api/v3/depth``.  Every route names the function that
implements it (in ``chalicelib/api/``, which calls the domain code in ``chalicelib/``)
and hands it with the request to :func:`chalicelib.api.http.dispatch`; what the
operation accepts, who may call it and its weight are its row in
``chalicelib/api/ops.py``, found by that function.
"""
from chalice import Chalice

from chalicelib.api import (
    account,
    admin,
    cognito as signin,  # `cognito` is the authorizer below
    compat,
    keys,
    lists,
    market,
    observability,
    trading,
)
from chalicelib.api.http import dispatch

app = Chalice(app_name="exchange")
app.register_middleware(observability.middleware, "http")
ANY = ["*/*"]


def run(handler):
    """Answer the current request with ``handler`` (see chalicelib/api/http.py)."""
    return dispatch(app.current_request, handler)


@app.authorizer(ttl_seconds=0)
def cognito(auth_request):
    """Cognito ID/access tokens, verified against the pool's JWKS."""
    from chalice import AuthResponse

    from chalicelib.api.auth import authorize_token

    context = authorize_token(auth_request.token)
    if context is None:
        return AuthResponse(routes=[], principal_id="anonymous")
    return AuthResponse(routes=["*"], principal_id=context["sub"], context=context)


# -- public market data --------------------------------------------------------------------
@app.route("/v3/ping", methods=["GET"], content_types=ANY)
def ping():
    return run(market.ping)


@app.route("/v3/time", methods=["GET"], content_types=ANY)
def server_time():
    return run(market.server_time)


@app.route("/v3/exchangeInfo", methods=["GET"], content_types=ANY)
def exchange_info():
    return run(market.exchange_info)


@app.route("/v3/depth", methods=["GET"], content_types=ANY)
def depth():
    return run(market.depth)


@app.route("/v3/trades", methods=["GET"], content_types=ANY)
def trades():
    return run(market.recent_trades)


@app.route("/v3/historicalTrades", methods=["GET"], content_types=ANY)
def historical_trades():
    return run(market.historical_trades)


@app.route("/v3/aggTrades", methods=["GET"], content_types=ANY)
def agg_trades():
    return run(market.agg_trades)


@app.route("/v3/klines", methods=["GET"], content_types=ANY)
def klines():
    return run(market.klines)


@app.route("/v3/uiKlines", methods=["GET"], content_types=ANY)
def ui_klines():
    return run(market.ui_klines)


@app.route("/v3/avgPrice", methods=["GET"], content_types=ANY)
def avg_price():
    return run(market.avg_price)


@app.route("/v3/ticker/24hr", methods=["GET"], content_types=ANY)
def ticker_24hr():
    return run(market.ticker_24hr)


@app.route("/v3/ticker/price", methods=["GET"], content_types=ANY)
def ticker_price():
    return run(market.ticker_price)


@app.route("/v3/ticker/bookTicker", methods=["GET"], content_types=ANY)
def book_ticker():
    return run(market.book_ticker)


@app.route("/v3/ticker", methods=["GET"], content_types=ANY)
def ticker():
    return run(market.ticker_window)


# -- trading (signed) ----------------------------------------------------------------------
@app.route("/v3/order", methods=["POST"], content_types=ANY)
def new_order():
    return run(trading.new_order)


@app.route("/v3/order", methods=["GET"], content_types=ANY)
def get_order():
    return run(trading.get_order)


@app.route("/v3/order", methods=["DELETE"], content_types=ANY)
def cancel_order():
    return run(trading.cancel_order)


@app.route("/v3/order/test", methods=["POST"], content_types=ANY)
def test_order():
    return run(trading.test_order)


@app.route("/v3/order/cancelReplace", methods=["POST"], content_types=ANY)
def cancel_replace():
    return run(trading.cancel_replace)


@app.route("/v3/order/amend/keepPriority", methods=["PUT"], content_types=ANY)
def amend_keep_priority():
    return run(trading.amend_keep_priority)


@app.route("/v3/order/amendments", methods=["GET"], content_types=ANY)
def order_amendments():
    return run(trading.order_amendments)


@app.route("/v3/openOrders", methods=["GET"], content_types=ANY)
def open_orders():
    return run(trading.open_orders)


@app.route("/v3/openOrders", methods=["DELETE"], content_types=ANY)
def cancel_open_orders():
    return run(trading.cancel_open_orders)


@app.route("/v3/allOrders", methods=["GET"], content_types=ANY)
def all_orders():
    return run(trading.all_orders)


@app.route("/v3/myTrades", methods=["GET"], content_types=ANY)
def my_trades():
    return run(trading.my_trades)


@app.route("/v3/myPreventedMatches", methods=["GET"], content_types=ANY)
def my_prevented_matches():
    return run(trading.my_prevented_matches)


@app.route("/v3/orderList/oco", methods=["POST"], content_types=ANY)
def new_order_list_oco():
    return run(lists.new_oco)


@app.route("/v3/orderList/oto", methods=["POST"], content_types=ANY)
def new_order_list_oto():
    return run(lists.new_oto)


@app.route("/v3/orderList/otoco", methods=["POST"], content_types=ANY)
def new_order_list_otoco():
    return run(lists.new_otoco)


@app.route("/v3/order/oco", methods=["POST"], content_types=ANY)
def new_oco_legacy():
    return run(lists.new_oco_legacy)


@app.route("/v3/orderList", methods=["DELETE"], content_types=ANY)
def cancel_order_list():
    return run(lists.cancel_order_list)


@app.route("/v3/orderList", methods=["GET"], content_types=ANY)
def get_order_list():
    return run(lists.get_order_list)


@app.route("/v3/allOrderList", methods=["GET"], content_types=ANY)
def all_order_lists():
    return run(lists.all_order_lists)


@app.route("/v3/openOrderList", methods=["GET"], content_types=ANY)
def open_order_lists():
    return run(lists.open_order_lists)


@app.route("/v3/rateLimit/order", methods=["GET"], content_types=ANY)
def rate_limit_order():
    return run(trading.rate_limit_order)


# -- account and funds (signed) ------------------------------------------------------------
@app.route("/v3/account", methods=["GET"], content_types=ANY)
def account_information():
    return run(account.account)


@app.route("/v3/account/commission", methods=["GET"], content_types=ANY)
def account_commission():
    return run(account.commission)


@app.route("/v1/capital/deposit/hisrec", methods=["GET"], content_types=ANY)
def deposit_history():
    return run(account.deposit_history)


@app.route("/v1/capital/deposit/demo", methods=["POST"], content_types=ANY, authorizer=cognito)
def demo_deposit():
    return run(account.demo_deposit)


@app.route("/v1/capital/withdraw/apply", methods=["POST"], content_types=ANY)
def withdraw_apply():
    return run(account.withdraw_apply)


@app.route("/v1/capital/withdraw/history", methods=["GET"], content_types=ANY)
def withdraw_history():
    return run(account.withdraw_history)


# -- API keys (signed-in web users) ----------------------------------------------------------
@app.route("/v1/apiKeys", methods=["GET"], content_types=ANY, authorizer=cognito)
def list_api_keys():
    return run(keys.list_keys)


@app.route("/v1/apiKeys", methods=["POST"], content_types=ANY, authorizer=cognito)
def create_api_key():
    return run(keys.create_key)


@app.route("/v1/apiKeys/{apiKey}", methods=["DELETE"], content_types=ANY, authorizer=cognito)
def revoke_api_key(apiKey):
    return run(keys.revoke_key)


# -- sign-up / sign-in through Cognito ---------------------------------------------------------
@app.route("/v1/auth/signUp", methods=["POST"], content_types=ANY)
def sign_up():
    return run(signin.sign_up)


@app.route("/v1/auth/confirm", methods=["POST"], content_types=ANY)
def confirm_sign_up():
    return run(signin.confirm)


@app.route("/v1/auth/signIn", methods=["POST"], content_types=ANY)
def sign_in():
    return run(signin.sign_in)


@app.route("/v1/auth/respondToChallenge", methods=["POST"], content_types=ANY)
def respond_to_challenge():
    return run(signin.respond)


@app.route("/v1/auth/refresh", methods=["POST"], content_types=ANY)
def refresh():
    return run(signin.refresh)


@app.route("/v1/auth/mfa/associate", methods=["POST"], content_types=ANY, authorizer=cognito)
def mfa_associate():
    return run(signin.mfa_associate)


@app.route("/v1/auth/mfa/verify", methods=["POST"], content_types=ANY, authorizer=cognito)
def mfa_verify():
    return run(signin.mfa_verify)


# -- operators ----------------------------------------------------------------------------
@app.route("/v1/admin/deposits", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_deposit():
    return run(admin.deposit)


@app.route("/v1/admin/withdrawals/{transferId}/complete", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_complete_withdrawal(transferId):
    return run(admin.complete_withdrawal)


@app.route("/v1/admin/withdrawals/{transferId}/reject", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_reject_withdrawal(transferId):
    return run(admin.reject_withdrawal)


# -- the API's own description ------------------------------------------------------------
@app.route("/openapi.json", methods=["GET"], content_types=ANY)
def openapi():
    from chalicelib.api.openapi import document

    return document()


# -- scheduled ------------------------------------------------------------------------------
@app.schedule("rate(1 minute)", name="reconciler")
def reconciler(event):
    """Repairs what a crash between the Aurora commit and the DynamoDB put left
    half-done (see chalicelib/reconcile.py); every step is idempotent."""
    from chalicelib.reconcile import handler

    return handler(event, None)


# -- what stock clients ask of a Binance with futures and margin (honest empty answers) -----
@app.route("/sapi/v1/system/status", methods=["GET"], content_types=ANY)
def system_status():
    return run(compat.system_status)


@app.route("/fapi/v1/exchangeInfo", methods=["GET"], content_types=ANY)
def futures_exchange_info():
    return run(compat.no_usdm_futures)


@app.route("/dapi/v1/exchangeInfo", methods=["GET"], content_types=ANY)
def delivery_exchange_info():
    return run(compat.no_coin_futures)


@app.route("/sapi/v1/capital/config/getall", methods=["GET"], content_types=ANY)
def capital_config():
    return run(compat.no_coin_config)


@app.route("/sapi/v1/margin/allPairs", methods=["GET"], content_types=ANY)
def margin_all_pairs():
    return run(compat.no_cross_margin_pairs)


@app.route("/sapi/v1/margin/isolated/allPairs", methods=["GET"], content_types=ANY)
def margin_isolated_all_pairs():
    return run(compat.no_isolated_margin_pairs)

"""The exchange's HTTP API: routes only.

API Gateway's stage is ``api`` and CloudFront sends ``/api/*`` to it, so a route
``/v3/depth`` answers at ``/api/v3/depth``.  Every route hands its request to
:func:`chalicelib.api.http.dispatch` with the id of its operation; what an operation
accepts, who may call it and what it does is in ``chalicelib/api/ops.py`` and the
module it names.
"""
from chalice import Chalice

from chalicelib.api import observability
from chalicelib.api.http import dispatch

app = Chalice(app_name="exchange")
app.register_middleware(observability.middleware, "http")
ANY = ["*/*"]


def run(op_id: str):
    return dispatch(app.current_request, op_id)


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
    return run("ping")


@app.route("/v3/time", methods=["GET"], content_types=ANY)
def server_time():
    return run("time")


@app.route("/v3/exchangeInfo", methods=["GET"], content_types=ANY)
def exchange_info():
    return run("exchangeInfo")


@app.route("/v3/depth", methods=["GET"], content_types=ANY)
def depth():
    return run("depth")


@app.route("/v3/trades", methods=["GET"], content_types=ANY)
def trades():
    return run("trades")


@app.route("/v3/historicalTrades", methods=["GET"], content_types=ANY)
def historical_trades():
    return run("historicalTrades")


@app.route("/v3/aggTrades", methods=["GET"], content_types=ANY)
def agg_trades():
    return run("aggTrades")


@app.route("/v3/klines", methods=["GET"], content_types=ANY)
def klines():
    return run("klines")


@app.route("/v3/uiKlines", methods=["GET"], content_types=ANY)
def ui_klines():
    return run("uiKlines")


@app.route("/v3/avgPrice", methods=["GET"], content_types=ANY)
def avg_price():
    return run("avgPrice")


@app.route("/v3/ticker/24hr", methods=["GET"], content_types=ANY)
def ticker_24hr():
    return run("ticker24hr")


@app.route("/v3/ticker/price", methods=["GET"], content_types=ANY)
def ticker_price():
    return run("tickerPrice")


@app.route("/v3/ticker/bookTicker", methods=["GET"], content_types=ANY)
def book_ticker():
    return run("bookTicker")


@app.route("/v3/ticker", methods=["GET"], content_types=ANY)
def ticker():
    return run("ticker")


# -- trading (signed) ----------------------------------------------------------------------
@app.route("/v3/order", methods=["POST"], content_types=ANY)
def new_order():
    return run("newOrder")


@app.route("/v3/order", methods=["GET"], content_types=ANY)
def get_order():
    return run("getOrder")


@app.route("/v3/order", methods=["DELETE"], content_types=ANY)
def cancel_order():
    return run("cancelOrder")


@app.route("/v3/order/test", methods=["POST"], content_types=ANY)
def test_order():
    return run("testOrder")


@app.route("/v3/order/cancelReplace", methods=["POST"], content_types=ANY)
def cancel_replace():
    return run("cancelReplace")


@app.route("/v3/openOrders", methods=["GET"], content_types=ANY)
def open_orders():
    return run("openOrders")


@app.route("/v3/openOrders", methods=["DELETE"], content_types=ANY)
def cancel_open_orders():
    return run("cancelOpenOrders")


@app.route("/v3/allOrders", methods=["GET"], content_types=ANY)
def all_orders():
    return run("allOrders")


@app.route("/v3/myTrades", methods=["GET"], content_types=ANY)
def my_trades():
    return run("myTrades")


@app.route("/v3/rateLimit/order", methods=["GET"], content_types=ANY)
def rate_limit_order():
    return run("rateLimitOrder")


# -- account and funds (signed) ------------------------------------------------------------
@app.route("/v3/account", methods=["GET"], content_types=ANY)
def account():
    return run("account")


@app.route("/v3/account/commission", methods=["GET"], content_types=ANY)
def account_commission():
    return run("accountCommission")


@app.route("/v1/capital/deposit/hisrec", methods=["GET"], content_types=ANY)
def deposit_history():
    return run("depositHistory")


@app.route("/v1/capital/deposit/demo", methods=["POST"], content_types=ANY, authorizer=cognito)
def demo_deposit():
    return run("demoDeposit")


@app.route("/v1/capital/withdraw/apply", methods=["POST"], content_types=ANY)
def withdraw_apply():
    return run("withdrawApply")


@app.route("/v1/capital/withdraw/history", methods=["GET"], content_types=ANY)
def withdraw_history():
    return run("withdrawHistory")


# -- API keys (signed-in web users) ----------------------------------------------------------
@app.route("/v1/apiKeys", methods=["GET"], content_types=ANY, authorizer=cognito)
def list_api_keys():
    return run("listApiKeys")


@app.route("/v1/apiKeys", methods=["POST"], content_types=ANY, authorizer=cognito)
def create_api_key():
    return run("createApiKey")


@app.route("/v1/apiKeys/{apiKey}", methods=["DELETE"], content_types=ANY, authorizer=cognito)
def revoke_api_key(apiKey):
    return run("revokeApiKey")


# -- sign-up / sign-in through Cognito ---------------------------------------------------------
@app.route("/v1/auth/signUp", methods=["POST"], content_types=ANY)
def sign_up():
    return run("signUp")


@app.route("/v1/auth/confirm", methods=["POST"], content_types=ANY)
def confirm_sign_up():
    return run("confirmSignUp")


@app.route("/v1/auth/signIn", methods=["POST"], content_types=ANY)
def sign_in():
    return run("signIn")


@app.route("/v1/auth/respondToChallenge", methods=["POST"], content_types=ANY)
def respond_to_challenge():
    return run("respondToChallenge")


@app.route("/v1/auth/refresh", methods=["POST"], content_types=ANY)
def refresh():
    return run("refresh")


@app.route("/v1/auth/mfa/associate", methods=["POST"], content_types=ANY, authorizer=cognito)
def mfa_associate():
    return run("mfaAssociate")


@app.route("/v1/auth/mfa/verify", methods=["POST"], content_types=ANY, authorizer=cognito)
def mfa_verify():
    return run("mfaVerify")


# -- operators ----------------------------------------------------------------------------
@app.route("/v1/admin/deposits", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_deposit():
    return run("adminDeposit")


@app.route("/v1/admin/withdrawals/{transferId}/complete", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_complete_withdrawal(transferId):
    return run("adminCompleteWithdrawal")


@app.route("/v1/admin/withdrawals/{transferId}/reject", methods=["POST"], content_types=ANY, authorizer=cognito)
def admin_reject_withdrawal(transferId):
    return run("adminRejectWithdrawal")


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
    return run("systemStatus")


@app.route("/fapi/v1/exchangeInfo", methods=["GET"], content_types=ANY)
def futures_exchange_info():
    return run("futuresExchangeInfo")


@app.route("/dapi/v1/exchangeInfo", methods=["GET"], content_types=ANY)
def delivery_exchange_info():
    return run("deliveryExchangeInfo")


@app.route("/sapi/v1/capital/config/getall", methods=["GET"], content_types=ANY)
def capital_config():
    return run("capitalConfig")


@app.route("/sapi/v1/margin/allPairs", methods=["GET"], content_types=ANY)
def margin_all_pairs():
    return run("marginAllPairs")


@app.route("/sapi/v1/margin/isolated/allPairs", methods=["GET"], content_types=ANY)
def margin_isolated_all_pairs():
    return run("marginIsolatedAllPairs")

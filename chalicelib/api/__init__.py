"""The HTTP API's logic: request parsing and validation (``params``), the operation
table every route is described by (``ops``), dispatch with auth, rate limits and
Binance-style errors (``http``), and one module per area (``market``, ``trading``,
``account``, ``keys``, ``cognito``, ``admin``).  ``app.py`` only wires routes to
:func:`chalicelib.api.http.dispatch`.

Heavy imports (boto3, joserfc, pynamodb, aurora_data_api) happen inside functions so
that importing the Lambda handler stays cheap (see bench/api_coldstart.py).
"""

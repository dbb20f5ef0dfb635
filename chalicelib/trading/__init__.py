"""The language of trading shared by the API and the matcher: order types and
statuses, the integer commands the engine sequences, the events it emits, the symbol
filters, and the codec between Binance's Decimal fields and the engine's integers.

It lives in ``chalicelib`` because the Lambdas need it too (order entry validates
filters and builds the intent's command) and Chalice deploys only ``app.py`` and
``chalicelib/``; the matching itself stays in ``matcher/engine``.  Pure Python, no I/O.
"""

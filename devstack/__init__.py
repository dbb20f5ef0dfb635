"""The local stack: every AWS service of the exchange stood in for by a real server on
this machine (moto server, PostgreSQL, Redis, a local Aurora Data API), started,
health-checked and stopped by ``python -m devstack up|down|status``.

The test-suite fixtures start the same servers through the same functions, so what
the tests exercise is what a developer runs."""

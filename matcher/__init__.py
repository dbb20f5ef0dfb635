"""The matcher: long-lived owner of a symbol's book (see ``matcher.engine``)."""

"""Canonical JSON: the one text form of a document whose bytes are compared or
stored as a key (intent payloads in the outbox and the intents table), so the same
document always serialises to the same string -- keys sorted, no whitespace.

(``matcher/service/effects.py`` and ``journal.py`` still carry copies.)"""
from __future__ import annotations

import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """``obj`` as compact JSON with sorted keys."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)

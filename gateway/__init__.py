"""The stream gateway (``python -m gateway``): Binance's WebSocket market streams,
served from what the matcher publishes to Redis after each settled batch.

Stateless: any number of replicas, each subscribed to the matcher's channels on its
own; a client that loses one reconnects to another and re-syncs as Binance
documents.  Settings are the API's (``chalicelib.settings``: REDIS_URL,
REDIS_KEY_PREFIX, ...), so the same environment runs it locally and on Fargate.
"""

import os

# A /stream URL may name up to 1024 streams (~30 KB); websockets reads its request-line
# limit (default 8 KiB) from this variable when it is first imported.
os.environ.setdefault("WEBSOCKETS_MAX_LINE_LENGTH", "65536")

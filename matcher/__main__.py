"""``python -m matcher``: the matcher service (the Fargate container's entry point).

Settings come from the environment (chalicelib/settings.py plus the MATCHER_*
knobs in matcher/service/config.py).  SIGTERM stops it cleanly: the current batch
finishes, snapshots are written and leases released so a standby takes over at
once."""
import sys

from matcher.service.worker import main

if __name__ == "__main__":
    sys.exit(main())

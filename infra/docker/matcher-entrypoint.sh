#!/bin/sh
# Builds REDIS_URL from the parts ECS injects (host and port as plain environment, the
# AUTH token as a Secrets Manager container secret), so no token is ever stored in a
# task definition or a config file.  The token is generated without punctuation
# (infra/stacks/data.py), so it is URL-safe as is.  PostgreSQL needs no such step:
# DATABASE_URL is "postgresql:///exchange?sslmode=require" and libpq takes the host,
# user and password from PGHOST/PGUSER/PGPASSWORD.
set -eu
if [ -n "${REDIS_HOST:-}" ] && [ -z "${REDIS_URL:-}" ]; then
  if [ -n "${REDIS_AUTH_TOKEN:-}" ]; then
    REDIS_URL="rediss://:${REDIS_AUTH_TOKEN}@${REDIS_HOST}:${REDIS_PORT:-6379}/0"
  else
    REDIS_URL="rediss://${REDIS_HOST}:${REDIS_PORT:-6379}/0"
  fi
  export REDIS_URL
fi
exec "$@"

# syntax=docker/dockerfile:1.7
# The matcher container: `python -m matcher` (a long-lived Fargate task).  The stream
# gateway runs from the same image with its own command (`python -m gateway ...`,
# gateway/config.py COMMAND) and health check (infra/stacks/gateway.py).
#
# Build context: the repository root (CDK: ContainerImage.from_asset(repo_root,
# file="infra/docker/matcher.Dockerfile"); by hand:
#   docker build -f infra/docker/matcher.Dockerfile -t exchange-matcher .
# Only chalicelib/, matcher/, gateway/, requirements.txt and infra/docker/ are in the context
# (matcher.Dockerfile.dockerignore beside this file; CDK's asset excludes the same).
# Target platform: linux/arm64 (Graviton Fargate; the task definitions say ARM64).

FROM public.ecr.aws/docker/library/python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
# matcher/requirements.txt = the Lambda runtime set (-r ../requirements.txt) + psycopg;
# gateway/requirements.txt = the WebSocket server library.
COPY requirements.txt ./requirements.txt
COPY matcher/requirements.txt ./matcher/requirements.txt
COPY gateway/requirements.txt ./gateway/requirements.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install -r matcher/requirements.txt -r gateway/requirements.txt

FROM public.ecr.aws/docker/library/python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/venv/bin:$PATH
RUN useradd --system --uid 10001 --home /app matcher
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY chalicelib/ chalicelib/
COPY matcher/ matcher/
COPY gateway/ gateway/
USER 10001
EXPOSE 8080 9443
# ECS stops a task with SIGTERM and waits stopTimeout (60 s) before SIGKILL: the
# matcher finishes its batch, checkpoints and releases its leases in that window.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MATCHER_HEALTH_PORT','8080'), timeout=2)"
# Settings come from the task definition as they are (chalicelib/units.py): REDIS_URL
# without credentials + REDIS_AUTH_SECRET_ARN, DATABASE_URL + PGHOST/PGPORT and the
# PGUSER/PGPASSWORD container secrets (libpq reads them).  No wrapper script.
CMD ["python", "-m", "matcher"]

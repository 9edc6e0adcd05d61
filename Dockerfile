# syntax=docker/dockerfile:1.7
# MindHit: one image for every server component. The command picks the component:
#   docker run IMAGE gateway | processors | projector | web | migrate
# Stages: the dashboard's JavaScript is bundled with Node; Python wheels are built in a
# full image; the runtime is python:3.11-slim with only the virtualenv, as a non-root user.
# The Chrome extension is not part of the image.

ARG PYTHON_VERSION=3.11
ARG NODE_VERSION=20

# ---- 1. dashboard front end (web/frontend -> web/static/dist) ---------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS frontend
WORKDIR /src/web/frontend
COPY web/frontend/package.json web/frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/frontend/ ./
RUN npm run build && test -d /src/web/static/dist

# ---- 2. Python dependencies and the project, installed into /opt/venv ------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (pinned by constraints.txt) so code changes keep this layer cached.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p schema mindhit ingest processors projector web \
    && for p in schema mindhit ingest processors projector web; do touch "$p/__init__.py"; done \
    && pip install -c constraints.txt . \
    && pip uninstall -y mindhit
COPY schema/ schema/
COPY mindhit/ mindhit/
COPY ingest/ ingest/
COPY processors/ processors/
COPY projector/ projector/
COPY web/ web/
COPY --from=frontend /src/web/static/dist/ web/static/dist/
RUN pip install -c constraints.txt --no-deps . \
    && site="$(python -c 'import os, web; print(os.path.dirname(web.__file__))')" \
    && mkdir -p "$site/static/dist" && cp -r web/static/dist/. "$site/static/dist/" \
    && pip check \
    && mindhit --help >/dev/null

# ---- 3. runtime -------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="mindhit" \
      org.opencontainers.image.description="MindHit gateway, processors, projector, dashboard and migrations" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 mindhit \
    && useradd --system --uid 10001 --gid mindhit --home-dir /var/lib/mindhit --create-home mindhit
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MINDHIT_DATA_DIR=/var/lib/mindhit \
    MINDHIT_LOG_FORMAT=json
WORKDIR /var/lib/mindhit
USER 10001:10001
EXPOSE 8000 8001 8002 8080
# Liveness of whichever component runs is checked by the orchestrator on its own port
# (/healthz, /readyz); compose and the Helm chart declare those probes per component.
HEALTHCHECK NONE
ENTRYPOINT ["mindhit"]
CMD ["web"]

# syntax=docker/dockerfile:1
# roomtemp container image: `roomtemp serve` by default, `roomtemp migrate` as the alternative
# command (the Helm/Argo migration Job and the compose `migrate` service run that).
# The embedded PostgreSQL extra is NOT installed: without DATABASE_URL (or DB_HOST...) the
# service refuses to start instead of running a throwaway database.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: resolve nothing, install exactly what uv.lock pins ----------------------------
FROM ${PYTHON_IMAGE} AS builder
SHELL ["/bin/sh", "-eu", "-c"]
# Optional CA bundle for builds behind a TLS-intercepting proxy: pass the path of a file mounted
# into the build (e.g. `--volume host.crt:/run/ca.crt:ro --build-arg SSL_CERT_FILE=/run/ca.crt
# --build-arg PIP_CERT=/run/ca.crt`). Unset by default; never copied into an image layer.
ARG SSL_CERT_FILE
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
# uv in its own venv so it never lands in the runtime image. `python3 -m venv` works both on
# the official python image (/usr/local/bin/python3) and on Debian's python3 (/usr/bin/python3).
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first (cached layer while only the code changes).
COPY pyproject.toml uv.lock README.md ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-install-project --python python3
COPY service ./service
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --python python3 \
    && /opt/venv/bin/roomtemp --help >/dev/null

# ---- runtime: the virtualenv and nothing else -----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="roomtemp" \
      org.opencontainers.image.description="Building temperature analytics: capture ingest and 15-minute rolling averages computed in PostgreSQL." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# Fixed UID/GID so Kubernetes securityContext (runAsUser/fsGroup) and volume ownership agree.
RUN groupadd --system --gid 10001 roomtemp \
    && useradd --system --uid 10001 --gid roomtemp --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin roomtemp
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    GIT_SHA=${REVISION}
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
# uvicorn finishes in-flight requests on SIGTERM before exiting (graceful shutdown).
STOPSIGNAL SIGTERM
# No curl in the image: probe /healthz with the interpreter that is already there.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["roomtemp"]
CMD ["serve"]

# driftline service image: `driftline run --config /etc/driftline/driftline.yml` (see
# docker-compose.yml, which mounts deploy/driftline.yml there).
# Build stage: compiles driftline's native modules (C, CPython's API only) into a wheel.
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor monitor
COPY consumers consumers
COPY alerts alerts
COPY driftline driftline
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/driftline

# The wheel with its dependencies, pinned by the lock file.
COPY requirements-lock.txt ./
COPY --from=build /wheels /wheels
RUN pip install -c requirements-lock.txt /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/driftline driftline \
    && mkdir -p /var/lib/driftline \
    && chown driftline /var/lib/driftline

USER driftline
VOLUME /var/lib/driftline
EXPOSE 9108

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=3)"]

CMD ["driftline", "run", "--config", "/etc/driftline/driftline.yml"]

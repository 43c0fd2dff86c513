# driftline service image: `driftline run --config /etc/driftline/driftline.yml` (see
# docker-compose.yml, which mounts deploy/driftline.yml there).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/driftline

# Dependencies first, pinned by the lock file, so a code change does not reinstall them.
COPY requirements-lock.txt pyproject.toml README.md ./
RUN mkdir monitor consumers alerts \
    && touch monitor/__init__.py consumers/__init__.py alerts/__init__.py \
    && pip install -c requirements-lock.txt . \
    && pip uninstall -y driftline \
    && rm -rf monitor consumers alerts

COPY monitor monitor
COPY consumers consumers
COPY alerts alerts
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/driftline driftline \
    && mkdir -p /var/lib/driftline \
    && chown driftline /var/lib/driftline

USER driftline
VOLUME /var/lib/driftline
EXPOSE 9108

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=3)"]

CMD ["driftline", "run", "--config", "/etc/driftline/driftline.yml"]

# Vielfalt-Lotse: small image, non-root, knowledge bundled, migrations applied at start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite+aiosqlite:////app/data/vielfalt-lotse.sqlite3 \
    EMBEDDING_CACHE_DIR=/app/data/cache

WORKDIR /app

RUN groupadd --system --gid 10001 lotse && useradd --system --uid 10001 --gid lotse --home-dir /app lotse

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY knowledge ./knowledge
RUN pip install --no-cache-dir . \
    && mkdir -p /app/data \
    && chown -R lotse:lotse /app/data

USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8443

# The knowledge base must load and validate, or the container is unhealthy.
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot", "kb", "check"]

# `run` applies database migrations before it starts; add --webhook for webhook mode.
ENTRYPOINT ["python", "-m", "bot"]
CMD ["run"]

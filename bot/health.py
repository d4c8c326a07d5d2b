"""A plain HTTP health endpoint for operators (HEALTH_PORT): GET /health → 200 or 503 JSON."""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import outbox, queries

logger = logging.getLogger(__name__)


async def health(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, dict[str, object]]:
    """(HTTP status, body): the database answers, and how many messages wait for delivery."""
    try:
        async with sessions() as session:
            await queries.ping(session)
            pending = await outbox.count_pending(session)
    except Exception as error:
        return 503, {"status": "unhealthy", "database": error.__class__.__name__}
    return 200, {"status": "ok", "database": "ok", "outbox_pending": pending}


async def serve_health(
    sessions: async_sessionmaker[AsyncSession], *, host: str, port: int
) -> asyncio.Server:
    """Answer GET /health (anything else: 404); one small HTTP/1.0 response per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), timeout=5)).decode(
                errors="replace"
            )
            parts = request_line.split()
            if len(parts) >= 2 and parts[0] == "GET" and parts[1].split("?")[0] == "/health":
                status, body = await health(sessions)
            else:
                status, body = 404, {"status": "not found"}
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    logger.info("health endpoint on port %s", port)
    return server

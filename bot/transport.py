"""The Bot API transport: python-telegram-bot's `BaseRequest` on aiohttp.

PTB's own `HTTPXRequest` parses HTTP in Python (httpx, httpcore, h11) and form-encodes every
call byte by byte (`urllib.parse.quote`); under load (20 people at once, `benchmarks.load`)
that was about 30% of the event loop's busy time (py-spy, samples holding the GIL), the largest
single share. aiohttp parses in C and a call's body here is one `json.dumps` of its
parameters, which the Bot API takes as `application/json`. Calls that upload a file are
multipart, as with PTB's transport.

Behaviour kept from `HTTPXRequest`: the same default timeouts and pool size, a read timeout
per call (getUpdates' long poll passes its own), the longer write timeout for uploads,
proxies from HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY (read once per host; aiohttp's
own `trust_env` reads them and ~/.netrc in a thread on every call), and errors as PTB's
`TimedOut` and `NetworkError`.
aiohttp has no separate write timeout: an upload is bounded as a whole by connect + write +
read time, so one that stalls still ends; other calls by each read, as with httpx. Redirects
are not followed (httpx does not either).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

logger = logging.getLogger(__name__)
_JSON = {"Content-Type": "application/json"}


def _json_body(parameters: dict[str, Any]) -> bytes:
    """The call's parameters as UTF-8 JSON (escaped where a text holds a lone surrogate, which
    UTF-8 cannot carry)."""
    try:
        return json.dumps(parameters, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(parameters).encode()


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """Bot API calls over one aiohttp session (keep-alive, at most `connection_pool_size`
    connections)."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # PTB reads the body itself and raises on Telegram's error codes.
                raise_for_status=False,
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for `url`'s scheme and host (None: direct)."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            proxies = getproxies_environment()
            bypass = proxy_bypass(parts.hostname or "")
            proxy = None if bypass else proxies.get(parts.scheme) or proxies.get("all")
            if proxy is not None and urlsplit(proxy).scheme not in ("http", "https"):
                # aiohttp speaks to HTTP proxies only (a socks5:// one would fail every call).
                logger.warning(
                    "ignoring the proxy for %s: only http(s) proxies are supported", key[1]
                )
                proxy = None
            self._proxies[key] = proxy
        return self._proxies[key]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One call: (HTTP status, body)."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _seconds(read_timeout, self._read_timeout)
        write = _seconds(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        # An upload is bounded as a whole (aiohttp has no write timeout); everything else, a
        # file download included, by each read: a large PDF on a slow link still arrives.
        parts = (connect, pool, write, read)
        whole = None if not files or None in parts else sum(p or 0.0 for p in parts)
        timeout = aiohttp.ClientTimeout(
            total=whole,
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        body: Any
        headers: dict[str, str] | None = None
        if files:
            body = aiohttp.FormData(quote_fields=False)
            for name, value in (request_data.json_parameters if request_data else {}).items():
                body.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                # A line break in a header would be refused: names come from stored rows.
                safe = " ".join(filename.split()) if filename else filename
                body.add_field(name, content, filename=safe, content_type=mimetype)
        elif request_data is not None and request_data.parameters:
            body = _json_body(request_data.parameters)
            headers = _JSON
        else:
            body = None
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                proxy=self.proxy_for(url),
                # As PTB's transport: a redirect (a wrong BOT_API_BASE_URL) is an error to see,
                # not a POST silently turned into a GET without its parameters.
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # before ClientError: ServerTimeoutError is both
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error

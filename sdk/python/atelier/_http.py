"""HTTP client for the Atelier API, built on http.client.

One :class:`HTTPClient` is shared by everything a Session does. It keeps one
keep-alive connection per thread, adds the bearer token, turns error answers
into :class:`~atelier.errors.AtelierError`, asks its auth source for a fresh
token once when the server answers 401, and streams request and response
bodies through a fixed-size buffer so that no file is ever held in memory.
"""

import http.client
import json
import ssl
import threading
import urllib.parse

from . import errors
from .errors import AtelierError

DEFAULT_TIMEOUT = 300.0
"""Seconds a socket operation may block before the request fails."""

BUFFER_SIZE = 256 * 1024
"""Bytes moved per read or write when streaming a body."""

_MAX_JSON_BYTES = 16 * 1024 * 1024

# Errors that mean a kept-alive connection was closed by the server while idle:
# the request is sent again once on a fresh connection.
_STALE_CONNECTION_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)


class FileBody:
    """FileBody is a request body read from a local file, reopened on every try.

    It is immutable and safe for concurrent use.
    """

    __slots__ = ("path", "size")

    def __init__(self, path, size):
        self.path = path
        self.size = size


class _ExactReader:
    """_ExactReader yields exactly ``size`` bytes of a file to http.client.

    A file that grows while it is sent is cut at ``size`` (the server then
    refuses the mismatching digest); one that shrinks raises, so that the
    connection is dropped instead of leaving the server waiting for bytes.
    """

    def __init__(self, f, size, path):
        self._f = f
        self._left = size
        self._path = path

    def read(self, n=-1):
        if self._left <= 0:
            return b""
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        if not data:
            raise AtelierError(
                errors.CODE_CHECKSUM,
                "%s became shorter while it was being uploaded; nothing was stored" % self._path,
            )
        self._left -= len(data)
        return data


class Response:
    """Response is a complete (non-streamed) answer: status, headers and body bytes."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def request_id(self):
        return self.headers.get("X-Request-Id")

    def json(self):
        """The body decoded as JSON; AtelierError when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AtelierError(
                errors.CODE_BAD_RESPONSE,
                "the server answered HTTP %d with a body that is not JSON" % self.status,
                self.status,
                self.request_id,
            ) from e


class StreamResponse:
    """StreamResponse is a successful answer whose body is read in pieces.

    Use it as a context manager; closing it returns the connection to the
    thread's pool when the body was read to the end. Not safe for concurrent use.
    """

    def __init__(self, client, conn, resp):
        self._client = client
        self._conn = conn
        self._resp = resp
        self.status = resp.status
        self.headers = resp.headers

    @property
    def request_id(self):
        return self.headers.get("X-Request-Id")

    def readinto(self, buf):
        """Read into ``buf``; returns the number of bytes read, 0 at the end."""
        try:
            return self._resp.readinto(buf)
        except (OSError, http.client.HTTPException) as e:
            raise AtelierError(
                errors.CODE_CONNECTION,
                "the connection to %s broke while reading the answer: %s"
                % (self._client.endpoint, _describe(e)),
                self.status,
                self.request_id,
            ) from e

    def read1(self, n):
        """Read what has arrived, up to ``n`` bytes, waiting only for the
        first; b"" at the end. For live streams (logs), where readinto would
        wait to fill its buffer. A body shorter than its Content-Length
        raises a connection error."""
        try:
            data = self._resp.read1(n)
        except (OSError, ValueError, http.client.HTTPException) as e:
            raise AtelierError(
                errors.CODE_CONNECTION,
                "the connection to %s broke while reading the answer: %s"
                % (self._client.endpoint, _describe(e)),
                self.status,
                self.request_id,
            ) from e
        if not data and self._resp.length:
            raise AtelierError(errors.CODE_CONNECTION, "the answer ended early",
                               self.status, self.request_id)
        return data

    def close(self):
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        self._client._release(conn, self._resp)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class HTTPClient:
    """HTTPClient sends requests to one Atelier endpoint.

    ``auth`` is an object with ``current()`` returning the bearer token (or
    None) and ``refresh(failed_token)`` returning True when a new token is
    available after a 401. HTTPClient is safe for concurrent use: each thread
    gets its own connection.
    """

    def __init__(self, endpoint, user_agent, timeout=DEFAULT_TIMEOUT, auth=None):
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(
                "endpoint must be an http:// or https:// URL like 'http://127.0.0.1:8080': %r"
                % (endpoint,)
            )
        self.endpoint = endpoint.rstrip("/")
        self._https = u.scheme == "https"
        self._host = u.hostname
        try:
            self._port = u.port
        except ValueError as e:
            raise ValueError("endpoint has an invalid port: %r" % (endpoint,)) from e
        self._base_path = u.path.rstrip("/")
        self._user_agent = user_agent
        self._timeout = timeout
        self._local = threading.local()
        self._ssl_context = ssl.create_default_context() if self._https else None
        self.auth = auth

    # -- connections ---------------------------------------------------------

    def _new_conn(self):
        if self._https:
            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self._timeout,
                context=self._ssl_context,
                blocksize=BUFFER_SIZE,
            )
        return http.client.HTTPConnection(
            self._host, self._port, timeout=self._timeout, blocksize=BUFFER_SIZE
        )

    def _take_conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            return conn, True
        return self._new_conn(), False

    def _release(self, conn, resp):
        """Pool ``conn`` for this thread if its last answer was read to the end."""
        complete = resp is not None and resp.isclosed() and not resp.length
        if complete and getattr(self._local, "conn", None) is None:
            self._local.conn = conn
        else:
            conn.close()

    def close(self):
        """Close this thread's pooled connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    # -- requests ------------------------------------------------------------

    def _url(self, path, query):
        url = self._base_path + path
        if query:
            q = {k: v for k, v in query.items() if v is not None}
            if q:
                url += "?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)
        return url

    def _send_once(self, method, url, headers, body):
        """Send one request on a pooled or new connection; returns (conn, resp).

        A kept-alive connection that the server closed while idle is replaced
        by a fresh one and the request sent again, once.
        """
        for attempt in (0, 1):
            # Local file errors (missing, unreadable) surface as they are.
            f = open(body.path, "rb") if isinstance(body, FileBody) else None
            conn, reused = self._take_conn()
            try:
                return conn, self._exchange(conn, method, url, headers, body, f)
            except _STALE_CONNECTION_ERRORS as e:
                conn.close()
                if reused and attempt == 0:
                    continue
                raise self._conn_error(e) from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                raise self._conn_error(e) from e
            except BaseException:
                conn.close()
                raise
            finally:
                if f is not None:
                    f.close()
        raise AssertionError("unreachable")

    def _exchange(self, conn, method, url, headers, body, f):
        if f is None:
            conn.request(method, url, body=body, headers=headers)
            return conn.getresponse()
        try:
            conn.request(method, url, body=_ExactReader(f, body.size, body.path), headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # The server may have answered early (an unknown bucket, a body
            # too large) and stopped reading: that answer is the useful one,
            # so try to read it before giving up.
            try:
                return conn.getresponse()
            except (OSError, http.client.HTTPException):
                pass
            raise
        return conn.getresponse()

    def _conn_error(self, e):
        return AtelierError(
            errors.CODE_CONNECTION,
            "cannot talk to the Atelier server at %s: %s" % (self.endpoint, _describe(e)),
        )

    def _headers(self, headers, body, token):
        h = {"User-Agent": self._user_agent, "Accept": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        if isinstance(body, FileBody):
            h["Content-Length"] = str(body.size)
        elif body is not None:
            h["Content-Length"] = str(len(body))
        if headers:
            h.update(headers)
        return h

    def _open(self, method, path, query=None, headers=None, body=None, auth=True):
        """Send a request, retrying once with a fresh token after a 401.

        Returns (conn, resp) with the response unread.
        """
        url = self._url(path, query)
        source = self.auth if auth else None
        for attempt in (0, 1):
            token = source.current() if source is not None else None
            conn, resp = self._send_once(method, url, self._headers(headers, body, token), body)
            if resp.status == 401 and attempt == 0 and source is not None:
                body_bytes = self._read_all(conn, resp, method)
                if source.refresh(token):
                    continue
                raise error_from_response(resp.status, resp.headers, body_bytes)
            return conn, resp
        raise AssertionError("unreachable")

    def _read_all(self, conn, resp, method):
        try:
            data = resp.read(_MAX_JSON_BYTES + 1) if method != "HEAD" else b""
            if len(data) > _MAX_JSON_BYTES:
                raise AtelierError(
                    errors.CODE_BAD_RESPONSE,
                    "the server's answer is larger than %d bytes" % _MAX_JSON_BYTES,
                    resp.status,
                    resp.headers.get("X-Request-Id"),
                )
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._conn_error(e) from e
        except BaseException:
            conn.close()
            raise
        self._release(conn, resp)
        return data

    def request(self, method, path, query=None, headers=None, body=None, auth=True):
        """Send a request and read the whole answer; returns a :class:`Response`.

        Error statuses are returned, not raised; see :meth:`call`.
        """
        conn, resp = self._open(method, path, query, headers, body, auth)
        data = self._read_all(conn, resp, method)
        return Response(resp.status, resp.headers, data)

    def call(self, method, path, query=None, json_body=None, headers=None, auth=True, body=None):
        """Send a request and return its JSON answer (None for an empty body).

        ``json_body`` is encoded as JSON; ``body`` may instead be bytes or a
        :class:`FileBody`. Any status >= 400 raises AtelierError.
        """
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            h.setdefault("Content-Type", "application/json")
        r = self.request(method, path, query, h, body, auth)
        if r.status >= 400:
            raise error_from_response(r.status, r.headers, r.body)
        return r.json()

    def stream(self, method, path, query=None, headers=None):
        """Send a request and return a :class:`StreamResponse` over its body.

        Any status >= 400 raises AtelierError.
        """
        conn, resp = self._open(method, path, query, headers, None, True)
        if resp.status >= 400:
            data = self._read_all(conn, resp, method)
            raise error_from_response(resp.status, resp.headers, data)
        return StreamResponse(self, conn, resp)


def error_from_response(status, headers, body):
    """Build the AtelierError for an error answer (either API error shape)."""
    request_id = headers.get("X-Request-Id") if headers is not None else None
    code = message = None
    if body:
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            code = doc.get("error_code")
            message = doc.get("error_msg")
            request_id = doc.get("request_id") or request_id
    if not code:
        code = errors.CODE_BAD_RESPONSE
    if not message:
        reason = http.client.responses.get(status, "")
        message = ("the server answered HTTP %d %s" % (status, reason)).strip()
    return AtelierError(code, message, status, request_id)


def _describe(e):
    text = str(e)
    if not text:
        return type(e).__name__
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return text


"""FakeServer: a scripted in-process HTTP server for the SDK's unit tests.

Tests register handlers per (method, path) and read back the requests the
SDK sent. The end-to-end tests use the real server instead (tests/server.py).
"""

import http.server
import json
import threading


class Recorded:
    """Recorded is one request as the fake server saw it."""

    def __init__(self, method, path, headers, body, conn_id):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.conn_id = conn_id

    def json(self):
        return json.loads(self.body)


class Reply:
    """Reply is what a handler answers: status, headers, body, and whether to drop the connection."""

    def __init__(self, status=200, body=b"", headers=None, close_after=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.close_after = close_after


def error(status, code, msg, request_id="req-1"):
    return Reply(status, {"error_code": code, "error_msg": msg, "request_id": request_id})


class FakeServer:
    """FakeServer serves scripted replies on 127.0.0.1 on a free port.

    ``routes[(method, path_without_query)]`` is a callable taking the
    :class:`Recorded` request and returning a :class:`Reply`. Safe for use
    from the test thread while the server threads run.
    """

    def __init__(self):
        self.routes = {}
        self.fallback = None
        self.requests = []
        self._lock = threading.Lock()
        self._conn_counter = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with fake._lock:
                    fake._conn_counter += 1
                    self.conn_id = fake._conn_counter

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                rec = Recorded(self.command, self.path, self.headers, body, self.conn_id)
                with fake._lock:
                    fake.requests.append(rec)
                    route = fake.routes.get((self.command, path)) or fake.fallback
                reply = route(rec) if route else error(404, "ATL.GEN.0004", "no route")
                self.send_response(reply.status)
                has_len = False
                for k, v in reply.headers.items():
                    if k.lower() == "content-length":
                        has_len = True
                    self.send_header(k, v)
                if not has_len:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.send_header("X-Request-Id", "req-1")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)
                self.wfile.flush()
                if reply.close_after:
                    self.close_connection = True

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def reset(self):
        """Forget all routes and recorded requests."""
        with self._lock:
            self.routes.clear()
            self.requests.clear()
            self.fallback = None

    def route(self, method, path, handler):
        self.routes[(method, path)] = handler

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class FakeObjectStore:
    """FakeObjectStore answers the OBS object routes from a dict, for one bucket.

    Listings return at most ``page_size`` keys per page so that clients must
    follow continuation tokens. Install it as ``fake.fallback``.
    """

    def __init__(self, bucket, page_size=2):
        self.bucket = bucket
        self.page_size = page_size
        self.objects = {}
        self._lock = threading.Lock()

    def __call__(self, req):
        import hashlib
        import urllib.parse

        u = urllib.parse.urlsplit(req.path)
        prefix = "/v1/obs/%s" % self.bucket
        if not u.path.startswith(prefix):
            return error(404, "ATL.OBS.0003", "bucket does not exist")
        rest = u.path[len(prefix):]
        if rest in ("", "/") and req.method == "GET":
            q = urllib.parse.parse_qs(u.query)
            pfx = q.get("prefix", [""])[0]
            start = q.get("continuation_token", [""])[0]
            with self._lock:
                keys = sorted(k for k in self.objects if k.startswith(pfx) and k > start)
            page = keys[: self.page_size]
            doc = {"bucket": self.bucket, "prefix": pfx, "common_prefixes": [],
                   "objects": [{"bucket": self.bucket, "key": k, "size": len(self.objects[k])}
                               for k in page],
                   "is_truncated": len(keys) > len(page)}
            if doc["is_truncated"]:
                doc["next_continuation_token"] = page[-1]
            return Reply(200, doc)
        key = urllib.parse.unquote(rest[1:])
        if req.method == "PUT":
            if req.headers.get("x-atelier-sha256") != hashlib.sha256(req.body).hexdigest():
                return error(400, "ATL.OBS.0008", "digest mismatch")
            with self._lock:
                self.objects[key] = req.body
            return Reply(200, {"bucket": self.bucket, "key": key, "size": len(req.body)})
        if req.method == "GET":
            with self._lock:
                data = self.objects.get(key)
            if data is None:
                return error(404, "ATL.OBS.0006", "object does not exist")
            return Reply(200, data, {"x-atelier-sha256": hashlib.sha256(data).hexdigest()})
        return error(405, "ATL.GEN.0011", "method not allowed")

"""Receive Atelier event callbacks (CONTRACT §5) in a subscribed app.

Atelier POSTs each event as JSON ``{"nonce","timestamp","eventType","data",
"signature"}``. This module checks the HMAC-SHA256 signature, the timestamp
skew and the nonce (duplicates), decrypts ``data`` when the app has an
encryption key (AES-GCM, ``Base64(IV ‖ ciphertext ‖ tag)`` over
``<16 random ASCII letters>&<event JSON>``), and builds the reply
``{"code":"200","message":"success","data":…}``. ``CHECK_URL`` is answered by
echoing the (decrypted) random string, encrypted again when encryption is on.

Key rotation: Atelier can rotate an app's signing key, encryption key and
security token. During an overlap window it keeps signing, encrypting and
sending ``Authorization: Bearer`` with the old ones, then switches to the new
ones. Give :func:`make_handler` (and :func:`open_envelope`) a list of the old
and the new values for the window: any listed signing key may have signed,
data is decrypted with the first listed encryption key that authenticates it
(and ``CHECK_URL`` is answered under that same key), and any listed token is
accepted. Drop the old ones after the window.

AES-GCM is implemented in pure Python (:mod:`atelier._aesgcm`), so encrypted
payloads are limited to 64 KiB (:data:`MAX_PAYLOAD`); that covers callback
events, which are small.

A minimal receiver::

    from http.server import ThreadingHTTPServer
    from atelier import callback

    def on_event(event_type, event):
        print(event_type, event)

    handler = callback.make_handler("my-signing-key", "0123456789abcdef", on_event,
                                    security_token="my-security-token")
    # during a rotation: make_handler(["old-signing", "new-signing"],
    #     ["old-encryption-key", "new-encryption-key"], on_event,
    #     security_token=["old-token", "new-token"])
    ThreadingHTTPServer(("0.0.0.0", 8080), handler).serve_forever()

All functions are safe for concurrent use; :class:`NonceCache` is too.
"""

import base64
import binascii
import collections
import hashlib
import hmac
import http.server
import json
import secrets
import string
import threading
import time

from ._aesgcm import AESGCM, IV_SIZE, MAX_PAYLOAD, TAG_SIZE, AuthenticationError

__all__ = [
    "CHECK_URL",
    "MAX_PAYLOAD",
    "CallbackError",
    "SignatureError",
    "TimestampError",
    "ReplayError",
    "DecryptError",
    "NonceCache",
    "sign",
    "verify",
    "encrypt",
    "decrypt",
    "decrypt_any",
    "open_envelope",
    "reply",
    "check_url_reply",
    "make_handler",
]

CHECK_URL = "CHECK_URL"
"""The event type Atelier sends when a callback URL is set; see :func:`check_url_reply`."""

MAX_BODY = 4 * MAX_PAYLOAD
"""The largest request body in bytes the handler from :func:`make_handler` reads."""

_FIELDS = ("nonce", "timestamp", "eventType", "data", "signature")
_LETTERS = string.ascii_letters


class CallbackError(ValueError):
    """CallbackError is the base of every error raised while opening a callback."""


class SignatureError(CallbackError):
    """SignatureError means the envelope is malformed or its signature does not match."""


class TimestampError(CallbackError):
    """TimestampError means the envelope's timestamp is malformed or too far from now."""


class ReplayError(CallbackError):
    """ReplayError means the envelope's nonce was already seen (a duplicate delivery)."""


class DecryptError(CallbackError):
    """DecryptError means ``data`` is not valid Base64(IV ‖ ciphertext ‖ tag) for the key."""


class NonceCache:
    """NonceCache remembers recently seen nonces to drop duplicate deliveries.

    It keeps at most ``max_size`` nonces (oldest evicted first), each for
    ``ttl`` seconds. It is safe for concurrent use.
    """

    def __init__(self, max_size: int = 10000, ttl: float = 3600.0, clock=time.time):
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max = max_size
        self._ttl = ttl
        self._clock = clock
        self._seen = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, nonce: str) -> bool:
        """add records nonce and returns True if it was new, False if already seen."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self._ttl:
                    break
                del self._seen[oldest]
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)
            return True

    def discard(self, nonce: str) -> None:
        """discard forgets nonce, so a redelivery of it is processed again."""
        with self._lock:
            self._seen.pop(nonce, None)

    def __len__(self):
        with self._lock:
            return len(self._seen)


def _key_bytes(key: str, what: str) -> bytes:
    """The key's bytes, without one final line ending.

    A key read from a file (``open("signing.key").read()``) usually ends
    with "\n"; keys are printable ASCII, so one final "\n" or "\r\n" is
    never part of them. The CLI's ``--signing-key-file`` drops it the same way.
    """
    if isinstance(key, str):
        b = key.encode("utf-8")
    elif isinstance(key, (bytes, bytearray)):
        b = bytes(key)
    else:
        raise TypeError("%s must be a str" % what)
    if b.endswith(b"\n"):
        b = b[:-2] if b.endswith(b"\r\n") else b[:-1]
    return b


def _keys(value, what):
    """_keys returns value as a list of non-empty keys: None, "" or an empty list give []."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, bytearray)):
        value = [value]
    elif not isinstance(value, (list, tuple)):
        raise TypeError("%s must be a str or a list or tuple of str" % what)
    out = []
    for v in value:
        if not isinstance(v, (str, bytes, bytearray)):
            raise TypeError("%s must be a str or a list or tuple of str" % what)
        if v:
            out.append(v)
    return out


def _enc_key(key) -> bytes:
    b = _key_bytes(key, "encryption_key")
    if len(b) not in (16, 24, 32):
        raise ValueError("encryption_key must be 16, 24 or 32 bytes in UTF-8, got %d" % len(b))
    return b


def sign(signing_key: str, nonce: str, timestamp: str, event_type: str, data: str) -> str:
    """sign returns Base64(HMAC-SHA256(signing_key, nonce&timestamp&eventType&data))."""
    msg = "&".join((nonce, timestamp, event_type, data)).encode("utf-8")
    mac = hmac.new(_key_bytes(signing_key, "signing_key"), msg, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def verify(signing_key, envelope: dict) -> None:
    """verify checks the envelope's fields and signature, raising SignatureError on mismatch.

    ``signing_key`` is a str or a list/tuple of them (during a key rotation):
    the signature must match one of them. Every key is tried, each compared in
    constant time. Empty keys are ignored; with none left it raises
    SignatureError.
    """
    keys = _keys(signing_key, "signing_key")
    if not keys:
        raise SignatureError("no signing key is configured")
    if not isinstance(envelope, dict):
        raise SignatureError("callback body must be a JSON object")
    for f in _FIELDS:
        if not isinstance(envelope.get(f), str):
            raise SignatureError("callback field %r is missing or not a string" % f)
    got = envelope["signature"].encode("utf-8")
    ok = False
    for key in keys:
        want = sign(key, envelope["nonce"], envelope["timestamp"], envelope["eventType"], envelope["data"])
        ok |= hmac.compare_digest(want.encode("ascii"), got)
    if not ok:
        raise SignatureError("callback signature does not match")


def encrypt(key: str, event_json: str, *, iv: bytes = None, prefix: str = None) -> str:
    """encrypt returns Base64(IV ‖ ciphertext ‖ tag) of ``<prefix>&<event_json>``.

    ``prefix`` (16 random ASCII letters) and ``iv`` (12 random bytes) are
    generated when not given; pass them only for reproducible tests.
    """
    k = _enc_key(key)
    if prefix is None:
        prefix = "".join(secrets.choice(_LETTERS) for _ in range(16))
    if iv is None:
        iv = secrets.token_bytes(IV_SIZE)
    pt = (prefix + "&" + event_json).encode("utf-8")
    return base64.b64encode(iv + AESGCM(k).encrypt(iv, pt)).decode("ascii")


def decrypt(key: str, data: str) -> str:
    """decrypt opens Base64(IV ‖ ciphertext ‖ tag) and returns the text after the first '&'.

    It raises DecryptError for bad Base64, truncated input, a wrong key, a
    tampered tag, or a plaintext without '&', and ValueError for a key that
    is not 16, 24 or 32 bytes.
    """
    _enc_key(key)
    return decrypt_any([key], data)[0]


def decrypt_any(keys, data: str):
    """decrypt_any is :func:`decrypt` with several candidate keys, as during a key rotation.

    It returns ``(text, key)``: the text after the first '&' under the first
    of ``keys`` (a str or a list/tuple of them) that authenticates ``data``,
    and that key, to answer ``CHECK_URL`` with. Empty keys are ignored. It
    raises ValueError when no key is left or one has a bad length, and
    DecryptError when data is malformed or no key opens it.
    """
    keys = _keys(keys, "encryption_key")
    if not keys:
        raise ValueError("no encryption key is configured")
    gcms = [AESGCM(_enc_key(k)) for k in keys]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise DecryptError("callback data is not valid Base64") from e
    if len(raw) < IV_SIZE + TAG_SIZE:
        raise DecryptError("callback data is %d bytes, shorter than IV and tag" % len(raw))
    for key, gcm in zip(keys, gcms):
        try:
            pt = gcm.decrypt(raw[:IV_SIZE], raw[IV_SIZE:])
        except AuthenticationError:
            continue  # not this key
        except ValueError as e:
            raise DecryptError("callback data: %s" % e) from e
        try:
            text = pt.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecryptError("callback plaintext is not UTF-8") from e
        _, sep, rest = text.partition("&")
        if not sep:
            raise DecryptError("callback plaintext has no '&' after the random prefix")
        return rest, key
    raise DecryptError("callback data failed authentication (tampered or wrong key)")


def _open(signing_key, encryption_key, body, now, max_skew, nonce_cache):
    """_open returns (nonce, event_type, event, key) after all checks; see open_envelope.

    ``key`` is the encryption key that decrypted the data, or None.
    """
    if isinstance(body, (bytes, bytearray)):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as e:
            raise SignatureError("callback body is not UTF-8") from e
    try:
        env = json.loads(body)
    except ValueError as e:
        raise SignatureError("callback body is not JSON") from e
    verify(signing_key, env)
    ts = env["timestamp"]
    if not ts.isdigit() or not ts.isascii():
        raise TimestampError("callback timestamp %r is not milliseconds since the epoch" % ts[:32])
    if now is None:
        now = time.time()
    if abs(now * 1000 - int(ts)) > max_skew * 1000:
        raise TimestampError("callback timestamp is more than %s seconds from now" % max_skew)
    nonce, event_type, data = env["nonce"], env["eventType"], env["data"]
    key = None
    if _keys(encryption_key, "encryption_key"):
        data, key = decrypt_any(encryption_key, data)
    if event_type == CHECK_URL:
        event = data
    else:
        try:
            event = json.loads(data)
        except ValueError as e:
            raise CallbackError("callback data of %s is not JSON" % event_type) from e
    if nonce_cache is not None and not nonce_cache.add(nonce):
        raise ReplayError("callback nonce was already seen")
    return nonce, event_type, event, key


def open_envelope(signing_key, encryption_key, body_bytes, now=None, max_skew=300, *, nonce_cache=None):
    """open_envelope verifies and opens one callback body and returns (event_type, event).

    ``event`` is the decoded event JSON, or for ``CHECK_URL`` the random
    string to echo. ``encryption_key`` is None (or "") when the app has no
    encryption key. Either may also be a list/tuple of keys during a key
    rotation (see the module's doc). ``now`` is seconds since the epoch (default: the current
    time); a timestamp more than ``max_skew`` seconds away raises
    TimestampError. With a :class:`NonceCache`, a nonce seen before raises
    ReplayError (checked last, so only authentic envelopes are remembered).
    """
    _, event_type, event, _ = _open(signing_key, encryption_key, body_bytes, now, max_skew, nonce_cache)
    return event_type, event


def reply(data=None) -> bytes:
    """reply returns the success body ``{"code":"200","message":"success","data":data}``."""
    return json.dumps({"code": "200", "message": "success", "data": data}, separators=(",", ":")).encode("utf-8")


def check_url_reply(random_string: str, encryption_key: str = None) -> bytes:
    """check_url_reply returns the reply to CHECK_URL echoing random_string.

    random_string is the decrypted string from :func:`open_envelope`; it is
    encrypted again (fresh IV and prefix) when encryption_key is set.
    """
    if encryption_key:
        return reply(encrypt(encryption_key, random_string))
    return reply(random_string)


def make_handler(signing_key, encryption_key, on_event, *, security_token=None, max_skew=300,
                 nonce_cache=None, clock=time.time):
    """make_handler returns a BaseHTTPRequestHandler subclass that receives callbacks.

    ``on_event(event_type, event)`` is called once per new authentic event;
    its return value becomes the reply's data, and an exception makes
    the reply a 500 so Atelier retries. CHECK_URL is answered automatically.
    Duplicates (same nonce) are acknowledged with 200 without calling
    on_event. With ``security_token`` the ``Authorization: Bearer`` header
    must carry it. A bad token or signature gets 401, other invalid envelopes
    (a stale timestamp, data that does not decrypt) 400.

    ``signing_key``, ``encryption_key`` and ``security_token`` are each a str
    or, during a key rotation, a list/tuple of str: any listed signing key may
    have signed, data is decrypted with the first listed encryption key that
    authenticates it and CHECK_URL is echoed under that key, and any listed
    token is accepted. Empty strings are ignored; no encryption key means
    plain data, no token means no token check. It raises ValueError when no
    signing key is given or an encryption key is not 16, 24 or 32 bytes.
    """
    signing_keys = _keys(signing_key, "signing_key")
    if not signing_keys:
        raise ValueError("make_handler needs a signing key")
    encryption_keys = _keys(encryption_key, "encryption_key")
    for k in encryption_keys:
        _enc_key(k)
    tokens = [t.encode("utf-8") if isinstance(t, str) else bytes(t)
              for t in _keys(security_token, "security_token")]
    cache = nonce_cache if nonce_cache is not None else NonceCache()

    def authorized(header):
        if not tokens:
            return True
        scheme, _, got = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        got = got.encode("utf-8")
        ok = False
        for t in tokens:
            ok |= hmac.compare_digest(got, t)
        return ok

    class CallbackHandler(http.server.BaseHTTPRequestHandler):
        """CallbackHandler answers Atelier event callbacks; one instance per request."""

        def log_message(self, format, *args):  # noqa: A002 - signature from the base class
            pass

        def _send(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _fail(self, status, message):
            body = json.dumps({"code": str(status), "message": message, "data": None}).encode("utf-8")
            self._send(status, body)

        def do_POST(self):  # noqa: N802 - name from the base class
            if not authorized(self.headers.get("Authorization")):
                return self._fail(401, "bad security token")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._fail(411, "Content-Length required")
            if length < 0 or length > MAX_BODY:
                return self._fail(413, "callback body too large")
            body = self.rfile.read(length)
            try:
                nonce, event_type, event, key = _open(signing_keys, encryption_keys, body, clock(), max_skew, cache)
            except ReplayError:
                return self._send(200, reply())
            except SignatureError as e:
                return self._fail(401, str(e))
            except CallbackError as e:
                return self._fail(400, str(e))
            if event_type == CHECK_URL:
                return self._send(200, check_url_reply(event, key))
            try:
                result = on_event(event_type, event)
                out = reply(result)
            except Exception:  # the app's handler failed: let Atelier retry
                cache.discard(nonce)
                return self._fail(500, "event handler failed")
            return self._send(200, out)

    return CallbackHandler

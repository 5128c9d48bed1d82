"""Callbacks: manage an app's event callback and look at its deliveries.

This is the sending side of event callbacks (CONTRACT §5; docs/api.md,
"Event callbacks"): an admin of the app's tenant tells Atelier where to POST
the app's events, with which keys, and reads what was delivered. The
receiving side, in the app, is :mod:`atelier.callback`. ::

    from atelier import Session
    from atelier.callbacks import Callbacks

    cb = Callbacks(Session())
    cb.set("my-app", url="https://app.example.com/atelier/events",
           event_types=["CREATE_USER", "DELETE_USER"],
           signing_key="0123456789abcdef-signing",
           encryption_key="0123456789abcdef",
           security_token="my-security-token-0123")
    for d in cb.deliveries("my-app", state="DEAD"):
        print(d["id"], d["event_type"], d["last_error"])
    cb.redeliver("my-app")                     # every dead delivery again

Setting a new URL or new keys makes Atelier send ``CHECK_URL`` to the URL
first: nothing is saved unless the receiver echoes the challenge, so start
the receiver (configured with the same keys and token) before calling
:meth:`Callbacks.set`. Keys and tokens are never shown back; a security token
Atelier generates (``set`` without one on the first call, or ``rotate`` with
``new_security_token=True``) is in that answer's ``"security_token"`` only.

Every method is one API call and returns its decoded JSON answer. Arguments
the SDK can check itself raise ValueError or TypeError before any request is
sent; refusals of the server raise :class:`~atelier.errors.AtelierError` with
the server's code (``ATL.EVT.*`` for callbacks, e.g. ``ATL.EVT.0003`` for a
key of the wrong length).
"""

import datetime
import numbers

from . import paths

DELIVERY_STATES = ("PENDING", "IN_FLIGHT", "DELIVERED", "DEAD")
"""The states a delivery may be in."""

MAX_PAGE = 1000
"""The most deliveries the server answers per page."""

GENERATE = "generate"
"""The rotation's ``security_token`` value that makes Atelier generate a token."""


# -- argument checks ---------------------------------------------------------------


def _id(value, param):
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    value = str(value)
    if not value or "/" in value:
        raise ValueError("%s must be a non-empty id without '/': %r" % (param, value))
    return value


def _str(value, param):
    if value is None or isinstance(value, str):
        return value
    raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))


def _bool(value, param):
    if value is None or isinstance(value, bool):
        return value
    raise TypeError("%s must be True or False, not %r" % (param, value))


def _event_types(value):
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("event_types must be a list of str like ['CREATE_USER'], not a str")
    out = list(value)
    for t in out:
        if not isinstance(t, str):
            raise TypeError("event_types must hold str, not %s" % type(t).__name__)
    return out


def _time(value, param):
    """An RFC 3339 time for the wire: a datetime (naive means local time) or a str as it is."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("%s must be an RFC 3339 time like '2025-01-02T15:04:05Z', not empty"
                             % param)
        return value.strip()
    raise TypeError("%s must be a datetime or an RFC 3339 str, not %s"
                    % (param, type(value).__name__))


def _limit(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("limit must be an int, not %s" % type(value).__name__)
    if not 1 <= value <= MAX_PAGE:
        raise ValueError("limit must be 1 to %d, not %d" % (MAX_PAGE, value))
    return int(value)


def _app_path(client_id, *rest):
    p = "/v1/apps/" + paths.quote_bucket(_id(client_id, "client_id")) + "/callback"
    for r in rest:
        p += "/" + paths.quote_bucket(str(r))
    return p


# -- the API ---------------------------------------------------------------------


class Callbacks:
    """Callbacks calls the event callback API of one server through a Session.

    ``Callbacks(session)`` sends nothing. The caller must be an admin of the
    app's tenant. It holds only the session and is safe for concurrent use
    as far as the Session is.
    """

    def __init__(self, session):
        self.session = session

    def __repr__(self):
        return "Callbacks(%r)" % (self.session,)

    def event_types(self):
        """The event types an app can subscribe to, in documentation order."""
        doc = self.session.call("GET", "/v1/callback/event-types") or {}
        return list(doc.get("event_types") or [])

    def set(self, client_id, url=None, event_types=None, signing_key=None, encryption_key=None,
            security_token=None, ordered=None, enabled=None):
        """Create or change the app's callback and return the subscription.

        Arguments left None keep their value (the first call needs ``url``
        and ``signing_key``; it subscribes to every event type unless
        ``event_types`` says otherwise). ``signing_key`` is 16–64 and
        ``encryption_key`` 16, 24 or 32 printable ASCII characters;
        ``encryption_key=""`` turns encryption off. ``security_token`` (16–128
        characters) is sent as ``Authorization: Bearer``; ``""``, or none on
        the first call, makes Atelier generate one, returned once as the
        answer's ``"security_token"``. ``ordered`` delivers a subject's events
        one at a time in commit order; ``enabled=False`` pauses deliveries
        (events keep being queued).

        The answer is ``{"client_id", "tenant_id", "url", "event_types",
        "ordered", "enabled", "encrypted", "rotation_at", "created_at",
        "updated_at"}`` plus ``"security_token"`` when Atelier generated it.
        A new URL or new keys are proved with CHECK_URL first: a receiver
        that does not echo the challenge raises AtelierError ATL.EVT.0005.
        """
        body = {}
        for name, value in (("url", _str(url, "url")),
                            ("event_types", _event_types(event_types)),
                            ("signing_key", _str(signing_key, "signing_key")),
                            ("encryption_key", _str(encryption_key, "encryption_key")),
                            ("security_token", _str(security_token, "security_token")),
                            ("ordered", _bool(ordered, "ordered")),
                            ("enabled", _bool(enabled, "enabled"))):
            if value is not None:
                body[name] = value
        return self.session.call("PUT", _app_path(client_id), json_body=body)

    def get(self, client_id):
        """The app's subscription (never its keys); AtelierError ATL.EVT.0001 when it has none."""
        return self.session.call("GET", _app_path(client_id))

    def delete(self, client_id):
        """Remove the app's callback and its queued deliveries (delivered ones stay listed)."""
        self.session.call("DELETE", _app_path(client_id))

    def rotate(self, client_id, signing_key=None, encryption_key=None, new_security_token=False,
               overlap_seconds=None):
        """Stage new keys or a new security token and return the subscription.

        Atelier keeps signing, encrypting and sending the current ones for
        ``overlap_seconds`` (None: the server's default of 24 hours; 0:
        switch at once; the answer's ``"rotation_at"`` says when), then
        switches; configure the receiver with both meanwhile.
        ``new_security_token=True`` makes Atelier generate a token, returned
        once as the answer's ``"security_token"``; a str sets that token.
        At least one of the keys or the token must change.
        """
        body = {}
        for name, value in (("signing_key", _str(signing_key, "signing_key")),
                            ("encryption_key", _str(encryption_key, "encryption_key"))):
            if value:
                body[name] = value
        if new_security_token is True:
            body["security_token"] = GENERATE
        elif isinstance(new_security_token, str) and new_security_token:
            body["security_token"] = new_security_token
        elif new_security_token not in (False, None, ""):
            raise TypeError("new_security_token must be True, False or a str, not %r"
                            % (new_security_token,))
        if overlap_seconds is not None:
            if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, numbers.Integral):
                raise TypeError("overlap_seconds must be an int, not %s"
                                % type(overlap_seconds).__name__)
            if overlap_seconds < 0:
                raise ValueError("overlap_seconds must be 0 or more, not %d" % overlap_seconds)
            body["overlap_seconds"] = int(overlap_seconds)
        if not body.keys() - {"overlap_seconds"}:
            raise ValueError("rotate needs a new signing_key, encryption_key or security token")
        return self.session.call("POST", _app_path(client_id, "rotate"), json_body=body)

    def deliveries(self, client_id, state=None, since=None, until=None, limit=None):
        """Yield the app's deliveries, newest event first, across every page.

        ``state`` is one of :data:`DELIVERY_STATES`; ``since`` (inclusive)
        and ``until`` (exclusive) bound the event's commit time (datetimes,
        naive meaning local time, or RFC 3339 strings); ``limit`` is the page
        size (1–1000, default 100), not a total. Each delivery is ``{"id",
        "event_id", "event_type", "subject", "nonce", "state", "attempts",
        "last_status", "last_reply", "last_error", "created_at",
        "delivered_at", …}``. Pages are fetched as the iterator advances.
        """
        if state is not None and state not in DELIVERY_STATES:
            raise ValueError("state must be one of %s, not %r" % (", ".join(DELIVERY_STATES), state))
        query = {"state": state, "since": _time(since, "since"), "until": _time(until, "until"),
                 "limit": _limit(limit)}
        path = _app_path(client_id, "deliveries")
        return self._pages(path, query)

    def _pages(self, path, query):
        cursor = None
        while True:
            q = dict(query, cursor=cursor)
            doc = self.session.call("GET", path, query=q) or {}
            yield from doc.get("deliveries") or []
            nxt = doc.get("next_cursor") or None
            if nxt is None or nxt == cursor:
                return
            cursor = nxt

    def delivery(self, client_id, delivery_id):
        """One delivery with every attempt: ``{"delivery": {…}, "attempts": [{"attempt",
        "at", "duration_ms", "status", "reply", "error", "ok"}]}``."""
        return self.session.call("GET", _app_path(client_id, "deliveries",
                                                  _id(delivery_id, "delivery_id")))

    def redeliver(self, client_id, delivery_id=None, since=None, until=None):
        """Queue dead deliveries again, each with a fresh attempt budget; returns how many.

        With ``delivery_id`` that one delivery; otherwise every dead delivery
        of the app whose event was committed in [``since``, ``until``) (both
        optional: datetimes or RFC 3339 strings).
        """
        if delivery_id is not None:
            if since is not None or until is not None:
                raise ValueError("redeliver takes delivery_id or since/until, not both")
            doc = self.session.call("POST", _app_path(client_id, "deliveries",
                                                      _id(delivery_id, "delivery_id"), "redeliver"))
        else:
            body = {}
            for name, value in (("since", _time(since, "since")), ("until", _time(until, "until"))):
                if value is not None:
                    body[name] = value
            doc = self.session.call("POST", _app_path(client_id, "redeliver"), json_body=body)
        return int((doc or {}).get("redelivered") or 0)

"""Tests of atelier.callbacks: the event callback API.

The unit tests check the requests the SDK builds against a recording
session. The end-to-end tests run the real `atelier server` (with
ATELIER_CALLBACK_ALLOW_PRIVATE=1 so that callbacks may target 127.0.0.1 and
ATELIER_CALLBACK_MAX_ATTEMPTS=1 so that a refused event is dead at once) and
a receiver built with atelier.callback.make_handler: setting a callback
proves the receiver with CHECK_URL, creating a user delivers CREATE_USER
(encrypted), and the deliveries, attempts and redelivery show what happened.
"""

import datetime
import http.server
import threading
import time
import unittest
import uuid

from atelier import AtelierError, Callbacks, Session, callback

from .server import RealServer

SERVER = None
ADMIN = None
DEADLINE_S = 30.0

SIGNING_KEY = "signing-key-0123456789"
ENCRYPTION_KEY = "0123456789abcdef0123456789abcdef"  # 32: AES-256
SECURITY_TOKEN = "security-token-0123456789"
PASSWORD = "Us3r-pass-for-callbacks!"


def setUpModule():
    global SERVER, ADMIN
    SERVER = RealServer(extra_env={"ATELIER_CALLBACK_ALLOW_PRIVATE": "1",
                                   "ATELIER_CALLBACK_MAX_ATTEMPTS": "1"}).start()
    try:
        ADMIN = Session(username=SERVER.admin_email, password=SERVER.admin_password,
                        endpoint=SERVER.url)
    except BaseException:
        SERVER.stop()
        raise


def tearDownModule():
    if ADMIN is not None:
        ADMIN.close()
    if SERVER is not None:
        SERVER.stop()


def wait_for(what, fn):
    """Poll ``fn`` until it returns a true value, within DEADLINE_S; returns that value."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (DEADLINE_S, what))
        time.sleep(0.05)


class Receiver:
    """Receiver is an app's callback endpoint on 127.0.0.1 in a thread.

    It records every event; events about an email in ``refuse`` make the
    handler fail (a 500 answer), so Atelier records a failed attempt.
    """

    def __init__(self):
        self.events = []
        self.refuse = set()
        self._lock = threading.Lock()
        handler = callback.make_handler(SIGNING_KEY, ENCRYPTION_KEY, self._on_event,
                                        security_token=SECURITY_TOKEN)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d/events" % self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def _on_event(self, event_type, event):
        with self._lock:
            if isinstance(event, dict) and event.get("email") in self.refuse:
                raise RuntimeError("refused on purpose")
            self.events.append((event_type, event))
        return {"seen": True}

    def seen(self, event_type, email):
        with self._lock:
            return [e for t, e in self.events if t == event_type and e.get("email") == email]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=DEADLINE_S)


class RecordingSession:
    """RecordingSession stands in for a Session: it records calls and answers from a list."""

    def __init__(self, answers=None):
        self.calls = []
        self.answers = list(answers or [])

    def call(self, method, path, query=None, json_body=None, headers=None):
        self.calls.append((method, path, query, json_body))
        return self.answers.pop(0) if self.answers else None


class CallbacksUnitTest(unittest.TestCase):
    def test_set_sends_only_given_fields(self):
        s = RecordingSession()
        Callbacks(s).set("my app", url="https://x/cb", event_types=("CREATE_USER",),
                         signing_key=SIGNING_KEY, encryption_key="", ordered=False)
        self.assertEqual(s.calls, [("PUT", "/v1/apps/my%20app/callback", None, {
            "url": "https://x/cb", "event_types": ["CREATE_USER"], "signing_key": SIGNING_KEY,
            "encryption_key": "", "ordered": False})])
        Callbacks(s).set("a", enabled=True)
        self.assertEqual(s.calls[-1][3], {"enabled": True})

    def test_rotate(self):
        s = RecordingSession()
        cb = Callbacks(s)
        cb.rotate("a", signing_key=SIGNING_KEY, new_security_token=True, overlap_seconds=0)
        self.assertEqual(s.calls[-1], ("POST", "/v1/apps/a/callback/rotate", None, {
            "signing_key": SIGNING_KEY, "security_token": "generate", "overlap_seconds": 0}))
        cb.rotate("a", new_security_token=SECURITY_TOKEN)
        self.assertEqual(s.calls[-1][3], {"security_token": SECURITY_TOKEN})
        with self.assertRaises(ValueError):
            cb.rotate("a", overlap_seconds=10)
        with self.assertRaises(ValueError):
            cb.rotate("a", encryption_key=ENCRYPTION_KEY, overlap_seconds=-1)
        self.assertEqual(len(s.calls), 2)

    def test_deliveries_follow_the_cursor(self):
        s = RecordingSession([
            {"deliveries": [{"id": "d3"}, {"id": "d2"}], "next_cursor": "2"},
            {"deliveries": [{"id": "d1"}], "next_cursor": ""},
        ])
        since = datetime.datetime(2025, 3, 1, 20, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
        it = Callbacks(s).deliveries("a", state="DEAD", since=since, until="2025-03-02T00:00:00Z", limit=2)
        self.assertEqual(s.calls, [], "pages are fetched as the iterator advances")
        self.assertEqual([d["id"] for d in it], ["d3", "d2", "d1"])
        q = {"state": "DEAD", "since": "2025-03-01T12:00:00Z", "until": "2025-03-02T00:00:00Z", "limit": 2}
        self.assertEqual(s.calls, [
            ("GET", "/v1/apps/a/callback/deliveries", dict(q, cursor=None), None),
            ("GET", "/v1/apps/a/callback/deliveries", dict(q, cursor="2"), None),
        ])

    def test_bad_arguments_send_nothing(self):
        s = RecordingSession()
        cb = Callbacks(s)
        for bad in (lambda: cb.deliveries("a", state="LOST"),
                    lambda: cb.deliveries("a", limit=0),
                    lambda: cb.deliveries("a", since=""),
                    lambda: cb.get("a/b"),
                    lambda: cb.redeliver("a", "d1", since="2025-03-01T00:00:00Z")):
            with self.assertRaises(ValueError):
                bad()
        for bad in (lambda: cb.set("a", event_types="CREATE_USER"),
                    lambda: cb.set("a", ordered="yes"),
                    lambda: cb.deliveries("a", since=12),
                    lambda: cb.get(None)):
            with self.assertRaises(TypeError):
                bad()
        self.assertEqual(s.calls, [])

    def test_redeliver(self):
        s = RecordingSession([{"redelivered": 1}, {"redelivered": 4}])
        cb = Callbacks(s)
        self.assertEqual(cb.redeliver("a", "d1"), 1)
        self.assertEqual(cb.redeliver("a", since="2025-03-01T00:00:00Z"), 4)
        self.assertEqual(s.calls, [
            ("POST", "/v1/apps/a/callback/deliveries/d1/redeliver", None, None),
            ("POST", "/v1/apps/a/callback/redeliver", None, {"since": "2025-03-01T00:00:00Z"}),
        ])


class CallbacksE2ETest(unittest.TestCase):
    def setUp(self):
        self.cb = Callbacks(ADMIN)
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)
        app = ADMIN.call("POST", "/v1/apps", json_body={"name": "cb-" + uuid.uuid4().hex[:10]})
        self.client_id = app["client_id"]
        self.addCleanup(ADMIN.call, "DELETE", "/v1/apps/%s" % self.client_id)

    def new_user(self, email=None):
        email = email or "cb-%s@example.com" % uuid.uuid4().hex[:10]
        return ADMIN.call("POST", "/v1/users", json_body={"email": email, "password": PASSWORD}), email

    def subscribe(self):
        return self.cb.set(self.client_id, url=self.receiver.url, event_types=["CREATE_USER"],
                           signing_key=SIGNING_KEY, encryption_key=ENCRYPTION_KEY,
                           security_token=SECURITY_TOKEN)

    def delivery_of(self, user_id, state):
        for d in self.cb.deliveries(self.client_id, limit=1):
            if d["subject"] == user_id and d["state"] == state:
                return d
        return None

    def test_event_types(self):
        types = self.cb.event_types()
        self.assertIn("CREATE_USER", types)
        self.assertIn("TRAINING_JOB_STATE_CHANGED", types)
        self.assertNotIn("CHECK_URL", types)

    def test_deliver_a_user_event(self):
        sub = self.subscribe()
        self.assertEqual(sub["client_id"], self.client_id)
        self.assertEqual(sub["url"], self.receiver.url)
        self.assertEqual(sub["event_types"], ["CREATE_USER"])
        self.assertTrue(sub["encrypted"])
        self.assertTrue(sub["enabled"])
        self.assertNotIn("security_token", sub, "a token the caller chose is not shown back")
        for k in ("signing_key", "encryption_key"):
            self.assertNotIn(k, sub)
        got = self.cb.get(self.client_id)
        self.assertEqual((got["url"], got["encrypted"]), (self.receiver.url, True))
        self.assertNotIn("security_token", got)

        user, email = self.new_user()
        events = wait_for("CREATE_USER of %s at the receiver" % email,
                          lambda: self.receiver.seen("CREATE_USER", email))
        self.assertEqual(events[0]["id"], user["id"])

        d = wait_for("a DELIVERED delivery", lambda: self.delivery_of(user["id"], "DELIVERED"))
        self.assertEqual(d["event_type"], "CREATE_USER")
        self.assertEqual(d["attempts"], 1)
        one = self.cb.delivery(self.client_id, d["id"])
        self.assertEqual(one["delivery"]["id"], d["id"])
        self.assertEqual(one["delivery"]["state"], "DELIVERED")
        self.assertEqual(len(one["attempts"]), 1)
        a = one["attempts"][0]
        self.assertTrue(a["ok"])
        self.assertEqual((a["attempt"], a["status"]), (1, 200))
        self.assertIsInstance(a["duration_ms"], int)

        # Filters reach the server: nothing is dead, nothing is after the
        # end of time, and the delivered one is in its state's list.
        self.assertEqual(list(self.cb.deliveries(self.client_id, state="DEAD")), [])
        self.assertEqual(list(self.cb.deliveries(self.client_id, since="2999-01-01T00:00:00Z")), [])
        self.assertIn(d["id"], [x["id"] for x in self.cb.deliveries(self.client_id, state="DELIVERED")])

        self.cb.delete(self.client_id)
        with self.assertRaises(AtelierError) as cm:
            self.cb.get(self.client_id)
        self.assertEqual(cm.exception.code, "ATL.EVT.0001")
        self.assertEqual(cm.exception.status, 404)

    def test_paging_and_redelivery(self):
        self.subscribe()
        refused_email = "cb-refused-%s@example.com" % uuid.uuid4().hex[:10]
        self.receiver.refuse = {refused_email}
        ok = [self.new_user(), self.new_user()]
        refused, _ = self.new_user(refused_email)
        ok.append(self.new_user())

        for _, email in ok:
            wait_for("CREATE_USER of %s" % email, lambda e=email: self.receiver.seen("CREATE_USER", e))
        dead = wait_for("a DEAD delivery", lambda: self.delivery_of(refused["id"], "DEAD"))

        def settled():
            got = list(self.cb.deliveries(self.client_id, limit=1))  # one per page
            return got if len(got) == 4 and all(d["state"] in ("DELIVERED", "DEAD") for d in got) else None

        every = wait_for("4 settled deliveries", settled)
        self.assertEqual(sorted(d["subject"] for d in every), sorted([u["id"] for u, _ in ok] + [refused["id"]]))
        event_ids = [d["event_id"] for d in every]
        self.assertEqual(event_ids, sorted(event_ids, reverse=True), "newest event first")
        self.assertEqual([d["id"] for d in self.cb.deliveries(self.client_id, state="DEAD", limit=2)],
                         [dead["id"]])

        one = self.cb.delivery(self.client_id, dead["id"])
        self.assertEqual(len(one["attempts"]), 1)
        self.assertFalse(one["attempts"][0]["ok"])
        self.assertEqual(one["attempts"][0]["status"], 500)

        # The receiver accepts it now: redelivering the dead one delivers it.
        self.receiver.refuse = set()
        self.assertEqual(self.cb.redeliver(self.client_id, dead["id"]), 1)
        wait_for("the redelivered event", lambda: self.receiver.seen("CREATE_USER", refused_email))
        wait_for("the redelivery DELIVERED", lambda: self.delivery_of(refused["id"], "DELIVERED"))
        self.assertEqual(self.cb.redeliver(self.client_id), 0, "nothing is dead any more")

        with self.assertRaises(AtelierError) as cm:
            self.cb.delivery(self.client_id, "no-such-delivery")
        self.assertEqual(cm.exception.code, "ATL.EVT.0001")

    def test_rotate_generates_a_token(self):
        self.subscribe()
        r = self.cb.rotate(self.client_id, new_security_token=True)
        self.assertGreaterEqual(len(r["security_token"]), 16)
        self.assertIn("rotation_at", r)
        self.assertNotIn("security_token", self.cb.get(self.client_id))

    def test_refused_set(self):
        with self.assertRaises(AtelierError) as cm:
            self.cb.set(self.client_id, url=self.receiver.url, signing_key=SIGNING_KEY,
                        encryption_key="too-short")
        self.assertEqual(cm.exception.code, "ATL.EVT.0003")
        self.assertEqual(cm.exception.status, 400)
        self.assertIn("encryption", cm.exception.message)

        # A receiver with other keys does not echo CHECK_URL: nothing is saved.
        with self.assertRaises(AtelierError) as cm:
            self.cb.set(self.client_id, url=self.receiver.url, signing_key="another-signing-key-0123",
                        security_token=SECURITY_TOKEN)
        self.assertEqual(cm.exception.code, "ATL.EVT.0005")
        with self.assertRaises(AtelierError) as cm:
            self.cb.get(self.client_id)
        self.assertEqual(cm.exception.code, "ATL.EVT.0001")

        with self.assertRaises(AtelierError) as cm:
            self.cb.set(self.client_id, url=self.receiver.url, event_types=["NOT_AN_EVENT"],
                        signing_key=SIGNING_KEY)
        self.assertEqual(cm.exception.code, "ATL.EVT.0004")


if __name__ == "__main__":
    unittest.main()

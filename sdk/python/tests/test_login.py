"""Logins that need more steps: MFA, an expired password, a password about to
expire, and keeping such a session alive.

LoginStepsTest scripts the server (tests/fakeserver.py) to pin down the
requests and the token handling; LoginE2ETest runs the same flows against the
real `atelier server`, reading the codes it sends from <data-dir>/outbox.
"""

import glob
import json
import os
import tempfile
import time
import unittest
import uuid
import warnings
from unittest import mock

from atelier import AtelierError, Session

from .fakeserver import FakeServer, Reply, error
from .server import RealServer


def _answer(status, token="", state="", expire=3600, **data):
    return Reply(200, {"status": status, "session_token": token, "id_token": "", "expire": expire,
                       "state_token": state, "data": data})


class _EnvMixin:
    def isolate(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        env = {"XDG_CONFIG_HOME": tmp.name, "HOME": tmp.name, "PATH": os.environ.get("PATH", "")}
        p = mock.patch.dict(os.environ, env, clear=True)
        p.start()
        self.addCleanup(p.stop)

    def session(self, *args, **kwargs):
        s = Session(*args, **kwargs)
        self.addCleanup(s.close)
        return s


class LoginStepsTest(_EnvMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.isolate()
        self.tokens = {}  # live session tokens
        self.fake.route("GET", "/v1/auth/whoami", self.whoami)

    def whoami(self, req):
        tok = (req.headers.get("Authorization") or "")[len("Bearer "):]
        if not self.tokens.get(tok):
            return error(401, "ATL.AUTH.0002", "The bearer token is unknown, revoked or expired; log in again.")
        return Reply(200, {"user_id": "u1", "tenant_id": "t1", "email": "b@example.com", "role": "member"})

    def issue(self, name, expire=3600):
        self.tokens[name] = True
        return _answer("SUCCESS", token=name, expire=expire, tenant_id="t1", user_id="u1")

    def paths(self):
        return [r.path for r in self.fake.requests]

    def script_mfa(self, methods=("email", "totp"), expire=3600):
        self.fake.route("POST", "/api/v2/sdk/login/email",
                        lambda req: _answer("MFA_AUTH", state="st1", methods=list(methods)))
        self.fake.route("POST", "/api/v2/sdk/mfa/email/send", lambda req: Reply(200, {
            "channel": "email", "to": "b***@example.com", "expires_in": 300, "resend_after": 60}))

        def verify(req):
            if req.headers.get("X-state-token") != "st1":
                return error(400, "ATL.AUTH.0010", "The state token is unknown, used or expired; log in again.")
            if req.json().get("code") != "123456":
                return error(400, "ATL.AUTH.0011", "The code is wrong; 4 attempts remain.")
            return self.issue("tok-mfa", expire)

        self.fake.route("POST", "/api/v2/sdk/mfa/email/verify", verify)
        self.fake.route("POST", "/api/v2/sdk/mfa/totp/verify", verify)

    def test_mfa_without_code_lists_methods(self):
        self.script_mfa()
        with self.assertRaises(AtelierError) as cm:
            Session(username="b@example.com", password="pw", endpoint=self.fake.url)
        e = cm.exception
        self.assertEqual(e.code, "ATL.SDK.0004")
        self.assertIn("MFA_AUTH", e.message)
        self.assertIn("email, totp", e.message)
        self.assertIn("mfa_code", e.message)
        self.assertNotIn("/api/v2/sdk/mfa/email/send", self.paths(), "no code is sent without a way to enter it")

    def test_mfa_email_with_callable(self):
        self.script_mfa()
        asked = []

        def code(channel, to):
            asked.append((channel, to))
            return " 123456\n"

        s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url,
                         mfa_channel="email", mfa_code=code)
        self.assertEqual(asked, [("email", "b***@example.com")])
        self.assertEqual(s.token, "tok-mfa")
        self.assertEqual(s.whoami()["user_id"], "u1")
        send = [r for r in self.fake.requests if r.path == "/api/v2/sdk/mfa/email/send"][0]
        self.assertEqual(send.headers["X-state-token"], "st1")
        self.assertEqual(send.headers["X-client-id"], "atelier-cli")
        self.assertTrue(send.headers["X-device-fingerprint"])

    def test_mfa_channel_choice(self):
        self.script_mfa()
        # A fixed code with several methods means TOTP; nothing is sent.
        s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url, mfa_code="123456")
        self.assertEqual(s.token, "tok-mfa")
        self.assertIn("/api/v2/sdk/mfa/totp/verify", self.paths())
        self.assertNotIn("/api/v2/sdk/mfa/email/send", self.paths())
        # A fixed code cannot answer a code that is sent only now.
        with self.assertRaises(ValueError):
            Session(username="b@example.com", password="pw", endpoint=self.fake.url,
                    mfa_channel="email", mfa_code="123456")
        with self.assertRaises(AtelierError) as cm:
            Session(username="b@example.com", password="pw", endpoint=self.fake.url,
                    mfa_channel="sms", mfa_code=lambda ch, to: "1")
        self.assertIn("email, totp", cm.exception.message)
        with self.assertRaises(ValueError):
            Session(username="b@example.com", password="pw", mfa_channel="carrier-pigeon")

    def test_mfa_wrong_code(self):
        self.script_mfa()
        with self.assertRaises(AtelierError) as cm:
            Session(username="b@example.com", password="pw", endpoint=self.fake.url,
                    mfa_channel="email", mfa_code=lambda ch, to: "000000")
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.AUTH.0011", 400))
        self.assertIn("attempts remain", str(cm.exception))

    def test_expired_password(self):
        self.fake.route("POST", "/api/v2/sdk/login/email",
                        lambda req: _answer("PASSWORD_EXPIRED", state="st-pwd"))
        updates = []

        def update(req):
            updates.append((req.headers.get("X-state-token"), req.json()))
            return self.issue("tok-new")

        self.fake.route("POST", "/api/v2/sdk/pwd/update", update)
        with self.assertRaises(AtelierError) as cm:
            Session(username="b@example.com", password="old", endpoint=self.fake.url)
        self.assertIn("new_password", cm.exception.message)
        self.assertEqual(updates, [])
        s = self.session(username="b@example.com", password="old", endpoint=self.fake.url,
                         new_password="N3w-password!")
        self.assertEqual(s.token, "tok-new")
        self.assertEqual(updates, [("st-pwd", {"old_password": "old", "new_password": "N3w-password!"})])

    def test_password_warn_warns_with_days_left(self):
        self.fake.route("POST", "/api/v2/sdk/login/email", lambda req: Reply(200, {
            "status": "PASSWORD_WARN", "session_token": "tok-w", "expire": 3600,
            "data": {"days_left": 3, "tenant_id": "t1", "user_id": "u1"}}))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url)
        self.assertEqual(s.token, "tok-w")
        self.assertEqual(len(caught), 1)
        self.assertIn("3 day", str(caught[0].message))
        self.assertEqual(caught[0].filename, __file__, "the warning points at the caller")

    def test_access_denied(self):
        self.fake.route("POST", "/api/v2/sdk/login", lambda req: _answer("ACCESS_DENIED"))
        with self.assertRaises(AtelierError) as cm:
            Session(username="bob", password="pw", endpoint=self.fake.url)
        self.assertEqual(cm.exception.code, "ATL.SDK.0004")
        self.assertIn("ACCESS_DENIED", cm.exception.message)

    def script_refresh(self):
        def refresh(req):
            old = req.headers.get("X-session-token")
            if req.headers.get("Authorization") or not self.tokens.pop(old, False):
                return error(401, "ATL.AUTH.0002", "The session token is unknown, revoked or expired; log in again.")
            return self.issue(old + "+", 3600)

        self.fake.route("POST", "/api/v2/sdk/session-token/refresh", refresh)

    def test_refresh_before_expiry(self):
        self.script_mfa(expire=1000)
        self.script_refresh()
        s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url,
                         mfa_channel="totp", mfa_code="123456")
        self.assertEqual(s.token, "tok-mfa")
        now = time.monotonic()
        # 900 s into a 1000 s token: inside the last fifth, so the next
        # request refreshes first, without the password or a code.
        with mock.patch("atelier.session.time.monotonic", return_value=now + 900):
            self.assertEqual(s.whoami()["user_id"], "u1")
        self.assertEqual(s.token, "tok-mfa+")
        self.assertNotIn("tok-mfa", self.tokens, "the old token is revoked")
        logins = [p for p in self.paths() if p.startswith("/api/v2/sdk/login")]
        self.assertEqual(len(logins), 1)
        # refresh() renews at once.
        self.assertEqual(s.refresh(), "tok-mfa++")
        self.assertEqual(s.whoami()["user_id"], "u1")

    def test_no_silent_mfa_after_401(self):
        self.script_mfa()
        self.script_refresh()
        asked = []
        s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url,
                         mfa_channel="email", mfa_code=lambda ch, to: asked.append(to) or "123456")
        self.tokens.clear()  # revoked, e.g. by an admin
        before = len(self.fake.requests)
        with self.assertRaises(AtelierError) as cm:
            s.whoami()
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.SDK.0004", 401))
        self.assertIn("second factor", cm.exception.message)
        self.assertIn("refresh()", cm.exception.message)
        self.assertEqual(len(asked), 1, "the code callable was not asked again")
        self.assertEqual([r.path for r in self.fake.requests[before:]], ["/v1/auth/whoami"])

    def test_password_only_session_logs_in_again_after_401(self):
        n = []

        def login(req):
            n.append(1)
            return self.issue("tok-%d" % len(n))

        self.fake.route("POST", "/api/v2/sdk/login/email", login)
        s = self.session(username="b@example.com", password="pw", endpoint=self.fake.url)
        self.tokens.clear()
        self.assertEqual(s.whoami()["user_id"], "u1")
        self.assertEqual(s.token, "tok-2")
        # A re-login that now answers MFA_AUTH raises instead of asking.
        self.tokens.clear()
        self.fake.route("POST", "/api/v2/sdk/login/email",
                        lambda req: _answer("MFA_AUTH", state="st", methods=["email"]))
        with self.assertRaises(AtelierError) as cm:
            s.whoami()
        self.assertIn("MFA_AUTH", cm.exception.message)


# -- against the real server ---------------------------------------------------

SERVER = None
ADMIN = None


def setUpModule():
    global SERVER, ADMIN
    SERVER = RealServer().start()
    try:
        ADMIN = Session(username=SERVER.admin_email, password=SERVER.admin_password, endpoint=SERVER.url)
    except BaseException:
        SERVER.stop()
        SERVER = None
        raise


def tearDownModule():
    global SERVER, ADMIN
    if ADMIN is not None:
        ADMIN.close()
    server, SERVER = SERVER, None
    if server is not None:
        rc, stderr = server.stop()
        if rc != 0:
            raise AssertionError("atelier server exited with status %s; stderr:\n%s" % (rc, stderr))


def wrong(code):
    """A six-digit code that is not ``code``."""
    return "%06d" % ((int(code) + 1) % 1000000)


def outbox_codes(to):
    """The login codes sent to address ``to``, oldest first (filesender's JSON files)."""
    codes = []
    for path in sorted(glob.glob(os.path.join(SERVER.data_dir, "outbox", "*.json"))):
        with open(path, encoding="utf-8") as f:
            msg = json.load(f)
        if msg.get("to") == to:
            digits = [w.strip(".,") for w in msg["body"].split() if w.strip(".,").isdigit() and len(w.strip(".,")) == 6]
            codes.extend(digits[:1])
    return codes


class LoginE2ETest(_EnvMixin, unittest.TestCase):
    password = "Str0ng-enough-pass!"

    def setUp(self):
        self.isolate()

    def new_tenant(self, mfa):
        t = ADMIN.call("POST", "/v1/tenants", json_body={"name": "py-" + uuid.uuid4().hex[:10]})
        t = ADMIN.call("PUT", "/v1/tenants/%s/settings" % t["id"], json_body={"mfa": mfa})
        self.assertEqual(t["settings"]["mfa"], mfa)
        return t["id"]

    def new_user(self, tenant_id):
        email = "u%s@example.com" % uuid.uuid4().hex[:8]
        u = ADMIN.call("POST", "/v1/users",
                       json_body={"tenant_id": tenant_id, "email": email, "password": self.password})
        return u, email

    def test_mfa_by_email(self):
        tenant = self.new_tenant("required")
        _, email = self.new_user(tenant)

        with self.assertRaises(AtelierError) as cm:
            Session(username=email, password=self.password, endpoint=SERVER.url, tenant_id=tenant)
        self.assertEqual(cm.exception.code, "ATL.SDK.0004")
        self.assertIn("email", cm.exception.message)
        self.assertEqual(outbox_codes(email), [])

        with self.assertRaises(AtelierError) as cm:
            Session(username=email, password=self.password, endpoint=SERVER.url, tenant_id=tenant,
                    mfa_channel="email", mfa_code=lambda ch, to: wrong(outbox_codes(email)[-1]))
        self.assertEqual(cm.exception.code, "ATL.AUTH.0011")
        self.assertIn("attempts remain", cm.exception.message)

        asked = []

        def code(channel, to):
            asked.append((channel, to))
            return outbox_codes(email)[-1]

        s = self.session(username=email, password=self.password, endpoint=SERVER.url, tenant_id=tenant,
                         mfa_channel="email", mfa_code=code)
        self.assertEqual(asked, [("email", email[0] + "***@example.com")])
        me = s.whoami()
        self.assertEqual((me["email"], me["tenant_id"]), (email, tenant))

        # refresh() keeps the session without another code; the old token dies.
        old = s.token
        sent = len(outbox_codes(email))
        s.refresh()
        self.assertNotEqual(s.token, old)
        self.assertEqual(s.whoami()["email"], email)
        with self.assertRaises(AtelierError) as cm:
            self.session(token=old, endpoint=SERVER.url).whoami()
        self.assertEqual(cm.exception.status, 401)

        # Once the token is revoked, the Session does not log in again by itself.
        self.session(token=s.token, endpoint=SERVER.url).call("DELETE", "/v1/auth/token")
        with self.assertRaises(AtelierError) as cm:
            s.whoami()
        self.assertIn("second factor", cm.exception.message)
        self.assertEqual(len(outbox_codes(email)), sent, "no code was sent behind the caller's back")

    def test_expired_password_after_admin_reset(self):
        tenant = self.new_tenant("off")
        u, email = self.new_user(tenant)
        temporary = "Temp0rary-pass!"
        ADMIN.call("POST", "/v1/users/%s/password/reset" % u["id"], json_body={"password": temporary})

        with self.assertRaises(AtelierError) as cm:
            Session(username=email, password=temporary, endpoint=SERVER.url, tenant_id=tenant)
        self.assertIn("PASSWORD_EXPIRED", cm.exception.message)

        with self.assertRaises(AtelierError) as cm:
            Session(username=email, password=temporary, endpoint=SERVER.url, tenant_id=tenant, new_password="short")
        self.assertEqual(cm.exception.code, "ATL.AUTH.0015")

        new = "Brand-new-pass-42"
        s = self.session(username=email, password=temporary, endpoint=SERVER.url, tenant_id=tenant, new_password=new)
        self.assertEqual(s.whoami()["email"], email)
        s2 = self.session(username=email, password=new, endpoint=SERVER.url, tenant_id=tenant)
        self.assertEqual(s2.whoami()["email"], email)


if __name__ == "__main__":
    unittest.main()

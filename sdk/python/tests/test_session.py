"""Unit tests of Session's settings, credentials and token renewal, against a fake server."""

import json
import os
import tempfile
import unittest
from unittest import mock

import atelier
from atelier import AtelierError, Session

from .fakeserver import FakeServer, Reply, error


def _login_ok(token="tok-login"):
    return lambda req: Reply(200, {
        "status": "SUCCESS", "session_token": token, "id_token": "", "expire": 43200,
        "state_token": "", "data": {"tenant_id": "t1", "user_id": "u1"},
    })


class SessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.env = {"XDG_CONFIG_HOME": self.tmp.name, "HOME": self.tmp.name,
                    "PATH": os.environ.get("PATH", "")}
        self.fake.route("GET", "/v1/obs", lambda req: Reply(200, {"buckets": []}))

    def env_patch(self, **extra):
        env = dict(self.env)
        env.update(extra)
        p = mock.patch.dict(os.environ, env, clear=True)
        p.start()
        self.addCleanup(p.stop)

    def session(self, *args, **kwargs):
        s = Session(*args, **kwargs)
        self.addCleanup(s.close)
        return s

    def write_credentials(self, doc):
        d = os.path.join(self.tmp.name, "atelier")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "credentials")
        with open(path, "w") as f:
            json.dump(doc, f)
        os.chmod(path, 0o600)

    def bearer_of_last(self, path="/v1/obs"):
        reqs = [r for r in self.fake.requests if r.path == path]
        return reqs[-1].headers.get("Authorization")

    def test_env_token(self):
        self.env_patch(ATELIER_ENDPOINT=self.fake.url, ATELIER_TOKEN="tok-env")
        s = self.session()
        self.assertEqual(s.obs.list_buckets(), [])
        self.assertEqual(self.bearer_of_last(), "Bearer tok-env")
        self.assertTrue(self.fake.requests[-1].headers["User-Agent"].startswith("atelier-python/"))

    def test_env_beats_file_and_env_endpoint_beats_file_endpoint(self):
        self.write_credentials({"endpoint": "http://127.0.0.1:1", "token": "tok-file"})
        self.env_patch(ATELIER_ENDPOINT=self.fake.url, ATELIER_TOKEN="tok-env")
        s = self.session()
        self.assertEqual(s.endpoint, self.fake.url)
        s.obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-env")

    def test_credentials_file(self):
        self.write_credentials({"endpoint": self.fake.url, "token": "tok-file",
                                "expires_at": "2099-01-01T00:00:00Z", "email": "a@b.c",
                                "tenant_id": "t9", "user_id": "u9"})
        self.env_patch()
        s = self.session()
        self.assertEqual(s.endpoint, self.fake.url)
        self.assertEqual((s.tenant_id, s.user_id, s.email), ("t9", "u9", "a@b.c"))
        s.obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-file")

    def test_default_endpoint(self):
        self.env_patch(ATELIER_TOKEN="t")
        self.assertEqual(self.session().endpoint, "http://127.0.0.1:8080")

    def test_explicit_endpoint_wins(self):
        self.env_patch(ATELIER_ENDPOINT="http://127.0.0.1:1", ATELIER_TOKEN="t")
        self.assertEqual(self.session(endpoint=self.fake.url + "/").endpoint, self.fake.url)

    def test_no_credentials(self):
        self.env_patch()
        with self.assertRaises(AtelierError) as cm:
            Session()
        self.assertIn("atelier login", str(cm.exception))
        self.assertIn("ATELIER_TOKEN", str(cm.exception))

    def test_corrupt_credentials_file(self):
        d = os.path.join(self.tmp.name, "atelier")
        os.makedirs(d)
        with open(os.path.join(d, "credentials"), "w") as f:
            f.write("{not json")
        self.env_patch()
        with self.assertRaises(AtelierError) as cm:
            Session()
        self.assertIn("atelier login", str(cm.exception))

    def test_half_key_pair(self):
        self.env_patch()
        with self.assertRaises(ValueError):
            Session(access_key="AK")
        with self.assertRaises(ValueError):
            Session(username="u")

    def test_token_not_sent_to_another_server(self):
        # The finding: ATELIER_ENDPOINT naming another server got the token
        # that `atelier login` saved for its own server.
        self.write_credentials({"endpoint": "http://127.0.0.1:1", "token": "tok-file"})
        self.env_patch(ATELIER_ENDPOINT=self.fake.url)
        with self.assertRaises(AtelierError) as cm:
            Session()
        self.assertEqual(cm.exception.code, "ATL.SDK.0005")
        self.assertIn("not logged in to %s; run atelier login" % self.fake.url, str(cm.exception))
        with self.assertRaises(AtelierError):
            Session(endpoint=self.fake.url)
        self.assertEqual([r.headers.get("Authorization") for r in self.fake.requests
                          if r.headers.get("Authorization")], [])

    def profiles(self, current="a"):
        self.write_credentials({"version": 2, "current": current, "profiles": {
            "a": {"endpoint": self.fake.url, "token": "tok-a", "email": "a@b.c",
                  "tenant_id": "ta", "user_id": "ua"},
            "b": {"endpoint": self.fake.url + "/", "token": "tok-b", "user_id": "ub"},
            "far": {"endpoint": "http://127.0.0.1:1", "token": "tok-far"},
            "out": {"endpoint": "http://127.0.0.1:2"},
        }})

    def test_profiles_current(self):
        self.profiles()
        self.env_patch()
        s = self.session()
        self.assertEqual((s.endpoint, s.email, s.tenant_id, s.user_id), (self.fake.url, "a@b.c", "ta", "ua"))
        s.obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-a")

    def test_profile_by_env_and_argument(self):
        self.profiles()
        self.env_patch(ATELIER_PROFILE="b")
        self.session().obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-b")
        self.session(profile="a").obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-a")

    def test_profile_for_the_endpoint(self):
        # The current profile is for another server: the one for the
        # endpoint is used; with none, nothing is sent.
        self.profiles(current="far")
        self.env_patch(ATELIER_ENDPOINT=self.fake.url + "/")
        self.session().obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-a")

    def test_profile_errors(self):
        self.profiles()
        self.env_patch(ATELIER_PROFILE="far", ATELIER_ENDPOINT=self.fake.url)
        with self.assertRaises(AtelierError) as cm:
            Session()
        self.assertIn('profile "far" is for http://127.0.0.1:1', str(cm.exception))
        with self.assertRaises(AtelierError) as cm:
            Session(profile="nope")
        self.assertIn('no profile "nope"', str(cm.exception))
        os.environ.pop("ATELIER_ENDPOINT")
        with self.assertRaises(AtelierError) as cm:
            Session(profile="out")
        self.assertIn("not logged in to http://127.0.0.1:2; run atelier login", str(cm.exception))
        self.assertEqual(self.fake.requests, [])

    def test_access_key_exchange_and_renewal_on_401(self):
        issued = []

        def token(req):
            self.assertEqual(req.json(), {"access_key": "AK1", "secret_key": "SK1"})
            self.assertIsNone(req.headers.get("Authorization"))
            issued.append("tok-%d" % (len(issued) + 1))
            return Reply(200, {"token": issued[-1], "expires_in": 43200, "expires_at": "x",
                               "tenant_id": "t1", "user_id": "u1"})

        def buckets(req):
            if req.headers.get("Authorization") == "Bearer tok-1" and len(issued) == 1:
                return error(401, "ATL.AUTH.0002", "token expired")
            return Reply(200, {"buckets": [{"id": "1", "name": "b", "created_at": "x"}]})

        self.fake.route("POST", "/v1/auth/token", token)
        self.fake.route("GET", "/v1/obs", buckets)
        self.env_patch()
        s = self.session("AK1", "SK1", endpoint=self.fake.url)
        self.assertEqual((s.tenant_id, s.user_id), ("t1", "u1"))
        self.assertEqual([b["name"] for b in s.obs.list_buckets()], ["b"])
        self.assertEqual(issued, ["tok-1", "tok-2"])
        self.assertEqual(s.token, "tok-2")

    def test_env_access_key(self):
        self.fake.route("POST", "/v1/auth/token", lambda req: Reply(200, {"token": "tok-ak"}))
        self.env_patch(ATELIER_ENDPOINT=self.fake.url, ATELIER_ACCESS_KEY="AK",
                       ATELIER_SECRET_KEY="SK")
        s = self.session()
        s.obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-ak")

    def test_401_without_renewal_raises(self):
        self.fake.route("GET", "/v1/obs", lambda req: error(401, "ATL.AUTH.0002", "bad token", "rid"))
        self.env_patch()
        s = self.session(token="nope", endpoint=self.fake.url)
        with self.assertRaises(AtelierError) as cm:
            s.obs.list_buckets()
        e = cm.exception
        self.assertEqual((e.code, e.status, e.request_id), ("ATL.AUTH.0002", 401, "rid"))
        self.assertEqual(len([r for r in self.fake.requests if r.path == "/v1/obs"]), 1)

    def test_wrong_key_pair(self):
        self.fake.route("POST", "/v1/auth/token",
                        lambda req: error(401, "ATL.AUTH.0003", "wrong access key"))
        self.env_patch()
        with self.assertRaises(AtelierError) as cm:
            Session(access_key="AK", secret_key="bad", endpoint=self.fake.url)
        self.assertEqual(cm.exception.code, "ATL.AUTH.0003")

    def test_login_email_sends_required_headers(self):
        self.fake.route("POST", "/api/v2/sdk/login/email", _login_ok())
        self.env_patch()
        s = self.session(username="a@example.com", password="pw", endpoint=self.fake.url)
        req = self.fake.requests[-1]
        self.assertEqual(req.json(), {"email": "a@example.com", "password": "pw"})
        self.assertEqual(req.headers["X-client-id"], "atelier-cli")
        self.assertEqual(req.headers["X-agent"], "atelier-python/" + atelier.__version__)
        self.assertTrue(req.headers["X-operating-sys-version"])
        self.assertRegex(req.headers["X-device-fingerprint"], r"^[0-9a-f]{32}$")
        self.assertIsNone(req.headers.get("X-tenant-id"))
        self.assertEqual((s.token, s.tenant_id, s.user_id), ("tok-login", "t1", "u1"))
        s.obs.list_buckets()
        self.assertEqual(self.bearer_of_last(), "Bearer tok-login")

        # Same machine and user, same fingerprint.
        s2 = self.session(username="a@example.com", password="pw", endpoint=self.fake.url)
        self.assertEqual(self.fake.requests[-1].headers["X-device-fingerprint"],
                         req.headers["X-device-fingerprint"])
        self.assertIsNotNone(s2.token)

    def test_login_user_name_and_tenant(self):
        self.fake.route("POST", "/api/v2/sdk/login", _login_ok("tok-user"))
        self.env_patch()
        s = self.session(username="alice", password="pw", endpoint=self.fake.url, tenant_id="t7")
        req = self.fake.requests[-1]
        self.assertEqual(req.json(), {"user_name": "alice", "password": "pw"})
        self.assertEqual(req.headers["X-tenant-id"], "t7")
        self.assertEqual(s.token, "tok-user")

    def test_login_password_warn_is_accepted(self):
        self.fake.route("POST", "/api/v2/sdk/login/email", lambda req: Reply(200, {
            "status": "PASSWORD_WARN", "session_token": "tok-w", "data": {"days_left": 3}}))
        self.env_patch()
        self.assertEqual(self.session(username="a@b.c", password="pw",
                                      endpoint=self.fake.url).token, "tok-w")

    def test_login_incomplete_statuses(self):
        self.env_patch()
        for status in ["MFA_AUTH", "PASSWORD_EXPIRED", "ACCESS_DENIED"]:
            with self.subTest(status=status):
                self.fake.route("POST", "/api/v2/sdk/login/email", lambda req: Reply(200, {
                    "status": status, "session_token": "", "state_token": "st"}))
                with self.assertRaises(AtelierError) as cm:
                    Session(username="a@b.c", password="pw", endpoint=self.fake.url)
                self.assertIn(status, str(cm.exception))

    def test_login_wrong_password(self):
        self.fake.route("POST", "/api/v2/sdk/login/email", lambda req: Reply(400, {
            "error_code": "ATL.AUTH.0005", "error_msg": "wrong email or password, 4 attempts left"}))
        self.env_patch()
        with self.assertRaises(AtelierError) as cm:
            Session(username="a@b.c", password="bad", endpoint=self.fake.url)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.AUTH.0005", 400))

    def test_unreachable_server(self):
        self.env_patch()
        s = self.session(token="t", endpoint="http://127.0.0.1:1")
        with self.assertRaises(AtelierError) as cm:
            s.obs.list_buckets()
        self.assertEqual(cm.exception.code, "ATL.SDK.0002")
        self.assertIn("127.0.0.1:1", str(cm.exception))

    def test_bad_endpoint(self):
        self.env_patch()
        with self.assertRaises(ValueError):
            Session(token="t", endpoint="ftp://x")

    def test_stale_keepalive_connection_is_replaced(self):
        # The first answer drops the connection without saying so; the SDK
        # must notice on its next request and send it again on a new one.
        calls = []

        def buckets(req):
            calls.append(req.conn_id)
            return Reply(200, {"buckets": []}, close_after=len(calls) == 1)

        self.fake.route("GET", "/v1/obs", buckets)
        self.env_patch()
        s = self.session(token="t", endpoint=self.fake.url)
        s.obs.list_buckets()
        s.obs.list_buckets()
        s.obs.list_buckets()
        self.assertEqual(len(calls), 3)
        self.assertNotEqual(calls[0], calls[1])
        self.assertEqual(calls[1], calls[2], "the connection is kept alive")

    def test_modelarts_reexport(self):
        from modelarts.session import Session as MS
        self.assertIs(MS, Session)


if __name__ == "__main__":
    unittest.main()

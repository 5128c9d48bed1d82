"""Session: the authenticated connection to an Atelier server.

Settings and credentials follow docs/api.md, "Client settings and
credentials": explicit arguments first, then the environment
(``ATELIER_ENDPOINT``, ``ATELIER_TOKEN``, ``ATELIER_ACCESS_KEY`` +
``ATELIER_SECRET_KEY``), then the credentials file that ``atelier login``
writes (``$XDG_CONFIG_HOME/atelier/credentials``, by default
``~/.config/atelier/credentials``).
"""

import getpass
import hashlib
import json
import os
import platform
import socket
import sys
import threading

from . import _http, errors
from ._version import __version__
from .errors import AtelierError

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
"""The endpoint used when neither an argument, the environment nor the credentials file names one."""

CLIENT_ID = "atelier-cli"
"""The client id of the built-in app that the CLI and SDKs log in through."""

USER_AGENT = "atelier-python/%s" % __version__

_LOGIN_OK = ("SUCCESS", "PASSWORD_WARN")


def credentials_path(environ=None):
    """The path of the credentials file that ``atelier login`` writes."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "atelier", "credentials")


def _read_credentials(path):
    """The credentials file's JSON object, or None when there is no file."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise AtelierError(
            errors.CODE_NO_CREDENTIALS,
            "cannot read the credentials file %s (%s); run `atelier login` again"
            % (path, e),
        ) from e
    if not isinstance(doc, dict):
        raise AtelierError(
            errors.CODE_NO_CREDENTIALS,
            "the credentials file %s is not a JSON object; run `atelier login` again" % path,
        )
    return doc


def device_fingerprint():
    """A stable fingerprint of this machine and OS user (a hash, no personal data)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else ""
    digest = hashlib.sha256(("%s\0%s" % (socket.gethostname(), user)).encode("utf-8"))
    return digest.hexdigest()[:32]


def _os_version():
    return ("%s %s" % (platform.system(), platform.release())).strip() or sys.platform


class _TokenSource:
    """_TokenSource holds the bearer token and renews it when it can.

    ``renew`` is a callable returning a new token (re-exchanging an access key
    or logging in again), or None when the token cannot be renewed. Safe for
    concurrent use.
    """

    def __init__(self, token, renew=None):
        self._token = token
        self._renew = renew
        self._lock = threading.Lock()

    def current(self):
        return self._token

    def refresh(self, failed_token):
        if self._renew is None:
            return False
        with self._lock:
            if self._token != failed_token:
                return True  # another thread renewed it already
            self._token = self._renew()
            return True


class Session:
    """Session is an authenticated client of one Atelier server.

    ``Session()`` reads the client settings (environment, then the credentials
    file). ``Session(access_key=..., secret_key=...)`` exchanges an API key for
    a token at ``POST /v1/auth/token`` and exchanges it again once when the
    server answers 401. ``Session(username=..., password=...)`` logs in via
    ``/api/v2/sdk/login/email`` when ``username`` contains "@", else via
    ``/api/v2/sdk/login``. ``token=`` uses a token directly and ``endpoint=``
    overrides the server URL. ``project_id`` and ``region_name`` are accepted
    for ModelArts compatibility and ignored.

    The object store is ``session.obs`` (an :class:`atelier.obs.OBS`).
    A Session is safe for concurrent use by several threads.
    """

    def __init__(
        self,
        access_key=None,
        secret_key=None,
        username=None,
        password=None,
        *,
        endpoint=None,
        token=None,
        tenant_id=None,
        timeout=_http.DEFAULT_TIMEOUT,
        project_id=None,
        region_name=None,
    ):
        del project_id, region_name  # ModelArts arguments with no meaning here
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key must be given together")
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        env = os.environ
        cred_path = credentials_path(env)
        file_doc = None
        file_error = None
        try:
            file_doc = _read_credentials(cred_path)
        except AtelierError as e:
            file_error = e

        self.endpoint = (
            endpoint
            or env.get("ATELIER_ENDPOINT")
            or (file_doc or {}).get("endpoint")
            or DEFAULT_ENDPOINT
        ).rstrip("/")
        self.tenant_id = tenant_id
        self.user_id = None
        self.email = None
        self._client = _http.HTTPClient(self.endpoint, USER_AGENT, timeout=timeout)

        try:
            self._authenticate(token, access_key, secret_key, username, password,
                               env, file_doc, file_error)
        except BaseException:
            self._client.close()
            raise

        from .obs import OBS  # late import: obs imports this module's helpers

        self.obs = OBS(self)

    # -- authentication ------------------------------------------------------

    def _authenticate(self, token, access_key, secret_key, username, password,
                      env, file_doc, file_error):
        if token:
            self._client.auth = _TokenSource(token)
        elif access_key is not None:
            self._use_access_key(access_key, secret_key)
        elif username is not None:
            self._use_login(username, password)
        elif env.get("ATELIER_TOKEN"):
            self._client.auth = _TokenSource(env["ATELIER_TOKEN"])
        elif env.get("ATELIER_ACCESS_KEY") or env.get("ATELIER_SECRET_KEY"):
            ak, sk = env.get("ATELIER_ACCESS_KEY"), env.get("ATELIER_SECRET_KEY")
            if not ak or not sk:
                raise ValueError(
                    "ATELIER_ACCESS_KEY and ATELIER_SECRET_KEY must be set together"
                )
            self._use_access_key(ak, sk)
        elif file_error is not None:
            raise file_error
        elif file_doc is not None and file_doc.get("token"):
            self._client.auth = _TokenSource(file_doc["token"])
            self.tenant_id = self.tenant_id or file_doc.get("tenant_id")
            self.user_id = file_doc.get("user_id")
            self.email = file_doc.get("email")
        else:
            raise AtelierError(
                errors.CODE_NO_CREDENTIALS,
                "no Atelier credentials found: run `atelier login`, set ATELIER_TOKEN "
                "(or ATELIER_ACCESS_KEY and ATELIER_SECRET_KEY), or pass "
                "Session(access_key=..., secret_key=...) or Session(username=..., password=...)",
            )

    def _use_access_key(self, access_key, secret_key):
        def exchange():
            doc = self._client.call(
                "POST",
                "/v1/auth/token",
                json_body={"access_key": access_key, "secret_key": secret_key},
                auth=False,
            )
            token = (doc or {}).get("token")
            if not token:
                raise AtelierError(
                    errors.CODE_BAD_RESPONSE, "the token exchange answered no token"
                )
            self.tenant_id = doc.get("tenant_id") or self.tenant_id
            self.user_id = doc.get("user_id") or self.user_id
            return token

        self._client.auth = _TokenSource(exchange(), exchange)

    def _use_login(self, username, password):
        def login():
            headers = {
                "X-client-id": CLIENT_ID,
                "X-operating-sys-version": _os_version(),
                "X-device-fingerprint": device_fingerprint(),
                "X-agent": USER_AGENT,
            }
            if self.tenant_id:
                headers["X-tenant-id"] = self.tenant_id
            if "@" in username:
                path, body = "/api/v2/sdk/login/email", {"email": username, "password": password}
            else:
                path, body = "/api/v2/sdk/login", {"user_name": username, "password": password}
            doc = self._client.call("POST", path, json_body=body, headers=headers, auth=False) or {}
            status = doc.get("status")
            if status not in _LOGIN_OK or not doc.get("session_token"):
                raise AtelierError(
                    errors.CODE_LOGIN_INCOMPLETE,
                    "login for %r needs another step or was refused (status %s); "
                    "complete it with `atelier login`" % (username, status),
                    200,
                )
            data = doc.get("data") or {}
            if isinstance(data, dict):
                self.tenant_id = data.get("tenant_id") or self.tenant_id
                self.user_id = data.get("user_id") or self.user_id
            if "@" in username:
                self.email = username
            return doc["session_token"]

        self._client.auth = _TokenSource(login(), login)

    # -- requests ------------------------------------------------------------

    @property
    def token(self):
        """The bearer token currently in use."""
        return self._client.auth.current()

    def call(self, method, path, query=None, json_body=None, headers=None):
        """Call an API route and return its decoded JSON answer (None when empty).

        This is the building block of the SDK's resource classes; any error
        answer raises AtelierError.
        """
        return self._client.call(method, path, query=query, json_body=json_body, headers=headers)

    def whoami(self):
        """The caller's identity: ``{"user_id","tenant_id","email","role","client_id"}``."""
        return self.call("GET", "/v1/auth/whoami")

    def close(self):
        """Close the calling thread's kept-alive connection."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return "Session(endpoint=%r)" % self.endpoint

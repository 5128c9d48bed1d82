"""Session: the authenticated connection to an Atelier server.

Settings and credentials follow docs/api.md, "Client settings and
credentials": explicit arguments first, then the environment
(``ATELIER_ENDPOINT``, ``ATELIER_PROFILE``, ``ATELIER_TOKEN``,
``ATELIER_ACCESS_KEY`` + ``ATELIER_SECRET_KEY``), then the credentials file
that ``atelier login`` writes (``$XDG_CONFIG_HOME/atelier/credentials``, by
default ``~/.config/atelier/credentials``): one profile per login, each bound
to the server that issued its token. A saved token is only ever sent to that
server.
"""

import getpass
import hashlib
import json
import os
import platform
import socket
import sys
import threading
import time
import urllib.parse
import warnings

from . import _http, errors
from ._version import __version__
from .errors import AtelierError

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"
"""The endpoint used when neither an argument, the environment nor the credentials file names one."""

CLIENT_ID = "atelier-cli"
"""The client id of the built-in app that the CLI and SDKs log in through."""

USER_AGENT = "atelier-python/%s" % __version__

_LOGIN_OK = ("SUCCESS", "PASSWORD_WARN")

_MFA_SENT_CHANNELS = ("sms", "email")
"""Second factors whose code the server sends; "totp" comes from an authenticator app."""

_REFRESH_MARGIN_S = 300.0
"""A session token is refreshed when it has less than this (or a fifth of its lifetime) left."""

_MAX_LOGIN_STEPS = 4


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


def _normalize_endpoint(endpoint):
    """The form of an endpoint that same_endpoint compares: scheme and host in
    lower case, no default port, no trailing slash (as the Go SDK's
    NormalizeEndpoint)."""
    ep = (endpoint or "").strip().rstrip("/")
    try:
        u = urllib.parse.urlsplit(ep)
        host, port = u.hostname, u.port
    except ValueError:
        return ep
    if not u.netloc or host is None:
        return ep
    scheme = u.scheme.lower()
    if (scheme, port) in (("http", 80), ("https", 443)):
        port = None
    netloc = ("[%s]" % host) if ":" in host else host
    if port is not None:
        netloc += ":%d" % port
    if u.username is not None:
        netloc = u.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urllib.parse.urlunsplit((scheme, netloc, u.path, u.query, u.fragment))


def same_endpoint(a, b):
    """Whether the endpoints a and b name the same server."""
    return _normalize_endpoint(a) == _normalize_endpoint(b)


def _profiles(doc):
    """(current, {name: credentials}) of the credentials file's JSON object.

    The file of version 2 holds ``{"version": 2, "current": ..., "profiles":
    {name: {"endpoint", "token", ...}}}``; the older one held one login at the
    top level, read as the current profile "default".
    """
    if doc is None:
        return "", {}
    if "profiles" not in doc:
        if not (doc.get("endpoint") or doc.get("token")):
            return "", {}
        cred = dict(doc)
        cred["endpoint"] = cred.get("endpoint") or DEFAULT_ENDPOINT
        return "default", {"default": cred}
    if not isinstance(doc.get("version", 2), int) or doc.get("version", 2) > 2:
        raise AtelierError(
            errors.CODE_NO_CREDENTIALS,
            "the credentials file is of version %r, newer than this SDK reads; upgrade the SDK"
            % (doc.get("version"),),
        )
    profiles = {name: cred for name, cred in (doc.get("profiles") or {}).items()
                if isinstance(cred, dict) and cred.get("endpoint")}
    return doc.get("current") or "", profiles


def _select_profile(profiles, current, profile, endpoint):
    """The (name, credentials, endpoint) that a profile name and an endpoint
    (both None when not chosen) select, as the Go SDK's
    CredentialsFile.Select: a profile is only ever returned for its own
    server."""
    named = bool(profile)
    name = profile if named else current
    cred = profiles.get(name)
    if named and cred is None:
        raise AtelierError(errors.CODE_NO_CREDENTIALS,
                           'there is no profile "%s"; see atelier profile ls' % name)
    endpoint = endpoint or (cred or {}).get("endpoint") or DEFAULT_ENDPOINT
    if cred is not None and same_endpoint(cred["endpoint"], endpoint):
        return name, cred, endpoint
    if named:
        raise AtelierError(
            errors.CODE_NO_CREDENTIALS,
            'the profile "%s" is for %s, not %s; its token is sent only to the server that issued it'
            % (name, cred["endpoint"], endpoint),
        )
    matching = [n for n in sorted(profiles) if same_endpoint(profiles[n]["endpoint"], endpoint)]
    with_token = [n for n in matching if profiles[n].get("token")]
    pick = (with_token or matching or [None])[0]
    return pick, profiles.get(pick), endpoint


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


class _LoginTokenSource:
    """_LoginTokenSource holds the session token of a password login.

    Shortly before the token expires, ``current`` trades it for a new one at
    ``/api/v2/sdk/session-token/refresh``, which needs neither the password
    nor a second factor. After a 401, ``refresh`` logs in again with the
    password, but only when the login needed no second factor: a login that
    did raises a clear error instead of sending codes or prompting behind the
    caller's back. Safe for concurrent use.
    """

    def __init__(self, session, doc, relogin, via_mfa):
        self._session = session
        self._relogin = relogin
        self.via_mfa = via_mfa
        self._lock = threading.Lock()
        self._set(doc)

    def _set(self, doc):
        self._token = doc["session_token"]
        lifetime = doc.get("expire")
        if isinstance(lifetime, (int, float)) and lifetime > 0:
            now = time.monotonic()
            self._expires = now + lifetime
            self._refresh_at = self._expires - min(_REFRESH_MARGIN_S, lifetime / 5.0)
        else:
            self._expires = self._refresh_at = None

    def current(self):
        if self._refresh_at is not None and time.monotonic() >= self._refresh_at:
            with self._lock:
                if self._refresh_at is not None and time.monotonic() >= self._refresh_at:
                    self._refresh_before_expiry()
        return self._token

    def _refresh_before_expiry(self):
        if time.monotonic() >= self._expires:
            return  # too late; the 401 that follows goes through refresh()
        try:
            self._set(self._session._refresh_call(self._token))
        except AtelierError:
            # The token stays usable until it expires; after that the 401
            # path decides. Do not try again on every request.
            self._refresh_at = self._expires

    def refresh_now(self):
        """Trade the current token for a new one (``Session.refresh``)."""
        with self._lock:
            self._set(self._session._refresh_call(self._token))
            return self._token

    def refresh(self, failed_token):
        with self._lock:
            if self._token != failed_token:
                return True  # another thread renewed it already
            if self.via_mfa:
                raise AtelierError(
                    errors.CODE_LOGIN_INCOMPLETE,
                    "the server refused the session token (expired or revoked), and logging in "
                    "again needs a second factor, which a Session never does by itself: create a "
                    "new Session, and call session.refresh() before the token expires to keep "
                    "one alive",
                    401,
                )
            self._set(self._relogin())
            return True


class Session:
    """Session is an authenticated client of one Atelier server.

    ``Session()`` reads the client settings (environment, then the credentials
    file). ``Session(access_key=..., secret_key=...)`` exchanges an API key for
    a token at ``POST /v1/auth/token`` and exchanges it again once when the
    server answers 401. ``Session(username=..., password=...)`` logs in via
    ``/api/v2/sdk/login/email`` when ``username`` contains "@", else via
    ``/api/v2/sdk/login``. ``token=`` uses a token directly and ``endpoint=``
    overrides the server URL.

    A login that needs more steps is finished with keyword arguments:
    ``mfa_code`` answers MFA_AUTH: a TOTP code as a string, or a callable
    ``(channel, masked_to) -> str`` asked after the code was sent by SMS or
    email (``masked_to`` is e.g. ``"b***@example.com"``, None for TOTP), such
    as ``lambda ch, to: input("Code sent to %s: " % to)``. ``mfa_channel``
    picks ``"sms"``, ``"email"`` or ``"totp"`` when several are possible.
    ``new_password`` (a string or a callable returning one) answers
    PASSWORD_EXPIRED. PASSWORD_WARN logs in and warns (``warnings.warn``)
    with the days left. A session token is refreshed shortly before it
    expires; after a 401 the Session logs in again with the password, unless
    the login needed a second factor: then it raises AtelierError rather
    than asking for a code again. ``refresh()`` renews the token at once. ``project_id`` and ``region_name`` are accepted
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
        mfa_channel=None,
        mfa_code=None,
        new_password=None,
        profile=None,
    ):
        del project_id, region_name  # ModelArts arguments with no meaning here
        if mfa_channel is not None and mfa_channel not in ("sms", "email", "totp"):
            raise ValueError("mfa_channel must be 'sms', 'email' or 'totp', not %r" % (mfa_channel,))
        self._login_steps = {"mfa_channel": mfa_channel, "mfa_code": mfa_code,
                             "new_password": new_password}
        if (access_key is None) != (secret_key is None):
            raise ValueError("access_key and secret_key must be given together")
        if (username is None) != (password is None):
            raise ValueError("username and password must be given together")
        env = os.environ
        cred_path = credentials_path(env)
        file_cred = None
        file_error = None
        chosen_endpoint = endpoint or env.get("ATELIER_ENDPOINT")
        try:
            current, profiles = _profiles(_read_credentials(cred_path))
            _, file_cred, resolved = _select_profile(
                profiles, current, profile or env.get("ATELIER_PROFILE"), chosen_endpoint)
        except AtelierError as e:
            file_error = e
            resolved = chosen_endpoint or DEFAULT_ENDPOINT

        self.endpoint = resolved.rstrip("/")
        self.tenant_id = tenant_id
        self.user_id = None
        self.email = None
        self._client = _http.HTTPClient(self.endpoint, USER_AGENT, timeout=timeout)

        try:
            self._authenticate(token, access_key, secret_key, username, password,
                               env, file_cred, file_error)
        except BaseException:
            self._client.close()
            raise

        from .obs import OBS  # late import: obs imports this module's helpers

        self.obs = OBS(self)

    # -- authentication ------------------------------------------------------

    def _authenticate(self, token, access_key, secret_key, username, password,
                      env, file_cred, file_error):
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
        elif file_cred is not None and file_cred.get("token"):
            self._client.auth = _TokenSource(file_cred["token"])
            self.tenant_id = self.tenant_id or file_cred.get("tenant_id")
            self.user_id = file_cred.get("user_id")
            self.email = file_cred.get("email")
        else:
            raise AtelierError(
                errors.CODE_NO_CREDENTIALS,
                "not logged in to %s; run atelier login --endpoint %s, set ATELIER_TOKEN "
                "(or ATELIER_ACCESS_KEY and ATELIER_SECRET_KEY), or pass "
                "Session(access_key=..., secret_key=...) or Session(username=..., password=...)"
                % (self.endpoint, self.endpoint),
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

    def _v2_headers(self, state_token=None):
        headers = {
            "X-client-id": CLIENT_ID,
            "X-operating-sys-version": _os_version(),
            "X-device-fingerprint": device_fingerprint(),
            "X-agent": USER_AGENT,
        }
        if self.tenant_id:
            headers["X-tenant-id"] = self.tenant_id
        if state_token:
            headers["X-state-token"] = state_token
        return headers

    def _use_login(self, username, password):
        secret = {"password": password}

        def first_factor():
            if "@" in username:
                path, body = "/api/v2/sdk/login/email", {"email": username, "password": secret["password"]}
            else:
                path, body = "/api/v2/sdk/login", {"user_name": username, "password": secret["password"]}
            return self._client.call("POST", path, json_body=body, headers=self._v2_headers(),
                                     auth=False) or {}

        def relogin():
            # Renewal after a 401: the password only, never a second factor.
            doc = first_factor()
            if doc.get("status") not in _LOGIN_OK:
                raise self._incomplete(username, "logging in again after the session token "
                                       "was refused answered %s; create a new Session" % doc.get("status"))
            return self._accept(username, doc)

        doc = first_factor()
        via_mfa = False
        for _ in range(_MAX_LOGIN_STEPS):
            status = doc.get("status")
            if status in _LOGIN_OK:
                break
            if status == "MFA_AUTH":
                doc = self._mfa_step(username, doc)
                via_mfa = True
            elif status == "PASSWORD_EXPIRED":
                doc, secret["password"] = self._password_step(username, doc, secret["password"])
            elif status == "ACCESS_DENIED":
                raise self._incomplete(username, "the login was refused (ACCESS_DENIED): the "
                                       "account is disabled or may not use the app %s" % CLIENT_ID)
            else:
                raise AtelierError(errors.CODE_BAD_RESPONSE,
                                   "the login answered the unknown status %r" % (status,), 200)
        self._client.auth = _LoginTokenSource(self, self._accept(username, doc), relogin, via_mfa)

    @staticmethod
    def _incomplete(username, why):
        return AtelierError(errors.CODE_LOGIN_INCOMPLETE, "login for %r: %s" % (username, why), 200)

    def _accept(self, username, doc):
        """Check a finished login's answer, note who logged in, warn on PASSWORD_WARN."""
        if doc.get("status") not in _LOGIN_OK or not doc.get("session_token"):
            raise self._incomplete(username, "the login answered status %s without a session "
                                   "token" % doc.get("status"))
        data = doc.get("data") or {}
        if isinstance(data, dict):
            self.tenant_id = data.get("tenant_id") or self.tenant_id
            self.user_id = data.get("user_id") or self.user_id
            if doc.get("status") == "PASSWORD_WARN":
                warnings.warn(
                    "the password of %r expires in %s day(s); change it soon"
                    % (username, data.get("days_left", "a few")),
                    UserWarning,
                    stacklevel=5,  # the caller of Session()
                )
        if "@" in username:
            self.email = username
        return doc

    def _mfa_step(self, username, doc):
        """Answer MFA_AUTH with mfa_channel/mfa_code; returns the next login answer."""
        data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
        methods = [m for m in (data.get("methods") or []) if isinstance(m, str)]
        listed = ", ".join(methods) or "none available"
        code_arg = self._login_steps["mfa_code"]
        channel = self._login_steps["mfa_channel"]
        if code_arg is None:
            raise self._incomplete(username, (
                "the login needs a second factor (MFA_AUTH; methods: %s); pass mfa_code= (a TOTP "
                "code, or a callable (channel, masked_to) -> code such as "
                "lambda ch, to: input('Code sent to %%s: ' %% to)) and, if several methods are "
                "listed, mfa_channel=" % listed))
        if not methods:
            raise self._incomplete(username, "the login needs a second factor (MFA_AUTH), but "
                                   "the account has none available; ask an administrator")
        if channel is None:
            if len(methods) == 1:
                channel = methods[0]
            elif not callable(code_arg) and "totp" in methods:
                channel = "totp"
            elif callable(code_arg):
                channel = methods[0]
        if channel not in methods:
            raise self._incomplete(username, "the login needs a second factor (MFA_AUTH); %s; "
                                   "choose one of: %s with mfa_channel=" % (
                                       "mfa_channel=%r is not available" % channel if channel
                                       else "several methods are possible", listed))
        state = doc.get("state_token")
        to = None
        if channel in _MFA_SENT_CHANNELS:
            if not callable(code_arg):
                raise ValueError(
                    "a fixed mfa_code only works for totp; for %s pass a callable "
                    "(channel, masked_to) -> code, which is asked after the code was sent" % channel)
            sent = self._client.call("POST", "/api/v2/sdk/mfa/%s/send" % channel,
                                     headers=self._v2_headers(state), auth=False) or {}
            to = sent.get("to")
        code = code_arg(channel, to) if callable(code_arg) else code_arg
        return self._client.call("POST", "/api/v2/sdk/mfa/%s/verify" % channel,
                                 json_body={"code": str(code).strip()},
                                 headers=self._v2_headers(state), auth=False) or {}

    def _password_step(self, username, doc, password):
        """Answer PASSWORD_EXPIRED with new_password; returns (answer, the new password)."""
        new = self._login_steps["new_password"]
        if callable(new):
            new = new()
        if not new:
            raise self._incomplete(username, "the password expired (PASSWORD_EXPIRED); pass "
                                   "new_password= to set a new one")
        answer = self._client.call(
            "POST", "/api/v2/sdk/pwd/update",
            json_body={"old_password": password, "new_password": new},
            headers=self._v2_headers(doc.get("state_token")), auth=False) or {}
        return answer, new

    def _refresh_call(self, token):
        """POST /api/v2/sdk/session-token/refresh; returns the answer with a new token."""
        doc = self._client.call("POST", "/api/v2/sdk/session-token/refresh",
                                headers={"X-session-token": token}, auth=False) or {}
        if doc.get("status") not in _LOGIN_OK or not doc.get("session_token"):
            raise AtelierError(errors.CODE_BAD_RESPONSE,
                               "the session refresh answered status %s without a session token"
                               % doc.get("status"), 200)
        return doc

    def refresh(self):
        """Renew the bearer token now and return the new one.

        A login session trades its token at ``/api/v2/sdk/session-token/refresh``
        (no password, no second factor; the old token is revoked). An API key
        session exchanges the key again. A session made from a bare token tries
        the refresh call, which works when the token is a session token.
        """
        source = self._client.auth
        if isinstance(source, _LoginTokenSource):
            return source.refresh_now()
        if source._renew is not None:
            with source._lock:
                source._token = source._renew()
                return source._token
        doc = self._refresh_call(source.current())
        with source._lock:
            source._token = doc["session_token"]
        return source._token

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

"""Errors raised by the Atelier SDK.

Every error the API answers becomes an :class:`AtelierError` carrying the
API's stable code (``ATL.<AREA>.<NNNN>``, listed in docs/errors.md), its
message, the HTTP status and the request id. Problems found by the SDK itself
on the client side use the codes in this module (``ATL.SDK.*``); bad arguments
raise :class:`ValueError` and missing local files :class:`FileNotFoundError`.
"""

# Client-side codes: the SDK raises these itself, the server never answers them.
CODE_CHECKSUM = "ATL.SDK.0001"
"""The downloaded bytes do not match the size or x-atelier-sha256 the server announced."""

CODE_CONNECTION = "ATL.SDK.0002"
"""The server could not be reached, or the connection broke mid-request."""

CODE_BAD_RESPONSE = "ATL.SDK.0003"
"""The server's answer is not what the API contract says (e.g. not JSON)."""

CODE_LOGIN_INCOMPLETE = "ATL.SDK.0004"
"""The login needs another step (MFA, expired password) or was denied."""

CODE_NO_CREDENTIALS = "ATL.SDK.0005"
"""No credentials were given or found in the environment or credentials file."""

CODE_JOB_FAILED = "ATL.SDK.0101"
"""A training run ended FAILED or STOPPED, or a local worker exited non-zero."""

CODE_ENV_FAILED = "ATL.SDK.0102"
"""A training environment (virtualenv/conda with the listed packages) could not be created."""

CODE_MODEL_FAILED = "ATL.SDK.0201"
"""A model registration the SDK waited for ended failed (the message has the server's reason)."""

CODE_SERVICE_FAILED = "ATL.SDK.0202"
"""A service the SDK waited for ended failed or stopped instead of running."""


class AtelierError(Exception):
    """AtelierError is an error answered by the Atelier API or found by the SDK.

    Attributes:
        code: the stable error code, e.g. ``"ATL.OBS.0003"``.
        message: the human-readable message, safe to show to users.
        status: the HTTP status of the answer, or ``None`` when no answer came.
        request_id: the server's request id (quote it when reporting a problem),
            or ``None``.

    ``str(err)`` is ``'<message> (<code>)'``, e.g.
    ``bucket "x" does not exist (ATL.OBS.0003)``. Branch on ``code``, never on
    the message text.
    """

    def __init__(self, code, message, status=None, request_id=None):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id

    def __str__(self):
        if self.code:
            return "%s (%s)" % (self.message, self.code)
        return str(self.message)

    def __repr__(self):
        return "AtelierError(code=%r, message=%r, status=%r, request_id=%r)" % (
            self.code,
            self.message,
            self.status,
            self.request_id,
        )

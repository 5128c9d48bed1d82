"""Object paths: ``obs://bucket/key``, ``s3://bucket/key`` and ``/bucket/key``.

All three spellings name the same object; a path ending in ``/`` names a
directory (a key prefix). The grammar is the server's (Go's
``atelier.ParseObjectPath``), ported here rule for rule and message for
message; both are tested against ``testdata/objectpath_cases.json``. See
docs/obs.md, "Object paths".
"""

import collections
import urllib.parse

MAX_KEY_BYTES = 1024
"""The longest object key, in bytes of UTF-8."""

_SCHEMES = ("obs://", "s3://")


class ObsPath(collections.namedtuple("ObsPath", ["bucket", "key"])):
    """ObsPath is a parsed object path: a bucket name and a key (maybe empty).

    It is an immutable tuple and safe for concurrent use.
    """

    __slots__ = ()

    @property
    def is_dir(self):
        """True when the path names a directory: an empty key or one ending in '/'."""
        return self.key == "" or self.key.endswith("/")

    @property
    def basename(self):
        """The last non-empty segment of the key, or the bucket name for the bucket root."""
        parts = [p for p in self.key.split("/") if p]
        return parts[-1] if parts else self.bucket

    def child(self, name):
        """The path of ``name`` inside this directory."""
        key = self.key
        if key and not key.endswith("/"):
            key += "/"
        return ObsPath(self.bucket, key + name)

    def __str__(self):
        """The canonical spelling ``obs://bucket/key``."""
        return "obs://%s/%s" % (self.bucket, self.key)


def has_scheme(path):
    """True when ``path`` starts with ``obs://`` or ``s3://`` in any case.

    ``/bucket/key`` is not a scheme: callers that also take local paths tell
    the two apart with this.
    """
    return _cut_scheme(path) is not None


def _cut_scheme(path):
    for scheme in _SCHEMES:
        head = path[: len(scheme)]
        # ASCII only, as on the server: no Unicode case folding.
        if head.isascii() and head.lower() == scheme:
            return path[len(scheme):]
    return None


def _problem(path):
    """Why ``path`` is not an object path, as a sentence, or ``None``.

    The sentences are the server's, word for word.
    """
    rest = _cut_scheme(path)
    if rest is None:
        if not path.startswith("/"):
            if path == "":
                return "The object path is empty."
            return "The object path must be obs://bucket/key, s3://bucket/key or /bucket/key."
        rest = path[1:]
    bucket, _, key = rest.partition("/")
    if bucket == "":
        return "The object path names no bucket."
    msg = _bucket_name_problem(bucket)
    if msg is None and key:
        msg = _object_key_problem(key) or _staged_key_problem(key)
    return msg


def parse(path, param="path"):
    """Parse an object path into an :class:`ObsPath`.

    Accepts ``obs://bucket/key``, ``s3://bucket/key`` (schemes in any case)
    and ``/bucket/key``; ``obs://bucket`` and ``obs://bucket/`` name the
    bucket's root directory. The bucket follows the object store's bucket
    rules; the key the object store's key rules, and it holds no control
    character, no ``.`` and no empty segment (``a//b``). Nothing is trimmed
    or percent-decoded. Raises ValueError, naming ``param`` and saying what
    is wrong, for anything else.
    """
    if not isinstance(path, str):
        raise TypeError("%s must be a str, not %s" % (param, type(path).__name__))
    msg = _problem(path)
    if msg is not None:
        raise ValueError("%s %r: %s" % (param, path, msg))
    rest = _cut_scheme(path)
    if rest is None:
        rest = path[1:]
    bucket, _, key = rest.partition("/")
    return ObsPath(bucket, key)


def parse_dir(path, param="path"):
    """:func:`parse` for a directory: the path must end in ``/`` or name a bucket alone."""
    p = parse(path, param)
    if not p.is_dir:
        raise ValueError("%s %r: The object path must end in / to name a directory." % (param, path))
    return p


def _bucket_name_problem(name):
    """Why ``name`` is not a valid bucket name (S3's rules), or ``None``."""
    n = _utf8_len(name)  # bytes, as the server counts
    if n < 3 or n > 63:
        return "The bucket name must be 3 to 63 characters long."
    if any(not ("a" <= c <= "z" or "0" <= c <= "9" or c in ".-") for c in name):
        return "The bucket name may hold only lower-case letters, digits, dots and hyphens."
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "The bucket name must start and end with a letter or digit."
    if ".." in name:
        return "The bucket name must not hold two dots in a row."
    if _looks_like_ipv4(name):
        return "The bucket name must not be an IP address."
    for prefix in ("xn--", "sthree-"):
        if name.startswith(prefix):
            return "The bucket name must not start with %s." % prefix
    for suffix in ("-s3alias", "--ol-s3"):
        if name.endswith(suffix):
            return "The bucket name must not end with %s." % suffix
    return None


def _looks_like_ipv4(s):
    parts = s.split(".")
    return len(parts) == 4 and all(
        1 <= len(p) <= 3 and all("0" <= c <= "9" for c in p) for p in parts
    )


def _utf8_len(s):
    """The length of ``s`` in bytes: lone surrogates that stand for undecodable
    bytes (``surrogateescape``) count one byte each, others three."""
    try:
        return len(s.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        return len(s.encode("utf-8", "surrogatepass"))


def _object_key_problem(key):
    """Why the object store refuses ``key``, or ``None``."""
    if key == "":
        return "The object key must not be empty."
    if _utf8_len(key) > MAX_KEY_BYTES:
        return "The object key must be at most 1024 bytes long."
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "The object key must be valid UTF-8."
    if "\x00" in key:
        return "The object key must not hold a NUL character."
    if ".." in key.split("/"):
        return "The object key must not hold a '..' path segment."
    return None


def _staged_key_problem(key):
    # What jobs and datasets could not stage to local disk under the key.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "The object key must not hold a control character."
    segs = key[:-1].split("/") if key.endswith("/") else key.split("/")
    for seg in segs:
        if seg == "":
            return "The object key must not hold an empty path segment (// or a leading /)."
        if seg == ".":
            return "The object key must not hold a '.' path segment."
    return None


def quote_key(key):
    """Percent-encode an object key per segment for use in a URL path."""
    return urllib.parse.quote(key, safe="/~")


def quote_bucket(bucket):
    """Percent-encode a bucket name for use as one URL path segment."""
    return urllib.parse.quote(bucket, safe="~")


def object_url_path(bucket, key=""):
    """The API path of a bucket (empty key) or an object: ``/v1/obs/{bucket}/{key}``."""
    p = "/v1/obs/" + quote_bucket(bucket)
    if key:
        p += "/" + quote_key(key)
    return p

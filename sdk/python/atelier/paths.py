"""Object paths: ``obs://bucket/key``, ``s3://bucket/key`` and ``/bucket/key``.

All three spellings name the same object; a path ending in ``/`` names a
directory (a key prefix). See docs/api.md, "Object paths in clients".
"""

import collections
import urllib.parse

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
        return "obs://%s/%s" % (self.bucket, self.key)


def parse(path, param="path"):
    """Parse an object path into an :class:`ObsPath`.

    Accepts ``obs://bucket/key``, ``s3://bucket/key`` and ``/bucket/key``;
    ``obs://bucket`` and ``obs://bucket/`` name the bucket's root directory.
    Raises ValueError, naming ``param``, for anything else.
    """
    if not isinstance(path, str):
        raise TypeError("%s must be a str, not %s" % (param, type(path).__name__))
    rest = None
    for scheme in _SCHEMES:
        if path[: len(scheme)].lower() == scheme:
            rest = path[len(scheme):]
            break
    if rest is None:
        if path.startswith("/"):
            rest = path[1:]
        else:
            raise ValueError(
                "%s must be an object path like 'obs://bucket/key', 's3://bucket/key' "
                "or '/bucket/key': %r" % (param, path)
            )
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError("%s names no bucket: %r" % (param, path))
    return ObsPath(bucket, key)


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

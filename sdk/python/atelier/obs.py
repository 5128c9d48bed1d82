"""OBS: the object store client on ``session.obs``.

Paths are ``obs://bucket/key`` (or ``s3://bucket/key`` or ``/bucket/key``); a
path ending in ``/`` is a directory. Directory transfers follow ``cp -r src
dst/``: the source directory's own name is created inside the destination
directory, and empty directories are created on neither side.

Uploads stream the file (never reading it whole into memory) and send its
SHA-256 so that the server refuses corrupted bytes. Downloads stream into a
temporary file beside the destination, check size and SHA-256, and only then
rename it into place: a failed download leaves no partial file behind.
"""

import concurrent.futures
import errno
import hashlib
import mimetypes
import os
import tempfile
import threading

from . import _http, errors, paths
from .errors import AtelierError

PARALLEL_TRANSFERS = 4
"""How many files a directory upload or download moves at the same time."""


def _read_umask():
    # os.umask can only be read by setting it; do that once, at import time,
    # rather than while transfer threads are creating files.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _require_dir_path(value, param):
    """Check that an object path names a directory (ends with '/') and parse it."""
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    if not value.endswith("/"):
        raise ValueError("%s must end with '/': %r" % (param, value))
    return paths.parse(value, param)


def _local_path(value, param):
    try:
        value = os.fspath(value)
    except TypeError:
        raise TypeError(
            "%s must be a str or path, not %s" % (param, type(value).__name__)
        ) from None
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not value:
        raise ValueError("%s must not be empty" % param)
    return value


def _hash_file(path):
    """(size, sha256 hex) of a file, read through a fixed buffer."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(_http.BUFFER_SIZE)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
    return size, h.hexdigest()


def _bucket_name(value, param="bucket"):
    """A bucket name from a bare name or an object path naming a bucket root."""
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    if value.startswith("/") or "://" in value:
        p = paths.parse(value, param)
        if p.key:
            raise ValueError("%s must name a bucket, not an object: %r" % (param, value))
        return p.bucket
    if not value or "/" in value:
        raise ValueError("%s must be a bucket name: %r" % (param, value))
    return value


class OBS:
    """OBS moves files between this machine and the Atelier object store.

    It is reached as ``session.obs`` and is safe for concurrent use.
    API refusals raise :class:`~atelier.errors.AtelierError`, bad arguments
    ValueError, and a missing local source FileNotFoundError.
    """

    def __init__(self, session):
        self._session = session
        self._client = session._client

    # -- buckets -------------------------------------------------------------

    def create_bucket(self, bucket):
        """Create a bucket in the caller's tenant; returns ``{"id","name","created_at"}``."""
        name = _bucket_name(bucket)
        return self._client.call("PUT", paths.object_url_path(name), body=b"")

    def delete_bucket(self, bucket):
        """Delete an empty bucket (ATL.OBS.0005 when it still holds objects)."""
        name = _bucket_name(bucket)
        self._client.call("DELETE", paths.object_url_path(name))

    def list_buckets(self):
        """The caller's buckets, as a list of ``{"id","name","created_at"}``."""
        doc = self._client.call("GET", "/v1/obs") or {}
        return list(doc.get("buckets") or [])

    # -- objects -------------------------------------------------------------

    def _iter_listing(self, bucket, prefix, delimiter=None):
        """Yield ("object", obj) and ("prefix", str) entries, following continuation tokens."""
        token = None
        path = paths.object_url_path(bucket)
        while True:
            doc = self._client.call(
                "GET",
                path,
                query={
                    "prefix": prefix or None,
                    "delimiter": delimiter,
                    "continuation_token": token,
                },
            ) or {}
            for obj in doc.get("objects") or []:
                yield "object", obj
            for p in doc.get("common_prefixes") or []:
                yield "prefix", p
            if not doc.get("is_truncated"):
                return
            token = doc.get("next_continuation_token")
            if not token:
                raise AtelierError(
                    errors.CODE_BAD_RESPONSE,
                    "the listing of bucket %r is truncated but has no continuation token" % bucket,
                )

    def list_objects(self, obs_path, recursive=True):
        """List the objects under a directory path (or whose keys start with a prefix).

        Returns a list of object dicts ``{"bucket","key","size","etag","sha256",
        "content_type","last_modified","is_dir": False}`` in key order. With
        ``recursive=False`` only the directory's direct children are listed and
        sub-directories appear as ``{"bucket","key","is_dir": True}``.
        """
        p = paths.parse(obs_path, "obs_path")
        entries = []
        for kind, item in self._iter_listing(
            p.bucket, p.key, delimiter=None if recursive else "/"
        ):
            if kind == "object":
                obj = dict(item)
                obj.setdefault("bucket", p.bucket)
                obj["is_dir"] = False
            else:
                obj = {"bucket": p.bucket, "key": item, "is_dir": True}
            entries.append(obj)
        entries.sort(key=lambda o: o["key"].encode("utf-8"))
        return entries

    def stat(self, obs_path):
        """Metadata of one object: ``{"bucket","key","size","etag","sha256","content_type","last_modified"}``."""
        p = paths.parse(obs_path, "obs_path")
        if p.is_dir:
            raise ValueError("obs_path must name an object, not a directory: %r" % obs_path)
        r = self._client.request("HEAD", paths.object_url_path(p.bucket, p.key))
        if r.status == 404:
            raise AtelierError(
                "ATL.OBS.0006", "no object at %s" % (obs_path,), r.status, r.request_id
            )
        if r.status >= 400:
            raise _http.error_from_response(r.status, r.headers, r.body)
        size = r.headers.get("Content-Length")
        return {
            "bucket": p.bucket,
            "key": p.key,
            "size": int(size) if size is not None else None,
            "etag": (r.headers.get("ETag") or "").strip('"'),
            "sha256": r.headers.get("x-atelier-sha256"),
            "content_type": r.headers.get("Content-Type"),
            "last_modified": r.headers.get("Last-Modified"),
        }

    def is_exist(self, obs_path):
        """True when the object, directory (any key under it) or bucket exists."""
        p = paths.parse(obs_path, "obs_path")
        if not p.key:
            r = self._client.request("HEAD", paths.object_url_path(p.bucket))
        elif p.is_dir:
            try:
                doc = self._client.call(
                    "GET",
                    paths.object_url_path(p.bucket),
                    query={"prefix": p.key, "max_keys": 1},
                ) or {}
            except AtelierError as e:
                if e.status == 404:
                    return False
                raise
            return bool(doc.get("objects") or doc.get("common_prefixes"))
        else:
            r = self._client.request("HEAD", paths.object_url_path(p.bucket, p.key))
        if r.status == 404:
            return False
        if r.status >= 400:
            raise _http.error_from_response(r.status, r.headers, r.body)
        return True

    def delete_object(self, obs_path):
        """Delete one object (ATL.OBS.0006 when it does not exist)."""
        p = paths.parse(obs_path, "obs_path")
        if p.is_dir:
            raise ValueError("obs_path must name an object, not a directory: %r" % obs_path)
        self._client.call("DELETE", paths.object_url_path(p.bucket, p.key))

    def copy(self, src_obs_file, dst_obs_path):
        """Copy an object on the server; returns the new object's dict.

        When ``dst_obs_path`` ends with '/', the copy keeps the source's name
        inside that directory.
        """
        src = paths.parse(src_obs_file, "src_obs_file")
        if src.is_dir:
            raise ValueError("src_obs_file must name an object, not a directory: %r" % src_obs_file)
        dst = paths.parse(dst_obs_path, "dst_obs_path")
        if dst.is_dir:
            dst = dst.child(src.basename)
        source = "/%s/%s" % (paths.quote_bucket(src.bucket), paths.quote_key(src.key))
        return self._client.call(
            "PUT",
            paths.object_url_path(dst.bucket, dst.key),
            headers={"x-atelier-copy-source": source},
            body=b"",
        )

    # -- transfers -----------------------------------------------------------

    def _put_file(self, local, bucket, key):
        size, digest = _hash_file(local)
        ctype = mimetypes.guess_type(local)[0] or "application/octet-stream"
        return self._client.call(
            "PUT",
            paths.object_url_path(bucket, key),
            headers={"Content-Type": ctype, "x-atelier-sha256": digest},
            body=_http.FileBody(local, size),
        )

    def _get_file(self, bucket, key, dest):
        """Download one object to the file ``dest``, atomically."""
        directory = os.path.dirname(dest) or "."
        where = "obs://%s/%s" % (bucket, key)
        with self._client.stream("GET", paths.object_url_path(bucket, key)) as r:
            os.makedirs(directory, exist_ok=True)
            want_sha = (r.headers.get("x-atelier-sha256") or "").lower()
            want_len = r.headers.get("Content-Length")
            fd, tmp = tempfile.mkstemp(
                dir=directory, prefix="." + os.path.basename(dest) + ".", suffix=".part"
            )
            try:
                h = hashlib.sha256()
                got = 0
                buf = bytearray(_http.BUFFER_SIZE)
                view = memoryview(buf)
                with os.fdopen(fd, "wb") as f:
                    while True:
                        n = r.readinto(buf)
                        if not n:
                            break
                        f.write(view[:n])
                        h.update(view[:n])
                        got += n
                    f.flush()
                    os.fsync(f.fileno())
                if want_len is not None and int(want_len) != got:
                    raise AtelierError(
                        errors.CODE_CONNECTION,
                        "%s: the connection broke after %d of %s bytes" % (where, got, want_len),
                        r.status,
                        r.request_id,
                    )
                if want_sha and h.hexdigest() != want_sha:
                    raise AtelierError(
                        errors.CODE_CHECKSUM,
                        "%s: the received bytes do not match the object's SHA-256" % where,
                        r.status,
                        r.request_id,
                    )
                os.chmod(tmp, 0o666 & ~_UMASK)
                os.replace(tmp, dest)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        return dest

    def _parallel(self, fn, jobs):
        """Run fn(*job) for every job on PARALLEL_TRANSFERS threads; the first error stops the rest."""
        jobs = list(jobs)
        if not jobs:
            return []
        results = [None] * len(jobs)
        pending = iter(enumerate(jobs))
        lock = threading.Lock()
        failures = []

        def worker():
            try:
                while True:
                    with lock:
                        if failures:
                            return
                        nxt = next(pending, None)
                    if nxt is None:
                        return
                    i, job = nxt
                    try:
                        results[i] = fn(*job)
                    except BaseException as e:
                        with lock:
                            failures.append(e)
                        return
            finally:
                self._client.close()  # this thread's kept-alive connection

        n = min(PARALLEL_TRANSFERS, len(jobs))
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
            futures = [ex.submit(worker) for _ in range(n)]
        for f in futures:
            f.result()
        if failures:
            raise failures[0]
        return results

    def upload_file(self, src_local_file, dst_obs_dir):
        """Upload one local file into an OBS directory; returns the object's dict.

        ``dst_obs_dir`` must end with '/'; the object's key is that directory
        plus the file's name.
        """
        src = _local_path(src_local_file, "src_local_file")
        dst = _require_dir_path(dst_obs_dir, "dst_obs_dir")
        if not os.path.exists(src):
            raise FileNotFoundError(errno.ENOENT, "src_local_file does not exist", src)
        if os.path.isdir(src):
            raise IsADirectoryError(
                errno.EISDIR, "src_local_file is a directory (use upload_dir)", src
            )
        target = dst.child(os.path.basename(src))
        return self._put_file(src, target.bucket, target.key)

    def upload_dir(self, src_local_dir, dst_obs_dir):
        """Upload a local directory tree into an OBS directory, like ``cp -r src dst/``.

        ``upload_dir('/data/imgs/', 'obs://b/in/')`` stores ``in/imgs/...``.
        Empty directories are not created. Returns the uploaded objects' dicts.
        """
        src = _local_path(src_local_dir, "src_local_dir")
        dst = _require_dir_path(dst_obs_dir, "dst_obs_dir")
        if not os.path.exists(src):
            raise FileNotFoundError(errno.ENOENT, "src_local_dir does not exist", src)
        if not os.path.isdir(src):
            raise NotADirectoryError(
                errno.ENOTDIR, "src_local_dir is not a directory (use upload_file)", src
            )
        root = os.path.normpath(os.path.abspath(src))
        name = os.path.basename(root)
        base = dst.child(name + "/") if name else dst
        jobs = []
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
            dirnames.sort()
            for fn in sorted(filenames):
                local = os.path.join(dirpath, fn)
                if not os.path.isfile(local):
                    continue  # sockets, fifos, dangling links
                rel = os.path.relpath(local, root).replace(os.sep, "/")
                target = base.child(rel)
                jobs.append((local, target.bucket, target.key))
        return self._parallel(self._put_file, jobs)

    def download_file(self, src_obs_file, dst_local_dir):
        """Download one object into a local directory; returns the local file's path.

        The directory is created if missing and the file keeps the object's
        name. The file appears only once complete and verified.
        """
        src = paths.parse(src_obs_file, "src_obs_file")
        if src.is_dir:
            raise ValueError(
                "src_obs_file must name an object, not a directory: %r" % src_obs_file
            )
        dst = _local_path(dst_local_dir, "dst_local_dir")
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise NotADirectoryError(errno.ENOTDIR, "dst_local_dir is not a directory", dst)
        return self._get_file(src.bucket, src.key, os.path.join(dst, src.basename))

    def download_dir(self, src_obs_dir, dst_local_dir):
        """Download an OBS directory into a local directory, like ``cp -r src dst/``.

        Both paths must end with '/'. ``download_dir('obs://b/in/imgs/',
        '/tmp/x/')`` writes ``/tmp/x/imgs/...``. Empty directories are not
        created. Returns the local paths written.
        """
        src = _require_dir_path(src_obs_dir, "src_obs_dir")
        dst = _local_path(dst_local_dir, "dst_local_dir")
        if not (dst.endswith("/") or dst.endswith(os.sep)):
            raise ValueError("dst_local_dir must end with '/': %r" % dst)
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise NotADirectoryError(errno.ENOTDIR, "dst_local_dir is not a directory", dst)
        base = os.path.join(dst, src.basename)
        jobs = []
        found = False
        for kind, obj in self._iter_listing(src.bucket, src.key):
            if kind != "object":
                continue
            found = True
            key = obj["key"]
            parts = [s for s in key[len(src.key):].split("/") if s not in ("", ".")]
            if not parts or key.endswith("/"):
                continue  # a directory marker: empty directories are not created
            if ".." in parts:
                raise ValueError("object key %r cannot be written to a local path" % key)
            jobs.append((src.bucket, key, os.path.join(base, *parts)))
        if not found:
            raise AtelierError(
                "ATL.OBS.0006", "no objects under %s" % (src_obs_dir,), 404
            )
        return self._parallel(self._get_file, jobs)


def _raise(err):
    raise err

"""Training jobs: the wire calls, the job objects and the helpers the estimators share.

The estimators (``atelier.estimator``: the ModelArts ``estimatorV2`` and
``estimator`` APIs) build a job specification and either run it on this
machine (``train_instance_type='local'``, see ``atelier.local``) or submit
it to the server (``POST /v1/training/jobs``, docs/api.md) and return a
:class:`TrainingJob`.

Parameters are ``[{"name": ..., "value": ...}]``; each becomes the argument
``--name=value`` of the boot file, or a bare ``--name`` when there is no
value (the ``action='store_true'`` convention).
"""

import codecs
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import zipfile

from . import _http, errors, paths
from .errors import AtelierError

CODE_JOB_FAILED = errors.CODE_JOB_FAILED
CODE_ENV_FAILED = errors.CODE_ENV_FAILED

FINAL_STATES = ("COMPLETED", "FAILED", "STOPPED")

_JOB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_LOG_CHUNK = 64 * 1024
_LOG_RESUMES = 20
"""How many times following a log reconnects after a dropped connection, in a row."""


class TrainingJobError(AtelierError):
    """TrainingJobError says that a training run failed.

    ``job`` is the job object (:class:`TrainingJob` or
    ``atelier.local.LocalTrainingJob``), ``exit_code`` the failing worker's
    exit code (negative: killed by that signal; None when unknown), ``task``
    the worker ("worker-1") when known and ``log_tail`` its last log lines.
    """

    def __init__(self, message, job=None, exit_code=None, task=None, log_tail="",
                 code=CODE_JOB_FAILED):
        super().__init__(code, message)
        self.job = job
        self.exit_code = exit_code
        self.task = task
        self.log_tail = log_tail


# -- names and parameters ---------------------------------------------------------


def check_job_name(name):
    """Return ``name`` if it is a valid job name, a generated one when None/empty."""
    if name is None or name == "":
        return "job-%s-%s" % (time.strftime("%Y%m%d-%H%M%S"), secrets.token_hex(3))
    if not isinstance(name, str) or not _JOB_NAME.match(name):
        raise ValueError("job_name must be 1-64 letters, digits, '_' or '-': %r" % (name,))
    return name


def _param_value(v, param):
    if v is None:
        return None
    if isinstance(v, (str, int, float)):
        return str(v)
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    raise TypeError("%s must be a str, int, float or bool, not %s" % (param, type(v).__name__))


def normalize_parameters(parameters, key="name", param="parameters"):
    """``[{"name","value"}]`` (v1: ``key="label"``) as wire JobParams ``[{"name","value"?}]``.

    A missing or None value gives a bare ``--name``; so does True, and
    False leaves the parameter out: the seed maps a boolean to argparse's
    ``action='store_true'``, which refuses ``--name=True``. Names are
    letters, digits, '_', '-' and '.', without leading dashes.
    """
    if parameters is None:
        return []
    if isinstance(parameters, dict) or not isinstance(parameters, (list, tuple)):
        raise TypeError("%s must be a list of {%r: ..., 'value': ...} dicts" % (param, key))
    out = []
    for i, p in enumerate(parameters):
        where = "%s[%d]" % (param, i)
        if not isinstance(p, dict):
            raise TypeError("%s must be a dict with %r and 'value'" % (where, key))
        name = p.get(key)
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
            raise ValueError("%s.%s must be a parameter name like 'lr' (letters, digits, '_', "
                             "'-', '.'; no leading '-'): %r" % (where, key, name))
        unknown = set(p) - {key, "value"}
        if unknown:
            raise ValueError("%s has unknown keys %s" % (where, sorted(unknown)))
        entry = {"name": name}
        raw = p.get("value")
        if raw is False:
            continue
        if raw is True:
            out.append(entry)
            continue
        value = _param_value(raw, where + ".value")
        if value is not None:
            entry["value"] = value
        out.append(entry)
    return out


def parameters_to_argv(params):
    """Wire JobParams as command-line arguments: ``--name=value`` or ``--name``."""
    argv = []
    for p in params:
        if p.get("value") is None:
            argv.append("--%s" % p["name"])
        else:
            argv.append("--%s=%s" % (p["name"], p["value"]))
    return argv


def canonical_obs(path, param):
    """An OBS path in the ``obs://bucket/key`` spelling."""
    return str(paths.parse(path, param))


# -- zip ---------------------------------------------------------------------------


def zip_dir(src_dir, dst_zip):
    """Write the tree ``src_dir`` into the zip file ``dst_zip``, streaming each file.

    Entry names are relative to ``src_dir``; only regular files and
    directories are stored (no sockets, no links outside the tree).
    """
    root = os.path.abspath(src_dir)
    with zipfile.ZipFile(dst_zip, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != "." and not filenames and not dirnames:
                zf.writestr(rel_dir.replace(os.sep, "/") + "/", b"")
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                if not os.path.isfile(full):
                    continue
                zf.write(full, os.path.relpath(full, root).replace(os.sep, "/"))
    return dst_zip


def unzip_to(zip_path, dest):
    """Unpack ``zip_path`` into ``dest``; entries that would escape ``dest`` raise ValueError."""
    root = os.path.abspath(dest)
    os.makedirs(root, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if ".." in parts or name.startswith("/"):
                raise ValueError("the zip entry %r would be written outside %s" % (name, dest))
            target = os.path.join(root, *parts)
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _http.BUFFER_SIZE)
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | 0o600)


# -- OBS staging -------------------------------------------------------------------


def upload_zip_of(session, local_dir, obs_path, param):
    """Zip ``local_dir`` and upload it; returns the object's ``obs://`` path.

    An ``obs_path`` ending in ``.zip`` names the object; a directory gets
    ``<basename of local_dir>.zip`` inside it.
    """
    if not os.path.isdir(local_dir):
        raise NotADirectoryError("%s: %r is not a local directory" % (param, local_dir))
    p = paths.parse(obs_path, param)
    if p.is_dir:
        name = os.path.basename(os.path.normpath(os.path.abspath(local_dir))) or "data"
        target = p.child(name + ".zip")
    elif p.key.lower().endswith(".zip"):
        target = p
    else:
        raise ValueError("%s must be an OBS directory ending with '/' or a .zip path: %r"
                         % (param, obs_path))
    tmp = tempfile.mkdtemp(prefix="atelier-zip-")
    try:
        z = zip_dir(local_dir, os.path.join(tmp, target.basename))
        session.obs._put_file(z, target.bucket, target.key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def download_input(session, obs_path, local_path):
    """Put the OBS data ``obs_path`` at the local directory ``local_path``.

    A directory's files land directly in ``local_path`` (not in a
    sub-directory named after it); a ``.zip`` object is unpacked there; any
    other object is downloaded into it.
    """
    p = paths.parse(obs_path, "obs_path")
    os.makedirs(local_path, exist_ok=True)
    obs = session.obs
    if p.is_dir:
        jobs = []
        for kind, obj in obs._iter_listing(p.bucket, p.key):
            if kind != "object" or obj["key"].endswith("/"):
                continue
            parts = [s for s in obj["key"][len(p.key):].split("/") if s not in ("", ".")]
            if not parts:
                continue
            if ".." in parts:
                raise ValueError("object key %r cannot be written to a local path" % obj["key"])
            jobs.append((p.bucket, obj["key"], os.path.join(local_path, *parts)))
        if not jobs:
            raise AtelierError("ATL.OBS.0006", "no objects under %s" % (obs_path,), 404)
        obs._parallel(obs._get_file, jobs)
        return
    if p.key.lower().endswith(".zip"):
        tmp = tempfile.mkdtemp(prefix="atelier-unzip-")
        try:
            z = obs._get_file(p.bucket, p.key, os.path.join(tmp, "data.zip"))
            unzip_to(z, local_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    obs._get_file(p.bucket, p.key, os.path.join(local_path, p.basename))


def upload_dir_contents(session, local_dir, obs_dir):
    """Upload the files under ``local_dir`` to ``obs_dir`` + their relative paths."""
    p = paths.parse(obs_dir, "obs_path")
    jobs = []
    for dirpath, dirnames, filenames in os.walk(local_dir):
        dirnames.sort()
        for fn in sorted(filenames):
            full = os.path.join(dirpath, fn)
            if not os.path.isfile(full):
                continue
            rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
            t = p.child(rel)
            jobs.append((full, t.bucket, t.key))
    return session.obs._parallel(session.obs._put_file, jobs)


def upload_file_as(session, local_file, obs_dir, name):
    """Upload ``local_file`` as ``obs_dir`` + ``name``; returns its ``obs://`` path."""
    t = paths.parse(obs_dir, "log_url").child(name)
    session.obs._put_file(local_file, t.bucket, t.key)
    return str(t)


# -- catalogue ---------------------------------------------------------------------


def get_spec_list(session):
    """The server's flavors: ``{"flavors": [{"flavor_id", "max_num", "cpu", ...}]}``."""
    return session.call("GET", "/v1/training/flavors") or {"flavors": []}


def get_framework_list(session):
    """The server's frameworks: ``{"frameworks": [{"framework_type", "framework_version", "interpreter"}]}``."""
    return session.call("GET", "/v1/training/frameworks") or {"frameworks": []}


# -- remote jobs -------------------------------------------------------------------


def _job_path(job_id, *rest):
    p = "/v1/training/jobs/" + paths.quote_bucket(str(job_id))
    for r in rest:
        p += "/" + paths.quote_bucket(str(r))
    return p


def submit_job(session, job_name, job_desc, spec):
    """``POST /v1/training/jobs``; returns ``(job dict, version dict)``."""
    doc = session.call("POST", "/v1/training/jobs",
                       json_body={"job_name": job_name, "job_desc": job_desc or "", "spec": spec})
    doc = doc or {}
    if not isinstance(doc.get("job"), dict) or not isinstance(doc.get("version"), dict):
        raise AtelierError(errors.CODE_BAD_RESPONSE, "the job submission answered no job/version")
    return doc["job"], doc["version"]


def create_version(session, job_id, pre_version_id, job_desc, spec):
    """``POST /v1/training/jobs/{id}/versions``; returns the new version dict."""
    body = {"pre_version_id": int(pre_version_id or 0), "job_desc": job_desc or "",
            "spec": spec or {}}
    return session.call("POST", _job_path(job_id, "versions"), json_body=body) or {}


class _TextSink:
    """_TextSink writes UTF-8 bytes to a text stream, keeping split characters intact."""

    def __init__(self, out):
        self._out = out
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data, final=False):
        text = self._dec.decode(data, final)
        if text:
            self._out.write(text)
            self._out.flush()


class TrainingJob:
    """TrainingJob is one version of a training job on the server.

    ``job_id``, ``version_id`` and ``job_name`` identify it. Methods call
    the API (docs/api.md "Training"). Safe for concurrent use as far as the
    Session is; the attributes are not updated behind the caller's back.
    """

    is_local = False

    def __init__(self, session, job_id, version_id, job_name=None, version=None):
        self.session = session
        self.job_id = job_id
        self.version_id = version_id
        self.job_name = job_name
        self.version = version or {}
        """The version dict last read from the server."""

    def __repr__(self):
        return "TrainingJob(job_id=%r, version_id=%r, job_name=%r)" % (
            self.job_id, self.version_id, self.job_name)

    def get_job_info(self):
        """The version's current state: the JobVersion dict (status, reason, spec, times)."""
        self.version = self.session.call(
            "GET", _job_path(self.job_id, "versions", self.version_id)) or {}
        return self.version

    @property
    def status(self):
        """The version's current status (``CREATING`` … ``COMPLETED|FAILED|STOPPED``)."""
        return self.get_job_info().get("status")

    def get_job(self):
        """The job (all versions): the TrainingJob dict."""
        return self.session.call("GET", _job_path(self.job_id)) or {}

    def get_version_list(self):
        """All versions of the job, newest first."""
        doc = self.session.call("GET", _job_path(self.job_id, "versions")) or {}
        return list(doc.get("versions") or [])

    def get_events(self):
        """This version's state transitions, in order."""
        doc = self.session.call(
            "GET", _job_path(self.job_id, "versions", self.version_id, "events")) or {}
        return list(doc.get("events") or [])

    def get_job_log(self, task_id="worker-0", offset=0):
        """The log of one worker so far, as text (not following it)."""
        r = self.session._client.request(
            "GET", _job_path(self.job_id, "versions", self.version_id, "logs", task_id),
            query={"offset": int(offset)}, headers={"Accept": "text/plain"})
        if r.status >= 400:
            raise _http.error_from_response(r.status, r.headers, r.body)
        return r.body.decode("utf-8", "replace")

    def stream_log(self, task_id="worker-0", out=None, offset=0):
        """Copy the worker's log to ``out`` (default stdout) as it grows, until the version ends.

        A dropped connection is resumed from the last byte received. Returns
        the offset reached.
        """
        sink = _TextSink(out if out is not None else sys.stdout)
        path = _job_path(self.job_id, "versions", self.version_id, "logs", task_id)
        failures = 0
        while True:
            try:
                with self.session._client.stream(
                        "GET", path, query={"offset": offset, "follow": 1},
                        headers={"Accept": "text/plain"}) as r:
                    while True:
                        data = r.read1(_LOG_CHUNK)
                        if not data:
                            break
                        sink.write(data)
                        offset += len(data)
                        failures = 0
                sink.write(b"", final=True)
                return offset
            except AtelierError as e:
                retry = e.code == errors.CODE_CONNECTION or (
                    e.status == 404 and e.code == "ATL.TRN.0009")
                if not retry or failures >= _LOG_RESUMES:
                    raise
                if e.status == 404 and self.get_job_info().get("status") in FINAL_STATES:
                    return offset  # the worker never started and never will
                failures += 1
                time.sleep(min(0.2 * (2 ** failures), 3.0))

    def wait(self, show_log=True, out=None, poll_interval=1.0, timeout=None):
        """Wait for the version to end; returns its final JobVersion dict.

        With ``show_log`` worker-0's log is streamed to ``out`` (default
        stdout) meanwhile. A FAILED version raises :class:`TrainingJobError`
        with the server's reason; STOPPED and COMPLETED return.
        """
        offset = self.stream_log("worker-0", out=out) if show_log else 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get_job_info()
            if info.get("status") in FINAL_STATES:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("training job %s version %s did not end within %ss"
                                   % (self.job_id, self.version_id, timeout))
            time.sleep(poll_interval)
        if show_log:
            # Whatever the follow missed (a log that appeared only as the version ended).
            try:
                rest = self.get_job_log("worker-0", offset=offset)
            except AtelierError as e:
                if e.status != 404:
                    raise
                rest = ""
            if rest:
                o = out if out is not None else sys.stdout
                o.write(rest)
                o.flush()
        if info.get("status") == "FAILED":
            raise TrainingJobError(
                "training job %s (%s) version %s failed: %s" % (
                    self.job_name or info.get("job_id"), self.job_id, self.version_id,
                    info.get("reason") or "no reason given"),
                job=self, exit_code=info.get("exit_code"))
        return info

    def stop(self):
        """Stop the version (no error when it has ended); returns the JobVersion dict."""
        self.version = self.session.call(
            "POST", _job_path(self.job_id, "versions", self.version_id, "stop")) or {}
        return self.version

    def delete(self):
        """Delete the whole job (all versions; running ones are stopped)."""
        self.session.call("DELETE", _job_path(self.job_id))

    def create_job_version(self, spec=None, pre_version_id=None, job_desc=None, wait=False,
                           show_log=True):
        """Run the job again: version ``pre_version_id`` (default: this one) with ``spec``'s
        non-empty fields replacing its settings. Returns the new :class:`TrainingJob`."""
        v = create_version(self.session, self.job_id,
                           self.version_id if pre_version_id is None else pre_version_id,
                           job_desc, spec)
        job = TrainingJob(self.session, v.get("job_id", self.job_id), v.get("version_id"),
                          self.job_name, v)
        if wait:
            job.wait(show_log=show_log)
        return job


def json_dumps(doc):
    """Compact, stable JSON (for hashes and logs)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))

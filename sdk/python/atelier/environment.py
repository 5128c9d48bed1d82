"""Environment and CondaDependencies: the Python environment of a local training run.

``Environment(name)`` with ``.conda = CondaDependencies.create(pip_packages=[...],
conda_packages=[...], channels=[...])`` is honoured by local runs
(``train_instance_type='local'``) only; remote runs use the interpreter the
server configures for the framework (or ``script_interpreter``).

For a local run the environment is created once and cached under
``$XDG_CACHE_HOME/atelier/envs/<hash>`` (default ``~/.cache/atelier/envs``),
where the hash covers the packages, channels and the base interpreter:

- when a ``conda`` binary is on PATH: ``conda create -p <dir>`` with the
  conda packages (``python=3.x`` included) and channels, then
  ``<dir>/bin/python -m pip install`` the pip packages;
- otherwise ``python -m venv <dir>`` from the running interpreter and
  ``pip install`` of the pip packages and of the conda packages other than
  ``python`` (conda-only names may then fail to install). A
  ``python=3.x`` conda package that the running interpreter does not match
  gives a warning (``RuntimeWarning``), not an error: the venv uses the
  running interpreter's version.

With no reachable package index the creation fails within seconds: before
anything is installed the index (``PIP_INDEX_URL``, the first http(s)
channel, else https://pypi.org/simple; through ``HTTPS_PROXY`` when set) is
probed with a 3 s TCP connect, unless a pip configuration file may name
another index; pip itself runs with ``--timeout 5 --retries 0``. The error
(:class:`~atelier.training.TrainingJobError`, code ``ATL.SDK.0102``) names
the first package.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
import warnings

from .training import CODE_ENV_FAILED, TrainingJobError

DEFAULT_INDEX = "https://pypi.org/simple"
PROBE_TIMEOUT_S = 3.0
PIP_TIMEOUT_S = 5
_MARKER = ".atelier-env.json"
_PYTHON_PKG = re.compile(r"^python\s*(==|=|>=|<=|~=)?\s*([0-9][0-9.*]*)\s*$", re.I)


def _str_list(value, param):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError("%s must be a list of str" % param)
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise ValueError("%s[%d] must be a non-empty str: %r" % (param, i, v))
    return [v.strip() for v in value]


class CondaDependencies:
    """CondaDependencies lists the packages of an environment.

    Build it with :meth:`create`. Plain data; not safe for concurrent mutation.
    """

    def __init__(self, pip_packages=None, conda_packages=None, channels=None):
        self.pip_packages = _str_list(pip_packages, "pip_packages")
        self.conda_packages = _str_list(conda_packages, "conda_packages")
        self.channels = _str_list(channels, "channels")

    @classmethod
    def create(cls, pip_packages=None, conda_packages=None, channels=None):
        """The ModelArts constructor: ``CondaDependencies.create(pip_packages=[...], ...)``."""
        return cls(pip_packages, conda_packages, channels)

    def python_version(self):
        """The version asked for by a ``python=3.x`` conda package, or None."""
        for p in self.conda_packages:
            m = _PYTHON_PKG.match(p)
            if m:
                return m.group(2)
        return None

    def other_conda_packages(self):
        return [p for p in self.conda_packages if not _PYTHON_PKG.match(p)]

    def __repr__(self):
        return "CondaDependencies(pip_packages=%r, conda_packages=%r, channels=%r)" % (
            self.pip_packages, self.conda_packages, self.channels)


class Environment:
    """Environment is a named Python environment for local training runs.

    ``conda`` is a :class:`CondaDependencies` or None (then the running
    interpreter is used as it is). Not safe for concurrent mutation;
    :meth:`python` may be called from several processes (a file lock guards
    the cache).
    """

    def __init__(self, name, conda=None):
        if not isinstance(name, str) or not name:
            raise ValueError("Environment name must be a non-empty str")
        self.name = name
        self.conda = conda

    def __repr__(self):
        return "Environment(%r, conda=%r)" % (self.name, self.conda)

    def cache_key(self, conda_bin=None):
        deps = self.conda or CondaDependencies()
        doc = {"pip": deps.pip_packages, "conda": deps.conda_packages,
               "channels": deps.channels, "base": os.path.realpath(sys.executable),
               "version": list(sys.version_info[:3]), "conda_bin": bool(conda_bin)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]

    def python(self, out=None, cache_dir=None):
        """The interpreter of this environment, created (once) if needed."""
        deps = self.conda
        if deps is None:
            return sys.executable
        conda_bin = shutil.which("conda")
        want = deps.python_version()
        if want and not conda_bin and not _version_matches(want):
            warnings.warn(
                "environment %r asks for python=%s but no conda is on PATH; the venv uses the "
                "running Python %s" % (self.name, want, ".".join(map(str, sys.version_info[:3]))),
                RuntimeWarning, stacklevel=3)
        root = cache_dir or default_cache_dir()
        env_dir = os.path.join(root, self.cache_key(conda_bin))
        py = os.path.join(env_dir, "bin", "python")
        os.makedirs(root, exist_ok=True)
        with open(env_dir + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if os.path.exists(os.path.join(env_dir, _MARKER)):
                return py
            shutil.rmtree(env_dir, ignore_errors=True)  # a half-built one
            try:
                self._build(env_dir, conda_bin, out)
            except BaseException:
                shutil.rmtree(env_dir, ignore_errors=True)
                raise
            with open(os.path.join(env_dir, _MARKER), "w") as f:
                json.dump({"name": self.name, "pip_packages": deps.pip_packages,
                           "conda_packages": deps.conda_packages,
                           "channels": deps.channels}, f)
        return py

    def _build(self, env_dir, conda_bin, out):
        deps = self.conda
        pip_pkgs = list(deps.pip_packages)
        if not conda_bin:
            pip_pkgs += deps.other_conda_packages()
        index, extra = _pip_indexes(deps.channels)
        if pip_pkgs:
            _probe_index(index, pip_pkgs[0], self.name)
        if conda_bin:
            cmd = [conda_bin, "create", "-y", "-q", "-p", env_dir]
            for ch in deps.channels:
                cmd += ["-c", ch]
            py = deps.python_version() or "%d.%d" % sys.version_info[:2]
            cmd += ["python=%s" % py] + deps.other_conda_packages() + ["pip"]
            _run(cmd, "conda create", (deps.other_conda_packages() or ["python=" + py])[0],
                 self.name, out)
        else:
            cmd = [sys.executable, "-m", "venv"]
            if not pip_pkgs:
                cmd.append("--without-pip")
            _run(cmd + [env_dir], "python -m venv", None, self.name, out)
        if pip_pkgs:
            cmd = [os.path.join(env_dir, "bin", "python"), "-m", "pip", "install",
                   "--disable-pip-version-check", "--no-input", "--timeout", str(PIP_TIMEOUT_S),
                   "--retries", "0"]
            if index:
                cmd += ["--index-url", index]
            for e in extra:
                cmd += ["--extra-index-url", e]
            _run(cmd + pip_pkgs, "pip install", pip_pkgs[0], self.name, out)


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "atelier", "envs")


def _version_matches(want):
    have = [str(x) for x in sys.version_info[:3]]
    for i, part in enumerate(want.split(".")):
        if part in ("*", ""):
            break
        if i >= 3 or part != have[i]:
            return False
    return True


def _pip_indexes(channels):
    """(index URL or None, extra index URLs) from PIP_INDEX_URL and the http(s) channels."""
    urls = [c for c in channels if c.startswith(("http://", "https://"))]
    index = os.environ.get("PIP_INDEX_URL") or (urls[0] if urls else None)
    extra = urls[1:] if not os.environ.get("PIP_INDEX_URL") else urls
    return index, extra


def _pip_config_may_name_index():
    if os.environ.get("PIP_CONFIG_FILE"):
        return True
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    for p in (os.path.join(xdg, "pip", "pip.conf"), os.path.join(home, ".pip", "pip.conf"),
              "/etc/pip.conf", os.path.join(sys.prefix, "pip.conf")):
        if os.path.exists(p):
            return True
    return False


def _probe_index(index, first_pkg, env_name):
    """Raise at once when the package index cannot be reached (see the module doc)."""
    if index is None and _pip_config_may_name_index():
        return  # pip's own configuration decides; pip fails fast by itself
    url = index or DEFAULT_INDEX
    u = urllib.parse.urlsplit(url)
    proxy = os.environ.get("HTTPS_PROXY" if u.scheme == "https" else "HTTP_PROXY") or \
        os.environ.get("https_proxy" if u.scheme == "https" else "http_proxy")
    target = urllib.parse.urlsplit(proxy) if proxy else u
    host = target.hostname
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as e:
        via = " through the proxy %s:%s" % (host, port) if proxy else ""
        raise TrainingJobError(
            "cannot install %r into environment %r: the package index %s is unreachable%s (%s)"
            % (first_pkg, env_name, url, via, e.strerror or e), code=CODE_ENV_FAILED) from e


def _run(cmd, what, first_pkg, env_name, out):
    out = out if out is not None else sys.stdout
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as e:
        raise TrainingJobError("cannot create environment %r: %s: %s" % (env_name, what, e),
                               code=CODE_ENV_FAILED) from e
    if r.returncode != 0:
        tail = "\n".join(r.stdout.strip().splitlines()[-10:])
        pkg = " (installing %r)" % first_pkg if first_pkg else ""
        raise TrainingJobError(
            "cannot create environment %r: %s failed with exit code %d%s:\n%s"
            % (env_name, what, r.returncode, pkg, tail), code=CODE_ENV_FAILED)

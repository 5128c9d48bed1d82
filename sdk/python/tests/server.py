"""RealServer: runs the real `atelier server` binary on 127.0.0.1:0 for end-to-end tests.

The binary is ``$ATELIER_BIN`` when set, else built once per test run with
``go build ./cmd/atelier`` from the repository root.
"""

import atexit
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SDK_ROOT = os.path.join(REPO_ROOT, "sdk", "python")

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 30.0
_LISTENING = re.compile(r"atelier: listening on (http://[^\s]+)")

_build_lock = threading.Lock()
_built = None


def must_binary():
    """The path of the atelier binary to test (built once when ATELIER_BIN is unset)."""
    global _built
    env_bin = os.environ.get("ATELIER_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            raise RuntimeError("ATELIER_BIN=%s is not an executable file" % env_bin)
        return env_bin
    with _build_lock:
        if _built is None:
            out_dir = tempfile.mkdtemp(prefix="atelier-pytest-bin-")
            atexit.register(shutil.rmtree, out_dir, True)
            target = os.path.join(out_dir, "atelier")
            r = subprocess.run(
                ["go", "build", "-o", target, "./cmd/atelier"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if r.returncode != 0:
                raise RuntimeError("go build ./cmd/atelier failed:\n" + r.stderr)
            _built = target
        return _built


class RealServer:
    """RealServer is one running `atelier server` with a temporary data dir.

    ``url`` is its endpoint; ``admin_email``/``admin_password`` log in as the
    bootstrapped admin; ``data_dir`` is its data directory (login codes land
    in ``<data_dir>/outbox`` as JSON files). Not safe for concurrent use (start and stop from the
    test thread).
    """

    def __init__(self, admin_email="admin@example.com", admin_password="Adm1n-pass-for-tests!",
                 extra_env=None):
        self.admin_email = admin_email
        self.admin_password = admin_password
        self.extra_env = dict(extra_env or {})  # ATELIER_* settings of this server
        self.url = None
        self.data_dir = None
        self._proc = None
        self._dir = None
        self._stderr = None
        self._pump = None

    def stderr_text(self):
        if self._stderr is None:
            return ""
        self._stderr.flush()
        with open(self._stderr.name, "r", errors="replace") as f:
            return f.read()

    def start(self):
        binary = must_binary()
        self._dir = tempfile.mkdtemp(prefix="atelier-pytest-")
        data_dir = os.path.join(self._dir, "data")
        self.data_dir = data_dir
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("ATELIER_") and k != "ATELIER_BIN":
                del env[k]
        env.update(
            ATELIER_ADMIN_EMAIL=self.admin_email,
            ATELIER_ADMIN_PASSWORD=self.admin_password,
            XDG_CONFIG_HOME=os.path.join(self._dir, "config"),
        )
        if shutil.which("bwrap") is None and not os.environ.get("ATELIER_REQUIRE_SANDBOX"):
            # No bubblewrap on this machine (CI installs it): jobs run
            # unsandboxed, as the server's docs allow for trusted setups.
            env["ATELIER_SANDBOX"] = "none"
        env.update(self.extra_env)
        self._stderr = open(os.path.join(self._dir, "stderr.log"), "w+")
        self._proc = subprocess.Popen(
            [binary, "server", "--addr", "127.0.0.1:0", "--data-dir", data_dir],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        lines = queue.Queue()

        def pump():
            # Keeps draining stdout so that the server never blocks on a full pipe.
            for line in self._proc.stdout:
                lines.put(line)
            lines.put(None)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + START_DEADLINE_S
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise RuntimeError(
                    "atelier server printed no 'atelier: listening on' line within %ds;\n"
                    "stdout:\n%s\nstderr:\n%s"
                    % (START_DEADLINE_S, "".join(seen), self.stderr_text())
                )
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                rc = self._proc.wait()
                raise RuntimeError(
                    "atelier server exited with status %s before listening;\nstdout:\n%s\n"
                    "stderr:\n%s" % (rc, "".join(seen), self.stderr_text())
                )
            seen.append(line)
            m = _LISTENING.search(line)
            if m:
                self.url = m.group(1).rstrip("/")
                return self

    def _kill(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self):
        """SIGTERM the server and wait; returns (exit status, stderr text)."""
        if self._proc is None:
            return None, ""
        try:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    rc = self._proc.wait(timeout=STOP_DEADLINE_S)
                except subprocess.TimeoutExpired:
                    self._kill()
                    raise RuntimeError(
                        "atelier server did not exit within %ds of SIGTERM" % STOP_DEADLINE_S
                    )
            else:
                rc = self._proc.returncode
            return rc, self.stderr_text()
        finally:
            self._pump.join(timeout=STOP_DEADLINE_S)
            if not self._pump.is_alive() and self._proc.stdout is not None:
                self._proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._proc = None


def start_with_flavors(prefix, flavors):
    """Starts a real server whose training flavors (and so services'
    specifications) are flavors, with 4 slots; returns it and the temporary
    directory of its flavors file, for stop_with_flavors."""
    import json
    tmp = tempfile.mkdtemp(prefix=prefix)
    path = os.path.join(tmp, "flavors.json")
    with open(path, "w") as f:
        json.dump(flavors, f)
    server = RealServer(extra_env={"ATELIER_TRAINING_FLAVORS": path,
                                   "ATELIER_TRAINING_SLOTS": "4"}).start()
    return server, tmp


def stop_with_flavors(server, tmp):
    """Stops what start_with_flavors started; a server that exited badly
    fails the module with its stderr."""
    shutil.rmtree(tmp, ignore_errors=True)
    if server is not None:
        rc, stderr = server.stop()
        if rc != 0:
            raise AssertionError("atelier server exited with status %s; stderr:\n%s"
                                 % (rc, stderr))

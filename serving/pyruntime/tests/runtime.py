"""Runs serve.py as a subprocess on a free port, as the platform does, for the tests."""

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading

RUNTIME_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
REPO_ROOT = os.path.abspath(os.path.join(RUNTIME_DIR, "..", ".."))
SERVE = os.path.join(RUNTIME_DIR, "serve.py")
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0
_LISTENING = re.compile(r"atelier-runtime: serving .* on http://([0-9.]+):(\d+)")


def write_files(root, files):
    """Write ``{relative path: str or bytes}`` under root."""
    for name, content in files.items():
        p = os.path.join(root, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)


def runtime_env(model_dir, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env.update(PORT="0", PYTHONPATH=RUNTIME_DIR + os.pathsep + model_dir,
               PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def run_to_exit(model_dir, extra_env=None, timeout=START_DEADLINE_S):
    """Run serve.py expecting it to exit (a package that cannot load); returns CompletedProcess."""
    return subprocess.run([sys.executable, SERVE, "--model-dir", model_dir],
                          env=runtime_env(model_dir, extra_env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Instance:
    """Instance is one running serve.py. Not safe for concurrent use (start and stop
    from the test thread; requests from any thread)."""

    def __init__(self, model_dir, extra_env=None):
        self.model_dir = model_dir
        self.extra_env = extra_env
        self.host = self.port = None
        self._proc = None
        self._stderr = None

    def start(self):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [sys.executable, SERVE, "--model-dir", self.model_dir],
            env=runtime_env(self.model_dir, self.extra_env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        lines = queue.Queue()

        def pump():
            for line in self._proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        seen = []
        while True:
            try:
                line = lines.get(timeout=START_DEADLINE_S)
            except queue.Empty:
                self._proc.kill()
                self._proc.wait()
                raise RuntimeError("serve.py did not listen within %ss; stderr:\n%s"
                                   % (START_DEADLINE_S, self.stderr_text()))
            if line is None:
                rc = self._proc.wait()
                raise RuntimeError("serve.py exited with %s before listening; stdout:\n%s\n"
                                   "stderr:\n%s" % (rc, "".join(seen), self.stderr_text()))
            seen.append(line)
            m = _LISTENING.search(line)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self

    def stderr_text(self):
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request; returns (status, headers, body bytes). A ``conn`` is reused."""
        own = conn is None
        c = conn or http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            if own:
                c.close()

    def json(self, method, path, body=None, headers=None):
        """One request; returns (status, decoded JSON body)."""
        status, h, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def stop(self):
        """SIGTERM and wait; returns (exit status, stderr text)."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            rc = self._proc.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise
        self._proc.stdout.close()
        text = self.stderr_text()
        self._stderr.close()
        return rc, text

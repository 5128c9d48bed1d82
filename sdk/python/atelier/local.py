"""Local training: ``train_instance_type='local'`` runs the job on this machine.

What a local run does, in order (the ModelArts notebook debugging flow):

1. Inputs: an OBS input is put at its ``local_path`` (a directory's files
   directly there, a ``.zip`` unpacked there); an ``is_local_source`` input
   is used in place, and zipped and uploaded to its ``obs_path`` once when
   one is given. Each output's ``local_path`` is created.
2. ``train_instance_count=N`` starts N processes of the boot file (with
   ``script_interpreter``, else the current Python, ``sys.executable``) in
   the code directory, each with the torchrun-style variables of one node
   running N processes: ``MASTER_ADDR=127.0.0.1``, ``MASTER_PORT`` (a free
   port), ``WORLD_SIZE=N``, ``RANK=i``, ``LOCAL_RANK=i``,
   ``LOCAL_WORLD_SIZE=N``, ``NODE_RANK=0``, ``GROUP_RANK=0`` and
   ``PET_NPROC_PER_NODE``, ``PET_NNODES=1``, ``PET_NODE_RANK``,
   ``PET_MASTER_ADDR``, ``PET_MASTER_PORT``; ``PYTHONUNBUFFERED=1``.
3. Each worker's output (stdout and stderr) is printed live, prefixed with
   ``[worker-i]`` when N > 1, and kept in a log file. When a worker exits
   non-zero the others are stopped (SIGTERM, then SIGKILL after 5 s) and
   :class:`~atelier.training.TrainingJobError` is raised with its exit code
   and last log lines.
4. Whatever the end, each output's files are uploaded to its ``obs_path``
   and each worker's log to ``<log_url><job_name>-worker-<i>.log``.

Local runs always run to the end before ``fit`` returns (``wait`` is
ignored). The returned :class:`LocalTrainingJob` has the ids
``job_id="local-<12 hex>"`` and ``version_id=1``: the server never hears of
a local run. Its logs stay in ``<tmp>/atelier-local-jobs/<job_id>/``.
"""

import collections
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import secrets

from . import training
from .training import TrainingJobError

STOP_GRACE_S = 5.0
"""Seconds a worker gets between SIGTERM and SIGKILL when the run is stopped."""

LOG_TAIL_LINES = 20


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env(rank, world, port, base=None):
    """The environment of worker ``rank`` of ``world`` local processes."""
    env = dict(os.environ if base is None else base)
    env.update({
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(world),
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "LOCAL_WORLD_SIZE": str(world),
        "NODE_RANK": "0",
        "GROUP_RANK": "0",
        "PET_NPROC_PER_NODE": str(world),
        "PET_NNODES": "1",
        "PET_NODE_RANK": "0",
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    })
    return env


def stage_inputs(session, inputs):
    """Make every InputData's data available at its local_path (see the module doc)."""
    for i, inp in enumerate(inputs or []):
        if inp.is_local_source:
            if not os.path.isdir(inp.local_path):
                raise NotADirectoryError(
                    "inputs[%d].local_path %r is not a local directory" % (i, inp.local_path))
            if inp.obs_path and inp.uploaded_obs_path is None:
                inp.uploaded_obs_path = training.upload_zip_of(
                    session, inp.local_path, inp.obs_path, "inputs[%d].obs_path" % i)
        else:
            training.download_input(session, inp.obs_path, inp.local_path)


class LocalTrainingJob:
    """LocalTrainingJob is a training run that happened on this machine.

    ``job_id`` is a local id ("local-…"), ``version_id`` is 1, ``status``
    is COMPLETED or FAILED, ``exit_codes`` lists each worker's exit code
    and ``log_files`` their local log files. Not safe for concurrent use.
    """

    is_local = True

    def __init__(self, job_name, workers):
        self.job_id = "local-" + secrets.token_hex(6)
        self.version_id = 1
        self.job_name = job_name
        self.status = "CREATING"
        self.reason = ""
        self.exit_codes = [None] * workers
        self.log_dir = os.path.join(tempfile.gettempdir(), "atelier-local-jobs", self.job_id)
        self.log_files = [os.path.join(self.log_dir, "worker-%d.log" % i) for i in range(workers)]
        self.uploaded_logs = []
        self.started_at = None
        self.finished_at = None

    def __repr__(self):
        return "LocalTrainingJob(job_id=%r, job_name=%r, status=%r)" % (
            self.job_id, self.job_name, self.status)

    def get_job_info(self):
        """A dict shaped like the server's JobVersion."""
        return {"job_id": self.job_id, "version_id": self.version_id,
                "job_name": self.job_name, "status": self.status, "reason": self.reason,
                "exit_codes": list(self.exit_codes), "train_instance_type": "local",
                "log_files": list(self.log_files), "started_at": self.started_at,
                "finished_at": self.finished_at}

    def get_job_log(self, task_id="worker-0"):
        """The text of one worker's log ("worker-0", …)."""
        try:
            idx = int(str(task_id).rsplit("-", 1)[-1])
            path = self.log_files[idx]
        except (ValueError, IndexError):
            raise ValueError("task_id must be worker-0 … worker-%d: %r"
                             % (len(self.log_files) - 1, task_id)) from None
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait(self, **_):
        """A local run has already ended; returns get_job_info()."""
        return self.get_job_info()

    def stop(self):
        """A local run has already ended: nothing to stop."""
        return self.get_job_info()

    def delete(self):
        """Remove the local log files."""
        import shutil

        shutil.rmtree(self.log_dir, ignore_errors=True)


class _Worker:
    def __init__(self, rank, proc, log_path):
        self.rank = rank
        self.proc = proc
        self.log_path = log_path
        self.tail = collections.deque(maxlen=LOG_TAIL_LINES)
        self.reader = None


def _pump(worker, prefix, out, out_lock):
    """Copy a worker's output to its log file and (prefixed) to ``out``, line by line."""
    with open(worker.log_path, "wb") as log:
        for line in iter(worker.proc.stdout.readline, b""):
            log.write(line)
            log.flush()
            text = line.decode("utf-8", "replace")
            worker.tail.append(text.rstrip("\n"))
            with out_lock:
                try:
                    out.write(prefix + text if prefix else text)
                    if not text.endswith("\n"):
                        out.write("\n")
                    out.flush()
                except (OSError, ValueError):
                    pass  # a closed stdout must not stop the log file
    worker.proc.stdout.close()


def _signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _describe_exit(rank, code):
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        return "worker-%d was killed by %s" % (rank, name)
    return "worker-%d exited with code %d" % (rank, code)


def run(session, job, command, workdir, count, outputs=None, log_url=None, env=None,
        out=None):
    """Run ``command`` (an argv list) as ``count`` local workers for ``job``.

    ``job`` is the :class:`LocalTrainingJob` to fill in. Uploads outputs and
    logs when the workers end; raises TrainingJobError when one failed.
    Returns ``job``.
    """
    out = out if out is not None else sys.stdout
    os.makedirs(job.log_dir, exist_ok=True)
    port = free_port()
    out_lock = threading.Lock()
    exits = queue.Queue()
    workers = []
    job.status = "RUNNING"
    job.started_at = time.time()
    try:
        for rank in range(count):
            wenv = worker_env(rank, count, port)
            wenv.update(env or {})
            try:
                proc = subprocess.Popen(
                    command, cwd=workdir, env=wenv, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise TrainingJobError(
                    "cannot start worker-%d of %s: %s: %s" % (rank, job.job_name, command[0], e),
                    job=job, task="worker-%d" % rank) from e
            w = _Worker(rank, proc, job.log_files[rank])
            workers.append(w)
            prefix = "[worker-%d] " % rank if count > 1 else ""
            w.reader = threading.Thread(target=_pump, args=(w, prefix, out, out_lock),
                                        daemon=True)
            w.reader.start()
            threading.Thread(target=lambda w=w: exits.put((w.rank, w.proc.wait())),
                             daemon=True).start()
        failed = None
        for _ in range(count):
            rank, code = exits.get()
            job.exit_codes[rank] = code
            if code != 0 and failed is None:
                failed = (rank, code)
                _stop_all(workers)
    except BaseException:
        _stop_all(workers)
        for w in workers:
            w.proc.wait()
        job.status = "FAILED"
        job.reason = "interrupted"
        raise
    finally:
        for w in workers:
            if w.reader is not None:
                w.reader.join(timeout=STOP_GRACE_S)
        job.finished_at = time.time()

    problems = []
    if failed is None:
        job.status = "COMPLETED"
    else:
        rank, code = failed
        tail = "\n".join(workers[rank].tail)
        job.status = "FAILED"
        job.reason = "%s: %s" % (_describe_exit(rank, code), tail)
    _finish_uploads(session, job, outputs, log_url, problems)
    if failed is not None:
        rank, code = failed
        msg = "local training job %s failed: %s" % (job.job_name, job.reason)
        if problems:
            msg += "\n(also: %s)" % "; ".join(problems)
        raise TrainingJobError(msg, job=job, exit_code=code, task="worker-%d" % rank,
                               log_tail="\n".join(workers[rank].tail))
    if problems:
        raise TrainingJobError("local training job %s completed, but %s"
                               % (job.job_name, "; ".join(problems)), job=job, exit_code=0)
    return job


def _stop_all(workers):
    alive = [w for w in workers if w.proc.poll() is None]
    for w in alive:
        _signal_group(w.proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for w in alive:
        try:
            w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(w.proc, signal.SIGKILL)
    for w in alive:
        # the group may hold children that keep the log pipe open
        _signal_group(w.proc, signal.SIGKILL)


def _finish_uploads(session, job, outputs, log_url, problems):
    for i, o in enumerate(outputs or []):
        try:
            if os.path.isdir(o.local_path):
                training.upload_dir_contents(session, o.local_path, o.obs_path)
        except Exception as e:  # reported, not hidden: see problems
            problems.append("uploading outputs[%d] to %s failed: %s" % (i, o.obs_path, e))
    if log_url:
        for rank, path in enumerate(job.log_files):
            if not os.path.exists(path):
                continue
            try:
                job.uploaded_logs.append(training.upload_file_as(
                    session, path, log_url, "%s-worker-%d.log" % (job.job_name, rank)))
            except Exception as e:
                problems.append("uploading the log of worker-%d to %s failed: %s"
                                % (rank, log_url, e))

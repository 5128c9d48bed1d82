"""Estimators: run training code locally or submit it to the server.

:class:`Estimator` is the ModelArts ``estimatorV2.Estimator``: a local code
directory (:class:`~atelier.train_params.TrainingFiles`), inputs
(:class:`~atelier.train_params.InputData`), outputs
(:class:`~atelier.train_params.OutputData`) and parameters
``[{"name","value"}]``. ``train_instance_type='local'`` runs it here (see
``atelier.local``); any other value is a flavor id from
:meth:`Estimator.get_spec_list` and submits it to the server: the code
directory is zipped and uploaded to ``training_files.obs_path``,
``is_local_source`` inputs are zipped and uploaded to their ``obs_path``,
then ``POST /v1/training/jobs``. ``fit`` waits by default (``wait=True``),
streaming worker-0's log to stdout, and raises
:class:`~atelier.training.TrainingJobError` when the job FAILED.

:class:`EstimatorV1` is the ModelArts ``estimator.Estimator`` (OBS code
directory, ``hyperparameters [{"label","value"}]``, ``output_path``,
``fit(inputs=..., wait=False)``, ``create_job_version``). Its data and
output go to the script as ``--data_url=/cache/data/`` and
``--train_url=/cache/output/`` (the server maps those paths into the job's
working directory); locally they are directories of the run (or ``inputs``
itself when it is a local directory). ``user_image_url`` is ignored
(Atelier runs no images; a warning says so): ``user_command`` runs with
``sh -c`` and its ``hyperparameters`` become environment variables, as
ModelArts does for custom images; ``{python_file_parameter}`` in it is
replaced by the data_url/train_url arguments. ``model_name`` (built-in
algorithms) is not supported and raises ValueError. ``environment``
(``atelier.environment``) applies to local runs only: a remote ``fit`` or
``create_job_version`` with one raises ValueError naming it.
"""

import hashlib
import os
import shlex
import shutil
import sys
import warnings

from . import local, paths, training
from .errors import AtelierError
from .train_params import InputData, OutputData, TrainingFiles, relative_boot_file

LOCAL = "local"

V1_DATA_PATH = "/cache/data/"
"""Where a remote v1 job's ``inputs`` appear to the script (``--data_url``)."""

V1_OUTPUT_PATH = "/cache/output/"
"""Where a remote v1 job writes what goes to ``output_path`` (``--train_url``)."""


def _check_count(n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError("train_instance_count must be an int >= 1: %r" % (n,))
    return n


def _check_type(t):
    if not isinstance(t, str) or not t:
        raise ValueError("train_instance_type is required: 'local' or a flavor_id of "
                         "Estimator.get_spec_list(session)")
    return t


def _list_of(value, cls, param):
    if value is None:
        return []
    if isinstance(value, cls):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise TypeError("%s must be a list of %s" % (param, cls.__name__))
    for i, v in enumerate(value):
        if not isinstance(v, cls):
            raise TypeError("%s[%d] must be a %s, not %s" % (param, i, cls.__name__,
                                                             type(v).__name__))
    return list(value)


def _check_interpreter(interp):
    if interp and not (shutil.which(interp) or os.access(interp, os.X_OK)):
        raise FileNotFoundError("script_interpreter %r is not an executable on this machine"
                                % interp)


def _drop_empty(spec):
    return {k: v for k, v in spec.items() if v not in (None, "", [], {})}


def _remote_inputs(session, inputs):
    """Wire JobInputs for InputData objects, uploading is_local_source ones once."""
    out = []
    for i, inp in enumerate(inputs):
        if inp.is_local_source:
            if not inp.obs_path:
                raise ValueError("inputs[%d]: a remote job cannot read local data; give "
                                 "obs_path so that local_path is zipped and uploaded there" % i)
            if inp.uploaded_obs_path is None:
                inp.uploaded_obs_path = training.upload_zip_of(
                    session, inp.local_path, inp.obs_path, "inputs[%d].obs_path" % i)
            out.append({"obs_path": inp.uploaded_obs_path, "local_path": inp.local_path})
        else:
            out.append({"obs_path": training.canonical_obs(inp.obs_path,
                                                           "inputs[%d].obs_path" % i),
                        "local_path": inp.local_path})
    return out


class Estimator:
    """Estimator (ModelArts ``estimatorV2``) trains ``training_files`` locally or remotely.

    See the module doc. Arguments are checked when it is built. Not safe
    for concurrent use (fit uploads and mutates InputData upload state).
    """

    def __init__(self, session, training_files=None, outputs=None, parameters=None,
                 framework_type=None, train_instance_type=None, train_instance_count=1,
                 script_interpreter=None, log_url=None, job_description=None,
                 framework_version=None, user_command=None, env=None, max_run_seconds=None,
                 pool_id=None, _code_elsewhere=False):
        del pool_id  # ModelArts dedicated pools: no meaning here
        if session is None:
            raise ValueError("session is required")
        self.session = session
        if training_files is None and not user_command and not _code_elsewhere:
            raise ValueError("training_files is required (a TrainingFiles)")
        if training_files is not None and not isinstance(training_files, TrainingFiles):
            raise TypeError("training_files must be a TrainingFiles, not %s"
                            % type(training_files).__name__)
        self.training_files = training_files
        self.outputs = _list_of(outputs, OutputData, "outputs")
        self.parameters = training.normalize_parameters(parameters)
        self.framework_type = framework_type
        self.framework_version = framework_version
        self.train_instance_type = _check_type(train_instance_type)
        self.train_instance_count = _check_count(train_instance_count)
        self.script_interpreter = script_interpreter
        if log_url is not None:
            paths.parse(log_url, "log_url")
        self.log_url = log_url
        self.job_description = job_description
        self.user_command = user_command
        self.env = dict(env or {})
        self.max_run_seconds = max_run_seconds

    @property
    def is_local(self):
        return self.train_instance_type == LOCAL

    def _with_params(self, params):
        self.parameters = list(params)
        return self

    @staticmethod
    def get_spec_list(session):
        """The server's flavors: ``{"flavors": [{"flavor_id", "max_num", ...}]}``."""
        return training.get_spec_list(session)

    @staticmethod
    def get_framework_list(session):
        """The server's frameworks: ``{"frameworks": [{"framework_type", ...}]}``."""
        return training.get_framework_list(session)

    def fit(self, inputs=None, job_name=None, wait=True, show_log=True):
        """Train; returns a TrainingJob (remote) or LocalTrainingJob (local).

        ``inputs`` is a list of InputData. Local runs always wait. Remote
        runs with ``wait`` stream worker-0's log (when ``show_log``) and
        raise TrainingJobError if the job FAILED.
        """
        inputs = _list_of(inputs, InputData, "inputs")
        job_name = training.check_job_name(job_name)
        if self.is_local:
            return self._fit_local(inputs, job_name)
        return self._fit_remote(inputs, job_name, wait, show_log)

    # -- local -------------------------------------------------------------------

    def _local_command(self, argv):
        if self.user_command:
            return ["sh", "-c", self.user_command.replace(
                "{python_file_parameter}", " ".join(shlex.quote(a) for a in argv))]
        tf = self.training_files
        boot = os.path.join(tf.code_dir, *tf.boot_file.split("/"))
        if not os.path.isdir(tf.code_dir):
            raise NotADirectoryError("training_files.code_dir %r is not a local directory"
                                     % tf.code_dir)
        if not os.path.isfile(boot):
            raise FileNotFoundError("training_files.boot_file %r is not a file in %r"
                                    % (tf.boot_file, tf.code_dir))
        _check_interpreter(self.script_interpreter)
        return [self.script_interpreter or sys.executable, os.path.abspath(boot)] + argv

    def _fit_local(self, inputs, job_name, extra_params=(), interpreter=None, job=None):
        if interpreter is not None:
            self.script_interpreter = interpreter
        command = self._local_command(
            training.parameters_to_argv(list(self.parameters) + list(extra_params)))
        local.stage_inputs(self.session, inputs)
        for o in self.outputs:
            os.makedirs(o.local_path, exist_ok=True)
        job = job or local.LocalTrainingJob(job_name, self.train_instance_count)
        workdir = self.training_files.code_dir if self.training_files else os.getcwd()
        return local.run(self.session, job, command, workdir, self.train_instance_count,
                         outputs=self.outputs, log_url=self.log_url, env=self.env)

    # -- remote ------------------------------------------------------------------

    def _spec(self, code_dir, inputs, extra_params=(), outputs=None):
        tf = self.training_files
        spec = {
            "framework_type": self.framework_type,
            "framework_version": self.framework_version,
            "code_dir": code_dir,
            "boot_file": tf.boot_file if tf is not None and not self.user_command else None,
            "user_command": self.user_command,
            "script_interpreter": self.script_interpreter,
            "parameters": list(self.parameters) + list(extra_params),
            "inputs": inputs,
            "outputs": outputs if outputs is not None else [
                {"obs_path": training.canonical_obs(o.obs_path, "outputs[%d].obs_path" % i),
                 "local_path": o.local_path} for i, o in enumerate(self.outputs)],
            "log_url": training.canonical_obs(self.log_url, "log_url") if self.log_url else None,
            "flavor_id": self.train_instance_type,
            "train_instance_count": self.train_instance_count,
            "max_run_seconds": self.max_run_seconds,
            "env": self.env,
        }
        return _drop_empty(spec)

    def _upload_code(self):
        tf = self.training_files
        if tf is None:
            return None
        if not tf.obs_path:
            raise ValueError("training_files.obs_path is required for a remote job "
                             "(train_instance_type=%r): the code directory is zipped and "
                             "uploaded there" % self.train_instance_type)
        return training.upload_zip_of(self.session, tf.code_dir, tf.obs_path,
                                      "training_files.obs_path")

    def _fit_remote(self, inputs, job_name, wait, show_log):
        code = self._upload_code()
        spec = self._spec(code, _remote_inputs(self.session, inputs))
        return _submit(self.session, job_name, self.job_description, spec, wait, show_log)


def _submit(session, job_name, desc, spec, wait, show_log):
    job, version = training.submit_job(session, job_name, desc, spec)
    tj = training.TrainingJob(session, job.get("job_id"), version.get("version_id"),
                              job.get("job_name", job_name), version)
    if wait:
        if show_log:
            print("training job %s (%s) version %s submitted" % (
                tj.job_name, tj.job_id, tj.version_id), flush=True)
        tj.wait(show_log=show_log)
    return tj


class EstimatorV1:
    """EstimatorV1 (ModelArts ``estimator.Estimator``) trains an OBS code directory.

    See the module doc. ``code_dir`` is an OBS directory, or for local runs
    (and, zipped and uploaded to ``code_obs_path`` or a per-user staging
    bucket, for remote ones) a local directory; ``boot_file`` is an OBS
    path under ``code_dir`` or a path relative to it. Not safe for
    concurrent use.
    """

    def __init__(self, modelarts_session, framework_type=None, framework_version=None,
                 code_dir=None, boot_file=None, log_url=None, hyperparameters=None,
                 output_path=None, train_instance_type=None, train_instance_count=1,
                 job_description=None, user_command=None, user_image_url=None, model_name=None,
                 environment=None, pool_id=None, script_interpreter=None, code_obs_path=None):
        del pool_id
        if modelarts_session is None:
            raise ValueError("modelarts_session is required")
        if model_name:
            raise ValueError("model_name (ModelArts built-in algorithms) is not supported by "
                             "Atelier: give code_dir and boot_file (or user_command) instead")
        if user_image_url:
            warnings.warn("user_image_url is ignored: Atelier runs user_command on the "
                          "flavor's machines without images", UserWarning, stacklevel=2)
        self.session = modelarts_session
        self.framework_type = framework_type
        self.framework_version = framework_version
        self.train_instance_type = _check_type(train_instance_type)
        self.train_instance_count = _check_count(train_instance_count)
        self.user_command = user_command
        self.hyperparameters = training.normalize_parameters(
            hyperparameters, key="label", param="hyperparameters")
        if not user_command and not (code_dir and boot_file):
            raise ValueError("code_dir and boot_file are required (or user_command)")
        self.code_dir = code_dir
        self.boot_file = boot_file
        if output_path is not None:
            paths.parse(output_path, "output_path")
        if log_url is not None:
            paths.parse(log_url, "log_url")
        self.output_path = output_path
        self.log_url = log_url
        self.job_description = job_description
        self.environment = environment
        self.script_interpreter = script_interpreter
        self.code_obs_path = code_obs_path

    @property
    def is_local(self):
        return self.train_instance_type == LOCAL

    get_spec_list = staticmethod(training.get_spec_list)
    get_framework_list = staticmethod(training.get_framework_list)

    # -- shared ------------------------------------------------------------------

    def _env_and_params(self, extra):
        """(env, parameters): custom commands take hyperparameters as environment variables."""
        if self.user_command:
            return {p["name"]: p.get("value", "") for p in self.hyperparameters}, list(extra)
        return {}, list(self.hyperparameters) + list(extra)

    def _v2(self, training_files, outputs, params, env, log_url):
        return Estimator(
            self.session, training_files=training_files, outputs=outputs, parameters=None,
            framework_type=self.framework_type, framework_version=self.framework_version,
            train_instance_type=self.train_instance_type,
            train_instance_count=self.train_instance_count,
            script_interpreter=self.script_interpreter, log_url=log_url,
            job_description=self.job_description, user_command=self._command(params), env=env,
            _code_elsewhere=True)._with_params(params)

    def _command(self, params):
        if not self.user_command:
            return None
        return self.user_command.replace("{python_file_parameter}", " ".join(
            shlex.quote(a) for a in training.parameters_to_argv(params)))

    @staticmethod
    def _check_data_args(inputs, dataset_id, dataset_version_id):
        if (dataset_id is None) != (dataset_version_id is None):
            raise ValueError("dataset_id and dataset_version_id must be given together")
        if inputs is not None and dataset_id is not None:
            raise ValueError("give either inputs or dataset_id/dataset_version_id, not both")

    # -- fit ---------------------------------------------------------------------

    def fit(self, inputs=None, wait=False, job_name=None, dataset_id=None,
            dataset_version_id=None):
        """Train; returns a TrainingJob (remote) or LocalTrainingJob (local, always waited).

        ``inputs`` is an OBS path (a directory or .zip), or for local runs a
        local directory; it reaches the script as ``--data_url``.
        """
        self._check_data_args(inputs, dataset_id, dataset_version_id)
        job_name = training.check_job_name(job_name)
        if self.is_local:
            if dataset_id is not None:
                raise ValueError("local training supports inputs only, not dataset_id")
            return self._fit_local(inputs, job_name)
        spec = self._remote_spec(inputs, job_name, dataset_id, dataset_version_id)
        return _submit(self.session, job_name, self.job_description, spec, wait, True)

    def create_job_version(self, job_id, pre_version_id, inputs=None, wait=False, job_desc=None,
                           dataset_id=None, dataset_version_id=None):
        """Run job ``job_id`` again from version ``pre_version_id`` with this estimator's
        settings; returns the new version's TrainingJob."""
        if self.is_local:
            raise ValueError("create_job_version needs a remote train_instance_type, not 'local'")
        self._check_data_args(inputs, dataset_id, dataset_version_id)
        spec = self._remote_spec(inputs, "job-%s" % job_id, dataset_id, dataset_version_id)
        v = training.create_version(self.session, job_id, pre_version_id,
                                    job_desc if job_desc is not None else self.job_description,
                                    spec)
        tj = training.TrainingJob(self.session, v.get("job_id", job_id), v.get("version_id"),
                                  None, v)
        if wait:
            tj.wait(show_log=True)
        return tj

    def _fit_local(self, inputs, job_name):
        job = local.LocalTrainingJob(job_name, self.train_instance_count)
        extra, outputs, staged = [], [], []
        if isinstance(inputs, str) and os.path.isdir(inputs) and not inputs.startswith(
                ("obs://", "s3://")):
            extra.append({"name": "data_url", "value": inputs})
        elif isinstance(inputs, str):
            data = os.path.join(job.log_dir, "data") + os.sep
            staged.append(InputData(obs_path=inputs, local_path=data))
            extra.append({"name": "data_url", "value": data})
        elif inputs is not None:
            staged = _list_of(inputs, InputData, "inputs")
        if self.output_path:
            out = os.path.join(job.log_dir, "output") + os.sep
            outputs.append(OutputData(local_path=out, obs_path=self._dir(self.output_path)))
            extra.append({"name": "train_url", "value": out})
        env, params = self._env_and_params(extra)
        tf = None
        if not self.user_command:
            if self.code_dir.startswith(("obs://", "s3://")) or not os.path.isdir(self.code_dir):
                raise NotADirectoryError("code_dir %r must be a local directory for local "
                                         "training" % self.code_dir)
            tf = TrainingFiles(self.code_dir, self.boot_file)
        interpreter = self.environment.python() if self.environment is not None else None
        est = self._v2(tf, outputs, params, env, self.log_url)
        return est._fit_local(staged, job_name, interpreter=interpreter, job=job)

    @staticmethod
    def _dir(p):
        return p if p.endswith("/") else p + "/"

    def _staging_dir(self, job_name):
        """An OBS directory for code or data this SDK must upload itself."""
        if self.code_obs_path:
            return self._dir(self.code_obs_path)
        s = self.session
        ident = s.user_id or s.tenant_id
        if not ident:
            who = s.whoami() or {}
            ident = "%s/%s" % (who.get("tenant_id"), who.get("user_id"))
        bucket = "atelier-staging-" + hashlib.sha256(ident.encode()).hexdigest()[:12]
        try:
            s.obs.create_bucket(bucket)
        except AtelierError as e:
            if e.status != 409:
                raise
        return "obs://%s/%s/" % (bucket, job_name)

    def _remote_spec(self, inputs, job_name, dataset_id, dataset_version_id):
        if self.environment is not None:
            # Installing the packages needs a package index, which the
            # server's sandboxes cannot reach; running without them would
            # fail later and less clearly.
            raise ValueError(
                "environment applies to train_instance_type='local' only: a remote job "
                "(train_instance_type=%r) cannot install its packages; install them on the "
                "server's machines, or train locally" % self.train_instance_type)
        extra, spec_inputs = [], []
        if isinstance(inputs, str):
            if os.path.isdir(inputs) and not inputs.startswith(("obs://", "s3://")):
                obs = training.upload_zip_of(self.session, inputs,
                                             self._staging_dir(job_name) + "data/", "inputs")
            else:
                obs = training.canonical_obs(inputs, "inputs")
            spec_inputs.append({"obs_path": obs, "local_path": V1_DATA_PATH})
            extra.append({"name": "data_url", "value": V1_DATA_PATH})
        elif dataset_id is not None:
            spec_inputs.append({"obs_path": "", "dataset_id": dataset_id,
                                "dataset_version_id": dataset_version_id,
                                "local_path": V1_DATA_PATH})
            extra.append({"name": "data_url", "value": V1_DATA_PATH})
        elif inputs is not None:
            spec_inputs = _remote_inputs(self.session, _list_of(inputs, InputData, "inputs"))
        outputs = []
        if self.output_path:
            outputs.append({"obs_path": training.canonical_obs(self._dir(self.output_path),
                                                               "output_path"),
                            "local_path": V1_OUTPUT_PATH})
            extra.append({"name": "train_url", "value": V1_OUTPUT_PATH})
        env, params = self._env_and_params(extra)
        code_dir = boot = None
        if not self.user_command:
            code_dir, boot = self._remote_code(job_name)
        est = self._v2(None, None, params, env, self.log_url)
        spec = est._spec(code_dir, spec_inputs, outputs=outputs)
        if boot:
            spec["boot_file"] = boot
        return spec

    def _remote_code(self, job_name):
        """(code_dir as an OBS dir or .zip, boot_file relative to it)."""
        cd = self.code_dir
        if not cd.startswith(("obs://", "s3://")) and os.path.isdir(cd):
            boot = relative_boot_file(cd, self.boot_file)
            z = training.upload_zip_of(self.session, cd, self._staging_dir(job_name) + "code/",
                                       "code_dir")
            return z, boot
        code = paths.parse(self._dir(cd), "code_dir")
        bf = self.boot_file
        if bf.startswith(("obs://", "s3://", "/")):
            b = paths.parse(bf, "boot_file")
            if b.bucket != code.bucket or not b.key.startswith(code.key) or b.is_dir:
                raise ValueError("boot_file %r must be a file under code_dir %r" % (bf, cd))
            rel = b.key[len(code.key):]
        else:
            rel = bf
        rel = relative_boot_file("/code", rel)
        return str(code), rel

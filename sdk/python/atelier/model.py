"""Models and inference services (ModelArts' ``modelarts.model``): Model, Predictor, ServiceConfig.

``from modelarts.model import Model, Predictor`` and
``from modelarts.config.model_config import ServiceConfig`` give these
classes, so that the ModelArts manual's samples run against an Atelier
server::

    model = Model(session, model_name="digit", model_version="0.0.1",
                  source_location="obs://bucket/model/", model_type="Custom")
    predictor = model.deploy_predictor(configs=[ServiceConfig(model_id=model.get_model_id())])
    print(predictor.predict(data={"instances": [[1, 2]]}, data_type="json"))
    print(Model.get_model_object_list(session, model_status="published", model_name="digit"))
    print(Predictor.get_service_object_list(session)[0].get_service_info())

A model is a package in OBS (config.json and customize_service.py beside the
weights, CONTRACT §7): registering it records it as ``publishing`` while the
server checks the package, then ``published`` or ``failed``. A service runs
the instances of one or more models (``ServiceConfig`` each, with a weight:
canary traffic) behind ``/v1/services/{id}/predict`` and the Open Inference
Protocol at ``/v2/models/{service_name}/…``.

Every method is one call of the models and services API (docs/api.md) and
returns its decoded JSON answer; waits poll it. Arguments the SDK can check
raise ValueError or TypeError before anything is sent; refusals of the server
raise :class:`~atelier.errors.AtelierError` with its code (``ATL.MDL.*``,
``ATL.SVC.*``), and a handler's own error answer (e.g. ``ModelArts.4503``)
keeps its code too.
"""

import json
import mimetypes
import numbers
import os
import secrets
import time
import uuid
import warnings

from . import _http, errors, paths
from .errors import AtelierError

MODEL_STATES = ("publishing", "published", "failed")
"""The states of a model: checked (publishing), servable (published) or not (failed)."""

SERVICE_STATES = ("deploying", "running", "concerning", "failed", "stopped")
"""The states of a service; concerning means some instances are down."""

SORT_KEYS = ("create_at", "model_version", "model_size")
"""The model list's sort_by values."""

MAX_MODEL_PAGE = 150
"""The most models one list call returns (the seed's "at most 150"; limit's default)."""

DEFAULT_SPECIFICATION = "modelarts.vm.cpu.2u"
"""The flavor a ServiceConfig uses when none is given (one of the server's default flavors)."""

DEFAULT_MODEL_TIMEOUT = 600.0
"""Seconds Model() waits for the package check by default."""

DEFAULT_SERVICE_TIMEOUT = 900.0
"""Seconds deploy_predictor and update_service_config wait for running by default."""

DATA_TYPES = ("json", "files", "images")
"""predict's data_type values (case-insensitive)."""

# ModelArts Model() arguments that mean nothing on Atelier: accepted, warned about, not sent.
_MODELARTS_ONLY = frozenset((
    "install_type", "initial_config", "model_metrics", "source_copy", "source_type",
    "model_algorithm", "template", "model_docs", "workspace", "runtime_version",
))


class ModelError(AtelierError):
    """ModelError says that a registration the SDK waited for failed; ``model`` is the Model."""

    def __init__(self, message, model=None, code=errors.CODE_MODEL_FAILED):
        super().__init__(code, message)
        self.model = model


class ServiceError(AtelierError):
    """ServiceError says that a service the SDK waited for did not reach running;
    ``predictor`` is its Predictor."""

    def __init__(self, message, predictor=None, code=errors.CODE_SERVICE_FAILED):
        super().__init__(code, message)
        self.predictor = predictor


# -- argument checks ---------------------------------------------------------------


def _str(value, param, empty=False):
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    if not empty and not value.strip():
        raise ValueError("%s must not be empty" % param)
    return value


def _id(value, param):
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise TypeError("%s must be a str, not %s" % (param, type(value).__name__))
    value = str(value)
    if not value or "/" in value or value.strip() != value:
        raise ValueError("%s must be a non-empty id without '/' or spaces: %r" % (param, value))
    return value


def _int(value, param, lo=None, hi=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            raise TypeError("%s must be an int, not %r" % (param, value))
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            raise ValueError("%s must be at least %d: %d" % (param, lo, value))
        raise ValueError("%s must be from %d to %d: %d" % (param, lo, hi, value))
    return value


def _choice(value, param, choices):
    if not isinstance(value, str) or value.strip().lower() not in choices:
        raise ValueError("%s must be one of %s: %r" % (param, ", ".join(choices), value))
    return value.strip().lower()


def _obs_dir(value, param):
    """An OBS directory (obs://, s3:// or /bucket/dir/) in the ``/bucket/dir/`` spelling."""
    p = paths.parse(_str(value, param), param)
    out = "/%s/%s" % (p.bucket, p.key)
    return out if out.endswith("/") else out + "/"


def _json_value(value, param):
    """A JSON document given as Python values or as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as e:
            raise ValueError("%s is a str but not JSON: %s" % (param, e)) from None
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise TypeError("%s must be JSON (dicts, lists, str, numbers): %s" % (param, e)) from None
    return value


def _query(**kw):
    return {k: v for k, v in kw.items() if v is not None}


def _wait(fetch, done, describe, timeout, poll_interval):
    """Poll ``fetch()`` until ``done(info)`` is true; returns the last info.

    ``done`` may raise to stop waiting. TimeoutError after ``timeout``
    seconds (None: wait forever) says what the last state was.
    """
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    delay = min(0.05, poll_interval)
    while True:
        info = fetch()
        if done(info):
            return info
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("%s after %ss" % (describe(info), timeout))
        time.sleep(delay)
        delay = min(delay * 2, poll_interval)


# -- service configs ---------------------------------------------------------------------


class ServiceConfig:
    """ServiceConfig is one model a service runs (ModelArts' ServiceConfig).

    ``weight`` is the model's share of the requests in percent (the weights
    of a service's configs sum to 100), ``instance_count`` how many
    instances serve it, ``specification`` a flavor id (default
    ``modelarts.vm.cpu.2u``) and ``envs`` environment variables for its
    instances. It is a plain value; reading it from several threads is safe.
    """

    def __init__(self, model_id, weight=100, instance_count=1,
                 specification=DEFAULT_SPECIFICATION, envs=None):
        self.model_id = _id(model_id, "model_id")
        self.weight = _int(weight, "weight", 0, 100)
        self.instance_count = _int(instance_count, "instance_count", 1)
        self.specification = _str(specification, "specification")
        if envs is not None:
            if not isinstance(envs, dict):
                raise TypeError("envs must be a dict of str to str, not %s" % type(envs).__name__)
            envs = {_str(k, "envs key"): v if isinstance(v, str) else str(v)
                    for k, v in envs.items()}
        self.envs = envs

    def to_dict(self):
        """The wire form: ``{"model_id", "weight", "instance_count", "specification", "envs"?}``."""
        d = {"model_id": self.model_id, "weight": self.weight,
             "instance_count": self.instance_count, "specification": self.specification}
        if self.envs:
            d["envs"] = dict(self.envs)
        return d

    @classmethod
    def from_dict(cls, d):
        """A ServiceConfig from a dict with the same keys (extra keys such as model_name are ignored)."""
        if not isinstance(d, dict):
            raise TypeError("a config must be a ServiceConfig or a dict, not %s" % type(d).__name__)
        if "model_id" not in d:
            raise ValueError("a config dict needs model_id")
        kw = {k: d[k] for k in ("weight", "instance_count", "specification", "envs")
              if d.get(k) is not None}
        return cls(d["model_id"], **kw)

    def __eq__(self, other):
        return isinstance(other, ServiceConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return ("ServiceConfig(model_id=%r, weight=%r, instance_count=%r, specification=%r%s)"
                % (self.model_id, self.weight, self.instance_count, self.specification,
                   ", envs=%r" % self.envs if self.envs else ""))


def _configs(configs, param="configs"):
    if isinstance(configs, (ServiceConfig, dict)):
        configs = [configs]
    if not isinstance(configs, (list, tuple)) or not configs:
        raise ValueError("%s must be a non-empty list of ServiceConfig" % param)
    return [(c if isinstance(c, ServiceConfig) else ServiceConfig.from_dict(c)).to_dict()
            for c in configs]


# -- models ---------------------------------------------------------------------------------


def _model_path(model_id):
    return "/v1/models/" + paths.quote_bucket(model_id)


def _print_models(page):
    """Print a model page as the seed's tables 2 and 3 describe it."""
    models = page.get("models") or []
    print("total_count: %s" % page.get("total_count"))
    print("count: %s" % page.get("count", len(models)))
    print("models:")
    cols = ("model_id", "model_name", "model_version", "model_status", "model_type",
            "model_size", "create_at")
    rows = [[str(m.get(c, "")) for c in cols] for m in models]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for r in rows:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


class Model:
    """Model is one registered model version of the caller's tenant.

    ``Model(session, model_id=…)`` binds to an existing model (one GET).
    Otherwise the arguments register a new one: ``model_name``,
    ``model_version``, ``model_type`` (e.g. "Custom", "PyTorch") and either
    ``source_location`` (the package's OBS directory, ``obs://bucket/dir/``
    or ``/bucket/dir/``) or ``source_job_id`` with ``source_job_version``
    (a training job version's output). ``runtime``, ``execution_code``,
    ``input_params``, ``output_params``, ``dependencies`` and ``apis`` are
    recorded as given (ModelArts' fields; JSON values or JSON text). With
    ``wait`` (the default) the constructor returns once the server checked
    the package: a failed check raises :class:`ModelError` with the reason,
    and TimeoutError comes after ``timeout`` seconds. ModelArts arguments
    without meaning here (``install_type``, ``source_copy``, …) are accepted
    with a warning.

    A Model is safe for concurrent use as far as its Session is; its
    attributes are the last answer read.
    """

    def __init__(self, session, model_name=None, model_version=None, source_location=None,
                 model_type=None, runtime=None, execution_code=None, description=None,
                 source_job_id=None, source_job_version=None, input_params=None,
                 output_params=None, dependencies=None, apis=None, workspace_id=None,
                 model_id=None, wait=True, timeout=DEFAULT_MODEL_TIMEOUT, poll_interval=1.0,
                 **modelarts_only):
        self.session = session
        unknown = sorted(set(modelarts_only) - _MODELARTS_ONLY)
        if unknown:
            raise TypeError("Model() got an unexpected keyword argument %r" % unknown[0])
        if modelarts_only:
            warnings.warn("Model(): %s mean nothing on Atelier and are ignored"
                          % ", ".join(sorted(modelarts_only)), UserWarning, stacklevel=2)
        if model_id is not None:
            self.model_id = _id(model_id, "model_id")
            self._set(session.call("GET", _model_path(self.model_id)) or {})
            return
        spec = {
            "model_name": _str(model_name, "model_name") if model_name is not None else None,
            "model_version": _str(model_version, "model_version")
            if model_version is not None else None,
            "model_type": _str(model_type, "model_type") if model_type is not None else None,
        }
        for k, v in spec.items():
            if v is None:
                raise ValueError("%s is missing: Model() registers a model unless model_id= "
                                 "names an existing one" % k)
        if source_location is not None:
            spec["source_location"] = _obs_dir(source_location, "source_location")
        if source_job_id is not None:
            spec["source_job_id"] = _id(source_job_id, "source_job_id")
            if source_job_version is None:
                raise ValueError("source_job_version is missing: give the training job's version")
            spec["source_job_version"] = _id(source_job_version, "source_job_version")
        elif source_job_version is not None:
            raise ValueError("source_job_version needs source_job_id")
        if ("source_location" in spec) == ("source_job_id" in spec):
            raise ValueError("give source_location (the package's OBS directory) or "
                             "source_job_id with source_job_version, not %s"
                             % ("both" if "source_location" in spec else "neither"))
        for k, v in (("runtime", runtime), ("execution_code", execution_code),
                     ("description", description), ("workspace_id", workspace_id)):
            if v is not None:
                spec[k] = _str(v, k, empty=True)
        for k, v in (("input_params", input_params), ("output_params", output_params),
                     ("dependencies", dependencies), ("apis", apis)):
            if v is not None:
                spec[k] = _json_value(v, k)
        info = session.call("POST", "/v1/models", json_body=spec) or {}
        self.model_id = _id(info.get("model_id"), "the answer's model_id")
        self._set(info)
        if wait and not self._published(info):
            self.wait(timeout=timeout, poll_interval=poll_interval)

    @classmethod
    def _from_info(cls, session, info):
        m = cls.__new__(cls)
        m.session = session
        m.model_id = info.get("model_id")
        m._set(info)
        return m

    def _set(self, info):
        self.info = info
        self.model_name = info.get("model_name")
        self.model_version = info.get("model_version")
        self.model_status = info.get("model_status")

    def __repr__(self):
        return ("Model(model_id=%r, model_name=%r, model_version=%r, model_status=%r)"
                % (self.model_id, self.model_name, self.model_version, self.model_status))

    def get_model_id(self):
        """The model's id."""
        return self.model_id

    def get_model_info(self):
        """The model's dict as the server has it now (model_status, failed_reason, model_size, …)."""
        self._set(self.session.call("GET", _model_path(self.model_id)) or {})
        return self.info

    def wait(self, timeout=DEFAULT_MODEL_TIMEOUT, poll_interval=1.0):
        """Wait while the model is publishing; returns its dict once published.

        A failed check raises :class:`ModelError` with the server's reason.
        """
        return _wait(self.get_model_info, self._published,
                     lambda i: "model %s is still %s" % (self.model_id, i.get("model_status")),
                     timeout, poll_interval)

    def _published(self, info):
        """True once the check ended; ModelError when it failed."""
        status = info.get("model_status")
        if status == "failed":
            raise ModelError("model %s %s (%s) failed its check: %s"
                             % (self.model_name, self.model_version, self.model_id,
                                info.get("failed_reason") or "no reason given"), self)
        return status != "publishing"

    def delete_model(self):
        """Delete the model version (refused with ATL.MDL.0004 while a service uses it)."""
        self.session.call("DELETE", _model_path(self.model_id))

    @staticmethod
    def get_model_list(session, model_name=None, model_version=None, model_status=None,
                       description=None, offset=None, limit=None, sort_by=None, order=None,
                       workspace_id=None, verbose=True):
        """One page of the caller's models: ``{"total_count", "count", "models": [dict]}``.

        ``model_name`` and ``description`` match as substrings
        (case-insensitively), ``model_version`` and ``model_status``
        (publishing, published, failed) exactly. ``offset`` (default 0) and
        ``limit`` (default and most: 150) page; ``sort_by`` is create_at
        (default), model_version or model_size, ``order`` desc (default) or
        asc; ``workspace_id`` defaults to "0". A limit above 150 is refused
        by the server (ATL.MDL.0006). With ``verbose`` (default) the page is
        printed as well.
        """
        q = _query(
            model_name=_str(model_name, "model_name", True) if model_name is not None else None,
            model_version=_str(model_version, "model_version", True)
            if model_version is not None else None,
            model_status=_choice(model_status, "model_status", MODEL_STATES)
            if model_status is not None else None,
            description=_str(description, "description", True) if description is not None else None,
            offset=_int(offset, "offset", 0) if offset is not None else None,
            limit=_int(limit, "limit", 1) if limit is not None else None,
            sort_by=_choice(sort_by, "sort_by", SORT_KEYS) if sort_by is not None else None,
            order=_choice(order, "order", ("asc", "desc")) if order is not None else None,
            workspace_id=_id(workspace_id, "workspace_id") if workspace_id is not None else None,
        )
        page = session.call("GET", "/v1/models", query=q) or {}
        if verbose:
            _print_models(page)
        return page

    @staticmethod
    def get_model_object_list(session, model_name=None, model_version=None, model_status=None,
                              description=None, offset=None, limit=None, sort_by=None,
                              order=None, workspace_id=None, verbose=True):
        """The models of :meth:`get_model_list` as a list of Model objects (also printed)."""
        page = Model.get_model_list(session, model_name=model_name, model_version=model_version,
                                    model_status=model_status, description=description,
                                    offset=offset, limit=limit, sort_by=sort_by, order=order,
                                    workspace_id=workspace_id, verbose=verbose)
        return [Model._from_info(session, m) for m in page.get("models") or []]

    def deploy_predictor(self, service_name=None, configs=None, description=None,
                         infer_type="real-time", workspace_id=None, wait=True,
                         timeout=DEFAULT_SERVICE_TIMEOUT, poll_interval=1.0):
        """Deploy a real-time service; returns its :class:`Predictor`.

        ``configs`` are ServiceConfig objects (or dicts of their fields);
        without them this model runs on one ``modelarts.vm.cpu.2u`` instance.
        ``service_name`` defaults to a generated ``service-<MMDD>-<HHMMSS>-<hex>``.
        With ``wait`` (the default) it returns once the service is running:
        failed (or stopped) raises :class:`ServiceError` with the reason,
        and TimeoutError comes after ``timeout`` seconds.
        """
        if infer_type != "real-time":
            raise ValueError("infer_type must be 'real-time', the only kind Atelier serves: %r"
                             % (infer_type,))
        if service_name is None:
            service_name = "service-%s-%s" % (time.strftime("%m%d-%H%M%S"), secrets.token_hex(2))
        body = {"service_name": _str(service_name, "service_name"),
                "config": _configs(configs if configs is not None
                                   else [ServiceConfig(self.model_id)])}
        if description is not None:
            body["description"] = _str(description, "description", True)
        if workspace_id is not None:
            body["workspace_id"] = _id(workspace_id, "workspace_id")
        info = self.session.call("POST", "/v1/services", json_body=body) or {}
        predictor = Predictor(self.session, info.get("service_id"))
        predictor._set(info)
        if wait:
            predictor.wait_for_running(timeout=timeout, poll_interval=poll_interval)
        return predictor


# -- services ---------------------------------------------------------------------------------


def _service_path(service_id, *rest):
    p = "/v1/services/" + paths.quote_bucket(service_id)
    for r in rest:
        p += "/" + r
    return p


def _multipart(fields):
    """A multipart/form-data body from ``[(field, local path)]``; returns (bytes, content type)."""
    boundary = "atelier-" + uuid.uuid4().hex
    out = []
    for field, path in fields:
        name = os.path.basename(path)
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = f.read()
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                    "Content-Type: %s\r\n\r\n" % (boundary, field, quoted, ctype)).encode("utf-8"))
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode("ascii"))
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def _file_fields(data, default_field):
    """``[(field, path)]`` from a path, a list of paths, or a dict {field: path or [paths]}."""
    if isinstance(data, (str, os.PathLike)):
        items = [(default_field, data)]
    elif isinstance(data, (list, tuple)):
        items = [(default_field, p) for p in data]
    elif isinstance(data, dict):
        items = []
        for field, v in data.items():
            _str(field, "a field name of data")
            for p in (v if isinstance(v, (list, tuple)) else [v]):
                items.append((field, p))
    else:
        raise TypeError("data must be a local file path, a list of them, or a dict "
                        "{field: path}, not %s" % type(data).__name__)
    if not items:
        raise ValueError("data names no file")
    out = []
    for field, p in items:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError("a file of data must be a local path, not %s" % type(p).__name__)
        p = os.fspath(p)
        if not os.path.isfile(p):
            raise FileNotFoundError("data: %s is not a file" % p)
        out.append((field, p))
    return out


class Predictor:
    """Predictor is one deployed service of the caller's tenant.

    ``Predictor(session, service_id=…)`` sends nothing; its methods call the
    services API. Its attributes (``service_name``, ``status``) are the last
    answer read. Safe for concurrent use as far as its Session is.
    """

    def __init__(self, session, service_id=None):
        self.session = session
        self.service_id = _id(service_id, "service_id")
        self.info = None
        self.service_name = None
        self.status = None

    def _set(self, info):
        self.info = info
        self.service_name = info.get("service_name")
        self.status = info.get("status")

    def __repr__(self):
        return "Predictor(service_id=%r, service_name=%r, status=%r)" % (
            self.service_id, self.service_name, self.status)

    def _call(self, method, *rest, query=None, json_body=None):
        return self.session.call(method, _service_path(self.service_id, *rest),
                                 query=query, json_body=json_body)

    def get_service_info(self):
        """The service's dict: status, config (with model names), instances, access_address, …"""
        self._set(self._call("GET") or {})
        return self.info

    def wait_for_running(self, timeout=DEFAULT_SERVICE_TIMEOUT, poll_interval=1.0):
        """Wait until the service is running with every instance of its current generation.

        failed, or stopped while waiting, raises :class:`ServiceError` with
        the server's reason; returns the service's dict.
        """
        def done(info):
            status = info.get("status")
            if status in ("failed", "stopped"):
                raise ServiceError("service %s (%s) is %s: %s" % (
                    info.get("service_name") or self.service_name, self.service_id, status,
                    info.get("failed_reason") or "no reason given"), self)
            if status != "running":
                return False
            gen = info.get("generation")
            return not any(i.get("generation") is not None and gen is not None
                           and i["generation"] < gen for i in info.get("instances") or [])

        return _wait(self.get_service_info, done,
                     lambda i: "service %s is still %s" % (self.service_id, i.get("status")),
                     timeout, poll_interval)

    def predict(self, data, data_type="json", path="/"):
        """Send a request to the service; returns its answer (decoded JSON, else text).

        ``data_type`` "json": ``data`` is a dict or list (or JSON text) sent
        as application/json. "files" and "images": ``data`` is a local file
        path, a list of paths, or a dict ``{field: path or [paths]}``, sent
        as multipart/form-data under the field "files" or "images" (as
        ModelArts does: the handler gets ``data["images"]["1.jpg"]``).
        ``path`` is appended to the predict route. An error answer (the
        gateway's ``ATL.SVC.*`` or the handler's own, e.g. ``ModelArts.4503``)
        raises AtelierError with its code.
        """
        kind = _choice(data_type, "data_type", DATA_TYPES)
        if kind == "json":
            if isinstance(data, (str, bytes)):
                body = data.encode("utf-8") if isinstance(data, str) else data
            else:
                try:
                    body = json.dumps(data).encode("utf-8")
                except (TypeError, ValueError) as e:
                    raise TypeError("data must be JSON for data_type 'json': %s" % e) from None
            ctype = "application/json"
        else:
            body, ctype = _multipart(_file_fields(data, kind))
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("path must start with '/': %r" % (path,))
        route = _service_path(self.service_id, "predict") + ("" if path == "/" else path)
        r = self.session._client.request("POST", route, headers={"Content-Type": ctype},
                                         body=body)
        if r.status >= 400:
            raise _http.error_from_response(r.status, r.headers, r.body)
        rtype = (r.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if rtype == "application/json" or rtype.endswith("+json") or not rtype:
            try:
                return r.json()
            except AtelierError:
                if rtype:
                    raise
        return r.body.decode("utf-8", "replace")

    def update_service_config(self, configs=None, description=None, wait=True,
                              timeout=DEFAULT_SERVICE_TIMEOUT, poll_interval=1.0):
        """Change the service's configs (weights, instance counts, model versions: a
        rollout) and or its description; returns the service's dict.

        With ``wait`` (the default) and new configs it returns once every
        instance runs the new configuration.
        """
        body = {}
        if configs is not None:
            body["config"] = _configs(configs)
        if description is not None:
            body["description"] = _str(description, "description", True)
        if not body:
            raise ValueError("update_service_config needs configs or description")
        self._set(self._call("PUT", json_body=body) or {})
        if wait and configs is not None:
            return self.wait_for_running(timeout=timeout, poll_interval=poll_interval)
        return self.info

    def get_service_logs(self, instance=None, offset=0):
        """An instance's log so far as text (``instance`` None: the first instance)."""
        q = _query(instance=_id(instance, "instance") if instance is not None else None,
                   offset=_int(offset, "offset", 0))
        r = self.session._client.request("GET", _service_path(self.service_id, "logs"), query=q,
                                         headers={"Accept": "text/plain"})
        if r.status >= 400:
            raise _http.error_from_response(r.status, r.headers, r.body)
        return r.body.decode("utf-8", "replace")

    def get_service_monitor(self):
        """Per config: ``req_count``, ``err_count``, ``latency_p50_ms``/``p95``/``p99``,
        ``instances``, ``ready_instances`` (``{"service_id", "since", "monitors": [...]}``)."""
        return self._call("GET", "monitor") or {}

    def stop_service(self):
        """Stop the service's instances; returns its dict (status stopped)."""
        self._set(self._call("POST", "stop") or {})
        return self.info

    def start_service(self, wait=False, timeout=DEFAULT_SERVICE_TIMEOUT, poll_interval=1.0):
        """Start a stopped service; returns its dict (with ``wait``, once running)."""
        self._set(self._call("POST", "start") or {})
        if wait:
            return self.wait_for_running(timeout=timeout, poll_interval=poll_interval)
        return self.info

    def delete_service(self):
        """Delete the service and stop its instances."""
        self._call("DELETE")

    @staticmethod
    def get_service_list(session, service_name=None, status=None, workspace_id=None,
                         offset=None, limit=None):
        """One page of the caller's services, newest first:
        ``{"total_count", "count", "services": [dict]}``.

        ``service_name`` matches as a substring; ``status`` is one of
        deploying, running, concerning, failed, stopped.
        """
        q = _query(
            service_name=_str(service_name, "service_name", True)
            if service_name is not None else None,
            status=_choice(status, "status", SERVICE_STATES) if status is not None else None,
            workspace_id=_id(workspace_id, "workspace_id") if workspace_id is not None else None,
            offset=_int(offset, "offset", 0) if offset is not None else None,
            limit=_int(limit, "limit", 1) if limit is not None else None,
        )
        return session.call("GET", "/v1/services", query=q) or {}

    @staticmethod
    def get_service_object_list(session, service_name=None, status=None, workspace_id=None,
                                offset=None, limit=None):
        """The services of :meth:`get_service_list` as a list of Predictor objects."""
        page = Predictor.get_service_list(session, service_name=service_name, status=status,
                                          workspace_id=workspace_id, offset=offset, limit=limit)
        out = []
        for s in page.get("services") or []:
            p = Predictor(session, s.get("service_id"))
            p._set(s)
            out.append(p)
        return out

#!/usr/bin/env python3
"""Atelier's Python serving runtime: serves a ModelArts-style model package over HTTP.

    PORT=8080 python3 serve.py --model-dir /path/to/model

The model directory is laid out as ModelArts lays out ``model/``:
``config.json``, ``customize_service.py`` and the weights. The handler is the
class defined in ``customize_service.py`` that has ``_inference`` or
subclasses a ``model_service`` base; it is built once with
``(model_name, model_path)`` (``model_path`` is the model directory) before
the port opens, so a listening instance is a ready one. A handler that cannot
be imported or built makes the process exit with status 1 and the traceback
on stderr.

Routes (standard library only, one thread per connection, HTTP/1.1):

- ``GET /health`` → ``{"status": "OK"}``.
- ``POST /`` (any POST path outside ``/v2``): a ModelArts prediction. A JSON
  body is the data; a ``multipart/form-data`` body becomes
  ``{field: {filename: file object}}`` (``data["images"]["1.jpg"].read()``)
  and plain form fields ``{field: str}``. The answer is the JSON of
  ``_postprocess(_inference(_preprocess(data)))``; a handler error answers 500
  ``{"error_code": "ModelArts.4503", "error_msg": "<type>: <message>"}``.
- The Open Inference Protocol (KServe V2): ``GET /v2``,
  ``GET /v2/health/live``, ``GET /v2/health/ready``,
  ``GET /v2/models/{name}[/versions/{v}]``, ``…/ready`` and
  ``POST …/infer``, ``{name}`` being ``$ATELIER_SERVICE_NAME``. Input tensors
  reach the handler as ``{input_name: nested list of the tensor's shape}``;
  each key of the handler's result dict becomes an output tensor (lists and
  scalars typed by their elements: bool BOOL, int INT64, float FP64, str
  BYTES; or a ``{"datatype", "data", "shape"}`` dict the handler wrote
  itself); a result that is not a dict is the one output ``output0``. Errors
  answer ``{"error": "..."}`` (400 bad request, 404 another model, 500 the
  handler failed).

Environment: ``PORT`` (required; 0 picks a free port, printed on stdout),
``ATELIER_BIND_ALL=1`` (listen on 0.0.0.0 instead of 127.0.0.1),
``ATELIER_SERVICE_NAME``, ``ATELIER_MODEL_NAME``, ``ATELIER_MODEL_VERSION``,
``ATELIER_MAX_REQUEST_BYTES`` (default 64 MiB; larger bodies get 413),
``ATELIER_ACCESS_LOG=1`` (one stderr line per request),
``ATELIER_SHUTDOWN_GRACE_S`` (default 10: how long SIGTERM waits for
requests in flight).
"""

import argparse
import email.message
import email.utils
import http.server
import importlib.util
import inspect
import io
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import urllib.parse

RUNTIME_NAME = "atelier-python"
RUNTIME_VERSION = "1"
DEFAULT_MAX_REQUEST_BYTES = 64 << 20
DEFAULT_SHUTDOWN_GRACE_S = 10.0
HANDLER_FILE = "customize_service.py"
HANDLER_MODULE = "customize_service"

# Error codes of the ModelArts prediction route (CONTRACT §7; docs/models.md).
CODE_BAD_REQUEST = "ModelArts.4400"
CODE_NOT_FOUND = "ModelArts.4404"
CODE_TOO_LARGE = "ModelArts.4413"
CODE_UNSUPPORTED_MEDIA = "ModelArts.4415"
CODE_HANDLER_FAILED = "ModelArts.4503"

# The Open Inference Protocol's tensor data types and the integer ranges.
DATATYPES = ("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32",
             "INT64", "FP16", "FP32", "FP64", "BYTES")
_INT_RANGES = {
    "UINT8": (0, (1 << 8) - 1), "UINT16": (0, (1 << 16) - 1),
    "UINT32": (0, (1 << 32) - 1), "UINT64": (0, (1 << 64) - 1),
    "INT8": (-(1 << 7), (1 << 7) - 1), "INT16": (-(1 << 15), (1 << 15) - 1),
    "INT32": (-(1 << 31), (1 << 31) - 1), "INT64": (-(1 << 63), (1 << 63) - 1),
}
_FLOATS = ("FP16", "FP32", "FP64")


# -- loading the handler ------------------------------------------------------------


class LoadError(Exception):
    """LoadError says why the model package cannot be served."""


def _model_service_bases():
    try:
        from model_service.model_service import AbstractService
    except ImportError:  # the runtime directory is not on sys.path
        return ()
    return (AbstractService,)


def find_handler_class(module):
    """The handler class of a customize_service module.

    Candidates are the classes defined in the module itself (not imported
    into it) that have ``_inference`` or subclass a ``model_service`` base;
    of those, a class that another candidate derives from is dropped. Exactly
    one must remain.
    """
    bases = _model_service_bases()
    found = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if obj.__module__ != module.__name__:
            continue
        if hasattr(obj, "_inference") or (bases and issubclass(obj, bases)):
            found.append(obj)
    leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
    if not leaves:
        raise LoadError("%s defines no handler class: define a class with _inference, e.g. "
                        "class Service(SingleNodeService) from model_service.model_service"
                        % HANDLER_FILE)
    if len(leaves) > 1:
        raise LoadError("%s defines several handler classes (%s); keep one"
                        % (HANDLER_FILE, ", ".join(sorted(c.__name__ for c in leaves))))
    return leaves[0]


def load_handler(model_dir, model_name):
    """Import customize_service.py from ``model_dir`` and build its handler."""
    path = os.path.join(model_dir, HANDLER_FILE)
    if not os.path.isfile(path):
        raise LoadError("the model package has no %s at its top level" % HANDLER_FILE)
    if model_dir not in sys.path:
        sys.path.insert(0, model_dir)
    spec = importlib.util.spec_from_file_location(HANDLER_MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[HANDLER_MODULE] = module
    spec.loader.exec_module(module)
    cls = find_handler_class(module)
    return cls(model_name, model_path=model_dir)


def read_config(model_dir):
    """config.json of the package as a dict ({} when absent; LoadError when not a JSON object)."""
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError("config.json is not valid JSON: %s" % e) from e
    if not isinstance(doc, dict):
        raise LoadError("config.json must hold a JSON object")
    return doc


def _own_method(obj, name):
    """``obj.name`` when obj's class has it, else None."""
    fn = getattr(obj, name, None)
    return fn if callable(fn) else None


def run_handler(handler, data):
    """``_postprocess(_inference(_preprocess(data)))``; a missing step passes data through.

    A class that overrides ``inference`` itself (rather than inheriting the
    ``model_service`` one, which runs the same three steps) is called through
    it, as ModelArts does.
    """
    inference = _own_method(handler, "inference")
    if inference is not None and not _inherits_base_inference(type(handler)):
        return inference(data)
    for step in ("_preprocess", "_inference", "_postprocess"):
        fn = _own_method(handler, step)
        if fn is not None:
            data = fn(data)
    return data


def _inherits_base_inference(cls):
    try:
        from model_service.model_service import AbstractService, SingleNodeService
    except ImportError:
        return False
    impl = getattr(cls, "inference", None)
    return impl in (SingleNodeService.inference, AbstractService.inference)


# -- the Open Inference Protocol (KServe V2) ---------------------------------------------


class ProtocolError(Exception):
    """ProtocolError is a request the protocol refuses (HTTP 400, ``{"error": ...}``)."""


class OutputError(Exception):
    """OutputError says the handler's result cannot be written as output tensors (HTTP 500)."""


def _flatten_into(value, out):
    if isinstance(value, (list, tuple)):
        for v in value:
            _flatten_into(v, out)
    else:
        out.append(value)


def _check_element(v, datatype, where):
    if datatype == "BOOL":
        if not isinstance(v, bool):
            raise ProtocolError("%s: BOOL data must be true or false, not %s" % (where, json.dumps(v)))
    elif datatype in _INT_RANGES:
        lo, hi = _INT_RANGES[datatype]
        if isinstance(v, bool) or not isinstance(v, int):
            raise ProtocolError("%s: %s data must be integers, not %s" % (where, datatype, json.dumps(v)))
        if not lo <= v <= hi:
            raise ProtocolError("%s: %d is out of the range of %s (%d to %d)"
                                % (where, v, datatype, lo, hi))
    elif datatype in _FLOATS:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProtocolError("%s: %s data must be numbers, not %s" % (where, datatype, json.dumps(v)))
    elif not isinstance(v, str):  # BYTES
        raise ProtocolError("%s: BYTES data must be strings, not %s" % (where, json.dumps(v)))


def _reshape(flat, shape):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _parameters(value, where):
    if value is not None and not isinstance(value, dict):
        raise ProtocolError("%s must be an object of name/value pairs" % where)


def parse_infer_request(doc):
    """Check an inference request; returns ``(data, requested_output_names or None, id)``.

    ``data`` maps each input's name to its elements reshaped to its shape
    (a nested list; shape [] gives the one element). The data may be given
    flat or nested; the number of elements must equal the product of the
    shape. Raises ProtocolError naming the offending field.
    """
    if not isinstance(doc, dict):
        raise ProtocolError("the inference request must be a JSON object")
    unknown = sorted(set(doc) - {"id", "parameters", "inputs", "outputs"})
    if unknown:
        raise ProtocolError("unknown field %s in the inference request" % unknown[0])
    req_id = doc.get("id")
    if req_id is not None and not isinstance(req_id, str):
        raise ProtocolError("id must be a string")
    _parameters(doc.get("parameters"), "parameters")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError("inputs must be a non-empty array of tensors")
    data = {}
    for i, t in enumerate(inputs):
        where = "inputs[%d]" % i
        if not isinstance(t, dict):
            raise ProtocolError("%s must be an object with name, shape, datatype and data" % where)
        extra = sorted(set(t) - {"name", "shape", "datatype", "parameters", "data"})
        if extra:
            raise ProtocolError("%s has the unknown field %s" % (where, extra[0]))
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise ProtocolError("%s.name must be a non-empty string" % where)
        where = "input %s" % name
        if name in data:
            raise ProtocolError("%s is given twice" % where)
        shape = t.get("shape")
        if not isinstance(shape, list) or any(
                isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
            raise ProtocolError("%s: shape must be an array of non-negative integers" % where)
        datatype = t.get("datatype")
        if datatype not in DATATYPES:
            raise ProtocolError("%s: datatype must be one of %s, not %s"
                                % (where, ", ".join(DATATYPES), json.dumps(datatype)))
        _parameters(t.get("parameters"), where + ": parameters")
        if "data" not in t:
            raise ProtocolError("%s: data is missing" % where)
        flat = []
        _flatten_into(t["data"], flat)
        want = math.prod(shape)
        if len(flat) != want:
            raise ProtocolError("%s: shape %s holds %d elements but data has %d"
                                % (where, shape, want, len(flat)))
        for v in flat:
            _check_element(v, datatype, where)
        data[name] = _reshape(flat, shape)
    requested = None
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list):
            raise ProtocolError("outputs must be an array of {\"name\": ...}")
        requested = []
        for i, o in enumerate(outputs):
            if not isinstance(o, dict) or not isinstance(o.get("name"), str) or not o["name"]:
                raise ProtocolError("outputs[%d] must be an object with a non-empty name" % i)
            _parameters(o.get("parameters"), "outputs[%d].parameters" % i)
            requested.append(o["name"])
    return data, requested, req_id


def _plain(value):
    """Lists and scalars from array-likes (objects with tolist(), e.g. numpy arrays)."""
    if hasattr(value, "tolist") and callable(value.tolist):
        return value.tolist()
    return value


def _shape_of(value, name):
    value = _plain(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return [0]
        shapes = [_shape_of(v, name) for v in value]
        if any(s != shapes[0] for s in shapes[1:]):
            raise OutputError("output %s is ragged: its rows have different shapes" % name)
        return [len(value)] + shapes[0]
    return []


def _datatype_of(flat, name):
    if not flat:
        return "FP64"
    kinds = set()
    for v in flat:
        if isinstance(v, bool):
            kinds.add("BOOL")
        elif isinstance(v, int):
            kinds.add("INT64")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise OutputError("output %s holds %r, which JSON cannot carry" % (name, v))
            kinds.add("FP64")
        elif isinstance(v, str):
            kinds.add("BYTES")
        else:
            raise OutputError("output %s holds a %s, which is not a tensor element "
                              "(bool, int, float or str)" % (name, type(v).__name__))
    if kinds == {"INT64", "FP64"}:
        return "FP64"
    if len(kinds) > 1:
        raise OutputError("output %s mixes %s elements" % (name, " and ".join(sorted(kinds))))
    return kinds.pop()


def _deep_plain(value):
    value = _plain(value)
    if isinstance(value, (list, tuple)):
        return [_deep_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a numpy scalar
        return value.item()
    return value


_TENSOR_KEYS = {"name", "datatype", "shape", "data", "parameters"}


def _explicit_tensor(name, value):
    """A handler's ``{"datatype", "data", "shape"?}`` written as it asks, after checking it."""
    datatype = value["datatype"]
    if datatype not in DATATYPES:
        raise OutputError("output %s: datatype must be one of %s, not %r"
                          % (name, ", ".join(DATATYPES), datatype))
    data = _deep_plain(value["data"])
    flat = []
    _flatten_into(data, flat)
    shape = value.get("shape")
    if shape is None:
        shape = _shape_of(data, name) or [1]
    if not isinstance(shape, list) or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise OutputError("output %s: shape must be a list of non-negative integers" % name)
    if math.prod(shape) != len(flat):
        raise OutputError("output %s: shape %s holds %d elements but data has %d"
                          % (name, shape, math.prod(shape), len(flat)))
    for v in flat:
        try:
            _check_element(v, datatype, "output " + name)
        except ProtocolError as e:
            raise OutputError(str(e)) from None
        if isinstance(v, float) and not math.isfinite(v):
            raise OutputError("output %s holds %r, which JSON cannot carry" % (name, v))
    out = {"name": name, "datatype": datatype, "shape": shape, "data": flat}
    if isinstance(value.get("parameters"), dict):
        out["parameters"] = value["parameters"]
    return out


def encode_output(name, value):
    """One response output tensor for a handler's value.

    Lists (nested to any depth, rectangular) and scalars (shape [1]) get
    their datatype from their elements: bool BOOL, int INT64, float (or ints
    and floats) FP64, str BYTES. A dict ``{"datatype", "data", "shape"?,
    "parameters"?}`` is a tensor the handler wrote itself (e.g. FP32).
    """
    value = _plain(value)
    if isinstance(value, dict) and "data" in value and "datatype" in value \
            and set(value) <= _TENSOR_KEYS:
        return _explicit_tensor(name, value)
    value = _deep_plain(value)
    shape = _shape_of(value, name) or [1]
    flat = []
    _flatten_into(value, flat)
    return {"name": name, "datatype": _datatype_of(flat, name), "shape": shape, "data": flat}


def encode_outputs(result, requested):
    """The response's outputs for a handler's result.

    A dict gives one output per key; anything else is the single output
    ``output0``. With ``requested`` only those outputs are returned, in the
    requested order; a name the result lacks raises ProtocolError.
    """
    result = _plain(result)
    if not isinstance(result, dict):
        result = {"output0": result}
    for k in result:
        if not isinstance(k, str):
            raise OutputError("the handler's result has the non-string key %r" % (k,))
    names = list(result) if requested is None else requested
    missing = [n for n in names if n not in result]
    if missing:
        raise ProtocolError("the model has no output %s; it answered %s"
                            % (missing[0], ", ".join(result) or "none"))
    return [encode_output(n, result[n]) for n in names]


_SCHEMA_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}


def _tensor_meta(name, schema):
    shape = []
    while isinstance(schema, dict) and schema.get("type") == "array":
        shape.append(-1)
        schema = schema.get("items")
    t = schema.get("type") if isinstance(schema, dict) else None
    return {"name": name, "datatype": _SCHEMA_TYPES.get(t, "BYTES"), "shape": shape or [1]}


def _schema_tensors(schema):
    if not isinstance(schema, dict):
        return []
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    return [_tensor_meta(k, v) for k, v in props.items()]


def tensors_metadata(config):
    """``(inputs, outputs)`` tensor metadata from config.json.

    The first entry of ``apis`` gives them: each property of the request's
    and the response's ``data`` schema is one tensor (a JSON schema number is
    FP64, integer INT64, boolean BOOL, string BYTES; each array level a -1
    dimension). Without apis, ``input_params`` / ``output_params`` lists of
    ``{"name", "datatype"?, "shape"?}`` are used as they are; else both are
    empty.
    """
    apis = config.get("apis")
    if isinstance(apis, list) and apis and isinstance(apis[0], dict):
        api = apis[0]
        req = api.get("request") if isinstance(api.get("request"), dict) else {}
        resp = api.get("response") if isinstance(api.get("response"), dict) else {}
        return _schema_tensors(req.get("data")), _schema_tensors(resp.get("data"))

    def params(key):
        out = []
        for p in config.get(key) or []:
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                out.append({"name": p["name"], "datatype": p.get("datatype", "BYTES"),
                            "shape": p.get("shape", [-1])})
        return out

    return params("input_params"), params("output_params")


# -- request bodies ---------------------------------------------------------------------------


class BodyError(Exception):
    """BodyError is a request body that cannot be read: status, code and message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _header_params(value):
    """The main value and parameters of a header like Content-Type or Content-Disposition."""
    m = email.message.Message()
    m["x"] = value
    params = m.get_params(header="x") or []
    main = params[0][0].lower() if params else ""
    return main, {k.lower(): email.utils.collapse_rfc2231_value(v) for k, v in params[1:]}


def parse_multipart(body, content_type):
    """A multipart/form-data body as ModelArts hands it to handlers.

    File parts become ``{field: {filename: io.BytesIO}}`` (each BytesIO has
    ``.name`` = the filename); other parts ``{field: str}``.
    """
    _, params = _header_params(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise BodyError(400, CODE_BAD_REQUEST, "multipart/form-data without a boundary")
    delim = b"--" + boundary.encode("latin-1")
    chunks = body.split(delim)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise BodyError(400, CODE_BAD_REQUEST, "the multipart body is not terminated by its boundary")
    data = {}
    for chunk in chunks[1:-1]:
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise BodyError(400, CODE_BAD_REQUEST, "a multipart part has no header/body separator")
        disposition = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-disposition":
                disposition = v.strip()
        if disposition is None:
            raise BodyError(400, CODE_BAD_REQUEST, "a multipart part has no Content-Disposition")
        _, dp = _header_params(disposition)
        field = dp.get("name")
        if not field:
            raise BodyError(400, CODE_BAD_REQUEST, "a multipart part has no field name")
        filename = dp.get("filename")
        if filename is None:
            data[field] = content.decode("utf-8", "replace")
            continue
        f = io.BytesIO(content)
        f.name = filename
        files = data.get(field)
        if not isinstance(files, dict):
            files = data[field] = {}
        files[filename] = f
    return data


def parse_predict_body(body, content_type):
    """The ``data`` a ModelArts prediction hands the handler."""
    main, params = _header_params(content_type) if content_type else ("", {})
    if main == "multipart/form-data":
        return parse_multipart(body, content_type)
    if main in ("", "application/json", "text/json") or main.endswith("+json"):
        if not body.strip():
            if main:
                raise BodyError(400, CODE_BAD_REQUEST, "the request body is empty; send JSON")
            return {}
        try:
            return json.loads(body.decode(params.get("charset", "utf-8")))
        except (ValueError, UnicodeDecodeError, LookupError) as e:
            raise BodyError(400, CODE_BAD_REQUEST, "the request body is not valid JSON: %s" % e) from e
    raise BodyError(415, CODE_UNSUPPORTED_MEDIA,
                    "Content-Type %s is not served: send application/json or multipart/form-data"
                    % main)


def _json_default(o):
    if hasattr(o, "tolist") and callable(o.tolist):
        return o.tolist()
    if hasattr(o, "item") and callable(o.item):
        return o.item()
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (bytes, bytearray)):
        return o.decode("utf-8", "replace")
    raise TypeError("a %s is not JSON" % type(o).__name__)


def to_json(doc):
    """Compact JSON bytes; ValueError/TypeError when ``doc`` cannot be JSON."""
    return json.dumps(doc, default=_json_default, allow_nan=False,
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- the server ---------------------------------------------------------------------------------


class Runtime:
    """Runtime is a loaded model and what the HTTP routes need to serve it."""

    def __init__(self, handler, config, service_name, model_name, model_version, max_request):
        self.handler = handler
        self.config = config
        self.service_name = service_name
        self.model_name = model_name
        self.model_version = model_version
        self.max_request = max_request
        self.inputs, self.outputs = tensors_metadata(config)
        self._active = 0
        self._cond = threading.Condition()
        self.access_log = os.environ.get("ATELIER_ACCESS_LOG") == "1"

    def begin(self):
        with self._cond:
            self._active += 1

    def end(self):
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    def drain(self, timeout):
        """Wait until no request is in progress, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._active > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def metadata(self):
        doc = {"name": self.service_name, "versions": [self.model_version] if self.model_version else [],
               "platform": RUNTIME_NAME, "inputs": self.inputs, "outputs": self.outputs}
        return doc


class Handler(http.server.BaseHTTPRequestHandler):
    """Handler serves one connection's requests for the server's Runtime."""

    protocol_version = "HTTP/1.1"
    server_version = "atelier-pyruntime/" + RUNTIME_VERSION
    # An answer goes out in one write (headers and body, flushed after each
    # request), with TCP_NODELAY: written as two segments, the body would
    # wait for the client's delayed ACK of the headers (Nagle), some 40 ms
    # per request on a kept-alive connection.
    wbufsize = -1
    disable_nagle_algorithm = True
    rt = None  # set on the subclass made by make_server

    # -- plumbing --

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        if self.rt.access_log:
            super().log_request(code, size)

    def _send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, doc):
        self._send(status, to_json(doc))

    def _v2_error(self, status, message):
        self._json(status, {"error": message})

    def _ma_error(self, status, code, message):
        self._json(status, {"error_code": code, "error_msg": message})

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te and te.strip().lower() != "identity":
            if te.strip().lower() != "chunked":
                self.close_connection = True
                raise BodyError(400, CODE_BAD_REQUEST, "Transfer-Encoding %s is not supported" % te)
            return self._read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl)
            if n < 0:
                raise ValueError(cl)
        except ValueError:
            self.close_connection = True
            raise BodyError(400, CODE_BAD_REQUEST, "Content-Length %r is not a number" % cl) from None
        if n > self.rt.max_request:
            self.close_connection = True  # the body stays unread
            raise BodyError(413, CODE_TOO_LARGE, "the request body has %d bytes; the limit is %d"
                            % (n, self.rt.max_request))
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            raise BodyError(400, CODE_BAD_REQUEST, "the request body ended early")
        return data

    def _read_chunked(self):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise BodyError(400, CODE_BAD_REQUEST, "a malformed chunk in the request body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(out)
            if len(out) + size > self.rt.max_request:
                self.close_connection = True
                raise BodyError(413, CODE_TOO_LARGE, "the request body is larger than the limit "
                                "of %d bytes" % self.rt.max_request)
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                self.close_connection = True
                raise BodyError(400, CODE_BAD_REQUEST, "the request body ended early")
            out += chunk
            self.rfile.readline(1024)  # the CRLF after the chunk

    # -- dispatch --

    def do_GET(self):  # noqa: N802 - http.server's name
        self._serve("GET")

    def do_HEAD(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_PUT(self):  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")

    def _serve(self, method):
        self.rt.begin()
        try:
            path = urllib.parse.urlsplit(self.path).path
            if path == "/v2" or path.startswith("/v2/"):
                self._v2(method, path)
            elif method == "GET" and path == "/health":
                self._json(200, {"status": "OK"})
            elif method == "POST":
                self._predict()
            else:
                self._ma_error(404 if method == "GET" else 405,
                               CODE_NOT_FOUND, "no route %s %s; predictions are POSTed" % (method, path))
        finally:
            self.rt.end()

    # -- ModelArts predictions --

    def _predict(self):
        try:
            body = self._read_body()
            data = parse_predict_body(body, self.headers.get("Content-Type"))
        except BodyError as e:
            return self._ma_error(e.status, e.code, e.message)
        try:
            result = run_handler(self.rt.handler, data)
        except Exception as e:  # the handler's own failure
            traceback.print_exc(file=sys.stderr)
            return self._ma_error(500, CODE_HANDLER_FAILED, "%s: %s" % (type(e).__name__, e))
        try:
            out = to_json(result)
        except (TypeError, ValueError) as e:
            sys.stderr.write("the handler's result is not JSON: %s\n" % e)
            return self._ma_error(500, CODE_HANDLER_FAILED,
                                  "the handler's result cannot be written as JSON: %s" % e)
        self._send(200, out)

    # -- the Open Inference Protocol --

    def _v2(self, method, path):
        parts = [urllib.parse.unquote(p) for p in path.split("/")[2:]]
        if parts and parts[-1] == "":
            parts.pop()
        if not parts:
            if method != "GET":
                return self._v2_error(405, "use GET for the server metadata")
            return self._json(200, {"name": RUNTIME_NAME, "version": RUNTIME_VERSION, "extensions": []})
        if parts[0] == "health" and len(parts) == 2 and parts[1] in ("live", "ready"):
            if method != "GET":
                return self._v2_error(405, "use GET for health")
            return self._json(200, {parts[1]: True})
        if parts[0] != "models" or len(parts) < 2:
            return self._v2_error(404, "no route %s" % path)
        name, rest = parts[1], parts[2:]
        version = None
        if len(rest) >= 2 and rest[0] == "versions":
            version, rest = rest[1], rest[2:]
        if name != self.rt.service_name:
            return self._v2_error(404, "model %s is not served here; this is %s"
                                  % (name, self.rt.service_name))
        if version is not None and self.rt.model_version and version != self.rt.model_version:
            return self._v2_error(404, "model %s has no version %s here; it serves version %s"
                                  % (name, version, self.rt.model_version))
        if rest == []:
            if method != "GET":
                return self._v2_error(405, "use GET for the model metadata")
            return self._json(200, self.rt.metadata())
        if rest == ["ready"]:
            if method != "GET":
                return self._v2_error(405, "use GET for model readiness")
            return self._json(200, {"name": name, "ready": True})
        if rest == ["infer"]:
            if method != "POST":
                return self._v2_error(405, "use POST for inference")
            return self._infer()
        return self._v2_error(404, "no route %s" % path)

    def _infer(self):
        try:
            body = self._read_body()
        except BodyError as e:
            return self._v2_error(e.status, e.message)
        try:
            doc = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            return self._v2_error(400, "the inference request is not valid JSON: %s" % e)
        try:
            data, requested, req_id = parse_infer_request(doc)
        except ProtocolError as e:
            return self._v2_error(400, str(e))
        try:
            result = run_handler(self.rt.handler, data)
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            return self._v2_error(500, "the model failed: %s: %s" % (type(e).__name__, e))
        try:
            outputs = encode_outputs(result, requested)
        except ProtocolError as e:
            return self._v2_error(400, str(e))
        except OutputError as e:
            sys.stderr.write("cannot encode the handler's result: %s\n" % e)
            return self._v2_error(500, str(e))
        resp = {"model_name": self.rt.service_name}
        if self.rt.model_version:
            resp["model_version"] = self.rt.model_version
        if req_id is not None:
            resp["id"] = req_id
        resp["outputs"] = outputs
        self._json(200, resp)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(rt, host, port):
    """A Server for ``rt`` listening on host:port (not yet serving)."""
    handler = type("BoundHandler", (Handler,), {"rt": rt})
    return Server((host, port), handler)


def _env_int(env, name, default):
    v = env.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise LoadError("%s must be an integer, not %r" % (name, v)) from None


def main(argv=None, env=None):
    env = os.environ if env is None else env
    p = argparse.ArgumentParser(description="Serve a ModelArts-style model package over HTTP.")
    p.add_argument("--model-dir", required=True, help="the model package's directory")
    p.add_argument("--port", type=int, default=None, help="the port (default: $PORT)")
    args = p.parse_args(argv)
    model_dir = os.path.abspath(args.model_dir)
    try:
        port = args.port if args.port is not None else _env_int(env, "PORT", None)
        if port is None:
            raise LoadError("PORT is not set")
        max_request = _env_int(env, "ATELIER_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES)
        grace = float(env.get("ATELIER_SHUTDOWN_GRACE_S") or DEFAULT_SHUTDOWN_GRACE_S)
        config = read_config(model_dir)
    except (LoadError, ValueError) as e:
        sys.stderr.write("atelier-runtime: %s\n" % e)
        return 2
    model_name = env.get("ATELIER_MODEL_NAME") or config.get("model_name") or "model"
    service_name = env.get("ATELIER_SERVICE_NAME") or model_name
    version = env.get("ATELIER_MODEL_VERSION", "")
    try:
        handler = load_handler(model_dir, model_name)
    except LoadError as e:
        sys.stderr.write("atelier-runtime: cannot load the model: %s\n" % e)
        return 1
    except BaseException:
        sys.stderr.write("atelier-runtime: cannot load the model: %s raised:\n" % HANDLER_FILE)
        traceback.print_exc(file=sys.stderr)
        return 1
    rt = Runtime(handler, config, service_name, model_name, version, max_request)
    host = "0.0.0.0" if env.get("ATELIER_BIND_ALL") == "1" else "127.0.0.1"
    try:
        httpd = make_server(rt, host, port)
    except OSError as e:
        sys.stderr.write("atelier-runtime: cannot listen on %s:%d: %s\n" % (host, port, e))
        return 1

    def stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bound = httpd.server_address
    print("atelier-runtime: serving %s (handler %s) on http://%s:%d"
          % (service_name, type(handler).__name__, bound[0], bound[1]), flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    if not rt.drain(grace):
        sys.stderr.write("atelier-runtime: requests still running after %gs; exiting\n" % grace)
    return 0


if __name__ == "__main__":
    sys.exit(main())

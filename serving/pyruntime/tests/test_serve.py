"""serve.py end to end: a subprocess on a free port serving a small pure-Python model.

The model is a logistic regression whose handler is written as ModelArts
code is (``import log``, ``SingleNodeService``, ``(model_name, model_path)``),
plus a few test hooks (``boom`` raises, ``whoami`` tells what the handler
was built with, multipart files are hashed).
"""

import hashlib
import http.client
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import types
import unittest

from .runtime import Instance, run_to_exit, write_files

HANDLER = '''
import hashlib
import json
import math
import os

import log
from model_service.model_service import SingleNodeService

logger = log.getLogger(__name__)


class LogRegService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        with open(os.path.join(model_path, "weights.json")) as f:
            doc = json.load(f)
        self.w, self.b = doc["w"], doc["b"]
        logger.info("loaded %d weights", len(self.w))

    def _preprocess(self, data):
        if "boom" in data:
            raise RuntimeError("boom: %s" % data["boom"])
        if "whoami" in data:
            return {"whoami": [self.model_name, self.model_path]}
        files = {}
        for field, v in data.items():
            if isinstance(v, dict):
                files[field] = {name: [f.name, hashlib.sha256(f.read()).hexdigest()]
                                for name, f in v.items()}
            elif field not in ("x", "nan"):
                files[field] = v
        if files:
            return {"files": files}
        return data

    def _inference(self, data):
        if "nan" in data:
            return {"v": float("nan")}
        if "x" not in data:
            return data
        out = []
        for row in data["x"]:
            z = sum(a * b for a, b in zip(self.w, row)) + self.b
            out.append(1.0 / (1.0 + math.exp(-z)))
        return {"p": out}

    def _postprocess(self, data):
        if "p" in data:
            data["label"] = [p >= 0.5 for p in data["p"]]
        return data
'''

WEIGHTS = {"w": [1.5, -2.0], "b": 0.25}


def expected_p(row):
    z = sum(a * b for a, b in zip(WEIGHTS["w"], row)) + WEIGHTS["b"]
    return 1.0 / (1.0 + math.exp(-z))


def multipart(fields, boundary="XyZ-boundary-42"):
    """A multipart/form-data body: fields is [(name, filename or None, bytes)]."""
    out = b""
    for name, filename, data in fields:
        disp = 'form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += b"--" + boundary.encode() + b"\r\n"
        out += ("Content-Disposition: %s\r\n" % disp).encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, "multipart/form-data; boundary=" + boundary


INST = None
MODEL_DIR = None


def setUpModule():
    global INST, MODEL_DIR
    MODEL_DIR = tempfile.mkdtemp(prefix="pyruntime-model-")
    write_files(MODEL_DIR, {
        "customize_service.py": HANDLER,
        "weights.json": json.dumps(WEIGHTS),
        "config.json": json.dumps({
            "model_type": "Custom", "runtime": "python3.11",
            "apis": [{"url": "/", "method": "post",
                      "request": {"Content-type": "application/json", "data": {
                          "type": "object",
                          "properties": {"x": {"type": "array", "items": {
                              "type": "array", "items": {"type": "number"}}}}}},
                      "response": {"Content-type": "application/json", "data": {
                          "type": "object",
                          "properties": {"p": {"type": "array", "items": {"type": "number"}},
                                         "label": {"type": "array",
                                                   "items": {"type": "boolean"}}}}}}]}),
    })
    INST = Instance(MODEL_DIR, {"ATELIER_SERVICE_NAME": "digits", "ATELIER_MODEL_NAME": "logreg",
                                "ATELIER_MODEL_VERSION": "1.0.2",
                                "ATELIER_MAX_REQUEST_BYTES": str(64 * 1024)}).start()


def tearDownModule():
    try:
        rc, stderr = INST.stop()
        if rc != 0:
            raise AssertionError("serve.py exited with %s after SIGTERM; stderr:\n%s" % (rc, stderr))
    finally:
        shutil.rmtree(MODEL_DIR, ignore_errors=True)


class ModelArtsRoutesTest(unittest.TestCase):
    def test_health(self):
        self.assertEqual(INST.json("GET", "/health"), (200, {"status": "OK"}))

    def test_handler_is_built_with_name_and_model_dir(self):
        status, doc = INST.json("POST", "/", {"whoami": 1})
        self.assertEqual(status, 200)
        self.assertEqual(doc, {"whoami": ["logreg", os.path.abspath(MODEL_DIR)]})

    def test_json_prediction_runs_the_three_steps(self):
        rows = [[1.0, 0.5], [-1.0, 2.0], [0.0, 0.0]]
        status, doc = INST.json("POST", "/", {"x": rows})
        self.assertEqual(status, 200, doc)
        self.assertEqual(len(doc["p"]), 3)
        for got, row in zip(doc["p"], rows):
            self.assertAlmostEqual(got, expected_p(row), places=12)
        self.assertEqual(doc["label"], [expected_p(r) >= 0.5 for r in rows])

    def test_any_post_path_predicts(self):
        status, doc = INST.json("POST", "/predict/anything?x=1", {"x": [[0.0, 0.0]]})
        self.assertEqual(status, 200)
        self.assertAlmostEqual(doc["p"][0], expected_p([0.0, 0.0]))

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection(INST.host, INST.port, timeout=30)
        self.addCleanup(conn.close)
        for i in range(3):
            status, _, body = INST.request("POST", "/", json.dumps({"x": [[i, 0]]}).encode(),
                                           {"Content-Type": "application/json"}, conn=conn)
            self.assertEqual(status, 200)
            self.assertAlmostEqual(json.loads(body)["p"][0], expected_p([i, 0]))

    def test_an_answer_is_written_in_one_piece(self):
        # Headers and body in one write: written apart, the body waits for
        # the client's delayed ACK of the headers (Nagle), about 40 ms per
        # request on a kept-alive connection. One write reaches the client
        # in one read on the loopback.
        body = json.dumps({"x": [[1, 0]]}).encode()
        req = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body)) + body
        with socket.create_connection((INST.host, INST.port), timeout=30) as s:
            for _ in range(3):
                s.sendall(req)
                got = s.recv(1 << 16)
                head, sep, rest = got.partition(b"\r\n\r\n")
                self.assertTrue(sep, got)
                self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                self.assertEqual(length, [len(rest)], "the first read holds only part of the answer")
                self.assertAlmostEqual(json.loads(rest)["p"][0], expected_p([1, 0]))

    def test_multipart_files_reach_the_handler_as_modelarts_passes_them(self):
        png = bytes(range(256)) * 3 + b"\r\n--XyZ-not-the-boundary\r\n\x00"
        body, ctype = multipart([("images", "1.jpg", png), ("images", "2.jpg", b""),
                                 ("files", "rows.csv", b"a,b\n1,2\n"),
                                 ("note", None, "héllo".encode())])
        status, doc = INST.json("POST", "/", body, {"Content-Type": ctype})
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["files"], {
            "images": {"1.jpg": ["1.jpg", hashlib.sha256(png).hexdigest()],
                       "2.jpg": ["2.jpg", hashlib.sha256(b"").hexdigest()]},
            "files": {"rows.csv": ["rows.csv", hashlib.sha256(b"a,b\n1,2\n").hexdigest()]},
            "note": "héllo",
        })

    def test_chunked_body(self):
        payload = json.dumps({"x": [[2.0, 1.0]]}).encode()
        conn = http.client.HTTPConnection(INST.host, INST.port, timeout=30)
        self.addCleanup(conn.close)
        conn.request("POST", "/", body=iter([payload[:5], payload[5:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertAlmostEqual(json.loads(r.read())["p"][0], expected_p([2.0, 1.0]))

    def test_handler_exception_is_500_with_the_error_and_a_logged_traceback(self):
        status, doc = INST.json("POST", "/", {"boom": "bad pixel"})
        self.assertEqual(status, 500)
        self.assertEqual(doc, {"error_code": "ModelArts.4503",
                               "error_msg": "RuntimeError: boom: bad pixel"})
        self.assertIn("Traceback", INST.stderr_text())
        self.assertIn("RuntimeError: boom: bad pixel", INST.stderr_text())
        # The instance keeps serving.
        self.assertEqual(INST.json("POST", "/", {"x": [[0, 0]]})[0], 200)

    def test_result_that_is_not_json_is_500(self):
        status, doc = INST.json("POST", "/", {"nan": 1})
        self.assertEqual(status, 500)
        self.assertEqual(doc["error_code"], "ModelArts.4503")
        self.assertIn("JSON", doc["error_msg"])

    def test_bad_json_is_400(self):
        status, doc = INST.json("POST", "/", b"{not json", {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(doc["error_code"], "ModelArts.4400")
        self.assertIn("not valid JSON", doc["error_msg"])

    def test_unsupported_content_type_is_415(self):
        status, doc = INST.json("POST", "/", b"x=1", {"Content-Type": "text/plain"})
        self.assertEqual(status, 415)
        self.assertEqual(doc["error_code"], "ModelArts.4415")

    def test_multipart_without_closing_boundary_is_400(self):
        status, doc = INST.json("POST", "/", b"--b\r\nContent-Disposition: form-data; name=a"
                                b"\r\n\r\nx\r\n", {"Content-Type": "multipart/form-data; boundary=b"})
        self.assertEqual(status, 400)
        self.assertEqual(doc["error_code"], "ModelArts.4400")

    def test_body_over_the_limit_is_413(self):
        big = json.dumps({"x": [[0.0, 0.0]] * 10000}).encode()
        self.assertGreater(len(big), 64 * 1024)
        status, doc = INST.json("POST", "/", big, {"Content-Type": "application/json"})
        self.assertEqual(status, 413)
        self.assertEqual(doc["error_code"], "ModelArts.4413")
        self.assertIn(str(64 * 1024), doc["error_msg"])

    def test_chunked_body_over_the_limit_is_413(self):
        conn = http.client.HTTPConnection(INST.host, INST.port, timeout=30)
        self.addCleanup(conn.close)
        chunks = [b"[" + b"0," * 20000, b"0," * 20000 + b"0]"]
        conn.request("POST", "/", body=iter(chunks), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        self.assertEqual(r.status, 413)
        self.assertEqual(json.loads(r.read())["error_code"], "ModelArts.4413")

    def test_get_of_an_unknown_path_is_404(self):
        status, doc = INST.json("GET", "/nothing")
        self.assertEqual(status, 404)
        self.assertEqual(doc["error_code"], "ModelArts.4404")

    def test_concurrent_requests(self):
        results = [None] * 8

        def one(i):
            results[i] = INST.json("POST", "/", {"x": [[i, 1]]})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for i, (status, doc) in enumerate(results):
            self.assertEqual(status, 200)
            self.assertAlmostEqual(doc["p"][0], expected_p([i, 1]))


class V2RoutesTest(unittest.TestCase):
    def test_health_and_server_metadata(self):
        self.assertEqual(INST.json("GET", "/v2/health/live"), (200, {"live": True}))
        self.assertEqual(INST.json("GET", "/v2/health/ready"), (200, {"ready": True}))
        status, doc = INST.json("GET", "/v2")
        self.assertEqual(status, 200)
        self.assertEqual(doc["name"], "atelier-python")
        self.assertEqual(doc["extensions"], [])

    def test_model_metadata_from_config_apis(self):
        for path in ("/v2/models/digits", "/v2/models/digits/versions/1.0.2"):
            status, doc = INST.json("GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(doc, {
                "name": "digits", "versions": ["1.0.2"], "platform": "atelier-python",
                "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1, -1]}],
                "outputs": [{"name": "p", "datatype": "FP64", "shape": [-1]},
                            {"name": "label", "datatype": "BOOL", "shape": [-1]}],
            })

    def test_model_ready(self):
        for path in ("/v2/models/digits/ready", "/v2/models/digits/versions/1.0.2/ready"):
            self.assertEqual(INST.json("GET", path), (200, {"name": "digits", "ready": True}))

    def test_other_model_names_and_versions_are_404(self):
        for path in ("/v2/models/other", "/v2/models/other/ready",
                     "/v2/models/digits/versions/9/ready", "/v2/models/digits/versions/9"):
            status, doc = INST.json("GET", path)
            self.assertEqual(status, 404, path)
            self.assertIsInstance(doc["error"], str)
        status, doc = INST.json("POST", "/v2/models/logreg/infer", {"inputs": []})
        self.assertEqual(status, 404)
        self.assertIn("digits", doc["error"])

    def test_infer_maps_tensors_to_the_handler_and_back(self):
        req = {"id": "req-7", "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32",
                                          "data": [1.0, 0.5, -1, 2]}]}
        for path in ("/v2/models/digits/infer", "/v2/models/digits/versions/1.0.2/infer"):
            status, doc = INST.json("POST", path, req)
            self.assertEqual(status, 200, doc)
            self.assertEqual(doc["model_name"], "digits")
            self.assertEqual(doc["model_version"], "1.0.2")
            self.assertEqual(doc["id"], "req-7")
            p, label = doc["outputs"]
            self.assertEqual((p["name"], p["datatype"], p["shape"]), ("p", "FP64", [2]))
            self.assertAlmostEqual(p["data"][0], expected_p([1.0, 0.5]))
            self.assertAlmostEqual(p["data"][1], expected_p([-1, 2]))
            self.assertEqual(label, {"name": "label", "datatype": "BOOL", "shape": [2],
                                     "data": [expected_p([1.0, 0.5]) >= 0.5,
                                              expected_p([-1, 2]) >= 0.5]})

    def test_infer_returns_only_requested_outputs(self):
        req = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64",
                           "data": [[0.0, 0.0]]}], "outputs": [{"name": "label"}]}
        status, doc = INST.json("POST", "/v2/models/digits/infer", req)
        self.assertEqual(status, 200, doc)
        self.assertNotIn("id", doc)
        self.assertEqual(doc["outputs"], [{"name": "label", "datatype": "BOOL", "shape": [1],
                                           "data": [True]}])
        req["outputs"] = [{"name": "nope"}]
        status, doc = INST.json("POST", "/v2/models/digits/infer", req)
        self.assertEqual(status, 400)
        self.assertIn("nope", doc["error"])

    def test_infer_errors(self):
        cases = [
            (b"{", 400, "not valid JSON"),
            ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}]},
             400, "holds 2 elements but data has 1"),
            ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]},
             400, "datatype must be one of"),
            ({"inputs": [{"name": "boom", "shape": [1], "datatype": "BYTES", "data": ["x"]}]},
             500, "RuntimeError: boom"),
        ]
        for body, want_status, want in cases:
            with self.subTest(want=want):
                status, doc = INST.json("POST", "/v2/models/digits/infer", body,
                                        {"Content-Type": "application/json"})
                self.assertEqual(status, want_status, doc)
                self.assertEqual(list(doc), ["error"])
                self.assertIn(want, doc["error"])

    def test_wrong_methods(self):
        self.assertEqual(INST.json("GET", "/v2/models/digits/infer")[0], 405)
        self.assertEqual(INST.json("POST", "/v2/health/live", {})[0], 405)
        self.assertEqual(INST.json("GET", "/v2/unknown")[0], 404)


class LoadFailureTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pyruntime-bad-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_import_error_exits_1_with_the_traceback(self):
        write_files(self.dir, {"customize_service.py": "import not_a_module_anywhere\n"})
        r = run_to_exit(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Traceback", r.stderr)
        self.assertIn("No module named 'not_a_module_anywhere'", r.stderr)

    def test_constructor_failure_exits_1_with_the_traceback(self):
        write_files(self.dir, {"customize_service.py": HANDLER})  # no weights.json
        r = run_to_exit(self.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("FileNotFoundError", r.stderr)
        self.assertIn("weights.json", r.stderr)

    def test_no_handler_class(self):
        write_files(self.dir, {"customize_service.py":
                               "from model_service.model_service import SingleNodeService\n"
                               "class Helper:\n    pass\n"})
        r = run_to_exit(self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("defines no handler class", r.stderr)

    def test_no_customize_service(self):
        r = run_to_exit(self.dir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no customize_service.py", r.stderr)

    def test_bad_config_json(self):
        write_files(self.dir, {"customize_service.py": HANDLER, "config.json": "{"})
        r = run_to_exit(self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.json is not valid JSON", r.stderr)

    def test_no_port(self):
        write_files(self.dir, {"customize_service.py": HANDLER})
        r = run_to_exit(self.dir, {"PORT": ""})
        self.assertEqual(r.returncode, 2)
        self.assertIn("PORT is not set", r.stderr)


class HandlerShapesTest(unittest.TestCase):
    """Handler classes of other shapes: no base, an own inference, the framework bases."""

    def serve(self, code, body):
        d = tempfile.mkdtemp(prefix="pyruntime-shape-")
        self.addCleanup(shutil.rmtree, d, True)
        write_files(d, {"customize_service.py": code})
        inst = Instance(d).start()
        try:
            return inst.json("POST", "/", body)
        finally:
            rc, stderr = inst.stop()
            self.assertEqual(rc, 0, stderr)

    def test_plain_class_with_only_inference_step(self):
        code = ("class Plain:\n"
                "    def __init__(self, model_name, model_path):\n"
                "        self.k = 3\n"
                "    def _inference(self, data):\n"
                "        return {'sum': sum(data['x']) * self.k}\n")
        self.assertEqual(self.serve(code, {"x": [1, 2]}), (200, {"sum": 9}))

    def test_own_inference_method_is_used(self):
        code = ("from model_service.model_service import SingleNodeService\n"
                "class Own(SingleNodeService):\n"
                "    def inference(self, data):\n"
                "        return {'own': data}\n"
                "    def _inference(self, data):\n"
                "        raise AssertionError('not called')\n")
        self.assertEqual(self.serve(code, [1]), (200, {"own": [1]}))

    def test_pytorch_and_tensorflow_bases_import(self):
        code = ("from model_service.pytorch_model_service import PTServingBaseService\n"
                "from model_service.tfserving_model_service import TfServingBaseService\n"
                "import log\n"
                "log.getLogger(__name__).info('hello')\n"
                "class Base(PTServingBaseService):\n"
                "    pass\n"
                "class Svc(Base):\n"
                "    def __init__(self, model_name, model_path):\n"
                "        super().__init__(model_name, model_path)\n"
                "        self.model = lambda d: {'n': len(d), 'tf': TfServingBaseService.__name__}\n")
        self.assertEqual(self.serve(code, {"a": 1, "b": 2}), (200, {"n": 2, "tf": "TfServingBaseService"}))


class FindHandlerClassTest(unittest.TestCase):
    def module(self, code):
        m = types.ModuleType("customize_service")
        exec(compile(code, "customize_service.py", "exec"), m.__dict__)
        return m

    def setUp(self):
        rt = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
        if rt not in sys.path:
            sys.path.insert(0, rt)
        import serve

        self.serve = serve

    def test_imported_classes_are_not_handlers(self):
        m = self.module("from model_service.model_service import SingleNodeService\n"
                        "from model_service.pytorch_model_service import PTServingBaseService\n"
                        "class Mine(SingleNodeService):\n    pass\n")
        self.assertEqual(self.serve.find_handler_class(m).__name__, "Mine")

    def test_the_most_derived_class_wins(self):
        m = self.module("class A:\n    def _inference(self, d):\n        return d\n"
                        "class B(A):\n    pass\n")
        self.assertEqual(self.serve.find_handler_class(m).__name__, "B")

    def test_two_unrelated_handlers_are_refused(self):
        m = self.module("class A:\n    def _inference(self, d):\n        return d\n"
                        "class B:\n    def _inference(self, d):\n        return d\n")
        with self.assertRaisesRegex(self.serve.LoadError, r"several handler classes \(A, B\)"):
            self.serve.find_handler_class(m)


if __name__ == "__main__":
    unittest.main()

"""Unit tests of atelier.model (Model, Predictor, ServiceConfig) and its modelarts aliases.

Everything runs against the scripted FakeServer. The seed's four samples
(get_model_object_list twice, Predictor(...).get_service_info(),
get_service_object_list(...)[0].get_service_info()) are kept here as text,
with their line breaks restored, and shared with test_model_e2e.py, which
runs them against the real server.
"""

import contextlib
import email.parser
import email.policy
import io
import json
import os
import shutil
import tempfile
import threading
import unittest
import urllib.parse
import warnings
from unittest import mock

from atelier import AtelierError, Session
from atelier import errors as sdk_errors
from atelier.model import Model, ModelError, Predictor, ServiceConfig, ServiceError

from .fakeserver import FakeServer, Reply, error

# The seed's samples (model list: scenes 1 and 2; service info: ways 1 and 2).
SEED_MODEL_LIST_ALL = '''from modelarts.session import Session
from modelarts.model import Model
session = Session()
model_object_list = Model.get_model_object_list(session)
print(model_object_list)
'''

SEED_MODEL_LIST_FILTERED = '''from modelarts.session import Session
from modelarts.model import Model
session = Session()
model_object_list = Model.get_model_object_list(session, model_status="published", model_name="digit", order="desc")
print(model_object_list)
'''

SEED_SERVICE_INFO = '''from modelarts.session import Session
from modelarts.model import Predictor
session = Session()
predictor_instance = Predictor(session, service_id="your_service_id")
predictor_info = predictor_instance.get_service_info()
print(predictor_info)
'''

SEED_SERVICE_LIST_INFO = '''from modelarts.session import Session
from modelarts.model import Predictor
session = Session()
predictor_object_list = Predictor.get_service_object_list(session)
predictor_instance = predictor_object_list[0]
predictor_info = predictor_instance.get_service_info()
print(predictor_info)
'''


def query_of(rec):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(rec.path).query))


def model_doc(status="published", **kw):
    d = {"model_id": "m1", "tenant_id": "t1", "workspace_id": "0", "model_name": "digit",
         "model_version": "0.0.1", "description": "", "source_location": "/bkt/model/",
         "model_type": "Custom", "runtime": "python3.11", "model_status": status,
         "failed_reason": "", "handler": "python", "model_size": 1234,
         "model_digest": "ab" * 32, "owner": "u1", "create_at": "2024-01-01T00:00:00Z",
         "update_at": "2024-01-01T00:00:00Z"}
    d.update(kw)
    return d


def service_doc(status="running", generation=1, instances=None, **kw):
    d = {"service_id": "s1", "tenant_id": "t1", "workspace_id": "0", "service_name": "svc",
         "description": "", "infer_type": "real-time",
         "config": [{"model_id": "m1", "weight": 100, "instance_count": 1,
                     "specification": "modelarts.vm.cpu.2u", "model_name": "digit",
                     "model_version": "0.0.1"}],
         "status": status, "failed_reason": "", "generation": generation, "owner": "u1",
         "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
         "access_address": "/v1/services/s1/predict",
         "instances": instances if instances is not None else [
             {"instance_id": "i1", "config_index": 0, "model_id": "m1",
              "generation": generation, "status": "ready", "restarts": 0}]}
    d.update(kw)
    return d


def sequence(*replies):
    """A route answering the replies in turn, then the last one forever."""
    lock = threading.Lock()
    left = list(replies)

    def route(req):
        with lock:
            return left.pop(0) if len(left) > 1 else left[0]

    return route


class ModelTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.session = Session(token="tok", endpoint=self.fake.url)
        self.addCleanup(self.session.close)
        self.tmp = tempfile.mkdtemp(prefix="atelier-model-unit-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def answer(self, method, path, doc, status=200):
        self.fake.route(method, path, lambda req: Reply(status, doc))

    def sent(self, method=None, path=None):
        return [r for r in self.fake.requests
                if (method is None or r.method == method)
                and (path is None or r.path.split("?")[0] == path)]

    def run_sample(self, code):
        """Run a seed sample in this process against the fake server; returns (scope, stdout)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(ATELIER_ENDPOINT=self.fake.url, ATELIER_TOKEN="tok",
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "config"))
        scope = {}
        out = io.StringIO()
        with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stdout(out):
            try:
                exec(compile(code, "<seed sample>", "exec"), scope)
            finally:
                if isinstance(scope.get("session"), Session):
                    scope["session"].close()
        return scope, out.getvalue()

    def file(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p


class RegisterTest(ModelTestCase):
    def test_register_sends_the_spec_and_waits_until_published(self):
        self.answer("POST", "/v1/models", model_doc("publishing"), 201)
        self.fake.route("GET", "/v1/models/m1", sequence(
            Reply(200, model_doc("publishing")), Reply(200, model_doc("publishing")),
            Reply(200, model_doc("published"))))
        apis = [{"url": "/", "method": "post"}]
        m = Model(self.session, model_name="digit", model_version="0.0.1",
                  source_location="obs://bkt/model", model_type="Custom", runtime="python3.11",
                  execution_code="obs://bkt/model/customize_service.py", description="d",
                  input_params=json.dumps([{"name": "x"}]), output_params=[{"name": "y"}],
                  dependencies=[], apis=apis, workspace_id="0", poll_interval=0.01)
        self.assertEqual(self.sent("POST", "/v1/models")[0].json(), {
            "model_name": "digit", "model_version": "0.0.1", "model_type": "Custom",
            "source_location": "/bkt/model/", "runtime": "python3.11",
            "execution_code": "obs://bkt/model/customize_service.py", "description": "d",
            "workspace_id": "0", "input_params": [{"name": "x"}],
            "output_params": [{"name": "y"}], "dependencies": [], "apis": apis})
        self.assertEqual(len(self.sent("GET", "/v1/models/m1")), 3)
        self.assertEqual((m.get_model_id(), m.model_status), ("m1", "published"))
        self.assertEqual(repr(m), "Model(model_id='m1', model_name='digit', "
                                  "model_version='0.0.1', model_status='published')")

    def test_register_from_a_training_job(self):
        self.answer("POST", "/v1/models", model_doc("published"), 201)
        Model(self.session, model_name="digit", model_version="1", model_type="Custom",
              source_job_id="job-1", source_job_version=2, wait=False)
        body = self.sent("POST", "/v1/models")[0].json()
        self.assertEqual((body["source_job_id"], body["source_job_version"]), ("job-1", "2"))
        self.assertNotIn("source_location", body)
        self.assertEqual(self.sent("GET"), [])  # wait=False polls nothing

    def test_failed_check_raises_with_the_reason(self):
        self.answer("POST", "/v1/models", model_doc("publishing"), 201)
        self.answer("GET", "/v1/models/m1",
                    model_doc("failed", failed_reason="customize_service.py is missing"))
        with self.assertRaises(ModelError) as cm:
            Model(self.session, model_name="digit", model_version="0.0.1",
                  source_location="/bkt/model/", model_type="Custom", poll_interval=0.01)
        e = cm.exception
        self.assertIsInstance(e, AtelierError)
        self.assertEqual(e.code, sdk_errors.CODE_MODEL_FAILED)
        self.assertIn("customize_service.py is missing", str(e))
        self.assertEqual(e.model.get_model_id(), "m1")

    def test_failed_at_once_raises_without_polling(self):
        self.answer("POST", "/v1/models", model_doc("failed", failed_reason="bad config.json"), 201)
        with self.assertRaisesRegex(ModelError, "bad config.json"):
            Model(self.session, model_name="digit", model_version="0.0.1",
                  source_location="/bkt/model/", model_type="Custom")
        self.assertEqual(self.sent("GET"), [])

    def test_wait_times_out(self):
        self.answer("POST", "/v1/models", model_doc("publishing"), 201)
        self.answer("GET", "/v1/models/m1", model_doc("publishing"))
        with self.assertRaisesRegex(TimeoutError, "model m1 is still publishing after 0s"):
            Model(self.session, model_name="digit", model_version="0.0.1",
                  source_location="/bkt/model/", model_type="Custom", timeout=0)

    def test_server_refusal_keeps_its_code(self):
        self.fake.route("POST", "/v1/models", lambda r: error(
            409, "ATL.MDL.0002", "model digit 0.0.1 already exists"))
        with self.assertRaises(AtelierError) as cm:
            Model(self.session, model_name="digit", model_version="0.0.1",
                  source_location="/bkt/model/", model_type="Custom")
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.MDL.0002", 409))

    def test_argument_checks(self):
        base = dict(model_name="digit", model_version="1", model_type="Custom",
                    source_location="/bkt/m/")
        cases = [
            (dict(base, model_name=None), ValueError, "model_name is missing"),
            (dict(base, model_type=None), ValueError, "model_type is missing"),
            (dict(base, source_location=None), ValueError, "not neither"),
            (dict(base, source_job_id="j", source_job_version="1"), ValueError, "not both"),
            (dict(base, source_job_version="1"), ValueError, "needs source_job_id"),
            (dict(base, source_location=None, source_job_id="j"), ValueError,
             "source_job_version is missing"),
            (dict(base, source_location="bkt/m/"), ValueError, "source_location"),
            (dict(base, apis="{not json"), ValueError, "apis is a str but not JSON"),
            (dict(base, apis={1, 2}), TypeError, "apis must be JSON"),
            (dict(base, model_version=1), TypeError, "model_version must be a str"),
            (dict(base, no_such_arg=1), TypeError, "no_such_arg"),
        ]
        for kw, exc, want in cases:
            with self.subTest(want=want):
                with self.assertRaisesRegex(exc, want):
                    Model(self.session, **kw)
        self.assertEqual(self.fake.requests, [])

    def test_modelarts_only_arguments_warn(self):
        self.answer("POST", "/v1/models", model_doc(), 201)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            Model(self.session, model_name="digit", model_version="1", model_type="Custom",
                  source_location="/bkt/m/", install_type=["real-time"], source_copy="true")
        self.assertIn("install_type, source_copy mean nothing on Atelier", str(w[0].message))
        body = self.sent("POST", "/v1/models")[0].json()
        self.assertNotIn("install_type", body)


class BoundModelTest(ModelTestCase):
    def test_bind_info_and_delete(self):
        self.answer("GET", "/v1/models/m1", model_doc(model_size=99))
        self.fake.route("DELETE", "/v1/models/m1", lambda r: Reply(204))
        m = Model(self.session, model_id="m1")
        self.assertEqual(m.model_name, "digit")
        self.assertEqual(m.get_model_info()["model_size"], 99)
        m.delete_model()
        self.assertEqual(len(self.sent("DELETE", "/v1/models/m1")), 1)
        self.assertEqual(self.sent()[0].headers["Authorization"], "Bearer tok")

    def test_missing_model(self):
        self.fake.route("GET", "/v1/models/nope", lambda r: error(
            404, "ATL.MDL.0001", "model nope does not exist"))
        with self.assertRaises(AtelierError) as cm:
            Model(self.session, model_id="nope")
        self.assertEqual(cm.exception.code, "ATL.MDL.0001")

    def test_delete_in_use_keeps_the_servers_message(self):
        self.answer("GET", "/v1/models/m1", model_doc())
        self.fake.route("DELETE", "/v1/models/m1", lambda r: error(
            409, "ATL.MDL.0004", "model m1 is used by service svc"))
        m = Model(self.session, model_id="m1")
        with self.assertRaises(AtelierError) as cm:
            m.delete_model()
        self.assertEqual(cm.exception.code, "ATL.MDL.0004")
        self.assertIn("service svc", cm.exception.message)


class ModelListTest(ModelTestCase):
    def setUp(self):
        super().setUp()
        self.page = {"total_count": 7, "count": 2, "models": [
            model_doc(), model_doc(model_id="m2", model_name="digit-cnn", model_version="0.0.2")]}
        self.answer("GET", "/v1/models", self.page)

    def test_seed_sample_all_models(self):
        scope, out = self.run_sample(SEED_MODEL_LIST_ALL)
        objs = scope["model_object_list"]
        self.assertEqual([type(m) for m in objs], [Model, Model])
        self.assertEqual([m.get_model_id() for m in objs], ["m1", "m2"])
        self.assertEqual(query_of(self.sent("GET", "/v1/models")[0]), {})
        self.assertIn("total_count: 7\ncount: 2\nmodels:\n", out)
        self.assertRegex(out, r"\n  m2 +digit-cnn +0\.0\.2 +published +Custom +1234 ")
        self.assertIn("Model(model_id='m2', model_name='digit-cnn'", out)  # print(list)

    def test_seed_sample_filtered(self):
        scope, out = self.run_sample(SEED_MODEL_LIST_FILTERED)
        self.assertEqual(len(scope["model_object_list"]), 2)
        self.assertEqual(query_of(self.sent("GET", "/v1/models")[0]),
                         {"model_status": "published", "model_name": "digit", "order": "desc"})

    def test_every_filter_is_sent(self):
        with contextlib.redirect_stdout(io.StringIO()):
            page = Model.get_model_list(self.session, model_name="dig", model_version="0.0.1",
                                        model_status="FAILED", description="cnn", offset=10,
                                        limit=150, sort_by="model_size", order="asc",
                                        workspace_id="0")
        self.assertEqual(page, self.page)
        self.assertEqual(query_of(self.sent("GET", "/v1/models")[0]), {
            "model_name": "dig", "model_version": "0.0.1", "model_status": "failed",
            "description": "cnn", "offset": "10", "limit": "150", "sort_by": "model_size",
            "order": "asc", "workspace_id": "0"})

    def test_verbose_false_prints_nothing(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            Model.get_model_object_list(self.session, verbose=False)
        self.assertEqual(out.getvalue(), "")

    def test_bad_filters_are_refused_before_sending(self):
        for kw, want in ((dict(model_status="gone"), "model_status must be one of"),
                         (dict(sort_by="name"), "sort_by must be one of"),
                         (dict(order="up"), "order must be one of"),
                         (dict(offset=-1), "offset must be at least 0"),
                         (dict(limit=0), "limit must be at least 1")):
            with self.subTest(want=want), self.assertRaisesRegex(ValueError, want):
                Model.get_model_list(self.session, **kw)
        self.assertEqual(self.fake.requests, [])

    def test_limit_over_the_cap_is_the_servers_refusal(self):
        self.fake.route("GET", "/v1/models", lambda r: error(
            400, "ATL.MDL.0006", "limit 280 is above 150, the most models one page returns"))
        with self.assertRaises(AtelierError) as cm:
            Model.get_model_list(self.session, limit=280)
        self.assertEqual(cm.exception.code, "ATL.MDL.0006")
        self.assertIn("limit", cm.exception.message)


class ServiceConfigTest(unittest.TestCase):
    def test_defaults_and_wire_form(self):
        c = ServiceConfig(model_id="m1")
        self.assertEqual(c.to_dict(), {"model_id": "m1", "weight": 100, "instance_count": 1,
                                       "specification": "modelarts.vm.cpu.2u"})
        c = ServiceConfig("m2", weight=10, instance_count=2, specification="modelarts.vm.cpu.8u",
                          envs={"A": 1})
        self.assertEqual(c.to_dict()["envs"], {"A": "1"})
        self.assertEqual(ServiceConfig.from_dict(dict(c.to_dict(), model_name="x")), c)

    def test_checks(self):
        for kw, exc in ((dict(model_id=""), ValueError), (dict(model_id=None), TypeError),
                        (dict(model_id="m", weight=101), ValueError),
                        (dict(model_id="m", weight=True), TypeError),
                        (dict(model_id="m", instance_count=0), ValueError),
                        (dict(model_id="m", specification=""), ValueError),
                        (dict(model_id="m", envs=["A"]), TypeError)):
            with self.subTest(kw=kw), self.assertRaises(exc):
                ServiceConfig(**kw)


class DeployTest(ModelTestCase):
    def setUp(self):
        super().setUp()
        self.answer("GET", "/v1/models/m1", model_doc())
        self.model = Model(self.session, model_id="m1")

    def test_deploy_waits_until_running(self):
        self.answer("POST", "/v1/services", service_doc("deploying", instances=[]), 201)
        self.fake.route("GET", "/v1/services/s1", sequence(
            Reply(200, service_doc("deploying", instances=[])),
            Reply(200, service_doc("running", generation=2, instances=[
                {"instance_id": "i0", "generation": 1, "status": "ready"},
                {"instance_id": "i1", "generation": 2, "status": "ready"}])),
            Reply(200, service_doc("running", generation=2))))
        p = self.model.deploy_predictor(
            service_name="svc", description="canary",
            configs=[ServiceConfig(model_id="m1", weight=90),
                     {"model_id": "m2", "weight": 10, "specification": "modelarts.vm.cpu.8u"}],
            poll_interval=0.01)
        self.assertIsInstance(p, Predictor)
        self.assertEqual((p.service_id, p.service_name, p.status), ("s1", "svc", "running"))
        self.assertEqual(self.sent("POST", "/v1/services")[0].json(), {
            "service_name": "svc", "description": "canary", "config": [
                {"model_id": "m1", "weight": 90, "instance_count": 1,
                 "specification": "modelarts.vm.cpu.2u"},
                {"model_id": "m2", "weight": 10, "instance_count": 1,
                 "specification": "modelarts.vm.cpu.8u"}]})
        # deploying, then running with an instance of the old generation, then settled.
        self.assertEqual(len(self.sent("GET", "/v1/services/s1")), 3)

    def test_defaults_generate_a_name_and_one_config(self):
        self.answer("POST", "/v1/services", service_doc(), 201)
        self.model.deploy_predictor(wait=False)
        body = self.sent("POST", "/v1/services")[0].json()
        self.assertRegex(body["service_name"], r"^service-\d{4}-\d{6}-[0-9a-f]{4}$")
        self.assertEqual(body["config"], [ServiceConfig("m1").to_dict()])
        self.assertEqual(self.sent("GET", "/v1/services/s1"), [])

    def test_failed_deploy_raises_with_the_reason(self):
        self.answer("POST", "/v1/services", service_doc("deploying"), 201)
        self.answer("GET", "/v1/services/s1", service_doc(
            "failed", failed_reason="instance i1 exited with status 1: ImportError"))
        with self.assertRaises(ServiceError) as cm:
            self.model.deploy_predictor(service_name="svc", poll_interval=0.01)
        self.assertEqual(cm.exception.code, sdk_errors.CODE_SERVICE_FAILED)
        self.assertIn("ImportError", str(cm.exception))
        self.assertEqual(cm.exception.predictor.service_id, "s1")

    def test_deploy_timeout(self):
        self.answer("POST", "/v1/services", service_doc("deploying"), 201)
        self.answer("GET", "/v1/services/s1", service_doc("deploying"))
        with self.assertRaisesRegex(TimeoutError, "service s1 is still deploying"):
            self.model.deploy_predictor(service_name="svc", timeout=0)

    def test_refusals(self):
        self.fake.route("POST", "/v1/services", lambda r: error(
            400, "ATL.SVC.0003", "config weights sum to 90, not 100"))
        with self.assertRaises(AtelierError) as cm:
            self.model.deploy_predictor(configs=[ServiceConfig("m1", weight=90)])
        self.assertEqual(cm.exception.code, "ATL.SVC.0003")
        with self.assertRaisesRegex(ValueError, "infer_type"):
            self.model.deploy_predictor(infer_type="batch")
        with self.assertRaisesRegex(ValueError, "configs must be a non-empty list"):
            self.model.deploy_predictor(configs=[])


class PredictorTest(ModelTestCase):
    def setUp(self):
        super().setUp()
        self.p = Predictor(self.session, service_id="s1")

    def test_info(self):
        self.answer("GET", "/v1/services/s1", service_doc())
        info = self.p.get_service_info()
        self.assertEqual(info["access_address"], "/v1/services/s1/predict")
        self.assertEqual(repr(self.p), "Predictor(service_id='s1', service_name='svc', "
                                       "status='running')")

    def test_predict_json(self):
        self.answer("POST", "/v1/services/s1/predict", {"labels": [1]})
        self.assertEqual(self.p.predict({"instances": [[1, 2]]}), {"labels": [1]})
        self.assertEqual(self.p.predict(data=[1], data_type="JSON"), {"labels": [1]})
        self.assertEqual(self.p.predict('{"raw": 1}'), {"labels": [1]})
        reqs = self.sent("POST", "/v1/services/s1/predict")
        self.assertEqual([r.json() for r in reqs], [{"instances": [[1, 2]]}, [1], {"raw": 1}])
        self.assertEqual(reqs[0].headers["Content-Type"], "application/json")

    def test_predict_path_and_text_answers(self):
        self.fake.route("POST", "/v1/services/s1/predict/sub/x", lambda r: Reply(
            200, b"plain answer", {"Content-Type": "text/plain"}))
        self.assertEqual(self.p.predict({}, path="/sub/x"), "plain answer")
        with self.assertRaisesRegex(ValueError, "path must start with"):
            self.p.predict({}, path="sub")

    def multipart_of(self, req):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + req.headers["Content-Type"].encode() + b"\r\n\r\n" + req.body)
        self.assertTrue(msg.is_multipart())
        return [(part.get_param("name", header="content-disposition"), part.get_filename(),
                 part.get_content_type(), part.get_payload(decode=True))
                for part in msg.iter_parts()]

    def test_predict_images_and_files_as_modelarts_sends_them(self):
        self.answer("POST", "/v1/services/s1/predict", {"ok": True})
        jpg = self.file("1.jpg", b"\xff\xd8\xff\xe0 not really a jpeg \r\n--x\r\n")
        csv = self.file("rows.csv", b"1,2\n")
        self.assertEqual(self.p.predict(data=jpg, data_type="images"), {"ok": True})
        self.p.predict(data=[csv, csv], data_type="files")
        self.p.predict(data={"images": [jpg], "extra": csv}, data_type="files")
        reqs = self.sent("POST", "/v1/services/s1/predict")
        self.assertTrue(reqs[0].headers["Content-Type"].startswith("multipart/form-data; boundary="))
        self.assertEqual(self.multipart_of(reqs[0]), [
            ("images", "1.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 not really a jpeg \r\n--x\r\n")])
        self.assertEqual(self.multipart_of(reqs[1]), [
            ("files", "rows.csv", "text/csv", b"1,2\n")] * 2)
        self.assertEqual([(f, n) for f, n, _, _ in self.multipart_of(reqs[2])],
                         [("images", "1.jpg"), ("extra", "rows.csv")])

    def test_predict_checks_its_arguments(self):
        with self.assertRaisesRegex(ValueError, "data_type must be one of json, files, images"):
            self.p.predict({}, data_type="xml")
        with self.assertRaises(FileNotFoundError):
            self.p.predict(os.path.join(self.tmp, "missing.jpg"), data_type="images")
        with self.assertRaisesRegex(TypeError, "data must be a local file path"):
            self.p.predict({"images": 1}.values(), data_type="images")
        with self.assertRaisesRegex(TypeError, "data must be JSON"):
            self.p.predict({1, 2})
        self.assertEqual(self.fake.requests, [])

    def test_predict_errors_keep_the_handlers_code(self):
        self.fake.route("POST", "/v1/services/s1/predict", lambda r: Reply(
            500, {"error_code": "ModelArts.4503", "error_msg": "ValueError: a row has 2 features"}))
        with self.assertRaises(AtelierError) as cm:
            self.p.predict({"instances": [[1, 2]]})
        self.assertEqual((cm.exception.code, cm.exception.status), ("ModelArts.4503", 500))
        self.assertIn("a row has 2 features", cm.exception.message)
        self.fake.route("POST", "/v1/services/s1/predict", lambda r: error(
            503, "ATL.SVC.0004", "service svc has no ready instance"))
        with self.assertRaises(AtelierError) as cm:
            self.p.predict({})
        self.assertEqual(cm.exception.code, "ATL.SVC.0004")

    def test_update_service_config_waits_for_the_rollout(self):
        self.answer("PUT", "/v1/services/s1", service_doc("running", generation=2, instances=[
            {"instance_id": "i1", "generation": 1, "status": "ready"}]))
        self.fake.route("GET", "/v1/services/s1", sequence(
            Reply(200, service_doc("running", generation=2, instances=[
                {"instance_id": "i1", "generation": 1, "status": "ready"},
                {"instance_id": "i2", "generation": 2, "status": "starting"}])),
            Reply(200, service_doc("running", generation=2))))
        info = self.p.update_service_config(
            configs=[ServiceConfig("m1", weight=90), ServiceConfig("m2", weight=10)],
            description="canary", poll_interval=0.01)
        self.assertEqual(info["generation"], 2)
        self.assertEqual(self.sent("PUT", "/v1/services/s1")[0].json(), {
            "config": [ServiceConfig("m1", weight=90).to_dict(),
                       ServiceConfig("m2", weight=10).to_dict()],
            "description": "canary"})
        self.assertEqual(len(self.sent("GET", "/v1/services/s1")), 2)
        # A description alone does not wait.
        self.p.update_service_config(description="d2")
        self.assertEqual(len(self.sent("GET", "/v1/services/s1")), 2)
        with self.assertRaisesRegex(ValueError, "needs configs or description"):
            self.p.update_service_config()

    def test_logs_monitor_stop_start_delete(self):
        self.fake.route("GET", "/v1/services/s1/logs", lambda r: Reply(
            200, "loaded model.json\n".encode(), {"Content-Type": "text/plain"}))
        monitor = {"service_id": "s1", "since": "2024-01-01T00:00:00Z", "monitors": [
            {"model_id": "m1", "req_count": 3, "err_count": 1, "latency_p50_ms": 1.5,
             "latency_p95_ms": 2, "latency_p99_ms": 3, "instances": 1, "ready_instances": 1}]}
        self.answer("GET", "/v1/services/s1/monitor", monitor)
        self.answer("POST", "/v1/services/s1/stop", service_doc("stopped"))
        self.answer("POST", "/v1/services/s1/start", service_doc("deploying"))
        self.answer("GET", "/v1/services/s1", service_doc("running"))
        self.fake.route("DELETE", "/v1/services/s1", lambda r: Reply(204))
        self.assertEqual(self.p.get_service_logs(), "loaded model.json\n")
        self.assertEqual(self.p.get_service_logs(instance="i1", offset=5), "loaded model.json\n")
        logs = self.sent("GET", "/v1/services/s1/logs")
        self.assertEqual([query_of(r) for r in logs], [{"offset": "0"},
                                                       {"instance": "i1", "offset": "5"}])
        self.assertEqual(logs[0].headers["Accept"], "text/plain")
        self.assertEqual(self.p.get_service_monitor(), monitor)
        self.assertEqual(self.p.stop_service()["status"], "stopped")
        self.assertEqual(self.p.start_service()["status"], "deploying")
        self.assertEqual(self.p.start_service(wait=True, poll_interval=0.01)["status"], "running")
        self.p.delete_service()
        self.assertEqual(len(self.sent("DELETE", "/v1/services/s1")), 1)

    def test_start_of_a_failing_service_raises(self):
        self.answer("POST", "/v1/services/s1/start", service_doc("deploying"))
        self.answer("GET", "/v1/services/s1", service_doc("stopped", failed_reason="stopped by u2"))
        with self.assertRaisesRegex(ServiceError, "is stopped: stopped by u2"):
            self.p.start_service(wait=True, poll_interval=0.01)


class ServiceListTest(ModelTestCase):
    def setUp(self):
        super().setUp()
        self.page = {"total_count": 2, "count": 2, "services": [
            service_doc(), service_doc(service_id="s2", service_name="other", status="stopped")]}
        self.answer("GET", "/v1/services", self.page)
        self.answer("GET", "/v1/services/s1", service_doc())
        self.answer("GET", "/v1/services/your_service_id", service_doc(service_id="your_service_id"))

    def test_seed_sample_service_info(self):
        scope, out = self.run_sample(SEED_SERVICE_INFO)
        self.assertEqual(scope["predictor_info"]["service_id"], "your_service_id")
        self.assertIn("'service_id': 'your_service_id'", out)

    def test_seed_sample_service_list_info(self):
        scope, out = self.run_sample(SEED_SERVICE_LIST_INFO)
        self.assertEqual([p.service_id for p in scope["predictor_object_list"]], ["s1", "s2"])
        self.assertEqual(scope["predictor_info"]["service_name"], "svc")
        self.assertEqual(len(self.sent("GET", "/v1/services/s1")), 1)

    def test_filters(self):
        self.assertEqual(Predictor.get_service_list(self.session), self.page)
        objs = Predictor.get_service_object_list(self.session, service_name="sv",
                                                 status="RUNNING", workspace_id="0", offset=1,
                                                 limit=5)
        self.assertEqual(objs[1].status, "stopped")
        self.assertEqual([query_of(r) for r in self.sent("GET", "/v1/services")], [
            {}, {"service_name": "sv", "status": "running", "workspace_id": "0", "offset": "1",
                 "limit": "5"}])
        with self.assertRaisesRegex(ValueError, "status must be one of"):
            Predictor.get_service_list(self.session, status="up")


class AliasTest(unittest.TestCase):
    def test_modelarts_names(self):
        import atelier.model
        import modelarts.config.model_config
        import modelarts.model

        self.assertIs(modelarts.model.Model, atelier.model.Model)
        self.assertIs(modelarts.model.Predictor, atelier.model.Predictor)
        self.assertIs(modelarts.config.model_config.ServiceConfig, atelier.model.ServiceConfig)


if __name__ == "__main__":
    unittest.main()

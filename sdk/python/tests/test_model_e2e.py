"""End-to-end model and service tests: the seed's samples against the real `atelier server`.

The model package is examples/serving/logreg_model beside the model.json that
examples/distributed_logreg/train.py writes, uploaded to OBS. It is registered
(publishing → published), deployed on the default flavor (deploying →
running), the seed's four samples run unchanged through the ``modelarts``
alias in fresh Python processes (only "your_service_id" is replaced by the
real id), one prediction of each kind goes through the gateway, and
everything is deleted again.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import unittest

from atelier import AtelierError, Session
from atelier.model import Model, ModelError, Predictor, ServiceConfig

from .server import REPO_ROOT, SDK_ROOT, start_with_flavors, stop_with_flavors
from .test_e2e import _empty_and_delete_bucket, _rmtree, unique_bucket
from .test_model_unit import (SEED_MODEL_LIST_ALL, SEED_MODEL_LIST_FILTERED, SEED_SERVICE_INFO,
                              SEED_SERVICE_LIST_INFO)

TRAIN = os.path.join(REPO_ROOT, "examples", "distributed_logreg", "train.py")
EXAMPLE = os.path.join(REPO_ROOT, "examples", "serving", "logreg_model")

# As in test_training_e2e: the seed's flavor ids, small enough for a test machine.
FLAVORS = [
    {"flavor_id": "modelarts.vm.cpu.2u", "cpu": 1, "memory_mb": 1024},
    {"flavor_id": "modelarts.vm.cpu.8u", "cpu": 1, "memory_mb": 1024},
]

SERVER = None
_TMP = None


def setUpModule():
    global SERVER, _TMP
    SERVER, _TMP = start_with_flavors("atelier-mdl-e2e-", FLAVORS)


def tearDownModule():
    global SERVER
    server, SERVER = SERVER, None
    stop_with_flavors(server, _TMP)


def _quietly(fn, *args):
    """Run a cleanup step, ignoring 404 (already gone)."""
    try:
        fn(*args)
    except AtelierError as e:
        if e.status != 404:
            raise


class ModelE2ETest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = Session(username=SERVER.admin_email, password=SERVER.admin_password,
                            endpoint=SERVER.url)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="atelier-mdl-e2e-")
        self.addCleanup(_rmtree, self.tmp)
        self.bucket = unique_bucket("mdl")
        self.admin.obs.create_bucket(self.bucket)
        self.addCleanup(_empty_and_delete_bucket, self.admin, self.bucket)

    def run_sample(self, code, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(PYTHONPATH=SDK_ROOT, ATELIER_ENDPOINT=SERVER.url,
                   ATELIER_TOKEN=self.admin.token,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "no-config"))
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=self.tmp,
                           capture_output=True, text=True, timeout=timeout)
        self.assertEqual(r.returncode, 0, "sample failed:\nstdout:\n%s\nstderr:\n%s"
                         % (r.stdout, r.stderr))
        return r.stdout

    def package(self, prefix, files):
        """Upload ``{name: local path}`` to obs://bucket/prefix/; returns the directory."""
        d = "obs://%s/%s/" % (self.bucket, prefix)
        for path in files:
            self.admin.obs.upload_file(path, d)
        return d

    def trained_package(self):
        out = os.path.join(self.tmp, "output")
        r = subprocess.run([sys.executable, TRAIN, "--epoch_num=2", "--samples=200",
                            "--output_dir=" + out], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "model.json")) as f:
            weights = json.load(f)
        d = self.package("digit/output", [os.path.join(out, "model.json"),
                                          os.path.join(EXAMPLE, "config.json"),
                                          os.path.join(EXAMPLE, "customize_service.py")])
        return d, weights

    def test_register_deploy_seed_samples_predict_delete(self):
        source, weights = self.trained_package()
        model = Model(self.admin, model_name="digit-logreg", model_version="0.0.1",
                      source_location=source, model_type="Custom", runtime="python3.11",
                      execution_code=source + "customize_service.py",
                      description="seed samples e2e", timeout=120, poll_interval=0.2)
        self.addCleanup(_quietly, model.delete_model)
        info = model.get_model_info()
        self.assertEqual(info["model_status"], "published", info)
        self.assertEqual(info["handler"], "python")
        self.assertGreater(info["model_size"], 0)
        self.assertRegex(info["model_digest"], r"^sha256:[0-9a-f]{64}$")

        name = "digit-svc-%d" % int(time.time())
        predictor = model.deploy_predictor(service_name=name, configs=[ServiceConfig(
            model_id=model.get_model_id(), weight=100, instance_count=1,
            specification="modelarts.vm.cpu.2u")], timeout=180, poll_interval=0.2)
        self.addCleanup(_quietly, predictor.delete_service)
        self.assertEqual(predictor.status, "running")

        # The seed's four samples, unchanged but for the service id.
        out = self.run_sample(SEED_MODEL_LIST_ALL)
        self.assertIn("total_count: 1", out)
        self.assertIn("Model(model_id=%r, model_name='digit-logreg'" % model.get_model_id(), out)
        out = self.run_sample(SEED_MODEL_LIST_FILTERED)
        self.assertIn("model_name='digit-logreg', model_version='0.0.1', "
                      "model_status='published'", out)
        out = self.run_sample(SEED_SERVICE_INFO.replace("your_service_id", predictor.service_id))
        self.assertIn("'service_id': %r" % predictor.service_id, out)
        self.assertIn("'status': 'running'", out)
        out = self.run_sample(SEED_SERVICE_LIST_INFO)
        self.assertIn("'service_id': %r" % predictor.service_id, out)
        self.assertIn("'service_name': %r" % name, out)

        # Predictions: JSON, CSV files, and the Open Inference Protocol.
        rows = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
        want = [1.0 / (1.0 + math.exp(-(sum(w * x for w, x in zip(weights["weights"], r))
                                         + weights["bias"]))) for r in rows]
        doc = predictor.predict(data={"instances": rows}, data_type="json")
        for got, p in zip(doc["probabilities"], want):
            self.assertAlmostEqual(got, p, places=9)
        csv = os.path.join(self.tmp, "rows.csv")
        with open(csv, "w") as f:
            f.write("f1,f2,f3,f4\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
        doc = predictor.predict(data=csv, data_type="files")
        self.assertEqual(doc["labels"], [1 if p >= 0.5 else 0 for p in want])
        with self.assertRaises(AtelierError) as cm:
            predictor.predict(data={"instances": [[1, 2]]})
        self.assertEqual((cm.exception.code, cm.exception.status), ("ModelArts.4503", 500))
        doc = self.admin.call("POST", "/v2/models/%s/infer" % name, json_body={
            "id": "1", "inputs": [{"name": "instances", "shape": [2, 4], "datatype": "FP32",
                                   "data": [v for r in rows for v in r]}]})
        self.assertEqual(doc["id"], "1")
        outs = {o["name"]: o for o in doc["outputs"]}
        for got, p in zip(outs["probabilities"]["data"], want):
            self.assertAlmostEqual(got, p, places=9)

        self.assertIn("loaded model.json: 4 features", predictor.get_service_logs())
        monitor = predictor.get_service_monitor()
        self.assertEqual(monitor["monitors"][0]["model_id"], model.get_model_id())
        self.assertGreaterEqual(monitor["monitors"][0]["req_count"], 3)
        self.assertGreaterEqual(monitor["monitors"][0]["err_count"], 1)

        # A model in use cannot be deleted; after the service it can.
        with self.assertRaises(AtelierError) as cm:
            model.delete_model()
        self.assertEqual(cm.exception.code, "ATL.MDL.0004")
        self.assertIn(name, cm.exception.message)
        predictor.delete_service()
        with self.assertRaises(AtelierError) as cm:
            Predictor(self.admin, service_id=predictor.service_id).get_service_info()
        self.assertEqual(cm.exception.status, 404)
        model.delete_model()
        with self.assertRaises(AtelierError) as cm:
            Model(self.admin, model_id=model.get_model_id())
        self.assertEqual(cm.exception.code, "ATL.MDL.0001")

    def test_package_without_handler_fails_with_the_reason(self):
        cfg = os.path.join(self.tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump({"model_type": "Custom", "runtime": "python3.11"}, f)
        source = self.package("nohandler", [cfg])
        with self.assertRaises(ModelError) as cm:
            Model(self.admin, model_name="nohandler", model_version="0.0.1",
                  source_location=source, model_type="Custom", timeout=120, poll_interval=0.2)
        self.addCleanup(_quietly, cm.exception.model.delete_model)
        self.assertIn("customize_service.py", str(cm.exception))
        self.assertEqual(cm.exception.model.get_model_info()["model_status"], "failed")


if __name__ == "__main__":
    unittest.main()

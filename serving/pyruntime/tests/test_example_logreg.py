"""examples/serving/logreg_model serves what examples/distributed_logreg/train.py trains.

The training output directory (model.json) with the example's config.json
and customize_service.py beside it is the model package, as the example's
README says.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from .runtime import REPO_ROOT, Instance
from .test_serve import multipart

TRAIN = os.path.join(REPO_ROOT, "examples", "distributed_logreg", "train.py")
EXAMPLE = os.path.join(REPO_ROOT, "examples", "serving", "logreg_model")


def probability(model, row):
    z = sum(w * x for w, x in zip(model["weights"], row)) + model["bias"]
    return 1.0 / (1.0 + math.exp(-z))


class ExampleModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pyruntime-example-")
        out = os.path.join(cls.dir, "output")
        r = subprocess.run([sys.executable, TRAIN, "--epoch_num=2", "--samples=200",
                            "--output_dir=" + out], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError("train.py failed:\n%s\n%s" % (r.stdout, r.stderr))
        for name in ("config.json", "customize_service.py"):
            shutil.copy(os.path.join(EXAMPLE, name), out)
        with open(os.path.join(out, "model.json")) as f:
            cls.model = json.load(f)
        cls.inst = Instance(out, {"ATELIER_SERVICE_NAME": "logreg", "ATELIER_MODEL_NAME": "logreg",
                                  "ATELIER_MODEL_VERSION": "0.0.1"}).start()

    @classmethod
    def tearDownClass(cls):
        try:
            rc, stderr = cls.inst.stop()
            if rc != 0:
                raise AssertionError("serve.py exited with %s; stderr:\n%s" % (rc, stderr))
            if "loaded model.json: 4 features" not in stderr:
                raise AssertionError("the handler's log line is missing:\n" + stderr)
        finally:
            shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, doc, rows):
        self.assertEqual(len(doc["probabilities"]), len(rows))
        for p, row in zip(doc["probabilities"], rows):
            self.assertAlmostEqual(p, probability(self.model, row), places=12)
        self.assertEqual(doc["labels"], [1 if p >= 0.5 else 0 for p in doc["probabilities"]])

    def test_json(self):
        rows = [[0.5, -1.0, 2.0, 0.0], [-1.5, 0.25, 0.0, 1.0]]
        status, doc = self.inst.json("POST", "/", {"instances": rows})
        self.assertEqual(status, 200, doc)
        self.check(doc, rows)
        status, doc = self.inst.json("POST", "/", {"instances": rows[0]})
        self.assertEqual(status, 200, doc)
        self.check(doc, rows[:1])

    def test_csv_files(self):
        body, ctype = multipart([("files", "a.csv", b"f1,f2,f3,f4,label\n1,2,3,4,1\n"),
                                 ("files", "b.csv", b"0,0,0,0\n")])
        status, doc = self.inst.json("POST", "/", body, {"Content-Type": ctype})
        self.assertEqual(status, 200, doc)
        self.check(doc, [[1, 2, 3, 4], [0, 0, 0, 0]])

    def test_wrong_feature_count_is_a_handler_error(self):
        status, doc = self.inst.json("POST", "/", {"instances": [[1, 2]]})
        self.assertEqual(status, 500)
        self.assertEqual(doc["error_code"], "ModelArts.4503")
        self.assertIn("a row has 2 features; the model takes 4", doc["error_msg"])

    def test_v2(self):
        status, meta = self.inst.json("GET", "/v2/models/logreg")
        self.assertEqual(status, 200)
        self.assertEqual(meta["inputs"], [{"name": "instances", "datatype": "FP64", "shape": [-1, -1]}])
        self.assertEqual(meta["outputs"], [{"name": "probabilities", "datatype": "FP64", "shape": [-1]},
                                           {"name": "labels", "datatype": "INT64", "shape": [-1]}])
        rows = [[0.5, -1.0, 2.0, 0.0], [1, 1, 1, 1]]
        status, doc = self.inst.json("POST", "/v2/models/logreg/versions/0.0.1/infer", {
            "inputs": [{"name": "instances", "shape": [2, 4], "datatype": "FP32",
                        "data": [x for r in rows for x in r]}]})
        self.assertEqual(status, 200, doc)
        outs = {o["name"]: o for o in doc["outputs"]}
        self.assertEqual(outs["labels"]["datatype"], "INT64")
        self.assertEqual(outs["probabilities"]["shape"], [2])
        self.check({"probabilities": outs["probabilities"]["data"],
                    "labels": outs["labels"]["data"]}, rows)


if __name__ == "__main__":
    unittest.main()

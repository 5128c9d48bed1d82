"""End-to-end dataset tests: the seed's dataset samples against the real `atelier server`.

Each sample (tests/test_dataset_unit.py keeps their text) runs in a fresh
Python process through the ``modelarts`` alias, unchanged apart from paths:
the seed's bucket ``obs-gaia-test`` becomes a fresh bucket and the manifest's
``dataset-5932-…`` directory the id of the dataset whose version is imported.
The data they read is written first: label sub-directories of tiny images
(the "ModelArts image classification 1.0" layout), images with PASCAL VOC
XML files, CSV tables with a header row and a text file. Counts are then
checked through the SDK (get_dataset_info, list_import_tasks, stats).
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

from atelier import AtelierError, Session
from atelier.dataset import Dataset

from .server import SDK_ROOT, RealServer
from .test_dataset_unit import (SEED_BUCKET, SEED_MANIFEST_DATASET, UPDATE_SAMPLE,
                                create_sample, import_sample)
from .test_e2e import _empty_and_delete_bucket, _rmtree, unique_bucket

SERVER = None
TIMEOUT_S = 30

# A 1x1 PNG: small, and a real image for any reader that looks inside.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000005000117a2d2a30000000049454e44ae426082")


def voc(filename, boxes, width=64, height=48):
    """A PASCAL VOC file for ``filename`` with ``boxes`` [(name, xmin, ymin, xmax, ymax)]."""
    objs = "".join(
        "<object><name>%s</name><pose>Unspecified</pose><truncated>0</truncated>"
        "<difficult>0</difficult><bndbox><xmin>%d</xmin><ymin>%d</ymin><xmax>%d</xmax>"
        "<ymax>%d</ymax></bndbox></object>" % b for b in boxes)
    return ("<annotation><folder>image-detection</folder><filename>%s</filename>"
            "<size><width>%d</width><height>%d</height><depth>3</depth></size>"
            "<segmented>0</segmented>%s</annotation>" % (filename, width, height, objs)).encode()


# The objects the samples read, under the seed's bucket (keys without it).
DATA = {
    # ModelArts image classification 1.0: one label sub-directory per class.
    "data/image/image-classification/cat/1.png": PNG,
    "data/image/image-classification/cat/2.png": PNG,
    "data/image/image-classification/dog/3.png": PNG,
    # The seed's object detection directory: images with their VOC files.
    "data/image/image-detection/a.png": PNG,
    "data/image/image-detection/a.xml": voc("a.png", [("car", 1, 2, 30, 40),
                                                      ("person", 10, 5, 20, 45)]),
    "data/image/image-detection/b.png": PNG,
    "data/image/image-detection/b.xml": voc("b.png", [("car", 0, 0, 64, 48)]),
    # The initial sources of the two object detection datasets.
    "data/image/od-a/x.png": PNG,
    "data/image/od-b/y.png": PNG,
    "data/table/table0/people.csv": "name,age,label\nalice,30,a\nbob,41,b\n张三,25,a\n".encode(),
    "data/table/table1/more.csv": b"name,age,label\ncarol,52,b\ndave,19,a\n",
    "data/text/text-classification/corpus.txt":
        "糖尿病又称为消渴症。\n高血压又称为血压高。\n".encode(),
}


def setUpModule():
    global SERVER
    SERVER = RealServer().start()
    with Session(username=SERVER.admin_email, password=SERVER.admin_password,
                 endpoint=SERVER.url) as s:
        try:
            s.call("GET", "/v1/datasets")
        except AtelierError as e:
            tearDownModule()
            raise AssertionError("the server's dataset API does not answer: %s" % e) from e


def tearDownModule():
    global SERVER
    server, SERVER = SERVER, None
    if server is not None:
        rc, stderr = server.stop()
        if rc != 0:
            raise AssertionError("atelier server exited with status %s; stderr:\n%s"
                                 % (rc, stderr))


class DatasetSeedSamplesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = Session(username=SERVER.admin_email, password=SERVER.admin_password,
                            endpoint=SERVER.url)
        cls.tmp = tempfile.mkdtemp(prefix="atelier-dst-e2e-")
        cls.bucket = unique_bucket("dst")
        cls.admin.obs.create_bucket(cls.bucket)
        local = os.path.join(cls.tmp, "data")
        for key, data in DATA.items():
            p = os.path.join(cls.tmp, *key.split("/"))
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        cls.admin.obs.upload_dir(local, "obs://%s/" % cls.bucket)

    @classmethod
    def tearDownClass(cls):
        try:
            for d in Dataset.list_datasets(cls.admin):
                Dataset(cls.admin, d["dataset_id"]).delete_dataset()
        finally:
            try:
                _empty_and_delete_bucket(cls.admin, cls.bucket)
            finally:
                cls.admin.close()
                _rmtree(cls.tmp)

    # -- helpers -----------------------------------------------------------------

    def run_sample(self, code, result, **names):
        """Run a seed sample in a fresh process; returns the value of its variable ``result``.

        ``names`` are bound before the sample runs (the seed leaves
        ``dataset_id`` to the reader).
        """
        code = code.replace("/%s/" % SEED_BUCKET, "/%s/" % self.bucket)
        pre = "".join("%s = %r\n" % kv for kv in names.items())
        post = "\nimport json as _json\nprint('RESULT ' + _json.dumps(%s))\n" % result
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(PYTHONPATH=SDK_ROOT, ATELIER_ENDPOINT=SERVER.url,
                   ATELIER_TOKEN=self.admin.token,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "no-config"))
        r = subprocess.run([sys.executable, "-c", pre + code + post], env=env, cwd=self.tmp,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, "sample failed:\n%s\nstdout:\n%s\nstderr:\n%s"
                         % (code, r.stdout, r.stderr))
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
        self.assertEqual(len(lines), 1, r.stdout)
        return json.loads(lines[0][len("RESULT "):])

    def create(self, name):
        """Run a create_dataset sample and wait for its import; returns (Dataset, response)."""
        resp = self.run_sample(create_sample(name), "create_dataset_resp")
        self.assertTrue(resp.get("dataset_id"), resp)
        ds = Dataset(self.admin, resp["dataset_id"])
        if resp.get("import_task_id"):
            self.done(ds, resp["import_task_id"])
        return ds, resp

    def done(self, ds, task_id):
        """Wait for an import task; it must complete. Returns the task dict."""
        task = ds.wait_import(task_id, timeout=TIMEOUT_S, poll_interval=0.05)
        self.assertEqual(task["status"], "COMPLETED", task)
        return task

    def counts(self, ds):
        info = ds.get_dataset_info()
        return info["total_sample_count"], info["annotated_sample_count"]

    def wait_version(self, ds, version_id):
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            v = ds.get_version(version_id)
            if v.get("status") != "CREATING":
                return v
            if time.monotonic() >= deadline:
                self.fail("version %s is still CREATING after %ss" % (version_id, TIMEOUT_S))
            time.sleep(0.05)

    def assert_tasks(self, ds, imported):
        """list_import_tasks: all COMPLETED, with these imported counts (oldest first)."""
        tasks = ds.list_import_tasks()
        self.assertEqual([t["status"] for t in tasks], ["COMPLETED"] * len(tasks), tasks)
        got = sorted(t["imported_sample_count"] for t in tasks)
        self.assertEqual(got, sorted(imported), tasks)
        self.assertEqual([t["rejected_sample_count"] for t in tasks], [0] * len(tasks), tasks)

    # -- the samples -------------------------------------------------------------

    def test_image_datasets_and_update(self):
        ds, resp = self.create("image")
        self.assertEqual(resp["dataset_name"], "dataset-image")
        self.assertEqual(resp["data_type"], "IMAGE")
        self.assertEqual(self.counts(ds), (3, 0))
        self.assert_tasks(ds, [3])

        labelled, _ = self.create("image-with-annotations")
        self.assertEqual(self.counts(labelled), (3, 3))
        self.assert_tasks(labelled, [3])
        stats = labelled.get_dataset_stats()
        self.assertEqual(stats["label_stats"], {"cat": 2, "dog": 1})
        cats = labelled.list_samples(label="cat", limit=None)
        self.assertEqual(len(cats), 2)
        self.assertTrue(all(s["source"].endswith(".png") for s in cats), cats)

        by_type, resp = self.create("image-classification")
        self.assertEqual(resp["dataset_type"], 0)
        self.assertEqual(self.counts(by_type), (3, 0))

        # Seed line 30 on the first dataset.
        self.run_sample(UPDATE_SAMPLE, "dataset.dataset_id", dataset_id=ds.dataset_id)
        self.assertEqual(ds.get_dataset_info()["dataset_name"], "new-dataset-name")
        found = Dataset.list_datasets(self.admin, dataset_name="new-dataset-name")
        self.assertEqual([d["dataset_id"] for d in found], [ds.dataset_id])
        self.assertEqual(Dataset.list_datasets(self.admin, dataset_name="dataset-image"), [])

    def test_object_detection_voc_then_version_manifest(self):
        work = {"type": 0, "path": "/%s/data/output/work_path/" % self.bucket}
        resp = Dataset.create_dataset(
            self.admin, "od-a", dataset_type=1, work_path=work,
            data_sources={"type": 0, "path": "/%s/data/image/od-a/" % self.bucket})
        a = Dataset(self.admin, resp["dataset_id"])
        self.done(a, resp["import_task_id"])

        # Seed line 16, example 1: a PASCAL VOC directory.
        task = self.run_sample(import_sample("voc"), "import_resp", dataset_id=a.dataset_id)
        self.done(a, task["task_id"])
        self.assertEqual(self.counts(a), (3, 2))
        self.assert_tasks(a, [1, 2])
        boxes = a.get_dataset_stats()["label_stats"]
        self.assertEqual(set(boxes), {"car", "person"})

        v = a.create_version(description="for the manifest sample")
        v = self.wait_version(a, v["version_id"])
        self.assertEqual((v["status"], v["version_name"], v["total_sample_count"]),
                         ("NORMAL", "V001", 3), v)
        manifest = "/%s/data/output/work_path/dataset-%s/annotation/V001/V001.manifest" % (
            self.bucket, a.dataset_id)
        self.assertEqual(v["manifest_path"], manifest)
        self.assertTrue(self.admin.obs.is_exist("obs:/" + manifest))
        self.assertEqual([x["version_id"] for x in a.list_versions()], [v["version_id"]])

        # Seed line 16, example 2: that manifest, with its annotations, into another dataset.
        resp = Dataset.create_dataset(
            self.admin, "od-b", dataset_type=1, work_path=work,
            data_sources={"type": 0, "path": "/%s/data/image/od-b/" % self.bucket})
        b = Dataset(self.admin, resp["dataset_id"])
        self.done(b, resp["import_task_id"])
        code = import_sample("manifest").replace(SEED_MANIFEST_DATASET,
                                                 "dataset-%s" % a.dataset_id)
        task = self.run_sample(code, "import_resp", dataset_id=b.dataset_id)
        self.done(b, task["task_id"])
        self.assertEqual(self.counts(b), (4, 2))
        self.assert_tasks(b, [1, 3])
        self.assertEqual(b.get_dataset_stats()["label_stats"], a.get_dataset_stats()["label_stats"])

        # Export V001 of the first dataset: its manifest lands in the export directory.
        exp = a.export_dataset(v["version_id"], "/%s/export/" % self.bucket)
        self.assertTrue(exp.get("task_id"), exp)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            tasks = a.list_export_tasks()
            self.assertEqual([t["task_id"] for t in tasks], [exp["task_id"]])
            if tasks[0]["status"] not in ("QUEUED", "RUNNING"):
                break
            self.assertLess(time.monotonic(), deadline, tasks)
            time.sleep(0.05)
        self.assertEqual((tasks[0]["status"], tasks[0]["exported_sample_count"]),
                         ("COMPLETED", 3), tasks)
        got = self.admin.obs.download_file("obs://%s/export/V001.manifest" % self.bucket,
                                           os.path.join(self.tmp, "export") + "/")
        with open(got, encoding="utf-8") as f:
            lines = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(len(lines), 3)
        self.assertEqual({ln["source"].rsplit("/", 1)[-1] for ln in lines},
                         {"x.png", "a.png", "b.png"})
        self.assertTrue(all(ln["source"].startswith("s3://%s/" % self.bucket) for ln in lines))
        self.assertEqual(sum(1 for ln in lines if ln.get("annotation")), 2, lines)

    def test_table_datasets(self):
        ds, resp = self.create("table")
        self.assertEqual(resp["data_type"], "TABLE")
        self.assertEqual([c["name"] for c in resp["schema"]], ["name", "age", "label"])
        self.assertTrue(resp["with_column_header"])
        self.assertEqual(self.counts(ds)[0], 3)

        # Seed line 16, example 3: a table directory with a header row.
        task = self.run_sample(import_sample("table"), "import_resp", dataset_id=ds.dataset_id)
        self.done(ds, task["task_id"])
        self.assertEqual(self.counts(ds)[0], 5)
        self.assert_tasks(ds, [3, 2])

        # Example 6 creates "dataset-table" again: the name is taken until the first goes.
        with self.assertRaises(AtelierError) as cm:
            Dataset.create_dataset(self.admin, "dataset-table", data_type="TABLE",
                                   data_sources={"type": 0, "path": "/%s/data/table/table0/"
                                                 % self.bucket},
                                   work_path={"type": 0, "path": "/%s/w/" % self.bucket},
                                   schema=[{"schema_id": 0, "name": "name", "type": "STRING"}])
        self.assertEqual(cm.exception.code, "ATL.DST.0002")
        ds.delete_dataset()
        with self.assertRaises(AtelierError) as cm:
            ds.get_dataset_info()
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.DST.0001", 404))
        self.assertTrue(self.admin.obs.is_exist("obs://%s/data/table/table0/people.csv"
                                                % self.bucket))

        by_type, resp = self.create("table-by-type")
        self.assertEqual(resp["dataset_type"], 400)
        self.assertEqual(self.counts(by_type)[0], 3)
        self.assert_tasks(by_type, [3])

    def test_text_triplet_labels(self):
        ds, resp = self.create("text-triplet")
        self.assertEqual((resp["dataset_type"], resp["data_type"]), (102, "TEXT"))
        labels = {lab["name"]: lab for lab in ds.get_dataset_info()["labels"]}
        self.assertEqual({n: lab["type"] for n, lab in labels.items()},
                         {"疾病": 101, "疾病别称": 101, "又称为": 102})
        self.assertEqual(labels["又称为"]["property"],
                         {"@modelarts:from_type": "疾病", "@modelarts:to_type": "疾病别称"})
        self.assertEqual(self.counts(ds), (2, 0))
        self.assert_tasks(ds, [2])

    def test_samples_annotations_and_split_version(self):
        resp = Dataset.create_dataset(
            self.admin, "samples-api", dataset_type=0,
            data_sources={"type": 0, "path": "obs://%s/data/image/image-classification"
                          % self.bucket, "annotation_config": {
                              "scene": "image_classification",
                              "format_name": "ModelArts image classification 1.0"}},
            work_path="obs://%s/work" % self.bucket)
        ds = Dataset(self.admin, resp["dataset_id"])
        self.done(ds, resp["import_task_id"])
        pages = list(ds.iter_samples(page_size=2))
        self.assertEqual(len(pages), 3)
        self.assertEqual(ds.list_samples(limit=2), pages[:2])
        dog = ds.list_samples(label="dog")
        self.assertEqual(len(dog), 1)
        sample = ds.get_sample(dog[0]["sample_id"])
        self.assertEqual(sample["labels"], ["dog"])

        ann = [{"type": "modelarts/image_classification", "name": "cat"}]
        out = ds.set_annotations(sample["sample_id"], ann, usage="EVAL")
        self.assertEqual((out["labels"], out["usage"]), (["cat"], "EVAL"))
        self.assertEqual([s["sample_id"] for s in ds.list_samples(usage="EVAL")],
                         [sample["sample_id"]])
        self.assertEqual(ds.get_dataset_stats()["label_stats"].get("cat"), 3)
        ds.set_annotations(sample["sample_id"], [])
        self.assertEqual(len(ds.list_samples(labelled=False)), 1)
        self.assertEqual(ds.delete_samples([sample["sample_id"]]), 1)
        self.assertEqual(self.counts(ds), (2, 2))

        v = self.wait_version(ds, ds.create_version(train_evaluate_sample_ratio=0.5)["version_id"])
        self.assertEqual((v["status"], v["total_sample_count"]), ("NORMAL", 2), v)
        self.assertEqual(v["train_evaluate_sample_ratio"], 0.5)
        with self.assertWarns(UserWarning):
            v2 = ds.create_version(version_name="my-name", description="second")
        self.assertEqual(self.wait_version(ds, v2["version_id"])["version_name"], "V002")
        self.assertEqual(sorted(x["version_name"] for x in ds.list_versions()), ["V001", "V002"])

    def test_validation_and_api_errors(self):
        # The SDK refuses what it can tell is wrong before sending anything.
        with self.assertRaises(ValueError) as cm:
            Dataset.create_dataset(self.admin, "x", data_sources={"type": 0, "path": "/b/"},
                                   work_path={"type": 0, "path": "/b/w/"})
        self.assertIn("dataset_type", str(cm.exception))
        # The server refuses a source it cannot read, with its code.
        with self.assertRaises(AtelierError) as cm:
            Dataset.create_dataset(self.admin, "empty-source", data_type="IMAGE",
                                   data_sources={"type": 0, "path": "/%s/nothing/here/"
                                                 % self.bucket},
                                   work_path={"type": 0, "path": "/%s/w/" % self.bucket})
        self.assertTrue(cm.exception.code.startswith("ATL.DST."), cm.exception)
        with self.assertRaises(AtelierError) as cm:
            Dataset(self.admin, "no-such-dataset").get_dataset_info()
        self.assertEqual(cm.exception.code, "ATL.DST.0001")


if __name__ == "__main__":
    unittest.main()

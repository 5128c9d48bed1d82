"""Unit tests of atelier.dataset: the seed's samples, request shapes, validation, paging.

Everything runs against the scripted FakeServer. The seed's dataset samples
(the ModelArts manual's create_dataset, import_data and update_dataset
examples) are kept here as text, with their original line breaks restored,
and are shared with test_dataset_e2e.py, which runs them against the real
server.
"""

import os
import unittest
import urllib.parse
import warnings
from unittest import mock

from atelier import AtelierError, Session
from atelier.dataset import Dataset

from .fakeserver import FakeServer, Reply, error

SEED_BUCKET = "obs-gaia-test"

# Seed line 21, examples 1-6: create_dataset by data_type and by dataset_type.
CREATE_SAMPLES = {
    "image": '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset_name = "dataset-image" # 数据集名称
data_type = "IMAGE" # 数据集类型,图像类型数据集
data_sources = dict() # 数据集数据来源
data_sources["type"] = 0 # 数据来源类型,0表示OBS
data_sources["path"] = "/obs-gaia-test/data/image/image-classification/" # 数据在OBS中的路径
work_path = dict() # 数据集输出位置,用于存放输出的标注信息等文件
work_path['type'] = 0 # 数据集工作目录的类型,0表示OBS
work_path['path'] = "/obs-gaia-test/data/output/work_path/" # 数据集工作目录在OBS中的路径
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, data_type=data_type, data_sources=data_sources, work_path=work_path)
''',
    "image-with-annotations": '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset_name = "dataset-image-with-annotations"
data_type = "IMAGE"
data_sources = dict()
data_sources["type"] = 0
data_sources["path"] = "/obs-gaia-test/data/image/image-classification/"
annotation_config = dict() # 源数据的标注格式
annotation_config['scene'] = "image_classification" # 数据标注场景为图像分类标注
annotation_config['format_name'] = "ModelArts image classification 1.0" # 标注格式为ModelArts image classification 1.0
data_sources['annotation_config'] = annotation_config
work_path = dict()
work_path['type'] = 0
work_path['path'] = "/obs-gaia-test/data/output/work_path/"
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, data_type=data_type, data_sources=data_sources, work_path=work_path)
''',
    "table": '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset_name = "dataset-table"
data_type = "TABLE"
data_sources = dict()
data_sources["type"] = 0
data_sources["path"] = "/obs-gaia-test/data/table/table0/"
data_sources['with_column_header'] = True
work_path = dict()
work_path['type'] = 0
work_path['path'] = "/obs-gaia-test/data/output/work_path/"
# 表格类型的数据集需要指定表格数据的schema信息
schema0 = dict()
schema0['schema_id'] = 0
schema0['name'] = "name"
schema0['type'] = "STRING"
schema1 = dict()
schema1['schema_id'] = 1
schema1['name'] = "age"
schema1['type'] = "STRING"
schema2 = dict()
schema2['schema_id'] = 2
schema2['name'] = "label"
schema2['type'] = "STRING"
schemas = []
schemas.append(schema0)
schemas.append(schema1)
schemas.append(schema2)
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, data_type=data_type, data_sources=data_sources, work_path=work_path, schema=schemas)
''',
    "image-classification": '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset_name = "dataset-image-classification"
dataset_type = 0 # 数据集的标注类型,0表示图像分类标注类型
data_sources = dict()
data_sources["path"] = "/obs-gaia-test/data/image/image-classification/"
data_sources["type"] = "0"
work_path = dict()
work_path['type'] = 0
work_path['path'] = "/obs-gaia-test/data/output/work_path/"
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, dataset_type=dataset_type, data_sources=data_sources, work_path=work_path)
''',
    "text-triplet": '''dataset_name = "dataset-text-triplet"
dataset_type = 102 # 数据集标注类型,102表示文本三元组标注类型
data_sources = dict()
data_sources['type'] = 0
data_sources['path'] = "/obs-gaia-test/data/text/text-classification/"
work_path = dict()
work_path['type'] = 0
work_path['path'] = "/obs-gaia-test/data/output/work_path/"
# 创建文本三元组标注类型的数据集,需要传入标签参数
label_entity1 = dict() # 标签对象
label_entity1['name'] = "疾病" # 标签名称
label_entity1['type'] = 101 # 标签类型,101表示实体类型标签
label_entity2 = dict()
label_entity2['name'] = "疾病别称"
label_entity2['type'] = 101
label_relation1 = dict()
label_relation1['name'] = "又称为"
label_relation1['type'] = 102 # 标签类型,102表示关系类型标签
property = dict() # 关系类型标签需要在标签属性中指定起始实体标签和终止实体标签
property['@modelarts:from_type'] = "疾病" # 起始实体标签
property['@modelarts:to_type'] = "疾病别称" # 终止实体标签
label_relation1['property'] = property
labels = []
labels.append(label_entity1)
labels.append(label_entity2)
labels.append(label_relation1)
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, dataset_type=dataset_type, data_sources=data_sources, work_path=work_path, labels=labels)
''',
    "table-by-type": '''dataset_name = "dataset-table"
dataset_type = 400 # 数据集标注类型,400表示表格数据集
data_sources = dict()
data_sources['type'] = 0
data_sources['path'] = "/obs-gaia-test/data/table/table0/"
data_sources['with_column_header'] = True # 用来指明表格数据中是否包含表头
work_path = dict()
work_path['type'] = 0
work_path['path'] = "/obs-gaia-test/data/output/work_path/"
# 表格数据集需要传入表格数据的表头参数
schema0 = dict() # 表格的表头
schema0['schema_id'] = 0 # 第一列表头
schema0['name'] = "name" # 表头名称,该列表头为name
schema0['type'] = "STRING" # 表头数据类型,表示字符串
schema1 = dict()
schema1['schema_id'] = 1
schema1['name'] = "age"
schema1['type'] = "STRING"
schema2 = dict()
schema2['schema_id'] = 2
schema2['name'] = "label"
schema2['type'] = "STRING"
schemas = []
schemas.append(schema0)
schemas.append(schema1)
schemas.append(schema2)
create_dataset_resp = Dataset.create_dataset(session, dataset_name=dataset_name, dataset_type=dataset_type, data_sources=data_sources, work_path=work_path, schema=schemas)
''',
}

# Examples 5 and 6 continue example 4 of the manual (session and imports
# already there); this is that preamble.
SAMPLE_PREAMBLE = '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
'''

# Seed line 16: import_data of a PASCAL VOC directory, a manifest, a table
# directory. Examples 2 and 3 continue example 1 (its `dataset`).
IMPORT_SAMPLES = {
    "voc": '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset = Dataset(session, dataset_id)
annotation_config = dict()
annotation_config['scene'] = "object_detection"
annotation_config['format_name'] = "ModelArts PASCAL VOC 1.0"
import_resp = dataset.import_data(path="/obs-gaia-test/data/image/image-detection/", annotation_config=annotation_config)
''',
    "manifest": '''annotation_config = dict()
# Manifest文件导入任务中,传入annotation_config参数可以导入标注信息
import_resp = dataset.import_data(
path="/obs-gaia-test/data/output/work_path/dataset-5932-Qdd1RUZ3wqBQrwrTr3v/annotation/V001/V001.manifest",annotation_config=annotation_config)
''',
    "table": '''import_resp = dataset.import_data(
path="/obs-gaia-test/data/table/table1/", with_column_header=True)
''',
}

SEED_MANIFEST_DATASET = "dataset-5932-Qdd1RUZ3wqBQrwrTr3v"

# Seed line 30: update_dataset.
UPDATE_SAMPLE = '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset = Dataset(session, dataset_id)
dataset.update_dataset(dataset_name = "new-dataset-name")
'''

IMPORT_PREAMBLE = '''from modelarts.session import Session
from modelarts.dataset import Dataset
session = Session()
dataset = Dataset(session, dataset_id)
'''


def create_sample(name):
    """The create_dataset sample ``name`` as a complete program."""
    code = CREATE_SAMPLES[name]
    return code if code.startswith("from ") else SAMPLE_PREAMBLE + code


def import_sample(name):
    """The import_data sample ``name`` as a complete program (``dataset_id`` still unbound)."""
    code = IMPORT_SAMPLES[name]
    return code if code.startswith("from ") else IMPORT_PREAMBLE + code


def allow_patch(fake):
    """Let the FakeServer answer PATCH like its other methods."""
    handler = fake._httpd.RequestHandlerClass
    handler.do_PATCH = handler.do_GET


def query_of(rec):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(rec.path).query))


DS = {"dataset_id": "ds1", "dataset_name": "dataset-image", "data_type": "IMAGE",
      "dataset_type": -1, "data_path": "/bkt/in/", "work_path": "/bkt/work/",
      "total_sample_count": 0, "annotated_sample_count": 0}
TASK = {"task_id": "t1", "dataset_id": "ds1", "import_path": "/bkt/in/", "format": "directory",
        "status": "QUEUED", "imported_sample_count": 0, "rejected_sample_count": 0}


class DatasetTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()
        allow_patch(cls.fake)

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.session = Session(token="tok", endpoint=self.fake.url)
        self.addCleanup(self.session.close)
        self.ds = Dataset(self.session, "ds1")

    def answer(self, method, path, doc, status=200):
        self.fake.route(method, path, lambda req: Reply(status, doc))

    def only_request(self):
        self.assertEqual(len(self.fake.requests), 1, [r.path for r in self.fake.requests])
        return self.fake.requests[0]

    def run_sample(self, code, **names):
        """Run a seed sample in this process against the fake server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(ATELIER_ENDPOINT=self.fake.url, ATELIER_TOKEN="tok")
        scope = dict(names)
        with mock.patch.dict(os.environ, env, clear=True):
            try:
                exec(compile(code, "<seed sample>", "exec"), scope)
            finally:
                if isinstance(scope.get("session"), Session):
                    scope["session"].close()
        return scope


class SeedSampleShapesTest(DatasetTestCase):
    def setUp(self):
        super().setUp()
        self.answer("POST", "/v1/datasets", {"dataset": DS, "import_task": TASK}, 201)

    def created(self, name):
        scope = self.run_sample(create_sample(name))
        resp = scope["create_dataset_resp"]
        self.assertEqual(resp["dataset_id"], "ds1")
        self.assertEqual(resp["import_task_id"], "t1")
        self.assertEqual(resp["import_task"], TASK)
        req = self.only_request()
        self.assertEqual((req.method, req.path), ("POST", "/v1/datasets"))
        self.assertEqual(req.headers["Authorization"], "Bearer tok")
        return req.json()

    def test_create_by_data_type_image(self):
        self.assertEqual(self.created("image"), {
            "dataset_name": "dataset-image", "data_type": "IMAGE",
            "data_path": "/obs-gaia-test/data/image/image-classification/",
            "work_path": "/obs-gaia-test/data/output/work_path/"})

    def test_create_image_with_annotations(self):
        body = self.created("image-with-annotations")
        self.assertEqual(body["annotation_config"], {
            "scene": "image_classification", "format_name": "ModelArts image classification 1.0"})
        self.assertEqual(body["data_type"], "IMAGE")
        self.assertNotIn("dataset_type", body)

    def test_create_table_with_schema_and_header(self):
        body = self.created("table")
        self.assertEqual(body["data_type"], "TABLE")
        self.assertIs(body["with_column_header"], True)
        self.assertEqual(body["schema"], [{"schema_id": 0, "name": "name", "type": "STRING"},
                                          {"schema_id": 1, "name": "age", "type": "STRING"},
                                          {"schema_id": 2, "name": "label", "type": "STRING"}])

    def test_create_by_dataset_type_0_with_string_source_type(self):
        body = self.created("image-classification")
        self.assertEqual(body["dataset_type"], 0)
        self.assertNotIn("data_type", body)
        self.assertEqual(body["data_path"], "/obs-gaia-test/data/image/image-classification/")

    def test_create_text_triplet_labels(self):
        body = self.created("text-triplet")
        self.assertEqual(body["dataset_type"], 102)
        self.assertEqual(body["labels"], [
            {"name": "疾病", "type": 101},
            {"name": "疾病别称", "type": 101},
            {"name": "又称为", "type": 102,
             "property": {"@modelarts:from_type": "疾病", "@modelarts:to_type": "疾病别称"}}])

    def test_create_table_by_dataset_type_400(self):
        body = self.created("table-by-type")
        self.assertEqual(body["dataset_type"], 400)
        self.assertIs(body["with_column_header"], True)
        self.assertEqual(len(body["schema"]), 3)

    def test_import_samples(self):
        self.answer("POST", "/v1/datasets/ds1/imports", TASK, 201)
        scope = self.run_sample(import_sample("voc"), dataset_id="ds1")
        self.assertEqual(scope["import_resp"]["task_id"], "t1")
        self.run_sample(import_sample("manifest"), dataset_id="ds1")
        self.run_sample(import_sample("table"), dataset_id="ds1")
        bodies = [r.json() for r in self.fake.requests]
        self.assertEqual(bodies, [
            {"import_path": "/obs-gaia-test/data/image/image-detection/",
             "annotation_config": {"scene": "object_detection",
                                   "format_name": "ModelArts PASCAL VOC 1.0"}},
            # An empty annotation_config is sent: it imports the manifest's annotations.
            {"import_path": "/obs-gaia-test/data/output/work_path/%s/annotation/V001/V001.manifest"
                            % SEED_MANIFEST_DATASET,
             "annotation_config": {}},
            {"import_path": "/obs-gaia-test/data/table/table1/", "with_column_header": True}])

    def test_update_sample(self):
        self.answer("PATCH", "/v1/datasets/ds1", dict(DS, dataset_name="new-dataset-name"))
        self.run_sample(UPDATE_SAMPLE, dataset_id="ds1")
        req = self.only_request()
        self.assertEqual((req.method, req.path), ("PATCH", "/v1/datasets/ds1"))
        self.assertEqual(req.json(), {"dataset_name": "new-dataset-name"})


class CreateValidationTest(DatasetTestCase):
    SRC = {"type": 0, "path": "/bkt/in/"}
    WORK = {"type": 0, "path": "/bkt/work/"}

    def test_refused_before_any_request(self):
        cases = [
            (dict(), ValueError, ["data_type", "dataset_type"]),
            (dict(data_type="PICTURE"), ValueError, ["data_type", "IMAGE"]),
            (dict(dataset_type=7), ValueError, ["dataset_type"]),
            (dict(dataset_type="x"), TypeError, ["dataset_type"]),
            (dict(dataset_type=True), TypeError, ["dataset_type"]),
            (dict(data_type="TEXT", dataset_type=0), ValueError, ["dataset_type", "IMAGE"]),
            (dict(data_type="IMAGE", data_sources=None), ValueError, ["data_sources"]),
            (dict(data_type="IMAGE", data_sources={"type": 1, "path": "/bkt/in/"}), ValueError,
             ["data_sources['type']"]),
            (dict(data_type="IMAGE", data_sources={"type": "5", "path": "/bkt/in/"}), ValueError,
             ["data_sources['type']"]),
            (dict(data_type="IMAGE", data_sources={"type": 0}), ValueError,
             ["data_sources['path']"]),
            (dict(data_type="IMAGE", data_sources={"type": 0, "path": "b/in/"}), ValueError,
             ["data_sources['path']"]),
            (dict(data_type="IMAGE", data_sources=[{"path": "/bkt/a/"}, {"path": "/bkt/c/"}]),
             ValueError, ["exactly one"]),
            (dict(data_type="IMAGE", data_sources=7), TypeError, ["data_sources"]),
            (dict(data_type="IMAGE", work_path=None), ValueError, ["work_path"]),
            (dict(data_type="IMAGE", work_path={"type": 0, "path": "relative/"}), ValueError,
             ["work_path['path']"]),
            (dict(data_type="IMAGE", labels={"name": "cat"}), TypeError, ["labels"]),
            (dict(data_type="IMAGE", labels=[{"type": 0}]), TypeError, ["labels[0]['name']"]),
            (dict(data_type="IMAGE", labels=[{"name": "cat", "colour": "red"}]), ValueError,
             ["labels[0]", "colour"]),
            (dict(data_type="IMAGE", labels=[{"name": "cat", "type": "entity"}]), TypeError,
             ["labels[0]['type']"]),
            (dict(data_type="TABLE", schema=[{"schema_id": 0}]), TypeError,
             ["schema[0]['name']"]),
            (dict(data_type="IMAGE", data_sources={"type": 0, "path": "/bkt/",
                                                   "annotation_config": "voc"}),
             TypeError, ["annotation_config"]),
            (dict(data_type="TABLE", data_sources={"type": 0, "path": "/bkt/",
                                                   "with_column_header": "yes"}),
             TypeError, ["with_column_header"]),
        ]
        for kwargs, exc, words in cases:
            args = dict(data_sources=self.SRC, work_path=self.WORK)
            args.update(kwargs)
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(exc) as cm:
                    Dataset.create_dataset(self.session, "d", **args)
                for w in words:
                    self.assertIn(w, str(cm.exception))
        with self.assertRaises(ValueError):
            Dataset.create_dataset(self.session, " ", data_type="IMAGE",
                                   data_sources=self.SRC, work_path=self.WORK)
        self.assertEqual(self.fake.requests, [])

    def test_forms_that_are_accepted(self):
        self.answer("POST", "/v1/datasets", {"dataset": DS, "import_task": TASK}, 201)
        Dataset.create_dataset(self.session, "d", data_type="image", dataset_type="1",
                               data_sources=[{"path": "obs://bkt/in",
                                              "with_column_header": False}],
                               work_path="s3://bkt/work", description="notes",
                               labels=[{"name": "cat"}, {"name": "e", "type": "101",
                                                          "property": {"n": 1},
                                                          "color": "#ff0000"}],
                               schema=[{"name": "a", "type": "int"}])
        self.assertEqual(self.only_request().json(), {
            "dataset_name": "d", "data_type": "IMAGE", "dataset_type": 1,
            "description": "notes", "data_path": "/bkt/in/", "work_path": "/bkt/work/",
            "labels": [{"name": "cat", "type": 0},
                       {"name": "e", "type": 101, "property": {"n": "1"}, "color": "#ff0000"}],
            "schema": [{"schema_id": 0, "name": "a", "type": "INT"}]})

    def test_object_path_spellings(self):
        # What a new user tried: the scheme in any case is the same path, and
        # a bucket the object store refuses is refused before anything is sent.
        self.answer("POST", "/v1/datasets", {"dataset": DS, "import_task": TASK}, 201)
        Dataset.create_dataset(self.session, "d", data_type="IMAGE",
                               data_sources={"path": "OBS://bkt/in/"}, work_path="S3://bkt/work/")
        body = self.only_request().json()
        self.assertEqual((body["data_path"], body["work_path"]), ("/bkt/in/", "/bkt/work/"))
        self.fake.reset()
        for sources, work in (({"path": "obs://Bad_Bucket/x/"}, self.WORK["path"]),
                              (self.SRC, "obs://Bad_Bucket/x/")):
            with self.subTest(sources=sources, work=work):
                with self.assertRaisesRegex(ValueError, "The bucket name may hold only"):
                    Dataset.create_dataset(self.session, "d", data_type="IMAGE",
                                           data_sources=sources, work_path=work)
        self.assertEqual(self.fake.requests, [])


        self.answer("POST", "/v1/datasets", {"dataset": DS}, 201)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            resp = Dataset.create_dataset(
                self.session, "d", data_type="IMAGE", work_path=self.WORK,
                data_sources={"type": 0, "path": "/bkt/in/", "annotation_config": {
                    "scene": "image_classification", "format_params": {"x": 1}}})
        self.assertEqual(len(w), 1)
        self.assertIn("format_params", str(w[0].message))
        self.assertEqual(w[0].filename, __file__)
        self.assertNotIn("import_task", resp)
        self.assertEqual(self.only_request().json()["annotation_config"],
                         {"scene": "image_classification"})

    def test_api_error_surfaces_with_server_code(self):
        self.fake.route("POST", "/v1/datasets", lambda req: error(
            409, "ATL.DST.0002", 'dataset "d" already exists'))
        with self.assertRaises(AtelierError) as cm:
            Dataset.create_dataset(self.session, "d", data_type="IMAGE",
                                   data_sources=self.SRC, work_path=self.WORK)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.DST.0002", 409))
        self.assertIn("already exists", str(cm.exception))


class DatasetCallsTest(DatasetTestCase):
    def test_list_datasets(self):
        self.answer("GET", "/v1/datasets", {"datasets": [DS]})
        self.assertEqual(Dataset.list_datasets(self.session), [DS])
        self.assertEqual(Dataset.list_datasets(self.session, dataset_name="数据 x"), [DS])
        first, second = self.fake.requests
        self.assertEqual(first.path, "/v1/datasets")
        self.assertEqual(query_of(second), {"name": "数据 x"})

    def test_simple_reads(self):
        cases = [
            ("get_dataset_info", (), "/v1/datasets/ds1", DS, DS),
            ("get_dataset_stats", (), "/v1/datasets/ds1/stats",
             {"total_sample_count": 3}, {"total_sample_count": 3}),
            ("list_import_tasks", (), "/v1/datasets/ds1/imports", {"import_tasks": [TASK]},
             [TASK]),
            ("get_import_task", ("t1",), "/v1/datasets/ds1/imports/t1", TASK, TASK),
            ("get_sample", ("s1",), "/v1/datasets/ds1/samples/s1", {"sample_id": "s1"},
             {"sample_id": "s1"}),
            ("list_versions", (), "/v1/datasets/ds1/versions", {"versions": [{"a": 1}]},
             [{"a": 1}]),
            ("get_version", ("v1",), "/v1/datasets/ds1/versions/v1", {"a": 1}, {"a": 1}),
            ("list_export_tasks", (), "/v1/datasets/ds1/exports", {}, []),
        ]
        for method, args, path, doc, want in cases:
            with self.subTest(method=method):
                self.fake.reset()
                self.answer("GET", path, doc)
                self.assertEqual(getattr(self.ds, method)(*args), want)
                self.assertEqual(self.only_request().path, path)

    def test_ids_are_checked_and_quoted(self):
        for bad in ("", "a/b", None, 1.5):
            with self.subTest(id=bad), self.assertRaises((TypeError, ValueError)):
                Dataset(self.session, bad)
        self.answer("GET", "/v1/datasets/d%20s/imports/t%3F", TASK)
        Dataset(self.session, "d s").get_import_task("t?")
        self.assertEqual(self.only_request().path, "/v1/datasets/d%20s/imports/t%3F")
        self.assertEqual(repr(self.ds), "Dataset(dataset_id='ds1')")

    def test_update_dataset(self):
        self.answer("PATCH", "/v1/datasets/ds1", DS)
        self.ds.update_dataset(description="", labels=[{"name": "dog", "type": 0}])
        self.assertEqual(self.only_request().json(),
                         {"description": "", "labels": [{"name": "dog", "type": 0}]})
        with self.assertRaises(ValueError):
            self.ds.update_dataset()
        with self.assertRaises(ValueError):
            self.ds.update_dataset(dataset_name="")

    def test_delete_dataset(self):
        self.fake.route("DELETE", "/v1/datasets/ds1", lambda req: Reply(204))
        self.assertIsNone(self.ds.delete_dataset())
        self.assertIsNone(self.ds.delete_dataset(delete_source=True))
        first, second = self.fake.requests
        self.assertEqual((first.method, first.path), ("DELETE", "/v1/datasets/ds1"))
        self.assertEqual(query_of(second), {"delete_source": "true"})

    def test_import_data(self):
        self.answer("POST", "/v1/datasets/ds1/imports", TASK, 201)
        self.assertEqual(self.ds.import_data("obs://bkt/more/"), TASK)
        self.ds.import_data("s3://bkt/t/", with_column_header=False)
        self.assertEqual([r.json() for r in self.fake.requests], [
            {"import_path": "/bkt/more/"},
            {"import_path": "/bkt/t/", "with_column_header": False}])
        with self.assertRaises(ValueError):
            self.ds.import_data("more/")
        with self.assertRaises(TypeError):
            self.ds.import_data("/bkt/x/", annotation_config=["voc"])
        self.assertEqual(len(self.fake.requests), 2)

    def test_wait_import(self):
        states = iter(["QUEUED", "RUNNING", "RUNNING", "COMPLETED"])
        self.fake.route("GET", "/v1/datasets/ds1/imports/t1",
                        lambda req: Reply(200, dict(TASK, status=next(states))))
        task = self.ds.wait_import("t1", timeout=30, poll_interval=0.001)
        self.assertEqual(task["status"], "COMPLETED")
        self.assertEqual(len(self.fake.requests), 4)

    def test_wait_import_returns_failed_tasks_and_times_out(self):
        self.answer("GET", "/v1/datasets/ds1/imports/t1",
                    dict(TASK, status="FAILED", errors=["a.xml: malformed"]))
        self.assertEqual(self.ds.wait_import("t1")["errors"], ["a.xml: malformed"])
        self.answer("GET", "/v1/datasets/ds1/imports/t1", dict(TASK, status="RUNNING"))
        with self.assertRaises(TimeoutError) as cm:
            self.ds.wait_import("t1", timeout=0)
        self.assertIn("RUNNING", str(cm.exception))

    def test_versions(self):
        self.answer("POST", "/v1/datasets/ds1/versions", {"version_id": "v1",
                                                          "version_name": "V001"}, 201)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            self.ds.create_version()
            self.ds.create_version("V001", description="first", train_evaluate_sample_ratio="0.8")
            self.assertEqual(w, [])
            v = self.ds.create_version("my-version")
        self.assertEqual(v["version_id"], "v1")
        self.assertEqual(len(w), 1)
        self.assertIn("'my-version'", str(w[0].message))
        self.assertIn("'V001'", str(w[0].message))
        self.assertEqual(w[0].filename, __file__)
        self.assertEqual([r.json() for r in self.fake.requests], [
            {}, {"description": "first", "train_evaluate_sample_ratio": 0.8}, {}])
        for bad, exc in ((1.5, ValueError), (-0.1, ValueError), ("x", TypeError)):
            with self.subTest(ratio=bad), self.assertRaises(exc):
                self.ds.create_version(train_evaluate_sample_ratio=bad)
        self.assertEqual(len(self.fake.requests), 3)

    def test_export(self):
        self.answer("POST", "/v1/datasets/ds1/exports", {"task_id": "e1"}, 201)
        self.assertEqual(self.ds.export_dataset("v1", "obs://bkt/export/")["task_id"], "e1")
        self.assertEqual(self.only_request().json(),
                         {"version_id": "v1", "export_path": "/bkt/export/"})

    def test_set_annotations(self):
        self.answer("PUT", "/v1/datasets/ds1/samples/s1/annotations", {"sample_id": "s1"})
        ann = [{"type": "modelarts/image_classification", "name": "cat"}]
        self.ds.set_annotations("s1", ann, usage="train")
        self.ds.set_annotations("s1", [])
        self.assertEqual([r.json() for r in self.fake.requests], [
            {"annotations": ann, "usage": "TRAIN"}, {"annotations": []}])
        for args, exc in (((ann[0],), TypeError), (([{"name": "cat"}],), ValueError),
                          ((ann, "VALIDATION"), ValueError), ((["cat"],), TypeError)):
            with self.subTest(args=args), self.assertRaises(exc):
                self.ds.set_annotations("s1", *args)
        self.assertEqual(len(self.fake.requests), 2)

    def test_delete_samples(self):
        self.answer("POST", "/v1/datasets/ds1/samples/delete", {"deleted": 2})
        self.assertEqual(self.ds.delete_samples(["s1", "s2"]), 2)
        self.assertEqual(self.only_request().json(), {"sample_ids": ["s1", "s2"]})
        self.assertEqual(self.ds.delete_samples([]), 0)
        with self.assertRaises(TypeError):
            self.ds.delete_samples("s1")
        self.assertEqual(len(self.fake.requests), 1)


class SamplePagingTest(DatasetTestCase):
    def setUp(self):
        super().setUp()
        self.all = [{"sample_id": "s%02d" % i} for i in range(7)]

        def page(req):
            q = query_of(req)
            after = q.get("cursor", "")
            rest = [s for s in self.all if s["sample_id"] > after]
            n = int(q["limit"])
            doc = {"samples": rest[:n]}
            if len(rest) > n:
                doc["next_cursor"] = rest[n - 1]["sample_id"]
            return Reply(200, doc)

        self.fake.route("GET", "/v1/datasets/ds1/samples", page)

    def test_all_pages(self):
        got = self.ds.list_samples(labelled=True, label="猫", usage="eval", limit=None)
        self.assertEqual(got, self.all)
        self.assertEqual(len(self.fake.requests), 1)
        self.assertEqual(query_of(self.fake.requests[0]),
                         {"labelled": "true", "label": "猫", "usage": "EVAL", "limit": "1000"})

    def test_limit_follows_cursors(self):
        got = self.ds.list_samples(labelled=False, limit=3)
        self.assertEqual(got, self.all[:3])
        self.assertEqual(len(self.fake.requests), 1)
        got = list(self.ds.iter_samples(page_size=3))
        self.assertEqual(got, self.all)
        queries = [query_of(r) for r in self.fake.requests[1:]]
        self.assertEqual(queries, [{"limit": "3"}, {"limit": "3", "cursor": "s02"},
                                   {"limit": "3", "cursor": "s05"}])
        self.assertEqual(query_of(self.fake.requests[0]), {"labelled": "false", "limit": "3"})

    def test_default_limit_is_100(self):
        self.all = [{"sample_id": "s%03d" % i} for i in range(150)]
        self.assertEqual(len(self.ds.list_samples()), 100)
        self.assertEqual(query_of(self.only_request()), {"limit": "100"})

    def test_bad_filters(self):
        for kwargs in (dict(usage="VALIDATE"), dict(limit=0), dict(limit="5"),
                       dict(labelled="maybe"), dict(label="")):
            with self.subTest(kwargs=kwargs), self.assertRaises((TypeError, ValueError)):
                self.ds.list_samples(**kwargs)
        with self.assertRaises(ValueError):
            list(self.ds.iter_samples(page_size=1001))
        self.assertEqual(self.fake.requests, [])


if __name__ == "__main__":
    unittest.main()

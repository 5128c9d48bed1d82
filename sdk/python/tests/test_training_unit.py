"""Unit tests of training: parameter mapping, validation, job specs, log following, environments.

Remote flows run against the scripted FakeServer; local runs start real
processes. The end-to-end tests against the real server are in
test_training_e2e.py.
"""

import io
import json
import os
import socket
import sys
import tempfile
import time
import unittest
import warnings
import zipfile
from unittest import mock

from atelier import Session, environment, local, training
from atelier.estimator import Estimator, EstimatorV1
from atelier.train_params import InputData, OutputData, TrainingFiles

from .fakeserver import FakeObjectStore, FakeServer, Reply


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


class ParamsTest(unittest.TestCase):
    def test_parameters_to_argv(self):
        cases = [
            ([{"name": "lr", "value": 0.01}], ["--lr=0.01"]),
            ([{"name": "epoc_num", "value": 2}], ["--epoc_num=2"]),
            ([{"name": "dist"}], ["--dist"]),
            ([{"name": "dist", "value": None}], ["--dist"]),
            # The seed: a boolean maps to argparse's action='store_true'.
            ([{"name": "flag", "value": True}], ["--flag"]),
            ([{"name": "flag", "value": False}], []),
            ([{"name": "a", "value": 1}, {"name": "off", "value": False}, {"name": "on", "value": True}],
             ["--a=1", "--on"]),
            ([{"name": "data_url", "value": "/a b/"}], ["--data_url=/a b/"]),
            ([{"name": "empty", "value": ""}], ["--empty="]),
            ([], []),
            (None, []),
        ]
        for params, want in cases:
            with self.subTest(params=params):
                wire = training.normalize_parameters(params)
                self.assertEqual(training.parameters_to_argv(wire), want)

    def test_wire_params_omit_missing_values(self):
        self.assertEqual(training.normalize_parameters([{"name": "dist"}, {"name": "n", "value": 3}]),
                         [{"name": "dist"}, {"name": "n", "value": "3"}])

    def test_v1_labels(self):
        got = training.normalize_parameters([{"label": "classes", "value": "10"}], key="label",
                                            param="hyperparameters")
        self.assertEqual(got, [{"name": "classes", "value": "10"}])

    def test_v1_boolean_hyperparameters(self):
        got = training.normalize_parameters(
            [{"label": "dist", "value": True}, {"label": "fp16", "value": False}, {"label": "bare"}],
            key="label", param="hyperparameters")
        self.assertEqual(got, [{"name": "dist"}, {"name": "bare"}])

    def test_store_true_script_accepts_boolean_parameters(self):
        import subprocess
        import sys

        script = ("import argparse; p = argparse.ArgumentParser(); "
                  "p.add_argument('--dist', action='store_true'); "
                  "p.add_argument('--fp16', action='store_true'); "
                  "a = p.parse_args(); print(a.dist, a.fp16)")
        argv = training.parameters_to_argv(training.normalize_parameters(
            [{"name": "dist", "value": True}, {"name": "fp16", "value": False}]))
        r = subprocess.run([sys.executable, "-c", script] + argv, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "True False")

    def test_bad_parameters(self):
        cases = [
            ({"name": "x"}, TypeError),
            (["x"], TypeError),
            ([{"value": 1}], ValueError),
            ([{"name": "--lr", "value": 1}], ValueError),
            ([{"name": "a=b"}], ValueError),
            ([{"name": "lr", "value": [1]}], TypeError),
            ([{"name": "lr", "value": 1, "extra": 2}], ValueError),
        ]
        for params, exc in cases:
            with self.subTest(params=params):
                with self.assertRaises(exc):
                    training.normalize_parameters(params)

    def test_job_names(self):
        self.assertEqual(training.check_job_name("cifar10-dis_1"), "cifar10-dis_1")
        self.assertRegex(training.check_job_name(None), r"^job-\d{8}-\d{6}-[0-9a-f]{6}$")
        for bad in ("a b", "x" * 65, "ü", "a/b"):
            with self.subTest(name=bad), self.assertRaises(ValueError):
                training.check_job_name(bad)


class TrainParamsTest(unittest.TestCase):
    def test_input_data_rules(self):
        d = InputData(obs_path="obs://bkt/data.zip", local_path="/tmp/d/")
        self.assertFalse(d.is_local_source)
        InputData(obs_path=None, local_path="/tmp/d/", is_local_source=True)
        InputData(obs_path="obs://bkt/up/", local_path="/tmp/d/", is_local_source=True)
        with self.assertRaisesRegex(ValueError, "obs_path is required"):
            InputData(local_path="/tmp/d/")
        with self.assertRaisesRegex(ValueError, "local_path is required"):
            InputData(obs_path="obs://bkt/d/")
        with self.assertRaisesRegex(ValueError, "local_path must be a local path"):
            InputData(obs_path="obs://bkt/d/", local_path="obs://bkt/x/")
        with self.assertRaisesRegex(ValueError, "obs_path"):
            InputData(obs_path="relative/dir/", local_path="/tmp/d/")
        with self.assertRaises(TypeError):
            InputData(obs_path="obs://bkt/d/", local_path="/tmp/d/", is_local_source="yes")
        # What a new user tried: the scheme in any case is the same path, and
        # a bucket the object store refuses is refused here, saying why.
        self.assertEqual(InputData(obs_path="OBS://bkt/d/", local_path="/tmp/d/").obs_path, "OBS://bkt/d/")
        with self.assertRaisesRegex(ValueError, "^obs_path 'obs://Bad_Bucket/x/': The bucket name may hold only"):
            InputData(obs_path="obs://Bad_Bucket/x/", local_path="/tmp/d/")

    def test_training_files_rules(self):
        tf = TrainingFiles(code_dir="/work/train/", boot_file="test-pytorch.py",
                           obs_path="obs://bkt/train/")
        self.assertEqual(tf.boot_file, "test-pytorch.py")
        self.assertEqual(TrainingFiles("/work/train/", "/work/train/sub/boot.py").boot_file,
                         "sub/boot.py")
        self.assertEqual(TrainingFiles("/work/train", "./a/../b.py").boot_file, "b.py")
        with self.assertRaisesRegex(ValueError, "inside code_dir"):
            TrainingFiles("/work/train/", "/elsewhere/boot.py")
        with self.assertRaisesRegex(ValueError, "inside code_dir"):
            TrainingFiles("/work/train/", "../boot.py")
        with self.assertRaisesRegex(ValueError, "code_dir must be a local path"):
            TrainingFiles("obs://bkt/train/", "boot.py")
        with self.assertRaisesRegex(ValueError, "must be an OBS directory"):
            TrainingFiles("/work/train/", "boot.py", obs_path="obs://bkt/train")
        with self.assertRaisesRegex(ValueError, "boot_file is required"):
            TrainingFiles("/work/train/", None)

    def test_output_data_rules(self):
        OutputData(local_path="/tmp/out/", obs_path="/bucket/out/")
        with self.assertRaisesRegex(ValueError, "obs_path is required"):
            OutputData(local_path="/tmp/out/", obs_path=None)
        with self.assertRaisesRegex(ValueError, "OBS directory"):
            OutputData(local_path="/tmp/out/", obs_path="obs://bkt/out")

    def test_estimator_argument_checks(self):
        tf = TrainingFiles("/w/", "b.py")
        s = object()
        with self.assertRaisesRegex(ValueError, "train_instance_type is required"):
            Estimator(session=s, training_files=tf)
        with self.assertRaisesRegex(ValueError, "train_instance_count"):
            Estimator(session=s, training_files=tf, train_instance_type="local",
                      train_instance_count=0)
        with self.assertRaisesRegex(ValueError, "training_files is required"):
            Estimator(session=s, train_instance_type="local")
        with self.assertRaises(TypeError):
            Estimator(session=s, training_files=tf, train_instance_type="local", outputs=["x"])
        with self.assertRaisesRegex(ValueError, "model_name"):
            EstimatorV1(modelarts_session=s, model_name="Faster_RCNN_ResNet_v1_50",
                        train_instance_type="modelarts.vm.cpu.2u")
        with self.assertRaisesRegex(ValueError, "code_dir and boot_file"):
            EstimatorV1(modelarts_session=s, train_instance_type="modelarts.vm.cpu.2u")
        with self.assertWarnsRegex(UserWarning, "user_image_url is ignored"):
            EstimatorV1(modelarts_session=s, user_command="echo hi",
                        user_image_url="100.125.5.235:20202/jobmng/cpu-base:1.0",
                        train_instance_type="modelarts.vm.cpu.2u")


class ZipTest(unittest.TestCase):
    def test_round_trip_and_escape(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "src")
            write(os.path.join(src, "a.py"), "print(1)\n")
            write(os.path.join(src, "pkg", "m.py"), "x = 2\n")
            os.makedirs(os.path.join(src, "empty"))
            z = training.zip_dir(src, os.path.join(tmp, "code.zip"))
            with zipfile.ZipFile(z) as zf:
                self.assertEqual(sorted(zf.namelist()), ["a.py", "empty/", "pkg/m.py"])
            dst = os.path.join(tmp, "dst")
            training.unzip_to(z, dst)
            with open(os.path.join(dst, "pkg", "m.py")) as f:
                self.assertEqual(f.read(), "x = 2\n")
            self.assertTrue(os.path.isdir(os.path.join(dst, "empty")))

            evil = os.path.join(tmp, "evil.zip")
            with zipfile.ZipFile(evil, "w") as zf:
                zf.writestr("../escape.txt", b"x")
            with self.assertRaisesRegex(ValueError, "outside"):
                training.unzip_to(evil, os.path.join(tmp, "e"))
            self.assertFalse(os.path.exists(os.path.join(tmp, "escape.txt")))


class FakeTrainingServer:
    """Answers the training routes of one job 'j1' on a FakeServer, keeping what was sent."""

    def __init__(self, fake, bucket="bkt", log=b"", final="COMPLETED", reason=""):
        self.fake = fake
        self.store = FakeObjectStore(bucket, page_size=100)
        fake.fallback = self.store
        self.submitted = []
        self.versions = []
        self.log = log
        self.final = final
        self.reason = reason
        self.log_calls = []
        fake.route("POST", "/v1/training/jobs", self._submit)
        fake.route("POST", "/v1/training/jobs/j1/versions", self._new_version)
        fake.route("GET", "/v1/training/jobs/j1/versions/1", self._version)
        fake.route("GET", "/v1/training/jobs/j1/versions/2", self._version)
        fake.route("GET", "/v1/training/jobs/j1/versions/1/logs/worker-0", self._log)
        fake.route("GET", "/v1/training/flavors", lambda r: Reply(200, {"flavors": [
            {"flavor_id": "modelarts.vm.cpu.2u", "max_num": 2}]}))
        fake.route("GET", "/v1/training/frameworks", lambda r: Reply(200, {"frameworks": [
            {"framework_type": "PyTorch", "framework_version": "", "interpreter": "python3"}]}))

    def _submit(self, req):
        doc = req.json()
        self.submitted.append(doc)
        return Reply(201, {"job": {"job_id": "j1", "job_name": doc["job_name"], "version_id": 1},
                           "version": {"job_id": "j1", "version_id": 1, "status": "CREATING",
                                       "spec": doc["spec"]}})

    def _new_version(self, req):
        self.versions.append(req.json())
        return Reply(201, {"job_id": "j1", "version_id": 2, "status": "CREATING"})

    def _version(self, req):
        v = int(req.path.split("?")[0].rsplit("/", 1)[1])
        return Reply(200, {"job_id": "j1", "version_id": v, "status": self.final,
                           "reason": self.reason, "exit_code": 3 if self.final == "FAILED" else 0})

    def _log(self, req):
        import urllib.parse

        q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
        offset = int(q.get("offset", ["0"])[0])
        self.log_calls.append((offset, q.get("follow", [""])[0]))
        rest = self.log[offset:]
        if len(self.log_calls) == 1 and len(rest) > 4:
            # Announce the whole rest but send 4 bytes, then drop the connection.
            return Reply(200, rest[:4], {"Content-Length": str(len(rest)),
                                         "Content-Type": "text/plain"}, close_after=True)
        return Reply(200, rest, {"Content-Type": "text/plain", "X-Log-Offset": str(offset)})


class RemoteFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.tmp = tempfile.mkdtemp(prefix="atelier-trn-unit-")
        self.addCleanup(__import__("shutil").rmtree, self.tmp, True)
        self.session = Session(token="tok", endpoint=self.fake.url)
        self.addCleanup(self.session.close)
        self.code = os.path.join(self.tmp, "train")
        write(os.path.join(self.code, "test-pytorch.py"), "print('hi')\n")
        write(os.path.join(self.code, "lib", "util.py"), "X = 1\n")

    def test_v2_remote_spec_uploads_and_log_resume(self):
        srv = FakeTrainingServer(self.fake, log="line one ü\nline two\n".encode())
        local_data = os.path.join(self.tmp, "dataset")
        write(os.path.join(local_data, "x.csv"), "1,0\n")
        out = io.StringIO()
        est = Estimator(
            session=self.session,
            training_files=TrainingFiles(self.code, "test-pytorch.py", obs_path="obs://bkt/train/"),
            outputs=[OutputData(local_path="/home/u/out/", obs_path="obs://bkt/output/")],
            parameters=[{"name": "data_url", "value": "/home/u/dataset/"},
                        {"name": "epoc_num", "value": 2}, {"name": "dist"}],
            framework_type="PyTorch", train_instance_type="modelarts.vm.cpu.8u",
            train_instance_count=2, log_url="/bkt/log/", job_description="desc")
        inputs = [InputData(obs_path="/bkt/dataset-zip/dataset.zip", local_path="/home/u/dataset/"),
                  InputData(obs_path="obs://bkt/dataset-local/", local_path=local_data,
                            is_local_source=True)]
        with mock.patch("sys.stdout", out):
            job = est.fit(inputs=inputs, job_name="cifar10-dis")
        self.assertEqual((job.job_id, job.version_id, job.job_name), ("j1", 1, "cifar10-dis"))
        self.assertEqual(out.getvalue().count("line one ü\nline two\n"), 1, out.getvalue())
        # The dropped stream was resumed from the bytes already received; once the
        # version ended, the rest (nothing) was asked for without following.
        self.assertEqual(srv.log_calls, [(0, "1"), (4, "1"), (21, "")])

        doc = srv.submitted[0]
        self.assertEqual((doc["job_name"], doc["job_desc"]), ("cifar10-dis", "desc"))
        spec = doc["spec"]
        self.assertEqual(spec["code_dir"], "obs://bkt/train/train.zip")
        self.assertEqual(spec["boot_file"], "test-pytorch.py")
        self.assertEqual(spec["flavor_id"], "modelarts.vm.cpu.8u")
        self.assertEqual(spec["train_instance_count"], 2)
        self.assertEqual(spec["framework_type"], "PyTorch")
        self.assertEqual(spec["log_url"], "obs://bkt/log/")
        self.assertEqual(spec["parameters"], [{"name": "data_url", "value": "/home/u/dataset/"},
                                              {"name": "epoc_num", "value": "2"},
                                              {"name": "dist"}])
        self.assertEqual(spec["inputs"], [
            {"obs_path": "obs://bkt/dataset-zip/dataset.zip", "local_path": "/home/u/dataset/"},
            {"obs_path": "obs://bkt/dataset-local/dataset.zip", "local_path": local_data}])
        self.assertEqual(spec["outputs"], [{"obs_path": "obs://bkt/output/",
                                            "local_path": "/home/u/out/"}])
        with zipfile.ZipFile(io.BytesIO(srv.store.objects["train/train.zip"])) as zf:
            self.assertEqual(sorted(zf.namelist()), ["lib/util.py", "test-pytorch.py"])
        with zipfile.ZipFile(io.BytesIO(srv.store.objects["dataset-local/dataset.zip"])) as zf:
            self.assertEqual(zf.namelist(), ["x.csv"])

        # A second fit does not upload the local-source input again.
        del srv.store.objects["dataset-local/dataset.zip"]
        with mock.patch("sys.stdout", io.StringIO()):
            est.fit(inputs=inputs, job_name="cifar10-dis-1", wait=False)
        self.assertNotIn("dataset-local/dataset.zip", srv.store.objects)
        self.assertEqual(srv.submitted[1]["spec"]["inputs"][1]["obs_path"],
                         "obs://bkt/dataset-local/dataset.zip")

    def test_v2_remote_needs_obs_path(self):
        FakeTrainingServer(self.fake)
        est = Estimator(session=self.session, training_files=TrainingFiles(self.code, "test-pytorch.py"),
                        train_instance_type="modelarts.vm.cpu.2u")
        with self.assertRaisesRegex(ValueError, "training_files.obs_path is required"):
            est.fit(wait=False)
        est = Estimator(session=self.session,
                        training_files=TrainingFiles(self.code, "test-pytorch.py", "obs://bkt/t/"),
                        train_instance_type="modelarts.vm.cpu.2u")
        with self.assertRaisesRegex(ValueError, "cannot read local data"):
            est.fit(inputs=[InputData(local_path=self.tmp, is_local_source=True)], wait=False)

    def test_failed_remote_job_raises_with_reason(self):
        FakeTrainingServer(self.fake, log=b"boom\n", final="FAILED",
                           reason="worker-1 exited with code 3: boom")
        est = Estimator(session=self.session,
                        training_files=TrainingFiles(self.code, "test-pytorch.py", "obs://bkt/t/"),
                        train_instance_type="modelarts.vm.cpu.2u")
        with mock.patch("sys.stdout", io.StringIO()):
            with self.assertRaises(training.TrainingJobError) as cm:
                est.fit(job_name="j")
        self.assertIn("worker-1 exited with code 3: boom", str(cm.exception))
        self.assertEqual(cm.exception.exit_code, 3)
        self.assertEqual(cm.exception.code, training.CODE_JOB_FAILED)

    def test_spec_and_framework_lists(self):
        FakeTrainingServer(self.fake)
        self.assertEqual(Estimator.get_spec_list(session=self.session)["flavors"][0]["max_num"], 2)
        self.assertEqual(Estimator.get_framework_list(self.session)["frameworks"][0]
                         ["framework_type"], "PyTorch")

    def test_v1_remote_mapping_and_create_job_version(self):
        srv = FakeTrainingServer(self.fake)
        est = EstimatorV1(
            modelarts_session=self.session, framework_type="PyTorch",
            framework_version="PyTorch-1.0.0-python3.6", code_dir="/bkt/src/",
            boot_file="/bkt/src/pytorch_sentiment.py", log_url="/bkt/log/",
            hyperparameters=[{"label": "classes", "value": "10"}, {"label": "lr", "value": "0.001"}],
            output_path="/bkt/output/", train_instance_type="modelarts.vm.cpu.2u",
            train_instance_count=1, job_description="pytorch-sentiment with ModelArts SDK")
        job = est.fit(inputs="/bkt/data/train/", wait=False, job_name="my_training_job")
        self.assertEqual((job.job_id, job.version_id), ("j1", 1))
        spec = srv.submitted[0]["spec"]
        self.assertEqual(spec["code_dir"], "obs://bkt/src/")
        self.assertEqual(spec["boot_file"], "pytorch_sentiment.py")
        self.assertEqual(spec["framework_version"], "PyTorch-1.0.0-python3.6")
        self.assertEqual(spec["parameters"], [
            {"name": "classes", "value": "10"}, {"name": "lr", "value": "0.001"},
            {"name": "data_url", "value": "/cache/data/"},
            {"name": "train_url", "value": "/cache/output/"}])
        self.assertEqual(spec["inputs"], [{"obs_path": "obs://bkt/data/train/",
                                           "local_path": "/cache/data/"}])
        self.assertEqual(spec["outputs"], [{"obs_path": "obs://bkt/output/",
                                            "local_path": "/cache/output/"}])
        self.assertEqual(srv.submitted[0]["job_desc"], "pytorch-sentiment with ModelArts SDK")

        v = est.create_job_version(job_id="j1", pre_version_id=1, inputs="/bkt/data/train/",
                                   wait=False, job_desc="create a job version")
        self.assertEqual((v.job_id, v.version_id), ("j1", 2))
        body = srv.versions[0]
        self.assertEqual((body["pre_version_id"], body["job_desc"]), (1, "create a job version"))
        self.assertEqual(body["spec"]["boot_file"], "pytorch_sentiment.py")

        with self.assertRaisesRegex(ValueError, "boot_file"):
            EstimatorV1(modelarts_session=self.session, code_dir="/bkt/src/",
                        boot_file="/bkt/other/x.py", train_instance_type="f").fit(wait=False)
        with self.assertRaisesRegex(ValueError, "together"):
            est.fit(dataset_id="d1")

    def test_v1_environment_on_a_remote_job_is_refused(self):
        srv = FakeTrainingServer(self.fake)
        env = environment.Environment("pt")
        env.conda = environment.CondaDependencies.create(pip_packages=["torch==2.1"])
        est = EstimatorV1(modelarts_session=self.session, code_dir=self.code,
                          boot_file="test-pytorch.py", code_obs_path="obs://bkt/code/",
                          train_instance_type="modelarts.vm.cpu.2u", environment=env)
        for call in (lambda: est.fit(inputs="/bkt/data/", job_name="envjob"),
                     lambda: est.create_job_version("j1", 1)):
            with self.assertRaisesRegex(ValueError, r"environment .*train_instance_type='local'"):
                call()
        self.assertEqual(srv.submitted, [])
        self.assertEqual(srv.versions, [])

    def test_v1_user_command_takes_hyperparameters_as_env(self):
        srv = FakeTrainingServer(self.fake)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = EstimatorV1(
                modelarts_session=self.session, log_url="/bkt/log/",
                hyperparameters=[{"label": "classes", "value": "10"}],
                output_path="/bkt/output/", train_instance_type="modelarts.vm.cpu.2u",
                user_command="python3 /home/work/app/train.py {python_file_parameter}",
                user_image_url="100.125.5.235:20202/jobmng/cpu-base:1.0")
        est.fit(inputs="/bkt/data/train/", job_name="custom")
        spec = srv.submitted[0]["spec"]
        self.assertEqual(spec["env"], {"classes": "10"})
        self.assertEqual(spec["user_command"], "python3 /home/work/app/train.py "
                         "--data_url=/cache/data/ --train_url=/cache/output/")
        self.assertNotIn("boot_file", spec)
        self.assertNotIn("code_dir", spec)


class LocalRunTest(unittest.TestCase):
    """Local runs with a fake session: no OBS traffic when nothing is on OBS."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="atelier-trn-local-")
        self.addCleanup(__import__("shutil").rmtree, self.tmp, True)

    def script(self, body):
        return write(os.path.join(self.tmp, "code", "boot.py"), body)

    def test_env_argv_prefix_and_log(self):
        self.script("import json, os, sys\n"
                    "keys = ['MASTER_ADDR','WORLD_SIZE','RANK','LOCAL_RANK','LOCAL_WORLD_SIZE',"
                    "'NODE_RANK','GROUP_RANK','PET_NNODES','PET_NPROC_PER_NODE']\n"
                    "print(json.dumps({k: os.environ[k] for k in keys}))\n"
                    "print('argv', sys.argv[1:])\n"
                    "print('port-ok', int(os.environ['MASTER_PORT']) ==\n"
                    "      int(os.environ['PET_MASTER_PORT']) > 0)\n")
        est = Estimator(session=object(),
                        training_files=TrainingFiles(os.path.join(self.tmp, "code"), "boot.py"),
                        parameters=[{"name": "lr", "value": 0.1}, {"name": "dist"}],
                        train_instance_type="local", train_instance_count=2)
        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            job = est.fit(job_name="envtest")
        self.assertEqual(job.status, "COMPLETED")
        self.assertEqual(job.exit_codes, [0, 0])
        self.assertRegex(job.job_id, r"^local-[0-9a-f]{12}$")
        text = out.getvalue()
        for rank in (0, 1):
            log = job.get_job_log("worker-%d" % rank)
            env = json.loads(log.splitlines()[0])
            self.assertEqual(env, {"MASTER_ADDR": "127.0.0.1", "WORLD_SIZE": "2",
                                   "RANK": str(rank), "LOCAL_RANK": str(rank),
                                   "LOCAL_WORLD_SIZE": "2", "NODE_RANK": "0", "GROUP_RANK": "0",
                                   "PET_NNODES": "1", "PET_NPROC_PER_NODE": "2"})
            self.assertIn("argv ['--lr=0.1', '--dist']", log)
            self.assertIn("port-ok True", log)
            self.assertIn("[worker-%d] argv ['--lr=0.1', '--dist']" % rank, text)
        job.delete()

    def test_single_worker_has_no_prefix(self):
        self.script("print('plain line')\n")
        est = Estimator(session=object(),
                        training_files=TrainingFiles(os.path.join(self.tmp, "code"), "boot.py"),
                        train_instance_type="local")
        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            est.fit()
        self.assertEqual(out.getvalue(), "plain line\n")

    def test_failing_worker_stops_the_others(self):
        # worker-1 fails at once; worker-0 would wait forever for it.
        self.script("import os, sys, time\n"
                    "if os.environ['RANK'] == '1':\n"
                    "    print('rank 1 gives up', flush=True)\n"
                    "    sys.exit(3)\n"
                    "print('rank 0 waiting', flush=True)\n"
                    "time.sleep(600)\n")
        est = Estimator(session=object(),
                        training_files=TrainingFiles(os.path.join(self.tmp, "code"), "boot.py"),
                        train_instance_type="local", train_instance_count=2)
        start = time.monotonic()
        with mock.patch("sys.stdout", io.StringIO()):
            with self.assertRaises(training.TrainingJobError) as cm:
                est.fit(job_name="fails")
        self.assertLess(time.monotonic() - start, 30)
        e = cm.exception
        self.assertEqual((e.exit_code, e.task), (3, "worker-1"))
        self.assertIn("worker-1 exited with code 3", str(e))
        self.assertIn("rank 1 gives up", e.log_tail)
        self.assertEqual(e.job.status, "FAILED")
        self.assertEqual(e.job.exit_codes[1], 3)
        self.assertLess(e.job.exit_codes[0], 0, "worker-0 was stopped by a signal")

    def test_missing_interpreter_and_boot_file(self):
        self.script("print(1)\n")
        tf = TrainingFiles(os.path.join(self.tmp, "code"), "boot.py")
        est = Estimator(session=object(), training_files=tf, train_instance_type="local",
                        script_interpreter="/home/ma-user/anaconda3/envs/PyTorch-1.4/bin/python")
        with self.assertRaisesRegex(FileNotFoundError, "script_interpreter"):
            est.fit()
        est = Estimator(session=object(), training_files=TrainingFiles(tf.code_dir, "nope.py"),
                        train_instance_type="local")
        with self.assertRaisesRegex(FileNotFoundError, "boot_file"):
            est.fit()

    def test_v1_local_with_local_inputs_dir(self):
        code = os.path.join(self.tmp, "code")
        self.script("import sys; print('args', sys.argv[1:])\n")
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        est = EstimatorV1(modelarts_session=object(), code_dir=code, boot_file="boot.py",
                          hyperparameters=[{"label": "lr", "value": "0.1"}],
                          train_instance_type="local", train_instance_count=1)
        out = io.StringIO()
        with mock.patch("sys.stdout", out):
            job = est.fit(inputs=data, wait=False, job_name="v1local")
        self.assertEqual(job.status, "COMPLETED")
        self.assertIn("args ['--lr=0.1', '--data_url=%s']" % data, out.getvalue())


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EnvironmentTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="atelier-env-")
        self.addCleanup(__import__("shutil").rmtree, self.tmp, True)

    def test_python_version_parsing(self):
        cd = environment.CondaDependencies.create(pip_packages=["requests"],
                                                  conda_packages=["python=3.6.2", "numpy"])
        self.assertEqual(cd.python_version(), "3.6.2")
        self.assertEqual(cd.other_conda_packages(), ["numpy"])
        self.assertTrue(environment._version_matches("%d.%d" % sys.version_info[:2]))
        self.assertFalse(environment._version_matches("3.6.2"))
        with self.assertRaises(TypeError):
            environment.CondaDependencies.create(pip_packages="requests")

    def test_no_conda_means_current_interpreter(self):
        self.assertEqual(environment.Environment("x").python(), sys.executable)

    def test_unreachable_index_fails_fast_naming_the_package(self):
        env = environment.Environment("tensorflow_mlp_mnist")
        env.conda = environment.CondaDependencies.create(
            pip_packages=["tensorflow==1.13.1", "requests"])
        index = "http://127.0.0.1:%d/simple" % _closed_port()
        start = time.monotonic()
        with mock.patch.dict(os.environ, {"PIP_INDEX_URL": index}), \
                mock.patch("shutil.which", return_value=None):
            with self.assertRaises(training.TrainingJobError) as cm:
                env.python(cache_dir=self.tmp)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(cm.exception.code, training.CODE_ENV_FAILED)
        self.assertIn("'tensorflow==1.13.1'", str(cm.exception))
        self.assertIn("unreachable", str(cm.exception))
        self.assertEqual([n for n in os.listdir(self.tmp) if not n.endswith(".lock")], [])

    def test_python_mismatch_warns(self):
        env = environment.Environment("old")
        env.conda = environment.CondaDependencies.create(pip_packages=["x"],
                                                         conda_packages=["python=3.6.2"])
        index = "http://127.0.0.1:%d/simple" % _closed_port()
        with mock.patch.dict(os.environ, {"PIP_INDEX_URL": index}), \
                mock.patch("shutil.which", return_value=None):
            with self.assertWarnsRegex(RuntimeWarning, "python=3.6.2"):
                with self.assertRaises(training.TrainingJobError):
                    env.python(cache_dir=self.tmp)

    def test_venv_without_packages_is_created_once(self):
        env = environment.Environment("empty")
        env.conda = environment.CondaDependencies.create()
        with mock.patch("shutil.which", return_value=None):
            py = env.python(cache_dir=self.tmp)
            self.assertTrue(py.startswith(self.tmp))
            self.assertTrue(os.access(py, os.X_OK))
            marker = os.path.join(os.path.dirname(os.path.dirname(py)), ".atelier-env.json")
            mtime = os.stat(marker).st_mtime_ns
            self.assertEqual(env.python(cache_dir=self.tmp), py)  # cached
            self.assertEqual(os.stat(marker).st_mtime_ns, mtime)
        import subprocess

        r = subprocess.run([py, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                           capture_output=True, text=True)
        self.assertEqual(r.stdout.strip(), "True")


if __name__ == "__main__":
    unittest.main()

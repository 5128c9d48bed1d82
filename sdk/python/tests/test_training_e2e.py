"""End-to-end training tests: the seed's samples against the real `atelier server`.

Each sample runs in a fresh Python process through the ``modelarts`` alias,
unchanged apart from paths, bucket names and the notebook's interpreter
path. The training script is examples/distributed_logreg/train.py. The
server gets a flavors file with the seed's flavor ids (including the
distributed one) and four worker slots, so that two-worker jobs fit on a
small machine.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
from unittest import mock

from atelier import AtelierError, Session

from .server import REPO_ROOT, SDK_ROOT, start_with_flavors, stop_with_flavors
from .test_e2e import _empty_and_delete_bucket, _rmtree, unique_bucket

EXAMPLE = os.path.join(REPO_ROOT, "examples", "distributed_logreg", "train.py")
NOTEBOOK_PYTHON = "/home/ma-user/anaconda3/envs/PyTorch-1.4/bin/python"

FLAVORS = [
    {"flavor_id": "modelarts.vm.cpu.2u", "cpu": 1, "memory_mb": 1024},
    {"flavor_id": "modelarts.vm.cpu.8u", "cpu": 1, "memory_mb": 1024},
    {"flavor_id": "modelarts.p3.large.public.distributed", "cpu": 1, "memory_mb": 1024},
]

SERVER = None
_TMP = None


def setUpModule():
    global SERVER, _TMP
    SERVER, _TMP = start_with_flavors("atelier-trn-e2e-", FLAVORS)


def tearDownModule():
    global SERVER
    server, SERVER = SERVER, None
    stop_with_flavors(server, _TMP)


# The seed's v2 debugging flow (single machine, then distributed), as one
# program: session, data (form 1: a zip on OBS), training files, output,
# framework list, estimator, fit, spec list. TRAIN_TYPE/TRAIN_COUNT/JOB_NAME
# are the values of the seed's local, distributed and remote variants.
V2_SAMPLE = """import os
from modelarts.session import Session
session = Session()
from modelarts.train_params import InputData
base_bucket_path = "obs://modelarts-xxx-a0de02a6/dis-train/cifar10/"
base_local_path = "/home/ma-user/work/cifar10/"
obs_path = os.path.join(base_bucket_path, "dataset-zip/dataset.zip")
data_local = os.path.join(base_local_path, "dataset/")
input_data = InputData(obs_path=obs_path, local_path=data_local, is_local_source=False)
from modelarts.train_params import TrainingFiles
code_dir = os.path.join(base_local_path, "train/")
session.obs.download_file(os.path.join(base_bucket_path, "train/test-pytorch.py"), code_dir)
training_file = TrainingFiles(code_dir=code_dir, boot_file="test-pytorch.py", obs_path=base_bucket_path + 'train/')
from modelarts.train_params import OutputData
output = OutputData(local_path=os.path.join(base_local_path, "output/"), obs_path=os.path.join(base_bucket_path, 'output/'))
from modelarts.estimatorV2 import Estimator
print(Estimator.get_framework_list(session))
print(Estimator.get_spec_list(session=session))
parameters = []
parameters.append({"name": "data_url", "value": data_local})
parameters.append({"name": "output_dir", "value": os.path.join(base_local_path, "output/")})
parameters.append({"name": "epoc_num", "value": 2})
parameters.append({"name": "dist"})
estimator = Estimator(session=session, training_files=training_file, outputs=[output], parameters=parameters, framework_type='PyTorch', train_instance_type=TRAIN_TYPE, train_instance_count=TRAIN_COUNT, script_interpreter="/home/ma-user/anaconda3/envs/PyTorch-1.4/bin/python", log_url=base_bucket_path + 'log/', job_description='This is a image net train job')
job = estimator.fit(inputs=[input_data], job_name=JOB_NAME)
print("JOB", job.job_id, job.version_id)
"""

V1_SAMPLE = """from modelarts.session import Session
from modelarts.estimator import Estimator
session = Session()
estimator = Estimator(
                      modelarts_session=session,
                      framework_type='PyTorch',                                     # AI引擎名称
                      framework_version='PyTorch-1.0.0-python3.6',                  # AI引擎版本
                      code_dir='/bucket/src/',                                      # 训练脚本目录
                      boot_file='/bucket/src/pytorch_sentiment.py',                 # 训练启动脚本目录
                      log_url='/bucket/log/',                                       # 训练日志目录
                      hyperparameters=[
                                       {"label":"classes",
                                        "value": "10"},
                                       {"label":"lr",
                                        "value": "0.001"}
                                       ],
                      output_path='/bucket/output/',                                # 训练输出目录
                      train_instance_type='modelarts.vm.cpu.2u',                    # 训练环境规格
                      train_instance_count=1,                                       # 训练节点个数
                      job_description='pytorch-sentiment with ModelArts SDK')       # 训练作业描述
job_instance = estimator.fit(inputs='/bucket/data/train/', wait=False, job_name='my_training_job')
print("JOB", job_instance.job_id, job_instance.version_id)
job_version_instance = estimator.create_job_version(job_id=job_instance.job_id, pre_version_id=job_instance.version_id, inputs='/bucket/data/train/', wait=False, job_desc='create a job version')
print("VERSION", job_version_instance.job_id, job_version_instance.version_id)
"""

V1_LOCAL_ENV_SAMPLE = """from modelarts.session import Session
from modelarts.estimator import Estimator
from modelarts.environment import Environment
from modelarts.environment.conda_env import CondaDependencies
session = Session()
env = Environment("tensorflow_mlp_mnist")
cd = CondaDependencies.create(pip_packages=["tensorflow==1.13.1", "requests"], conda_packages=["python=3.6.2"])
env.conda = cd
src_local_path = "/home/ma-user/work/tensorflow_mlp_mnist_local_mode/train/"
train_file = "tensorflow_mlp_mnist.py"
estimator = Estimator(modelarts_session=session,
                      code_dir=src_local_path,                       # 本地训练脚本目录
                      boot_file=train_file,                          # 本地训练启动脚本目录
                      train_instance_type='local',                   # 指定为本地训练
                      train_instance_count=1,                        # 训练节点个数
                      environment=env)                               # 训练脚本运行的环境
job_instance = estimator.fit(wait=False, job_name='my_training_job')
"""


def _csv(n=200):
    import random

    rng = random.Random(7)
    lines = ["f1,f2,label"]
    for _ in range(n):
        a, b = rng.gauss(0, 1), rng.gauss(0, 1)
        lines.append("%.4f,%.4f,%d" % (a, b, 1 if a - b > 0 else 0))
    return ("\n".join(lines) + "\n").encode()


class TrainingE2ETest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = Session(username=SERVER.admin_email, password=SERVER.admin_password,
                            endpoint=SERVER.url)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="atelier-trn-e2e-")
        self.addCleanup(_rmtree, self.tmp)
        self.bucket = unique_bucket("trn")
        self.admin.obs.create_bucket(self.bucket)
        self.addCleanup(_empty_and_delete_bucket, self.admin, self.bucket)

    def put(self, key, data):
        p = os.path.join(self.tmp, "put", os.path.basename(key))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        d = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        self.admin.obs.upload_file(p, "obs://%s/%s" % (self.bucket, d))
        os.unlink(p)

    def get(self, key):
        out = os.path.join(self.tmp, "get")
        path = self.admin.obs.download_file("obs://%s/%s" % (self.bucket, key), out)
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        return data

    def keys(self, prefix=""):
        return {o["key"] for o in self.admin.obs.list_objects("obs://%s/%s" % (self.bucket, prefix))}

    def run_sample(self, code, timeout=180, ok=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env.update(PYTHONPATH=SDK_ROOT, ATELIER_ENDPOINT=SERVER.url,
                   ATELIER_TOKEN=self.admin.token,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "no-config"),
                   XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=self.tmp,
                           capture_output=True, text=True, timeout=timeout)
        if ok:
            self.assertEqual(r.returncode, 0, "sample failed:\nstdout:\n%s\nstderr:\n%s"
                             % (r.stdout, r.stderr))
        return r

    def v2_sample(self, train_type, count, job_name):
        # The notebook's interpreter: this Python for a local run; for the
        # server's sandboxed workers, the system's, which every sandbox
        # sees (a Python under /root is not).
        python = sys.executable
        if train_type != "local" and os.path.exists("/usr/bin/python3"):
            python = "/usr/bin/python3"
        home = os.path.join(self.tmp, "home", "ma-user") + "/"
        with open(EXAMPLE, "rb") as f:
            self.put("dis-train/cifar10/train/test-pytorch.py", f.read())
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("cifar/train.csv", _csv())
        self.put("dis-train/cifar10/dataset-zip/dataset.zip", buf.getvalue())
        code = (V2_SAMPLE.replace("modelarts-xxx-a0de02a6", self.bucket)
                .replace("/home/ma-user/anaconda3/envs/PyTorch-1.4/bin/python", python)
                .replace("/home/ma-user/", home)
                .replace("TRAIN_TYPE", repr(train_type))
                .replace("TRAIN_COUNT", str(count))
                .replace("JOB_NAME", repr(job_name)))
        return home, code

    def test_local_distributed_seed_sample(self):
        home, code = self.v2_sample("local", 2, "cifar10-dis")
        r = self.run_sample(code)
        out = r.stdout
        self.assertIn("modelarts.vm.cpu.8u", out)  # get_spec_list
        for rank in (0, 1):
            self.assertIn("[worker-%d] rank %d epoch 2 loss" % (rank, rank), out)
        self.assertRegex(out, r"JOB local-[0-9a-f]{12} 1")
        # The zip was unpacked into local_path and the script trained on it.
        self.assertTrue(os.path.isfile(os.path.join(home, "work", "cifar10", "dataset",
                                                    "cifar", "train.csv")))
        self.assertIn("[worker-0] rank 0/2: 100 samples, 2 features", out)
        model = json.loads(self.get("dis-train/cifar10/output/model.json"))
        self.assertEqual(model["world_size"], 2)
        logs = self.keys("dis-train/cifar10/log/")
        self.assertEqual(logs, {"dis-train/cifar10/log/cifar10-dis-worker-0.log",
                                "dis-train/cifar10/log/cifar10-dis-worker-1.log"})
        self.assertIn(b"rank 1 epoch 2", self.get("dis-train/cifar10/log/cifar10-dis-worker-1.log"))

    def test_remote_seed_samples(self):
        for train_type, count, name in (("modelarts.vm.cpu.8u", 1, "cifar10-dis"),
                                        ("modelarts.p3.large.public.distributed", 2,
                                         "cifar10-dis-1")):
            with self.subTest(train_type=train_type):
                home, code = self.v2_sample(train_type, count, name)
                r = self.run_sample(code)
                self.assertIn("rank 0 epoch 2 loss", r.stdout)  # worker-0's log, live
                model = json.loads(self.get("dis-train/cifar10/output/model.json"))
                self.assertEqual(model["world_size"], count)
                self.assertIn("dis-train/cifar10/train/train.zip", self.keys("dis-train/"))
                self.assertIn("dis-train/cifar10/log/%s-v1-worker-0.log" % name,
                              self.keys("dis-train/cifar10/log/"))
                self.admin.obs.delete_object("obs://%s/dis-train/cifar10/output/model.json"
                                             % self.bucket)

    def test_v1_seed_sample_and_job_version(self):
        with open(EXAMPLE, "rb") as f:
            self.put("src/pytorch_sentiment.py", f.read())
        self.put("data/train/train.csv", _csv())
        r = self.run_sample(V1_SAMPLE.replace("/bucket/", "/%s/" % self.bucket))
        lines = dict(line.split(" ", 1) for line in r.stdout.splitlines()
                     if line.startswith(("JOB", "VERSION")))
        job_id, v1 = lines["JOB"].split()
        self.assertEqual(lines["VERSION"], "%s 2" % job_id)
        from atelier.training import TrainingJob

        for version in (1, 2):
            job = TrainingJob(self.admin, job_id, version)
            info = job.wait(show_log=False, poll_interval=0.2, timeout=120)
            self.assertEqual(info["status"], "COMPLETED", info)
            log = job.get_job_log("worker-0")
            self.assertIn("rank 0 epoch 5 loss", log)
            self.assertIn("ignoring unknown arguments: --classes=10", log)
        model = json.loads(self.get("output/model.json"))
        self.assertEqual(model["epochs"], 5)

    def test_remote_failure_raises_with_exit_code(self):
        code_dir = os.path.join(self.tmp, "code")
        os.makedirs(code_dir)
        with open(os.path.join(code_dir, "boot.py"), "w") as f:
            f.write("import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n")
        from atelier.estimator import Estimator
        from atelier.train_params import TrainingFiles
        from atelier.training import TrainingJobError

        est = Estimator(session=self.admin,
                        training_files=TrainingFiles(code_dir, "boot.py",
                                                     "obs://%s/code/" % self.bucket),
                        framework_type="Python", train_instance_type="modelarts.vm.cpu.2u")
        with mock.patch("sys.stdout", io.StringIO()) as out:
            with self.assertRaises(TrainingJobError) as cm:
                est.fit(job_name="fails-%d" % int(time.time()))
        self.assertIn("about to fail", out.getvalue())
        self.assertIn("code 3", str(cm.exception))
        self.assertEqual(cm.exception.job.get_job_info()["status"], "FAILED")
        cm.exception.job.delete()
        with self.assertRaises(AtelierError) as cm2:
            cm.exception.job.get_job()
        self.assertEqual(cm2.exception.status, 404)

    def test_v1_local_environment_fails_fast_without_index(self):
        src = os.path.join(self.tmp, "home", "ma-user", "work",
                           "tensorflow_mlp_mnist_local_mode", "train")
        os.makedirs(src)
        with open(os.path.join(src, "tensorflow_mlp_mnist.py"), "w") as f:
            f.write("print('never runs')\n")
        code = V1_LOCAL_ENV_SAMPLE.replace("/home/ma-user/", os.path.join(self.tmp, "home",
                                                                          "ma-user") + "/")
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start = time.monotonic()
        with mock.patch.dict(os.environ, {"PIP_INDEX_URL": "http://127.0.0.1:%d/simple" % port,
                                          "PATH": os.path.dirname(sys.executable) + ":/bin"}):
            r = self.run_sample(code, timeout=60, ok=False)
        self.assertLess(time.monotonic() - start, 30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("'tensorflow==1.13.1'", r.stderr)
        self.assertIn("ATL.SDK.0102", r.stderr)
        self.assertNotIn("never runs", r.stdout)


if __name__ == "__main__":
    unittest.main()

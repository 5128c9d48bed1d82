"""End-to-end tests: the SDK against the real `atelier server` on 127.0.0.1:0.

The ModelArts manual's samples run unchanged apart from their paths, in a
fresh Python process, through ``from modelarts.session import Session``.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest
import uuid
from unittest import mock

from atelier import AtelierError, Session

from .server import SDK_ROOT, RealServer

SERVER = None


def setUpModule():
    global SERVER
    SERVER = RealServer().start()


def tearDownModule():
    global SERVER
    server, SERVER = SERVER, None
    if server is not None:
        rc, stderr = server.stop()
        if rc != 0:
            raise AssertionError(
                "atelier server exited with status %s after SIGTERM; stderr:\n%s" % (rc, stderr)
            )


# The four OBS samples of the seed manual, verbatim but for the bucket
# creation that the manual assumes was done in the console.
SEED_SAMPLES = [
    """from modelarts.session import Session
session = Session()
session.obs.upload_file(src_local_file='/home/ma-user/file1.txt', dst_obs_dir='obs://bucket-name/dir1/')
""",
    """from modelarts.session import Session
session = Session()
session.obs.upload_dir(src_local_dir='/home/ma-user/', dst_obs_dir='obs://bucket-name/dir1/')
""",
    """from modelarts.session import Session
session = Session()
session.obs.download_file(src_obs_file="obs://bucket-name/dir1/file1.txt", dst_local_dir="/home/ma-user/")
""",
    """from modelarts.session import Session
session = Session()
session.obs.download_dir(src_obs_dir="obs://bucket-name/dir1/", dst_local_dir="/home/ma-user/work/")
""",
]

TRAINING_SAMPLE = """import os
from modelarts.session import Session
session = Session()
base_bucket_path = "BASE_BUCKET_PATH"
base_local_path = "/home/ma-user/work/cifar10/"
code_dir = os.path.join(base_local_path, "train/")
session.obs.download_file(os.path.join(base_bucket_path, "train/test-pytorch.py"), code_dir)
"""

BIG_SIZE = 5 * 1024 * 1024 + 12345


def unique_bucket(prefix="py"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_random(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            f.write(chunk)
            left -= len(chunk)


def snapshot(root):
    """{relative path: sha256} of every file under root, and the set of directories."""
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir != ".":
            dirs.add(rel_dir.replace(os.sep, "/"))
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            with open(p, "rb") as f:
                files[os.path.relpath(p, root).replace(os.sep, "/")] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return files, dirs


def make_tree(root):
    """A tree with nested dirs, an empty dir, a non-ASCII name and a ~5 MB file."""
    write_file(os.path.join(root, "file1.txt"), b"hello from file1\n")
    write_file(os.path.join(root, "a", "b", "c", "deep.txt"), b"deep\n" * 100)
    write_file(os.path.join(root, "a", "top.json"), b'{"k": 1}')
    write_file(os.path.join(root, "données", "ünïcödé 文件 #1%.txt"), "数据".encode("utf-8"))
    write_file(os.path.join(root, "zero.bin"), b"")
    write_random(os.path.join(root, "big", "model.bin"), BIG_SIZE)
    os.makedirs(os.path.join(root, "empty", "nested-empty"))


class E2ETestCase(unittest.TestCase):
    """Base: an admin session, a temp dir, and a clean environment per test."""

    @classmethod
    def setUpClass(cls):
        cls.admin = Session(
            username=SERVER.admin_email, password=SERVER.admin_password, endpoint=SERVER.url
        )

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="atelier-pytest-")
        self.addCleanup(_rmtree, self.tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "no-config")
        patcher = mock.patch.dict(os.environ, env, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)

    def new_bucket(self, name=None):
        name = name or unique_bucket()
        self.admin.obs.create_bucket(name)
        self.addCleanup(_empty_and_delete_bucket, self.admin, name)
        return name

    def run_sample(self, code, env_extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        env["PYTHONPATH"] = SDK_ROOT
        env.update(env_extra)
        r = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(r.returncode, 0, "sample failed:\n%s\nstderr:\n%s" % (code, r.stderr))
        return r


def _rmtree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _empty_and_delete_bucket(session, name):
    try:
        for obj in session.obs.list_objects("obs://%s/" % name):
            session.obs.delete_object("obs://%s/%s" % (name, obj["key"]))
        session.obs.delete_bucket(name)
    except AtelierError as e:
        if e.status != 404:
            raise


class SeedSamplesTest(E2ETestCase):
    def _check_seed_samples(self, env_extra):
        bucket = self.new_bucket()
        home = os.path.join(self.tmp, "home", "ma-user")
        make_tree(home)
        original_files, original_dirs = snapshot(home)
        self.assertIn("empty/nested-empty", original_dirs)

        for sample in SEED_SAMPLES:
            code = sample.replace("/home/ma-user/", home + "/").replace("bucket-name", bucket)
            self.run_sample(code, env_extra)

        # upload_file stored dir1/file1.txt; upload_dir stored dir1/ma-user/… (cp -r semantics)
        keys = {o["key"] for o in self.admin.obs.list_objects("obs://%s/" % bucket)}
        want_keys = {"dir1/file1.txt"} | {"dir1/ma-user/" + rel for rel in original_files}
        self.assertEqual(keys, want_keys)
        self.assertFalse(any("empty" in k for k in keys), "empty dirs are not uploaded")

        big = self.admin.obs.stat("obs://%s/dir1/ma-user/big/model.bin" % bucket)
        self.assertEqual(big["size"], BIG_SIZE)
        self.assertEqual(big["sha256"], original_files["big/model.bin"])

        # download_file rewrote home/file1.txt with the same bytes and left no temp file.
        with open(os.path.join(home, "file1.txt"), "rb") as f:
            self.assertEqual(f.read(), b"hello from file1\n")
        self.assertEqual([n for n in os.listdir(home) if n.endswith(".part")], [])

        # download_dir wrote work/dir1/… : byte-identical, and no empty directories.
        got_files, got_dirs = snapshot(os.path.join(home, "work"))
        want_files = {"dir1/file1.txt": original_files["file1.txt"]}
        want_files.update({"dir1/ma-user/" + rel: h for rel, h in original_files.items()})
        self.assertEqual(got_files, want_files)
        self.assertFalse(any("empty" in d for d in got_dirs), got_dirs)

    def test_seed_samples_with_env_token(self):
        self._check_seed_samples(
            {"ATELIER_ENDPOINT": SERVER.url, "ATELIER_TOKEN": self.admin.token,
             "XDG_CONFIG_HOME": os.path.join(self.tmp, "no-config")}
        )

    def test_seed_sample_with_credentials_file(self):
        bucket = self.new_bucket()
        config = os.path.join(self.tmp, "config")
        os.makedirs(os.path.join(config, "atelier"))
        cred = os.path.join(config, "atelier", "credentials")
        with open(cred, "w") as f:
            json.dump({"endpoint": SERVER.url, "token": self.admin.token,
                       "expires_at": "2099-01-01T00:00:00Z", "email": SERVER.admin_email,
                       "tenant_id": self.admin.tenant_id, "user_id": self.admin.user_id}, f)
        os.chmod(cred, 0o600)
        src = os.path.join(self.tmp, "home", "ma-user", "file1.txt")
        write_file(src, b"from the credentials file")
        code = SEED_SAMPLES[0].replace("/home/ma-user/", os.path.dirname(src) + "/")
        self.run_sample(code.replace("bucket-name", bucket), {"XDG_CONFIG_HOME": config})
        st = self.admin.obs.stat("obs://%s/dir1/file1.txt" % bucket)
        self.assertEqual(st["size"], len(b"from the credentials file"))

    def test_training_sample_positional_download_file(self):
        bucket = self.new_bucket()
        script = b"print('training')\n"
        self.admin.obs.upload_file(
            self._local("test-pytorch.py", script), "obs://%s/cifar10/train/" % bucket
        )
        for i, base in enumerate(["obs://%s/cifar10/" % bucket, "/%s/cifar10/" % bucket,
                                  "s3://%s/cifar10/" % bucket]):
            with self.subTest(base=base):
                local = os.path.join(self.tmp, "run%d" % i, "home", "ma-user")
                code = TRAINING_SAMPLE.replace("BASE_BUCKET_PATH", base).replace(
                    "/home/ma-user/", local + "/")
                self.run_sample(code, {"ATELIER_ENDPOINT": SERVER.url,
                                       "ATELIER_TOKEN": self.admin.token})
                with open(os.path.join(local, "work", "cifar10", "train",
                                       "test-pytorch.py"), "rb") as f:
                    self.assertEqual(f.read(), script)

    def _local(self, name, data):
        p = os.path.join(self.tmp, "src", name)
        write_file(p, data)
        return p


class AuthTest(E2ETestCase):
    def test_login_with_email(self):
        s = Session(username=SERVER.admin_email, password=SERVER.admin_password,
                    endpoint=SERVER.url)
        self.addCleanup(s.close)
        self.assertRegex(s.token, r"^[0-9a-f]{64}$")
        me = s.whoami()
        self.assertEqual(me["email"], SERVER.admin_email)
        self.assertEqual(me["user_id"], s.user_id)
        self.assertEqual(me["tenant_id"], s.tenant_id)

    def test_login_wrong_password(self):
        with self.assertRaises(AtelierError) as cm:
            Session(username=SERVER.admin_email, password="wrong-password", endpoint=SERVER.url)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.AUTH.0005", 400))

    def test_wrong_token(self):
        s = Session(token="0" * 64, endpoint=SERVER.url)
        self.addCleanup(s.close)
        with self.assertRaises(AtelierError) as cm:
            s.obs.list_buckets()
        e = cm.exception
        self.assertEqual((e.code, e.status), ("ATL.AUTH.0002", 401))
        self.assertTrue(e.request_id)
        self.assertTrue(str(e).endswith("(ATL.AUTH.0002)"), str(e))

    def _new_key(self):
        key = self.admin.call("POST", "/v1/apikeys", json_body={"description": "python sdk test"})
        self.addCleanup(self._delete_key, key["access_key"])
        return key

    def _delete_key(self, ak):
        try:
            self.admin.call("DELETE", "/v1/apikeys/" + ak)
        except AtelierError as e:
            if e.status != 404:
                raise

    def test_access_key_session_and_reexchange(self):
        key = self._new_key()
        bucket = self.new_bucket()
        s = Session(key["access_key"], key["secret_key"], endpoint=SERVER.url)
        self.addCleanup(s.close)
        self.assertIn(bucket, [b["name"] for b in s.obs.list_buckets()])
        self.assertEqual(s.whoami()["user_id"], self.admin.user_id)

        # Revoke the exchanged token: the next call exchanges the key again.
        first = s.token
        s.call("DELETE", "/v1/auth/token")
        self.assertIn(bucket, [b["name"] for b in s.obs.list_buckets()])
        self.assertNotEqual(s.token, first)

    def test_access_key_from_environment(self):
        key = self._new_key()
        os.environ.update(ATELIER_ENDPOINT=SERVER.url, ATELIER_ACCESS_KEY=key["access_key"],
                          ATELIER_SECRET_KEY=key["secret_key"])
        s = Session()
        self.addCleanup(s.close)
        self.assertEqual(s.whoami()["email"], SERVER.admin_email)

    def test_wrong_secret_key(self):
        key = self._new_key()
        with self.assertRaises(AtelierError) as cm:
            Session(access_key=key["access_key"], secret_key="wrong", endpoint=SERVER.url)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.AUTH.0003", 401))


class ObjectTest(E2ETestCase):
    def setUp(self):
        super().setUp()
        self.obs = self.admin.obs

    def local(self, rel, data):
        p = os.path.join(self.tmp, "src", *rel.split("/"))
        write_file(p, data)
        return p

    def test_bucket_lifecycle(self):
        name = unique_bucket("life")
        created = self.obs.create_bucket(name)
        self.addCleanup(_empty_and_delete_bucket, self.admin, name)
        self.assertEqual(created["name"], name)
        self.assertIn(name, [b["name"] for b in self.obs.list_buckets()])
        self.assertTrue(self.obs.is_exist("obs://%s/" % name))
        with self.assertRaises(AtelierError) as cm:
            self.obs.create_bucket(name)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0004", 409))

        self.obs.upload_file(self.local("x.txt", b"x"), "obs://%s/" % name)
        with self.assertRaises(AtelierError) as cm:
            self.obs.delete_bucket(name)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0005", 409))

        self.obs.delete_object("obs://%s/x.txt" % name)
        self.obs.delete_bucket("obs://%s" % name)
        self.assertFalse(self.obs.is_exist("obs://%s/" % name))

    def test_invalid_bucket_name(self):
        with self.assertRaises(AtelierError) as cm:
            self.obs.create_bucket("Bad_Name")
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0001", 400))

    def test_upload_into_missing_bucket(self):
        big = os.path.join(self.tmp, "big.bin")
        write_random(big, BIG_SIZE)
        with self.assertRaises(AtelierError) as cm:
            self.obs.upload_file(big, "obs://%s/d/" % unique_bucket("missing"))
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0003", 404))
        # The session still works afterwards.
        self.assertIsInstance(self.obs.list_buckets(), list)

    def test_odd_keys_round_trip(self):
        bucket = self.new_bucket()
        names = ["a b.txt", "hash#q?.txt", "100%.txt", "ü文件.txt", "tilde~plus+.txt"]
        for i, n in enumerate(names):
            self.obs.upload_file(self.local("odd/" + n, n.encode("utf-8") * (i + 1)),
                                 "obs://%s/odd/" % bucket)
        keys = [o["key"] for o in self.obs.list_objects("obs://%s/odd/" % bucket)]
        self.assertEqual(sorted(keys, key=lambda k: k.encode()), keys)
        self.assertEqual(set(keys), {"odd/" + n for n in names})
        out = os.path.join(self.tmp, "out")
        for i, n in enumerate(names):
            got = self.obs.download_file("obs://%s/odd/%s" % (bucket, n), out)
            with open(got, "rb") as f:
                self.assertEqual(f.read(), n.encode("utf-8") * (i + 1))

    def test_stat_copy_delete_is_exist(self):
        bucket = self.new_bucket()
        data = b"some bytes" * 1000
        obj = self.obs.upload_file(self.local("f.bin", data), "obs://%s/d/" % bucket)
        self.assertEqual(obj["key"], "d/f.bin")
        self.assertEqual(obj["size"], len(data))
        self.assertEqual(obj["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(obj["etag"], hashlib.md5(data).hexdigest())

        st = self.obs.stat("obs://%s/d/f.bin" % bucket)
        self.assertEqual((st["size"], st["sha256"], st["etag"]),
                         (len(data), obj["sha256"], obj["etag"]))

        copied = self.obs.copy("obs://%s/d/f.bin" % bucket, "/%s/e/" % bucket)
        self.assertEqual(copied["key"], "e/f.bin")
        self.obs.copy("s3://%s/d/f.bin" % bucket, "obs://%s/e/renamed.bin" % bucket)
        self.assertEqual(self.obs.stat("obs://%s/e/renamed.bin" % bucket)["sha256"],
                         obj["sha256"])

        listing = self.obs.list_objects("obs://%s/" % bucket, recursive=False)
        self.assertEqual([(o["key"], o["is_dir"]) for o in listing],
                         [("d/", True), ("e/", True)])

        self.assertTrue(self.obs.is_exist("obs://%s/d/f.bin" % bucket))
        self.assertTrue(self.obs.is_exist("obs://%s/e/" % bucket))
        self.assertFalse(self.obs.is_exist("obs://%s/nope/" % bucket))
        self.assertFalse(self.obs.is_exist("obs://%s/d/nope" % bucket))
        self.assertFalse(self.obs.is_exist("obs://%s/d/f.bin" % unique_bucket("gone")))

        self.obs.delete_object("obs://%s/d/f.bin" % bucket)
        self.assertFalse(self.obs.is_exist("obs://%s/d/f.bin" % bucket))
        with self.assertRaises(AtelierError) as cm:
            self.obs.delete_object("obs://%s/d/f.bin" % bucket)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0006", 404))
        with self.assertRaises(AtelierError) as cm:
            self.obs.stat("obs://%s/d/f.bin" % bucket)
        self.assertEqual(cm.exception.status, 404)

    def test_download_missing_object_leaves_nothing(self):
        bucket = self.new_bucket()
        out = os.path.join(self.tmp, "out")
        with self.assertRaises(AtelierError) as cm:
            self.obs.download_file("obs://%s/none.txt" % bucket, out)
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0006", 404))
        self.assertFalse(os.path.exists(out), "nothing is created for a missing object")

    def test_download_dir_of_nothing(self):
        bucket = self.new_bucket()
        with self.assertRaises(AtelierError) as cm:
            self.obs.download_dir("obs://%s/none/" % bucket, os.path.join(self.tmp, "o") + "/")
        self.assertEqual(cm.exception.status, 404)

    def test_upload_dir_and_download_dir_cp_semantics(self):
        bucket = self.new_bucket()
        imgs = os.path.join(self.tmp, "data", "imgs")
        write_file(os.path.join(imgs, "1.png"), b"one")
        write_file(os.path.join(imgs, "sub", "2.png"), b"two")
        uploaded = self.obs.upload_dir(imgs, "obs://%s/in/" % bucket)  # no trailing '/'
        self.assertEqual(sorted(o["key"] for o in uploaded), ["in/imgs/1.png", "in/imgs/sub/2.png"])
        written = self.obs.download_dir("obs://%s/in/imgs/" % bucket,
                                        os.path.join(self.tmp, "x") + "/")
        self.assertEqual(sorted(written), [os.path.join(self.tmp, "x", "imgs", "1.png"),
                                           os.path.join(self.tmp, "x", "imgs", "sub", "2.png")])
        # The bucket root is named after the bucket, like `cp -r`.
        self.obs.download_dir("obs://%s/" % bucket, os.path.join(self.tmp, "root") + "/")
        with open(os.path.join(self.tmp, "root", bucket, "in", "imgs", "sub", "2.png"), "rb") as f:
            self.assertEqual(f.read(), b"two")


if __name__ == "__main__":
    unittest.main()

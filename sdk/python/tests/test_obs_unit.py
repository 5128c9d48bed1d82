"""Unit tests of OBS argument checks and transfer integrity, against a fake server."""

import hashlib
import os
import tempfile
import unittest
import urllib.parse

from atelier import AtelierError, Session

from .fakeserver import FakeObjectStore, FakeServer, Reply, error


class OBSUnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()

    @classmethod
    def tearDownClass(cls):
        cls.fake.close()

    def setUp(self):
        self.fake.reset()
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.session = Session(token="tok", endpoint=self.fake.url)
        self.addCleanup(self.session.close)
        self.obs = self.session.obs

    def path(self, *parts):
        return os.path.join(self.tmp.name, *parts)

    def write(self, rel, data):
        p = self.path(*rel.split("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_missing_trailing_slash(self):
        f = self.write("f.txt", b"x")
        cases = [
            ("dst_obs_dir", lambda: self.obs.upload_file(src_local_file=f, dst_obs_dir="obs://bkt/dir")),
            ("dst_obs_dir", lambda: self.obs.upload_dir(src_local_dir=self.tmp.name, dst_obs_dir="obs://bkt/dir")),
            ("src_obs_dir", lambda: self.obs.download_dir(src_obs_dir="obs://bkt/dir", dst_local_dir=self.tmp.name + "/")),
            ("dst_local_dir", lambda: self.obs.download_dir(src_obs_dir="obs://bkt/dir/", dst_local_dir=self.path("x"))),
            ("src_obs_file", lambda: self.obs.download_file(src_obs_file="obs://bkt/dir/", dst_local_dir=self.tmp.name)),
            ("dst_obs_dir", lambda: self.obs.upload_file(src_local_file=f, dst_obs_dir="b/dir/")),
        ]
        for param, call in cases:
            with self.subTest(param=param):
                with self.assertRaises(ValueError) as cm:
                    call()
                self.assertIn(param, str(cm.exception))
        self.assertEqual(self.fake.requests, [], "nothing is sent for bad arguments")

    def test_exact_message(self):
        f = self.write("f.txt", b"x")
        with self.assertRaises(ValueError) as cm:
            self.obs.upload_file(f, "obs://bkt/dir")
        self.assertEqual(str(cm.exception), "dst_obs_dir must end with '/': 'obs://bkt/dir'")

    def test_missing_local_source(self):
        missing = self.path("nope.txt")
        with self.assertRaises(FileNotFoundError) as cm:
            self.obs.upload_file(src_local_file=missing, dst_obs_dir="obs://bkt/d/")
        self.assertIn("src_local_file", str(cm.exception))
        self.assertIn(missing, str(cm.exception))
        with self.assertRaises(FileNotFoundError) as cm:
            self.obs.upload_dir(src_local_dir=self.path("nodir") + "/", dst_obs_dir="obs://bkt/d/")
        self.assertIn("src_local_dir", str(cm.exception))
        with self.assertRaises(IsADirectoryError):
            self.obs.upload_file(self.tmp.name, "obs://bkt/d/")
        with self.assertRaises(NotADirectoryError):
            self.obs.upload_dir(self.write("plain", b""), "obs://bkt/d/")
        self.assertEqual(self.fake.requests, [])

    def test_upload_sends_length_digest_and_encoded_key(self):
        data = os.urandom(300_000)
        f = self.write("dir/ü a.bin", data)
        key_path = "/v1/obs/bkt/d/%C3%BC%20a.bin"
        self.fake.route("PUT", key_path, lambda req: Reply(200, {
            "bucket": "bkt", "key": "d/ü a.bin", "size": len(req.body)}))
        obj = self.obs.upload_file(f, "obs://bkt/d/")
        self.assertEqual(obj["key"], "d/ü a.bin")
        req = self.fake.requests[-1]
        self.assertEqual(req.body, data)
        self.assertEqual(req.headers["Content-Length"], str(len(data)))
        self.assertEqual(req.headers["x-atelier-sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(req.headers["Authorization"], "Bearer tok")

    def test_upload_error_is_raised(self):
        f = self.write("f.txt", b"abc")
        self.fake.route("PUT", "/v1/obs/nob/f.txt",
                        lambda req: error(404, "ATL.OBS.0003", 'bucket "nob" does not exist'))
        with self.assertRaises(AtelierError) as cm:
            self.obs.upload_file(f, "obs://nob/")
        self.assertEqual(str(cm.exception), 'bucket "nob" does not exist (ATL.OBS.0003)')
        self.assertEqual(cm.exception.status, 404)

    def _serve_object(self, body, sha, length=None, close_after=False):
        headers = {"x-atelier-sha256": sha, "Content-Type": "application/octet-stream"}
        if length is not None:
            headers["Content-Length"] = str(length)
        self.fake.route("GET", "/v1/obs/bkt/d/f.bin",
                        lambda req: Reply(200, body, headers, close_after=close_after))

    def test_download_verifies_and_renames(self):
        data = os.urandom(700_000)
        self._serve_object(data, hashlib.sha256(data).hexdigest())
        dst = self.path("new", "dir")
        got = self.obs.download_file("obs://bkt/d/f.bin", dst)
        self.assertEqual(got, os.path.join(dst, "f.bin"))
        with open(got, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(os.listdir(dst), ["f.bin"])

    def test_download_checksum_mismatch_leaves_nothing(self):
        data = b"corrupted bytes"
        self._serve_object(data, hashlib.sha256(b"other").hexdigest())
        dst = self.path("out")
        os.makedirs(dst)
        with self.assertRaises(AtelierError) as cm:
            self.obs.download_file("obs://bkt/d/f.bin", dst)
        self.assertEqual(cm.exception.code, "ATL.SDK.0001")
        self.assertEqual(os.listdir(dst), [])

    def test_download_mismatch_keeps_previous_file(self):
        old = self.write("out/f.bin", b"previous")
        self._serve_object(b"new", hashlib.sha256(b"other").hexdigest())
        with self.assertRaises(AtelierError):
            self.obs.download_file("obs://bkt/d/f.bin", self.path("out"))
        with open(old, "rb") as f:
            self.assertEqual(f.read(), b"previous")
        self.assertEqual(os.listdir(self.path("out")), ["f.bin"])

    def test_download_cut_short_leaves_nothing(self):
        data = b"x" * 1000
        self._serve_object(data, hashlib.sha256(data).hexdigest(), length=5000, close_after=True)
        dst = self.path("out")
        with self.assertRaises(AtelierError) as cm:
            self.obs.download_file("obs://bkt/d/f.bin", dst)
        self.assertEqual(cm.exception.code, "ATL.SDK.0002")
        self.assertEqual(os.listdir(dst), [])

    def test_download_missing_object_creates_no_file(self):
        self.fake.route("GET", "/v1/obs/bkt/d/f.bin",
                        lambda req: error(404, "ATL.OBS.0006", "object does not exist"))
        with self.assertRaises(AtelierError) as cm:
            self.obs.download_file("obs://bkt/d/f.bin", self.path("out"))
        self.assertEqual((cm.exception.code, cm.exception.status), ("ATL.OBS.0006", 404))
        self.assertFalse(os.path.exists(self.path("out")), "nothing is created for a missing object")

    def test_list_objects_follows_continuation_tokens(self):
        pages = {
            None: {"objects": [{"key": "p/a", "size": 1}], "common_prefixes": [],
                   "is_truncated": True, "next_continuation_token": "t1"},
            "t1": {"objects": [{"key": "p/b", "size": 2}], "common_prefixes": [],
                   "is_truncated": True, "next_continuation_token": "t 2"},
            "t 2": {"objects": [{"key": "p/c", "size": 3}], "common_prefixes": [],
                    "is_truncated": False},
        }
        seen = []

        def listing(req):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
            seen.append(q)
            tok = q.get("continuation_token", [None])[0]
            return Reply(200, dict(pages[tok], bucket="bkt", prefix="p/"))

        self.fake.route("GET", "/v1/obs/bkt", listing)
        objs = self.obs.list_objects("obs://bkt/p/")
        self.assertEqual([o["key"] for o in objs], ["p/a", "p/b", "p/c"])
        self.assertTrue(all(q["prefix"] == ["p/"] for q in seen))
        self.assertNotIn("delimiter", seen[0])

    def test_list_objects_non_recursive(self):
        self.fake.route("GET", "/v1/obs/bkt", lambda req: Reply(200, {
            "bucket": "bkt", "prefix": "p/", "delimiter": "/",
            "objects": [{"key": "p/z"}], "common_prefixes": ["p/a/"], "is_truncated": False}))
        objs = self.obs.list_objects("obs://bkt/p/", recursive=False)
        self.assertEqual([(o["key"], o["is_dir"]) for o in objs], [("p/a/", True), ("p/z", False)])
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.fake.requests[-1].path).query)
        self.assertEqual(q["delimiter"], ["/"])


    def test_directory_round_trip_is_cp_r(self):
        store = FakeObjectStore("bkt", page_size=2)
        self.fake.fallback = store
        src = self.path("data", "imgs")
        files = {"1.png": b"one", "sub/2.png": b"two", "sub/deeper/3.png": b"three",
                 "ü 文件.txt": "x".encode(), "z.bin": os.urandom(100_000)}
        for rel, data in files.items():
            self.write("data/imgs/" + rel, data)
        os.makedirs(self.path("data", "imgs", "empty", "inner"))

        uploaded = self.obs.upload_dir(src_local_dir=src + "/", dst_obs_dir="obs://bkt/in/")
        self.assertEqual(len(uploaded), len(files))
        self.assertEqual(set(store.objects), {"in/imgs/" + rel for rel in files})

        out = self.path("x") + "/"
        written = self.obs.download_dir(src_obs_dir="obs://bkt/in/imgs/", dst_local_dir=out)
        self.assertEqual(sorted(written),
                         sorted(os.path.join(out, "imgs", *rel.split("/")) for rel in files))
        for rel, data in files.items():
            with open(os.path.join(out, "imgs", *rel.split("/")), "rb") as f:
                self.assertEqual(f.read(), data)
        self.assertFalse(os.path.exists(os.path.join(out, "imgs", "empty")))
        listed = [r for r in self.fake.requests if r.method == "GET" and "/v1/obs/bkt?" in r.path]
        self.assertGreater(len(listed), 1, "the listing was paged")

    def test_directory_upload_stops_at_first_error(self):
        store = FakeObjectStore("bkt")
        self.fake.fallback = store
        for i in range(20):
            self.write("d/f%02d.txt" % i, b"x")
        with self.assertRaises(AtelierError) as cm:
            self.obs.upload_dir(self.path("d"), "obs://other/in/")
        self.assertEqual(cm.exception.code, "ATL.OBS.0003")
        puts = [r for r in self.fake.requests if r.method == "PUT"]
        self.assertLessEqual(len(puts), 4, "no new transfer starts after a failure")


if __name__ == "__main__":
    unittest.main()

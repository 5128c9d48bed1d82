"""Table tests for object path parsing and URL encoding."""

import json
import os
import random
import unittest
import urllib.parse

from atelier import paths

# The cases the Go parser (objectpath_test.go) is tested against too, so that
# the two grammars cannot drift.
CASES = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "testdata", "objectpath_cases.json"
)


def _input(case):
    """The input of a case: in (or the bytes in_hex, undecodable bytes kept as
    surrogates), then repeat[0] repeated repeat[1] times, then tail."""
    if "in_hex" in case:
        s = bytes.fromhex(case["in_hex"]).decode("utf-8", "surrogateescape")
    else:
        s = case["in"]
    if "repeat" in case:
        s += case["repeat"][0] * case["repeat"][1]
    return s + case.get("tail", "")


class SharedCasesTest(unittest.TestCase):
    def test_cases(self):
        with open(CASES, encoding="utf-8") as f:
            cases = json.load(f)
        self.assertGreater(len(cases), 40)
        for case in cases:
            path = _input(case)
            with self.subTest(case["name"]):
                if "error" in case:
                    with self.assertRaises(ValueError) as cm:
                        paths.parse(path, "src_obs_dir")
                    self.assertEqual(str(cm.exception), "src_obs_dir %r: %s" % (path, case["error"]))
                    with self.assertRaises(ValueError):
                        paths.parse_dir(path, "src_obs_dir")
                    continue
                p = paths.parse(path, "src_obs_dir")
                for field, got in (("bucket", p.bucket), ("key", p.key), ("dir", p.is_dir), ("string", str(p))):
                    if field in case:
                        self.assertEqual(got, case[field], field)
                self.assertEqual(paths.parse(str(p)), p)
                if p.is_dir:
                    self.assertEqual(paths.parse_dir(path), p)
                else:
                    with self.assertRaises(ValueError) as cm:
                        paths.parse_dir(path, "dst")
                    self.assertTrue(str(cm.exception).endswith(": The object path must end in / to name a directory."))


class ParseTest(unittest.TestCase):
    def test_valid(self):
        cases = [
            ("obs://bkt/k", ("bkt", "k"), False),
            ("s3://bkt/k", ("bkt", "k"), False),
            ("/bkt/k", ("bkt", "k"), False),
            ("OBS://bkt/dir/", ("bkt", "dir/"), True),
            ("obs://bkt", ("bkt", ""), True),
            ("obs://bkt/", ("bkt", ""), True),
            ("/bkt/", ("bkt", ""), True),
            ("obs://bucket-name/dir1/file1.txt", ("bucket-name", "dir1/file1.txt"), False),
            ("obs://bkt/données/文件.txt", ("bkt", "données/文件.txt"), False),
        ]
        for path, want, is_dir in cases:
            with self.subTest(path=path):
                p = paths.parse(path)
                self.assertEqual((p.bucket, p.key), want)
                self.assertEqual(p.is_dir, is_dir)

    def test_invalid(self):
        for path in ["", "b/k", "obs://", "obs:///k", "//k", "http://b/k", "file.txt",
                     "obs://b/k", "obs://Bad_Bucket/x/", "obs://bkt/a//c"]:
            with self.subTest(path=path):
                with self.assertRaises(ValueError) as cm:
                    paths.parse(path, "src_obs_dir")
                self.assertIn("src_obs_dir", str(cm.exception))

    def test_has_scheme(self):
        for path, want in [("obs://b", True), ("OBS://b", True), ("S3://x", True), ("/b/k", False),
                           ("obs:/b", False), ("", False), ("obſ://b", False)]:
            with self.subTest(path=path):
                self.assertEqual(paths.has_scheme(path), want)

    def test_not_a_string(self):
        with self.assertRaises(TypeError):
            paths.parse(None, "p")

    def test_basename_and_child(self):
        cases = [
            ("obs://bkt/in/imgs/", "imgs"),
            ("obs://bkt/in/imgs", "imgs"),
            ("obs://bkt/", "bkt"),
            ("obs://bkt/x.txt", "x.txt"),
        ]
        for path, want in cases:
            with self.subTest(path=path):
                self.assertEqual(paths.parse(path).basename, want)
        self.assertEqual(paths.parse("obs://bkt/d/").child("f"), ("bkt", "d/f"))
        self.assertEqual(paths.parse("obs://bkt/").child("f"), ("bkt", "f"))
        self.assertEqual(paths.parse("obs://bkt/d").child("f"), ("bkt", "d/f"))
        self.assertEqual(str(paths.parse("/bkt/d/")), "obs://bkt/d/")

    def test_url_path(self):
        cases = [
            (("b", ""), "/v1/obs/b"),
            (("b", "k"), "/v1/obs/b/k"),
            (("b", "a b/c?d#e%f"), "/v1/obs/b/a%20b/c%3Fd%23e%25f"),
            (("b", "x//y~z"), "/v1/obs/b/x//y~z"),
            (("b", "ü/文"), "/v1/obs/b/%C3%BC/%E6%96%87"),
        ]
        for (bucket, key), want in cases:
            with self.subTest(key=key):
                self.assertEqual(paths.object_url_path(bucket, key), want)


    def test_random_keys_round_trip(self):
        # A small seeded fuzz: a key is either refused with ValueError or
        # survives parse() in every spelling; any key survives per-segment
        # quoting.
        rng = random.Random(1)
        alphabet = "ab/~ %#?&+=.:;@!*'()[]\\\"üé文件\t"
        accepted = 0
        for _ in range(500):
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
            try:
                want = paths.parse("obs://bkt/" + key)
            except ValueError:
                want = None
            for scheme in ("obs://", "s3://", "S3://", "/"):
                if want is None:
                    with self.assertRaises(ValueError):
                        paths.parse(scheme + "bkt/" + key)
                else:
                    self.assertEqual(paths.parse(scheme + "bkt/" + key), ("bkt", key))
                    accepted += 1
            url = paths.object_url_path("bkt", key)
            self.assertNotIn("?", url)
            self.assertNotIn("#", url)
            self.assertEqual(urllib.parse.unquote(url[len("/v1/obs/bkt/"):]), key)
        self.assertGreater(accepted, 0)


if __name__ == "__main__":
    unittest.main()

"""Table tests for object path parsing and URL encoding."""

import unittest

from atelier import paths


class ParseTest(unittest.TestCase):
    def test_valid(self):
        cases = [
            ("obs://b/k", ("b", "k"), False),
            ("s3://b/k", ("b", "k"), False),
            ("/b/k", ("b", "k"), False),
            ("OBS://b/dir/", ("b", "dir/"), True),
            ("obs://b", ("b", ""), True),
            ("obs://b/", ("b", ""), True),
            ("/b/", ("b", ""), True),
            ("obs://bucket-name/dir1/file1.txt", ("bucket-name", "dir1/file1.txt"), False),
            ("obs://b/a//c", ("b", "a//c"), False),
            ("obs://b/données/文件.txt", ("b", "données/文件.txt"), False),
        ]
        for path, want, is_dir in cases:
            with self.subTest(path=path):
                p = paths.parse(path)
                self.assertEqual((p.bucket, p.key), want)
                self.assertEqual(p.is_dir, is_dir)

    def test_invalid(self):
        for path in ["", "b/k", "obs://", "obs:///k", "//k", "http://b/k", "file.txt"]:
            with self.subTest(path=path):
                with self.assertRaises(ValueError) as cm:
                    paths.parse(path, "src_obs_dir")
                self.assertIn("src_obs_dir", str(cm.exception))

    def test_not_a_string(self):
        with self.assertRaises(TypeError):
            paths.parse(None, "p")

    def test_basename_and_child(self):
        cases = [
            ("obs://b/in/imgs/", "imgs"),
            ("obs://b/in/imgs", "imgs"),
            ("obs://b/", "b"),
            ("obs://b/x.txt", "x.txt"),
        ]
        for path, want in cases:
            with self.subTest(path=path):
                self.assertEqual(paths.parse(path).basename, want)
        self.assertEqual(paths.parse("obs://b/d/").child("f"), ("b", "d/f"))
        self.assertEqual(paths.parse("obs://b/").child("f"), ("b", "f"))
        self.assertEqual(paths.parse("obs://b/d").child("f"), ("b", "d/f"))
        self.assertEqual(str(paths.parse("/b/d/")), "obs://b/d/")

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
        # A small seeded fuzz: any key survives parse() and per-segment quoting.
        import random
        import urllib.parse

        rng = random.Random(1)
        alphabet = "ab/~ %#?&+=.:;@!*'()[]\\\"üé文件\t"
        for _ in range(500):
            key = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
            for scheme in ("obs://", "s3://", "/"):
                p = paths.parse(scheme + "bkt/" + key)
                self.assertEqual((p.bucket, p.key), ("bkt", key))
            url = paths.object_url_path("bkt", key)
            self.assertNotIn("?", url)
            self.assertNotIn("#", url)
            self.assertEqual(urllib.parse.unquote(url[len("/v1/obs/bkt/"):]), key)


if __name__ == "__main__":
    unittest.main()

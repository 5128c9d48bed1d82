"""Tests of AtelierError and the decoding of API error answers."""

import unittest

from atelier import AtelierError, _http


class ErrorTest(unittest.TestCase):
    def test_str(self):
        e = AtelierError("ATL.OBS.0003", 'bucket "x" does not exist', 404, "r1")
        self.assertEqual(str(e), 'bucket "x" does not exist (ATL.OBS.0003)')
        self.assertEqual((e.code, e.message, e.status, e.request_id),
                         ("ATL.OBS.0003", 'bucket "x" does not exist', 404, "r1"))
        self.assertIsInstance(e, Exception)

    def test_from_v1_answer(self):
        body = b'{"error_code":"ATL.AUTH.0002","error_msg":"bad token","request_id":"abc"}'
        e = _http.error_from_response(401, {"X-Request-Id": "hdr"}, body)
        self.assertEqual((e.code, e.message, e.status, e.request_id),
                         ("ATL.AUTH.0002", "bad token", 401, "abc"))

    def test_from_v2_answer_uses_header_request_id(self):
        body = b'{"error_code":"ATL.AUTH.0005","error_msg":"wrong password"}'
        e = _http.error_from_response(400, {"X-Request-Id": "hdr"}, body)
        self.assertEqual((e.code, e.status, e.request_id), ("ATL.AUTH.0005", 400, "hdr"))

    def test_from_non_json_answer(self):
        e = _http.error_from_response(502, {}, b"<html>bad gateway</html>")
        self.assertEqual(e.code, "ATL.SDK.0003")
        self.assertEqual(e.status, 502)
        self.assertIn("502", e.message)


if __name__ == "__main__":
    unittest.main()

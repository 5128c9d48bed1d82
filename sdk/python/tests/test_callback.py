"""Tests of pure-Python AES/AES-GCM and the event callback receiver (CONTRACT §5)."""

import base64
import http.client
import http.server
import json
import os
import threading
import unittest

from atelier import _aesgcm, callback

SIGN = "sign-key-for-tests"
ENC = "0123456789abcdef0123456789abcdef"  # 32 characters -> AES-256
NOW = 1_700_000_000.0
TS = str(int(NOW * 1000))

TC_P = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
TC_K = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
TC_IV = bytes.fromhex("cafebabefacedbaddecaf888")


class AESTest(unittest.TestCase):
    def test_fips197_appendix_c(self):
        pt = bytes.fromhex("00112233445566778899aabbccddeeff")
        cases = [
            ("C.1 AES-128", "000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
            ("C.2 AES-192", "000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
            ("C.3 AES-256", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
             "8ea2b7ca516745bfeafc49904b496089"),
        ]
        for name, key, want in cases:
            with self.subTest(name):
                self.assertEqual(_aesgcm.AES(bytes.fromhex(key)).encrypt_block(pt).hex(), want)

    def test_bad_key_and_block(self):
        for n in (0, 15, 17, 31, 33):
            with self.assertRaises(ValueError):
                _aesgcm.AES(bytes(n))
        with self.assertRaises(ValueError):
            _aesgcm.AES(bytes(16)).encrypt_block(bytes(15))


class GCMTest(unittest.TestCase):
    # McGrew & Viega, "The Galois/Counter Mode of Operation", test cases (96-bit IVs).
    VECTORS = [
        ("TC2", bytes(16), bytes(12), bytes(16), b"",
         "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
        ("TC3", TC_K, TC_IV, TC_P, b"",
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
         "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
         "4d5c2af327cd64a62cf35abd2ba6fab4"),
        ("TC4", TC_K, TC_IV, TC_P[:60], bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
         "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
         "5bc94fbc3221a5db94fae95ae7121a47"),
        ("TC14", bytes(32), bytes(12), bytes(16), b"",
         "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"),
        ("TC15", TC_K + TC_K, TC_IV, TC_P, b"",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"),
        # Produced once during development with Go's crypto/aes + crypto/cipher
        # NewGCM().Seal(nil, iv, pt, nil) (a throwaway program outside the repo);
        # they cover AES-192 and lengths that are not a multiple of 16.
        ("go-128", bytes.fromhex("000102030405060708090a0b0c0d0e0f"), bytes.fromhex("0a0b0c0d0e0f101112131415"),
         b"hello, atlier!!", b"", "4887445b365632a1259e14885f1dda", "a60e037401a595119b7233da884644ab"),
        ("go-192", bytes.fromhex("000102030405060708090a0b0c0d0e0f1011121314151617"),
         bytes.fromhex("0102030405060708090a0b0c"), b'{"event":"CREATE_USER"}', b"",
         "075a7993b69b7f2e3026346f2702f88c46b467c4e2615e", "a3627a3f07c19c160f302f865a35404f"),
        ("go-256", b"12345678901234567890123456789012", TC_IV,
         b"ABCDEFGHJKLMNOPQRSTUVWXYZabcdefghi", b"",
         "b377f7f431aa5eee7ed87fcedd6d0d595e59d2e5ee250f88419c6727368f6f7b1a59",
         "17ef8e0bd6fe66f68f7a9444eb82367f"),
    ]

    def test_vectors(self):
        for name, key, iv, pt, aad, ct, tag in self.VECTORS:
            with self.subTest(name):
                g = _aesgcm.AESGCM(key)
                sealed = g.encrypt(iv, pt, aad)
                self.assertEqual(sealed.hex(), ct + tag)
                self.assertEqual(g.decrypt(iv, sealed, aad), pt)

    def test_rejects_tampering_and_wrong_key(self):
        g = _aesgcm.AESGCM(TC_K)
        sealed = g.encrypt(TC_IV, TC_P)
        for i in (0, len(TC_P) - 1, len(sealed) - 1):
            bad = bytearray(sealed)
            bad[i] ^= 1
            with self.subTest(byte=i), self.assertRaises(_aesgcm.AuthenticationError):
                g.decrypt(TC_IV, bytes(bad))
        with self.assertRaises(_aesgcm.AuthenticationError):
            _aesgcm.AESGCM(bytes(16)).decrypt(TC_IV, sealed)
        with self.assertRaises(_aesgcm.AuthenticationError):
            g.decrypt(TC_IV, sealed, b"aad")
        with self.assertRaises(ValueError):
            g.decrypt(TC_IV, sealed[:15])
        with self.assertRaises(ValueError):
            g.encrypt(bytes(16), b"x")
        with self.assertRaises(ValueError):
            g.encrypt(TC_IV, bytes(_aesgcm.MAX_PAYLOAD + 1))


def envelope(event_type, data, nonce="n-1", ts=TS, key=SIGN):
    return {"nonce": nonce, "timestamp": ts, "eventType": event_type, "data": data,
            "signature": callback.sign(key, nonce, ts, event_type, data)}


def body(env):
    return json.dumps(env).encode()


class CryptoTest(unittest.TestCase):
    def test_roundtrip_all_key_sizes(self):
        for key in (ENC[:16], ENC[:24], ENC):
            with self.subTest(len(key)):
                data = callback.encrypt(key, '{"a":"x&y"}')
                self.assertEqual(callback.decrypt(key, data), '{"a":"x&y"}')

    def test_wire_layout(self):
        iv = bytes(range(12))
        data = callback.encrypt(ENC, "{}", iv=iv, prefix="abcdefghijklmnop")
        raw = base64.b64decode(data)
        self.assertEqual(raw[:12], iv)
        want = _aesgcm.AESGCM(ENC.encode()).encrypt(iv, b"abcdefghijklmnop&{}")
        self.assertEqual(raw[12:], want)
        # A fresh encryption uses a fresh IV and prefix.
        self.assertNotEqual(callback.encrypt(ENC, "{}"), callback.encrypt(ENC, "{}"))

    def test_decrypt_errors(self):
        good = callback.encrypt(ENC, "{}")
        raw = base64.b64decode(good)
        tampered = base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode()
        no_amp = base64.b64encode(bytes(12) + _aesgcm.AESGCM(ENC.encode()).encrypt(bytes(12), b"noampersand")).decode()
        cases = [
            ("tag", ENC, tampered),
            ("wrong key", "fedcba9876543210fedcba9876543210", good),
            ("truncated", ENC, base64.b64encode(raw[:27]).decode()),
            ("bad base64", ENC, "not*base64!"),
            ("no &", ENC, no_amp),
        ]
        for name, key, data in cases:
            with self.subTest(name), self.assertRaises(callback.DecryptError):
                callback.decrypt(key, data)

    def test_bad_key_length(self):
        for key in ("short", "0123456789abcdef0", "é" * 10):  # the last is 10 chars but 20 UTF-8 bytes
            with self.subTest(key), self.assertRaises(ValueError):
                callback.encrypt(key, "{}")


class EnvelopeTest(unittest.TestCase):
    def test_sign_known_value(self):
        # HMAC-SHA256(key="k", "n&1&E&d"), Base64, computed independently with hmac/hashlib.
        import hashlib
        import hmac
        want = base64.b64encode(hmac.new(b"k", b"n&1&E&d", hashlib.sha256).digest()).decode()
        self.assertEqual(callback.sign("k", "n", "1", "E", "d"), want)

    def test_open_plain_and_encrypted(self):
        ev = {"id": "u1", "name": "a&b"}
        t, e = callback.open_envelope(SIGN, None, body(envelope("CREATE_USER", json.dumps(ev))), now=NOW)
        self.assertEqual((t, e), ("CREATE_USER", ev))
        data = callback.encrypt(ENC, json.dumps(ev))
        t, e = callback.open_envelope(SIGN, ENC, body(envelope("UPDATE_USER", data)), now=NOW)
        self.assertEqual((t, e), ("UPDATE_USER", ev))

    def test_keys_read_from_files_keep_their_newline(self):
        # A key file written by `echo key > signing.key` ends with a newline;
        # the CLI drops one final "\n" or "\r\n" from --signing-key-file, and
        # the kit must take the file's contents as they are read too.
        ev = {"id": "u1"}
        data = callback.encrypt(ENC, json.dumps(ev))
        for nl in ("\n", "\r\n"):
            with self.subTest(newline=repr(nl)):
                t, e = callback.open_envelope(SIGN + nl, ENC + nl, body(envelope("UPDATE_USER", data)), now=NOW)
                self.assertEqual((t, e), ("UPDATE_USER", ev))
                self.assertEqual(callback.sign(SIGN + nl, "n", "1", "E", "d"), callback.sign(SIGN, "n", "1", "E", "d"))
                self.assertEqual(callback.decrypt(ENC + nl, callback.encrypt(ENC + nl, "x&y")), "x&y")
                handler = callback.make_handler([SIGN + nl], ENC.encode() + nl.encode(), lambda *a: None)
                self.assertIsNotNone(handler)
        with self.assertRaises(ValueError):
            callback.encrypt(ENC + " ", "x")  # only a line ending is dropped

    def test_verify_failures(self):
        env = envelope("CREATE_USER", "{}")
        cases = {
            "wrong key": (dict(env), "other-key"),
            "changed data": (dict(env, data='{"x":1}'), SIGN),
            "changed type": (dict(env, eventType="DELETE_USER"), SIGN),
            "missing field": ({k: v for k, v in env.items() if k != "nonce"}, SIGN),
            "non-string": (dict(env, timestamp=int(TS)), SIGN),
        }
        for name, (e, key) in cases.items():
            with self.subTest(name), self.assertRaises(callback.SignatureError):
                callback.verify(key, e)
        for raw in (b"not json", b"[1]", b"\xff"):
            with self.subTest(raw), self.assertRaises(callback.SignatureError):
                callback.open_envelope(SIGN, None, raw, now=NOW)

    def test_skew(self):
        b = body(envelope("CREATE_USER", "{}"))
        callback.open_envelope(SIGN, None, b, now=NOW + 299)
        for now in (NOW + 301, NOW - 301):
            with self.subTest(now), self.assertRaises(callback.TimestampError):
                callback.open_envelope(SIGN, None, b, now=now)
        with self.assertRaises(callback.TimestampError):
            callback.open_envelope(SIGN, None, body(envelope("CREATE_USER", "{}", ts="-5")), now=NOW)

    def test_replayed_nonce(self):
        cache = callback.NonceCache()
        b = body(envelope("CREATE_USER", "{}", nonce="dup"))
        callback.open_envelope(SIGN, None, b, now=NOW, nonce_cache=cache)
        with self.assertRaises(callback.ReplayError):
            callback.open_envelope(SIGN, None, b, now=NOW, nonce_cache=cache)
        # A forged envelope must not poison the cache.
        forged = dict(envelope("CREATE_USER", "{}", nonce="fresh"), signature="AAAA")
        with self.assertRaises(callback.SignatureError):
            callback.open_envelope(SIGN, None, body(forged), now=NOW, nonce_cache=cache)
        self.assertTrue(cache.add("fresh"))

    def test_nonce_cache_bounds(self):
        t = [0.0]
        c = callback.NonceCache(max_size=2, ttl=10, clock=lambda: t[0])
        self.assertTrue(c.add("a"))
        self.assertFalse(c.add("a"))
        c.add("b")
        c.add("c")  # evicts "a"
        self.assertEqual(len(c), 2)
        self.assertTrue(c.add("a"))
        t[0] = 100.0  # everything expired
        self.assertTrue(c.add("b"))
        self.assertEqual(len(c), 1)

    def test_reply(self):
        self.assertEqual(json.loads(callback.reply({"k": 1})), {"code": "200", "message": "success", "data": {"k": 1}})
        self.assertEqual(json.loads(callback.reply()), {"code": "200", "message": "success", "data": None})
        self.assertEqual(json.loads(callback.check_url_reply("rnd"))["data"], "rnd")
        enc = json.loads(callback.check_url_reply("rnd", ENC))["data"]
        self.assertEqual(callback.decrypt(ENC, enc), "rnd")


class HandlerTest(unittest.TestCase):
    def start(self, enc, on_event, **kw):
        handler = callback.make_handler(SIGN, enc, on_event, clock=lambda: NOW, **kw)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        self.addCleanup(th.join)
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv.server_address[1]

    def post(self, port, payload, token="tok"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("POST", "/cb", body=payload,
                     headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())

    def test_end_to_end_encrypted(self):
        got = []
        fail = [True]

        def on_event(t, e):
            got.append((t, e))
            if fail[0]:
                fail[0] = False
                raise RuntimeError("transient")
            return {"ok": True}

        port = self.start(ENC, on_event, security_token="tok")

        # CHECK_URL: the reply echoes the random string, encrypted again.
        chk = envelope(callback.CHECK_URL, callback.encrypt(ENC, "RandomEcho123"), nonce="c1")
        status, resp = self.post(port, body(chk))
        self.assertEqual((status, resp["code"], resp["message"]), (200, "200", "success"))
        self.assertEqual(callback.decrypt(ENC, resp["data"]), "RandomEcho123")
        self.assertEqual(got, [])

        ev = envelope("CREATE_USER", callback.encrypt(ENC, '{"id":"u1"}'), nonce="e1")
        status, resp = self.post(port, body(ev))
        self.assertEqual(status, 500)  # handler failed: Atelier retries
        status, resp = self.post(port, body(ev))  # the retry is processed again
        self.assertEqual((status, resp), (200, {"code": "200", "message": "success", "data": {"ok": True}}))
        status, resp = self.post(port, body(ev))  # a duplicate is acknowledged, not re-run
        self.assertEqual((status, resp["code"]), (200, "200"))
        self.assertEqual(got, [("CREATE_USER", {"id": "u1"})] * 2)

        self.assertEqual(self.post(port, body(ev), token="bad")[0], 401)
        self.assertEqual(self.post(port, body(dict(ev, signature="AAAA")))[0], 401)
        stale = envelope("CREATE_USER", callback.encrypt(ENC, "{}"), nonce="e2", ts=str(int(NOW * 1000) - 400_000))
        self.assertEqual(self.post(port, body(stale))[0], 400)
        tampered = envelope("CREATE_USER", callback.encrypt(ENC[:16], "{}"), nonce="e3")
        self.assertEqual(self.post(port, body(tampered))[0], 400)
        self.assertEqual(len(got), 2)

    def test_check_url_plain(self):
        port = self.start(None, lambda t, e: None)
        status, resp = self.post(port, body(envelope(callback.CHECK_URL, "plainRandom")))
        self.assertEqual((status, resp["data"]), (200, "plainRandom"))


class GoVectorsTest(unittest.TestCase):
    """The Python receiver against the vectors the Go kit
    (sdk/go/atelier/callback) writes: the two sides agree byte for byte."""

    def test_go_vectors(self):
        import json as _json
        path = os.path.join(os.path.dirname(__file__), "..", "..", "go", "atelier",
                            "callback", "testdata", "vectors.json")
        with open(path) as f:
            vectors = _json.load(f)
        self.assertTrue(vectors["encryption"] and vectors["signature"])
        for v in vectors["encryption"]:
            self.assertEqual(callback.decrypt(v["key"], v["data"]), v["plaintext"])
            self.assertEqual(callback.encrypt(v["key"], v["plaintext"], iv=bytes.fromhex(v["iv_hex"]),
                                              prefix=v["prefix"]), v["data"])
        for v in vectors["signature"]:
            self.assertEqual(callback.sign(v["signing_key"], v["nonce"], v["timestamp"],
                                           v["eventType"], v["data"]), v["signature"])


# Keys of a rotation: Atelier signs, encrypts and authenticates with the old
# ones during the overlap window, then with the new ones.
OLD_SIGN, NEW_SIGN = "sign-key-old", "sign-key-new"
OLD_ENC, NEW_ENC = "old-enc-key-16by", "new-encryption-key-of-32-bytes!!"
OLD_TOK, NEW_TOK = "token-old", "token-new"


class RotationTest(unittest.TestCase):
    """Several signing keys, encryption keys and security tokens during a rotation."""

    def test_verify_any_key(self):
        env = envelope("CREATE_USER", "{}", key=NEW_SIGN)
        for keys in ([OLD_SIGN, NEW_SIGN], (NEW_SIGN, OLD_SIGN), ["", NEW_SIGN], NEW_SIGN):
            with self.subTest(keys):
                callback.verify(keys, env)
        for keys in ([OLD_SIGN], [], [""], "", None):
            with self.subTest(keys), self.assertRaises(callback.SignatureError):
                callback.verify(keys, env)
        with self.assertRaises(TypeError):
            callback.verify([NEW_SIGN, 1], env)

    def test_decrypt_any_returns_the_key(self):
        data = callback.encrypt(NEW_ENC, '{"id":"u1"}')
        self.assertEqual(callback.decrypt_any([OLD_ENC, "", NEW_ENC], data), ('{"id":"u1"}', NEW_ENC))
        self.assertEqual(callback.decrypt_any(NEW_ENC, data), ('{"id":"u1"}', NEW_ENC))
        with self.assertRaises(callback.DecryptError):
            callback.decrypt_any([OLD_ENC], data)
        with self.assertRaises(callback.DecryptError):
            callback.decrypt_any([OLD_ENC, NEW_ENC], "not*base64!")
        for keys in ([], [""], [OLD_ENC, "short"]):
            with self.subTest(keys), self.assertRaises(ValueError):
                callback.decrypt_any(keys, data)

    def test_open_envelope_with_lists(self):
        for sign_key, enc_key in ((OLD_SIGN, OLD_ENC), (NEW_SIGN, NEW_ENC), (OLD_SIGN, NEW_ENC)):
            with self.subTest((sign_key, enc_key)):
                b = body(envelope("UPDATE_USER", callback.encrypt(enc_key, '{"id":"u1"}'), key=sign_key))
                got = callback.open_envelope([OLD_SIGN, NEW_SIGN], (OLD_ENC, NEW_ENC), b, now=NOW)
                self.assertEqual(got, ("UPDATE_USER", {"id": "u1"}))
        b = body(envelope("UPDATE_USER", "{}", key=NEW_SIGN))
        self.assertEqual(callback.open_envelope([OLD_SIGN, NEW_SIGN], [], b, now=NOW), ("UPDATE_USER", {}))

    def test_make_handler_refuses_bad_config(self):
        for sign_key in (None, "", [], ["", ""]):
            with self.subTest(sign_key), self.assertRaises(ValueError):
                callback.make_handler(sign_key, None, lambda t, e: None)
        for enc_key in ("short", [OLD_ENC, "0123456789abcdef0"], ["é" * 10]):
            with self.subTest(enc_key), self.assertRaises(ValueError):
                callback.make_handler(SIGN, enc_key, lambda t, e: None)
        for bad in ({"k": 1}, [SIGN, 5]):
            with self.subTest(bad), self.assertRaises(TypeError):
                callback.make_handler(bad, None, lambda t, e: None)


def serve(test, handler):
    """serve runs handler on a loopback port until test ends and returns the port."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    test.addCleanup(th.join)
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv.server_address[1]


class RotationHandlerTest(unittest.TestCase):
    """The handler from make_handler configured with old and new keys and tokens."""

    def start_rotation(self, got):
        def on_event(t, e):
            got.append((t, e))
            return None

        handler = callback.make_handler([OLD_SIGN, NEW_SIGN], (OLD_ENC, NEW_ENC), on_event,
                                        security_token=[OLD_TOK, NEW_TOK], clock=lambda: NOW)
        return serve(self, handler)

    def post_auth(self, port, payload, auth):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(conn.close)
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        conn.request("POST", "/cb", body=payload, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())

    def test_old_and_new_accepted(self):
        got = []
        port = self.start_rotation(got)
        combos = [(OLD_SIGN, OLD_ENC, OLD_TOK), (NEW_SIGN, NEW_ENC, NEW_TOK),
                  (OLD_SIGN, NEW_ENC, NEW_TOK), (NEW_SIGN, OLD_ENC, OLD_TOK)]
        for i, (sign_key, enc_key, tok) in enumerate(combos):
            with self.subTest((sign_key, enc_key, tok)):
                ev = envelope("CREATE_USER", callback.encrypt(enc_key, json.dumps({"n": i})),
                              nonce="r%d" % i, key=sign_key)
                status, resp = self.post_auth(port, body(ev), "Bearer " + tok)
                self.assertEqual((status, resp["code"]), (200, "200"))
        self.assertEqual(got, [("CREATE_USER", {"n": i}) for i in range(4)])

        # A redelivery (same nonce) under the other token is acknowledged, not re-run.
        ev = envelope("CREATE_USER", callback.encrypt(OLD_ENC, json.dumps({"n": 0})), nonce="r0", key=OLD_SIGN)
        self.assertEqual(self.post_auth(port, body(ev), "Bearer " + NEW_TOK)[0], 200)
        self.assertEqual(len(got), 4)
        # The scheme is case-insensitive.
        ev = envelope("CREATE_USER", callback.encrypt(NEW_ENC, "{}"), nonce="r9", key=NEW_SIGN)
        self.assertEqual(self.post_auth(port, body(ev), "bearer " + NEW_TOK)[0], 200)
        self.assertEqual(len(got), 5)

    def test_refusals(self):
        got = []
        port = self.start_rotation(got)

        def ev(nonce, sign_key=NEW_SIGN, enc_key=NEW_ENC):
            return body(envelope("CREATE_USER", callback.encrypt(enc_key, "{}"), nonce=nonce, key=sign_key))

        cases = [
            ("unknown signing key", ev("x1", sign_key="sign-key-other"), "Bearer " + NEW_TOK, 401),
            ("unknown encryption key", ev("x2", enc_key="other-enc-key-16"), "Bearer " + NEW_TOK, 400),
            ("no token", ev("x3"), None, 401),
            ("wrong token", ev("x4"), "Bearer token-other", 401),
            ("token prefix", ev("x5"), "Bearer token-", 401),
            ("no scheme", ev("x6"), NEW_TOK, 401),
            ("other scheme", ev("x7"), "Basic " + NEW_TOK, 401),
        ]
        for name, payload, auth, want in cases:
            with self.subTest(name):
                self.assertEqual(self.post_auth(port, payload, auth)[0], want)
        self.assertEqual(got, [])
        # The refused nonces were not remembered: a good delivery of one runs.
        self.assertEqual(self.post_auth(port, ev("x3"), "Bearer " + OLD_TOK)[0], 200)
        self.assertEqual(len(got), 1)

    def test_check_url_echoed_under_the_decrypting_key(self):
        port = self.start_rotation([])
        for i, (key, other) in enumerate(((OLD_ENC, NEW_ENC), (NEW_ENC, OLD_ENC))):
            with self.subTest(key):
                chk = envelope(callback.CHECK_URL, callback.encrypt(key, "cHaLlEnGe"), nonce="c%d" % i, key=OLD_SIGN)
                status, resp = self.post_auth(port, body(chk), "Bearer " + OLD_TOK)
                self.assertEqual(status, 200)
                self.assertEqual(callback.decrypt(key, resp["data"]), "cHaLlEnGe")
                with self.assertRaises(callback.DecryptError):
                    callback.decrypt(other, resp["data"])

    def test_single_strings_and_no_token(self):
        got = []
        handler = callback.make_handler(SIGN, "", lambda t, e: got.append(e), security_token="",
                                        clock=lambda: NOW)
        port = serve(self, handler)
        # An empty token list turns the check off; an empty encryption key means plain data.
        self.assertEqual(self.post_auth(port, body(envelope("CREATE_USER", '{"a":1}')), None)[0], 200)
        self.assertEqual(got, [{"a": 1}])


if __name__ == "__main__":
    unittest.main()

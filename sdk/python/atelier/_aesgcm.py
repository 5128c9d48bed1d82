"""Pure-Python AES (FIPS-197) and AES-GCM (NIST SP 800-38D).

This module exists because the SDK must run on a bare Python 3.11 standard
library, which has no AES. It implements only what event callbacks need
(docs: CONTRACT §5): the AES forward cipher for 128/192/256-bit keys and GCM
with a 96-bit IV and a 128-bit tag. The tag is checked with
:func:`hmac.compare_digest` before any plaintext is returned.

Performance: pure-Python AES-GCM runs at somewhere between tens of KB/s and
about 1 MB/s depending on the machine, so it is meant for callback payloads; keep
inputs at or below :data:`MAX_PAYLOAD` (64 KiB), which :meth:`AESGCM.encrypt`
and :meth:`AESGCM.decrypt` enforce. It is not constant-time with respect to the key
(table lookups), which is acceptable for a receiver decrypting its own
callbacks but not for general-purpose use.

:class:`AES` and :class:`AESGCM` objects are immutable after construction
and safe for concurrent use.
"""

import hmac
import struct

__all__ = ["AES", "AESGCM", "AuthenticationError", "MAX_PAYLOAD", "IV_SIZE", "TAG_SIZE"]

MAX_PAYLOAD = 64 * 1024
"""Largest plaintext (or ciphertext) size in bytes that encrypt/decrypt accept."""

IV_SIZE = 12
"""The GCM IV size in bytes (96 bits); other sizes are not supported."""

TAG_SIZE = 16
"""The GCM tag size in bytes (128 bits)."""


class AuthenticationError(ValueError):
    """AuthenticationError is raised when a GCM tag does not match (tampered data or wrong key)."""


def _build_tables():
    # S-box from the multiplicative inverse in GF(2^8) plus the affine map.
    sbox = [0] * 256
    p = q = 1
    while True:
        # p *= 3
        p = p ^ ((p << 1) & 0xFF) ^ (0x1B if p & 0x80 else 0)
        # q /= 3
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ _rotl8(q, 1) ^ _rotl8(q, 2) ^ _rotl8(q, 3) ^ _rotl8(q, 4)
        sbox[p] = x ^ 0x63
        if p == 1:
            break
    sbox[0] = 0x63

    def xtime(a):
        a <<= 1
        return (a ^ 0x11B) if a & 0x100 else a

    t0 = [0] * 256
    for i in range(256):
        s = sbox[i]
        s2 = xtime(s)
        s3 = s2 ^ s
        t0[i] = (s2 << 24) | (s << 16) | (s << 8) | s3
    t1 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t0]
    t2 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t1]
    t3 = [((w >> 8) | (w << 24)) & 0xFFFFFFFF for w in t2]
    return sbox, t0, t1, t2, t3


def _rotl8(x, s):
    return ((x << s) | (x >> (8 - s))) & 0xFF


_SBOX, _T0, _T1, _T2, _T3 = _build_tables()
_RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1B, 0x36]


class AES:
    """AES is the FIPS-197 block cipher (encryption direction only) for 16/24/32-byte keys.

    It is immutable and safe for concurrent use.
    """

    def __init__(self, key: bytes):
        key = bytes(key)
        if len(key) not in (16, 24, 32):
            raise ValueError("AES key must be 16, 24 or 32 bytes, got %d" % len(key))
        nk = len(key) // 4
        self._nr = nk + 6
        total = 4 * (self._nr + 1)
        w = list(struct.unpack(">%dI" % nk, key))
        sb = _SBOX
        for i in range(nk, total):
            t = w[i - 1]
            if i % nk == 0:
                t = ((t << 8) | (t >> 24)) & 0xFFFFFFFF
                t = (sb[t >> 24] << 24) | (sb[(t >> 16) & 0xFF] << 16) | (sb[(t >> 8) & 0xFF] << 8) | sb[t & 0xFF]
                t ^= _RCON[i // nk - 1] << 24
            elif nk > 6 and i % nk == 4:
                t = (sb[t >> 24] << 24) | (sb[(t >> 16) & 0xFF] << 16) | (sb[(t >> 8) & 0xFF] << 8) | sb[t & 0xFF]
            w.append(w[i - nk] ^ t)
        self._w = tuple(w)

    def encrypt_block(self, block: bytes) -> bytes:
        """encrypt_block encrypts one 16-byte block and returns the 16-byte result."""
        if len(block) != 16:
            raise ValueError("AES block must be 16 bytes")
        return self._encrypt_int(int.from_bytes(block, "big")).to_bytes(16, "big")

    def _encrypt_int(self, x: int) -> int:
        w = self._w
        t0, t1, t2, t3, sb = _T0, _T1, _T2, _T3, _SBOX
        s0 = ((x >> 96) & 0xFFFFFFFF) ^ w[0]
        s1 = ((x >> 64) & 0xFFFFFFFF) ^ w[1]
        s2 = ((x >> 32) & 0xFFFFFFFF) ^ w[2]
        s3 = (x & 0xFFFFFFFF) ^ w[3]
        k = 4
        for _ in range(self._nr - 1):
            n0 = t0[s0 >> 24] ^ t1[(s1 >> 16) & 0xFF] ^ t2[(s2 >> 8) & 0xFF] ^ t3[s3 & 0xFF] ^ w[k]
            n1 = t0[s1 >> 24] ^ t1[(s2 >> 16) & 0xFF] ^ t2[(s3 >> 8) & 0xFF] ^ t3[s0 & 0xFF] ^ w[k + 1]
            n2 = t0[s2 >> 24] ^ t1[(s3 >> 16) & 0xFF] ^ t2[(s0 >> 8) & 0xFF] ^ t3[s1 & 0xFF] ^ w[k + 2]
            n3 = t0[s3 >> 24] ^ t1[(s0 >> 16) & 0xFF] ^ t2[(s1 >> 8) & 0xFF] ^ t3[s2 & 0xFF] ^ w[k + 3]
            s0, s1, s2, s3 = n0, n1, n2, n3
            k += 4
        r0 = ((sb[s0 >> 24] << 24) | (sb[(s1 >> 16) & 0xFF] << 16) | (sb[(s2 >> 8) & 0xFF] << 8) | sb[s3 & 0xFF]) ^ w[k]
        r1 = ((sb[s1 >> 24] << 24) | (sb[(s2 >> 16) & 0xFF] << 16) | (sb[(s3 >> 8) & 0xFF] << 8) | sb[s0 & 0xFF]) ^ w[k + 1]
        r2 = ((sb[s2 >> 24] << 24) | (sb[(s3 >> 16) & 0xFF] << 16) | (sb[(s0 >> 8) & 0xFF] << 8) | sb[s1 & 0xFF]) ^ w[k + 2]
        r3 = ((sb[s3 >> 24] << 24) | (sb[(s0 >> 16) & 0xFF] << 16) | (sb[(s1 >> 8) & 0xFF] << 8) | sb[s2 & 0xFF]) ^ w[k + 3]
        return (r0 << 96) | (r1 << 64) | (r2 << 32) | r3


_R = 0xE1 << 120
_MASK128 = (1 << 128) - 1


class AESGCM:
    """AESGCM is AES in Galois/Counter Mode with a 96-bit IV and a 128-bit tag.

    It is immutable and safe for concurrent use.
    """

    def __init__(self, key: bytes):
        self._aes = AES(key)
        h = self._aes._encrypt_int(0)
        # Shoup's 4-bit table: _m[i] = H * i, where i is a 4-bit polynomial
        # placed in the most significant nibble position.
        m = [0] * 16
        m[8] = h
        v = h
        for i in (4, 2, 1):
            v = (v >> 1) ^ _R if v & 1 else v >> 1
            m[i] = v
        for i in (2, 4, 8):
            for j in range(1, i):
                m[i + j] = m[i] ^ m[j]
        self._m = tuple(m)

    def _gmul(self, x: int) -> int:
        # Multiply x by H in GF(2^128), 4 bits at a time from the low end.
        m = self._m
        z = 0
        for shift in range(0, 128, 4):
            z = (z >> 4) ^ _RED4[z & 0xF]
            z ^= m[(x >> shift) & 0xF]
        return z

    def _ghash(self, aad: bytes, ct: bytes) -> int:
        y = 0
        for data in (aad, ct):
            for off in range(0, len(data), 16):
                blk = data[off:off + 16]
                if len(blk) < 16:
                    blk = blk + bytes(16 - len(blk))
                y = self._gmul(y ^ int.from_bytes(blk, "big"))
        y = self._gmul(y ^ ((len(aad) * 8) << 64 | (len(ct) * 8)))
        return y

    def _ctr(self, iv: bytes, data: bytes) -> bytes:
        base = int.from_bytes(iv, "big") << 32
        enc = self._aes._encrypt_int
        out = bytearray(len(data))
        ctr = 2
        for off in range(0, len(data), 16):
            ks = enc(base | ctr).to_bytes(16, "big")
            ctr = (ctr + 1) & 0xFFFFFFFF
            chunk = data[off:off + 16]
            out[off:off + len(chunk)] = bytes(a ^ b for a, b in zip(chunk, ks))
        return bytes(out)

    def _tag(self, iv: bytes, aad: bytes, ct: bytes) -> bytes:
        s = self._ghash(aad, ct)
        j0 = (int.from_bytes(iv, "big") << 32) | 1
        return (s ^ self._aes._encrypt_int(j0)).to_bytes(16, "big")

    def encrypt(self, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """encrypt returns ciphertext ‖ tag for plaintext under the 12-byte iv."""
        iv, plaintext, aad = bytes(iv), bytes(plaintext), bytes(aad)
        _check_iv(iv)
        if len(plaintext) > MAX_PAYLOAD:
            raise ValueError("plaintext is %d bytes, above the %d-byte limit" % (len(plaintext), MAX_PAYLOAD))
        ct = self._ctr(iv, plaintext)
        return ct + self._tag(iv, aad, ct)

    def decrypt(self, iv: bytes, data: bytes, aad: bytes = b"") -> bytes:
        """decrypt checks the tag at the end of data and returns the plaintext.

        It raises :class:`AuthenticationError` when the tag does not match and
        :class:`ValueError` for a bad IV or input shorter than a tag.
        """
        iv, data, aad = bytes(iv), bytes(data), bytes(aad)
        _check_iv(iv)
        if len(data) < TAG_SIZE:
            raise ValueError("ciphertext is %d bytes, shorter than the %d-byte tag" % (len(data), TAG_SIZE))
        if len(data) - TAG_SIZE > MAX_PAYLOAD:
            raise ValueError("ciphertext is above the %d-byte limit" % MAX_PAYLOAD)
        ct, tag = data[:-TAG_SIZE], data[-TAG_SIZE:]
        if not hmac.compare_digest(self._tag(iv, aad, ct), tag):
            raise AuthenticationError("AES-GCM tag mismatch: data was altered or the key is wrong")
        return self._ctr(iv, ct)


def _check_iv(iv: bytes):
    if len(iv) != IV_SIZE:
        raise ValueError("AES-GCM IV must be %d bytes, got %d" % (IV_SIZE, len(iv)))


def _build_red4():
    # _RED4[n] is the reduction term for the 4 bits n shifted out at the low end.
    red = [0] * 16
    for n in range(16):
        v = n
        r = 0
        for _ in range(4):
            if v & 1:
                r = (r >> 1) ^ _R
                v >>= 1
            else:
                r >>= 1
                v >>= 1
        red[n] = r
    return tuple(red)


_RED4 = _build_red4()

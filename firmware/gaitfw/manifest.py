"""Update manifest and HMAC-SHA256: one module, the same bytes on the board and on the host.

Why a fixed binary manifest: the board checks it before it writes a byte, with no JSON parser
in the trust path, and the host builds exactly the bytes the board verifies. Why HMAC rather
than a signature: MicroPython has `hashlib.sha256` on every port but no public-key code; a
per-device key (derived on the host as HMAC(master, device id), provisioned by
`gaitloop flash`) means a key taken from one board opens no other.

Manifest (little endian, docs/update.md):

    0  4s  MAGIC b"GLUP"
    4  u8  manifest version (1)
    5  u8  artifact kind (KIND_*)
    6  u8  target board kind (BOARD_*)
    7  u8  artifact format version (model: .gldm version; calibration, templates: 1)
    8  u32 artifact version (monotonic; lower than the active one is a downgrade)
    12 u32 payload length in bytes
    16 32s SHA-256 of the payload
    48 32s HMAC-SHA256(device key, bytes 0..47)
"""

import hashlib
import struct

from micropython import const

MAGIC = b"GLUP"
MAN_VERSION = const(1)
SIGNED_LEN = const(48)
LEN = const(80)
_FMT = "<4sBBBBII"

KIND_MODEL = const(1)
KIND_CALIBRATION = const(2)
KIND_TEMPLATES = const(3)
KINDS = ("", "model", "calibration", "templates")

BOARD_INSOLE = const(1)
BOARD_KNEE = const(2)
BOARDS = ("", "insole", "knee")

# formats the firmware reads, per kind
FORMATS = {KIND_MODEL: (1, 2), KIND_CALIBRATION: (1,), KIND_TEMPLATES: (1,)}
# largest payload per kind (bytes): bounds flash use and the self-test's RAM
MAX_LEN = {KIND_MODEL: 65536, KIND_CALIBRATION: 4096, KIND_TEMPLATES: 16384}

_BLOCK = const(64)


def hmac_sha256(key, msg):
    """RFC 2104 HMAC over SHA-256 (equal to CPython's hmac.new(key, msg, 'sha256'))."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = bytearray(_BLOCK)
    k[0:len(key)] = key
    ipad = bytearray(_BLOCK)
    opad = bytearray(_BLOCK)
    for i in range(_BLOCK):
        ipad[i] = k[i] ^ 0x36
        opad[i] = k[i] ^ 0x5C
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


def same(a, b):
    """Compare two digests in time independent of where they differ."""
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= a[i] ^ b[i]
    return d == 0


class Manifest:
    """A parsed manifest: `kind`, `board`, `fmt`, `version`, `length`, `sha256`, `tag`, `raw`."""

    def __init__(self, raw):
        if len(raw) != LEN:
            raise ValueError("manifest is %d bytes, not %d" % (len(raw), LEN))
        magic, mver, kind, board, fmt, version, length = struct.unpack_from(_FMT, raw, 0)
        if magic != MAGIC:
            raise ValueError("not an update manifest (bad magic)")
        if mver != MAN_VERSION:
            raise ValueError("manifest version %d is not supported" % mver)
        self.raw = bytes(raw)
        self.kind = kind
        self.board = board
        self.fmt = fmt
        self.version = version
        self.length = length
        self.sha256 = self.raw[16:48]
        self.tag = self.raw[48:80]

    def kind_name(self):
        return KINDS[self.kind] if 0 < self.kind < len(KINDS) else "kind %d" % self.kind

    def board_name(self):
        return BOARDS[self.board] if 0 < self.board < len(BOARDS) else "board %d" % self.board

    def authentic(self, key):
        return same(hmac_sha256(key, self.raw[:SIGNED_LEN]), self.tag)


def pack(key, kind, board, fmt, version, length, sha256):
    """Manifest bytes for a payload, tagged with the device key (host side)."""
    head = struct.pack(_FMT, MAGIC, MAN_VERSION, kind, board, fmt, version, length) + bytes(sha256)
    return head + hmac_sha256(key, head)


def rollback_tag(key, kind, active_sha):
    """Tag authorising a rollback of `kind` away from the active payload `active_sha`: bound to
    the state it changes, so a recorded rollback cannot be replayed later."""
    return hmac_sha256(key, b"GLRB" + bytes((kind,)) + bytes(active_sha))


# device key file on the board: u8 id length, id (UTF-8), 32-byte key
KEY_FILE = "device.key"


def read_key(path=KEY_FILE):
    """(device id, key) from the board's key file, or (None, None) if not provisioned."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError:
        return None, None
    if len(b) < 2 or len(b) != 1 + b[0] + 32:
        return None, None
    return b[1:1 + b[0]].decode(), b[1 + b[0]:]


def key_file_bytes(device_id, key):
    d = device_id.encode()
    if not 0 < len(d) < 256 or len(key) != 32:
        raise ValueError("device id must be 1-255 bytes and the key 32 bytes")
    return bytes((len(d),)) + d + bytes(key)

"""Signed, chunked updates over the live link: BEGIN, DATA, END, ABORT, ROLLBACK, INFO.

Why in the command handler: a push arrives as ordinary command frames between the samples,
over serial or BLE alike, so the board keeps streaming while it is written. Each DATA chunk
is written to the inactive slot and hashed as it arrives (one SHA-256 update of <= 1 KB per
frame), so no step holds the sampler for long; the whole image is verified once at END.

Order of checks at BEGIN (each refusal is a NAK with its reason): manifest structure, the
board holds a key, HMAC tag with that key, artifact kind and format known, target board kind,
kind accepted by this board, version not lower than the active one, length within bounds.
At END: length and SHA-256, then the slot is marked pending, the firmware's own loaders
build the processors from it (the self-test: a model runs its test vector, templates and a
calibration pass their range checks), and only then the state file switches the active slot
(one rename). The new processors replace the old ones between two samples.

Resume: BEGIN with the manifest of the transfer in progress answers the next offset the
board expects; the manifest is kept in `upd/xfer.man`, so a transfer also resumes after a
reset (the partial slot is hashed again from the file). DATA answers with the next expected
offset whatever it got (a duplicate or a gap), so the host's window rewinds exactly.
"""

import hashlib
import json
import os
import struct

from gaitfw import events as E
from gaitfw import manifest as M
from gaitfw import protocol as P
from gaitfw.store import KINDS, Store, _hex, file_sha256

# commands and NAK codes: protocol.py (16-23 and 6-11 are the update range)
CMD_UPD_BEGIN = P.CMD_UPD_BEGIN
CMD_UPD_DATA = P.CMD_UPD_DATA
CMD_UPD_END = P.CMD_UPD_END
CMD_UPD_ABORT = P.CMD_UPD_ABORT
CMD_UPD_ROLLBACK = P.CMD_UPD_ROLLBACK
CMD_UPD_INFO = P.CMD_UPD_INFO
ERR_AUTH = P.ERR_UPD_AUTH
ERR_TARGET = P.ERR_UPD_TARGET
ERR_FORMAT = P.ERR_UPD_FORMAT
ERR_DOWNGRADE = P.ERR_UPD_DOWNGRADE
ERR_VERIFY = P.ERR_UPD_VERIFY
ERR_SELFTEST = P.ERR_UPD_SELFTEST

# the artifact kinds each board takes
ACCEPTS = {"insole": (M.KIND_MODEL, M.KIND_CALIBRATION, M.KIND_TEMPLATES),
           "knee": (M.KIND_CALIBRATION,)}
_XFER = "xfer.man"
CONFIRM_S = 5  # seconds of samples a new artifact runs before it is confirmed (trial)


class Confirm:
    """A processor appended after a switch: after `n` samples it confirms the trial slot.

    Why a processor: it counts the samples the new artifact really ran on, on the sample path
    the app already has (no hook elsewhere); once confirmed it only decrements a counter."""

    def __init__(self, updater, kind, n):
        self.upd = updater
        self.kind = kind
        self.n = n

    def feed(self, t_ms, sample):
        if self.n > 0:
            self.n -= 1
            if self.n == 0:
                self.upd.confirm(self.kind)

    def status(self):
        return 0


class _Refused(Exception):
    def __init__(self, err, reason):
        super().__init__(reason)
        self.err = err
        self.reason = reason


class Transfer:
    """The transfer in progress: manifest, target slot, open file, running hash, offset."""

    def __init__(self, man, slot, path, offset, sha, f):
        self.man = man
        self.slot = slot
        self.path = path
        self.offset = offset
        self.sha = sha
        self.f = f

    def close(self):
        if self.f is not None:
            self.f.close()
            self.f = None


class Updater:
    """Applies the active slots to the boot config, then serves the update commands."""

    def __init__(self, board, cfg, root="upd", key_path=M.KEY_FILE):
        self.board = board
        self.root = root
        self.key_path = key_path
        self.store = Store(root)
        self.notes = self.store.boot()
        self.base_cfg = dict(cfg)
        self.app = None
        self.cfg = self._applied(None)
        self.x = None
        self._buf = bytearray(512)
        self._had_hal_cal = False

    def _base_now(self):
        """The config as saved (config.json plus SETs since boot), without artifact keys."""
        if self.app is None:
            return self.base_cfg
        cfg = self.app.cfg
        derived = cfg.get("_derived", ())
        base = {k: v for k, v in cfg.items() if k not in derived and k not in ("_derived", "_base")}
        base.update(cfg.get("_base", {}))
        return base

    def _applied(self, override):
        self.base_cfg = self._base_now()
        cfg = self.store.apply(self.base_cfg, self.board.KIND, override)
        derived = [k for k in cfg if k not in self.base_cfg or cfg[k] is not self.base_cfg[k]]
        cfg["_derived"] = derived  # app.save_config keeps these out of config.json
        cfg["_base"] = {k: self.base_cfg[k] for k in derived if k in self.base_cfg}
        return cfg

    def attach(self, app):
        """Hook into the app: commands 16-23 come here; boot notes become events."""
        self.app = app
        app.updater = self
        for kind, what, version in self.notes:
            code = E.EV_UPD_BOOT_PENDING if what in ("pending", "trial") else E.EV_UPD_BOOT_FALLBACK
            app.emit(0, code, 2, KINDS.index(kind) + 1, version)

    # -- replies --------------------------------------------------------------------------

    def _ack(self, seq, cmd, reply=b""):
        self.app._ack(seq, cmd, reply)

    def _ack_json(self, seq, cmd, obj):
        self.app._ack(seq, cmd, json.dumps(obj).encode())

    def handle(self, seq, cmd, args):
        try:
            if cmd == CMD_UPD_DATA:
                self._ack(seq, cmd, struct.pack("<I", self.data(args)))
            elif cmd == CMD_UPD_BEGIN:
                self._ack(seq, cmd, struct.pack("<I", self.begin(args)))
            elif cmd == CMD_UPD_END:
                self._ack_json(seq, cmd, self.end())
            elif cmd == CMD_UPD_ABORT:
                self.abort()
                self._ack(seq, cmd)
            elif cmd == CMD_UPD_ROLLBACK:
                self._ack_json(seq, cmd, self.rollback(args))
            elif cmd == CMD_UPD_INFO:
                self._ack_json(seq, cmd, self.info())
            else:
                raise _Refused(P.ERR_UNKNOWN_CMD, "unknown command %d" % cmd)
        except _Refused as r:
            self.app._nak(seq, cmd, r.err, r.reason)
        except OSError as exc:
            self.abort()
            self.app._nak(seq, cmd, P.ERR_STORAGE, "storage error %s" % exc)
        except Exception as exc:  # noqa: BLE001  (a bug or no memory: refuse, keep streaming)
            self.abort()
            self.app._nak(seq, cmd, P.ERR_INTERNAL, "%s: %s" % (type(exc).__name__, exc))
        self._flag()

    def _flag(self):
        """STATUS bit UPDATING while a transfer is open (the host's live view can show it)."""
        if self.x is None:
            self.app.flags &= ~P.ST_UPDATING
        else:
            self.app.flags |= P.ST_UPDATING

    # -- BEGIN ----------------------------------------------------------------------------

    def key(self):
        return M.read_key(self.key_path)

    def check_manifest(self, args):
        """The parsed manifest if the board accepts it; raises _Refused with the reason."""
        try:
            man = M.Manifest(bytes(args))
        except ValueError as exc:
            raise _Refused(ERR_FORMAT, str(exc))
        _dev, key = self.key()
        if key is None:
            raise _Refused(ERR_AUTH, "this board has no update key (provision it with gaitloop flash)")
        if not man.authentic(key):
            raise _Refused(ERR_AUTH, "manifest tag does not verify (wrong key or altered manifest)")
        if man.kind not in M.FORMATS:
            raise _Refused(ERR_FORMAT, "unknown artifact kind %d" % man.kind)
        if man.fmt not in M.FORMATS[man.kind]:
            raise _Refused(ERR_FORMAT, "%s format version %d is not supported by this firmware"
                           % (man.kind_name(), man.fmt))
        kind = self.board.KIND
        if man.board_name() != kind:
            raise _Refused(ERR_TARGET, "image is for %s boards, this board is %s"
                           % (man.board_name(), kind))
        if man.kind not in ACCEPTS.get(kind, ()):
            raise _Refused(ERR_TARGET, "a %s board does not take a %s" % (kind, man.kind_name()))
        active = self.store.active_version(man.kind_name())
        if man.version < active:
            raise _Refused(ERR_DOWNGRADE, "version %d is lower than the active %s version %d"
                           % (man.version, man.kind_name(), active))
        if not 0 < man.length <= M.MAX_LEN[man.kind]:
            raise _Refused(P.ERR_BAD_ARGS, "%s length %d is outside 1..%d"
                           % (man.kind_name(), man.length, M.MAX_LEN[man.kind]))
        return man

    def begin(self, args):
        man = self.check_manifest(args)
        if self.x is not None and self.x.man.raw == man.raw:
            return self.x.offset  # the same transfer again: resume
        self.abort()
        kind = man.kind_name()
        e = self.store.entry(kind)
        if e["trial"] is not None:
            self.confirm(kind)  # running well enough to be pushed to: keep it as the fallback
        slot = self.store.inactive(kind)
        path = self.store.slot_path(kind, slot)
        # resume only into a slot the state holds nothing in (a switch since then: start over)
        resumed = self._resume(man, path) if e[slot] is None and e["pending"] is None else None
        if resumed is not None:
            self.x = Transfer(man, slot, path, resumed[0], resumed[1], open(path, "ab"))
            return self.x.offset
        if e[slot] is not None or e["pending"] is not None:
            e[slot] = None  # the rollback version there is about to be overwritten
            e["pending"] = None
            self.store.save()
        with open(self.root + "/" + _XFER, "wb") as f:
            f.write(man.raw)
        self.x = Transfer(man, slot, path, 0, hashlib.sha256(), open(path, "wb"))
        return 0

    def _resume(self, man, path):
        """(offset, hash so far) when the stored transfer is this manifest's, else None."""
        try:
            with open(self.root + "/" + _XFER, "rb") as f:
                if f.read() != man.raw:
                    return None
            size = os.stat(path)[6]
        except OSError:
            return None
        if size > man.length:
            return None
        h = hashlib.sha256()
        buf = self._buf
        with open(path, "rb") as f:
            left = size
            while left:
                n = f.readinto(buf)
                if not n:
                    return None
                n = min(n, left)
                h.update(memoryview(buf)[:n])
                left -= n
        return size, h

    # -- DATA -----------------------------------------------------------------------------

    def data(self, args):
        x = self.x
        if x is None:
            raise _Refused(P.ERR_STATE, "no transfer in progress (send BEGIN)")
        if len(args) < 7:
            raise _Refused(P.ERR_BAD_ARGS, "DATA needs offset, CRC and bytes")
        off = P.get_u32(args, 0)
        n = len(args) - 6
        if off != x.offset:
            return x.offset  # duplicate or gap: the host resends from here
        if P.crc16(args, 6, len(args)) != P.get_u16(args, 4):
            raise _Refused(ERR_VERIFY, "chunk at %d fails its CRC" % off)
        if off + n > x.man.length:
            raise _Refused(ERR_VERIFY, "chunk at %d runs past the length %d" % (off, x.man.length))
        chunk = memoryview(args)[6:]
        x.f.write(chunk)
        x.sha.update(chunk)
        x.offset = off + n
        return x.offset

    # -- END ------------------------------------------------------------------------------

    def end(self):
        x = self.x
        if x is None:
            raise _Refused(P.ERR_STATE, "no transfer in progress")
        man = x.man
        kind = man.kind_name()
        if x.offset != man.length:  # the transfer stays open: the host may send the rest
            raise _Refused(ERR_VERIFY, "%d of %d bytes received" % (x.offset, man.length))
        x.close()
        self.x = None
        self._drop_xfer()
        if not M.same(x.sha.digest(), man.sha256):
            raise _Refused(ERR_VERIFY, "payload SHA-256 does not match the manifest")
        got = file_sha256(x.path, self._buf)  # and the flash holds what was received
        if got is None or not M.same(got, man.sha256):
            raise _Refused(ERR_VERIFY, "slot file does not read back as written")
        e = self.store.entry(kind)
        e[x.slot] = {"v": man.version, "sha": _hex(man.sha256), "fmt": man.fmt}
        e["pending"] = x.slot
        self.store.save()
        try:
            procs, cfg = self.self_test(man.kind, x.slot)
        except Exception as exc:  # any failure of the new artifact keeps the old one
            e[x.slot] = None
            e["pending"] = None
            e["failed"] = x.slot
            self.store.save()
            self._emit(E.EV_UPD_FAILED, man.kind, man.version)
            raise _Refused(ERR_SELFTEST, "%s %d not activated, the previous one runs: %s"
                           % (kind, man.version, exc))
        e["active"] = x.slot
        e["pending"] = None
        e["trial"] = x.slot
        e["failed"] = None
        self.store.save()  # the switch: one rename
        procs.append(Confirm(self, kind, CONFIRM_S * self.board.RATE_HZ))
        self._go_live(procs, cfg)
        self._emit(E.EV_UPD_ACTIVE, man.kind, man.version)
        return {"kind": kind, "slot": x.slot, "version": man.version}

    def self_test(self, kind_code, slot):
        """Build the processors the board would run with `slot` of this kind (the firmware's
        own loaders); a model also reproduces its test vector, in the very instance the new
        processors will run (one copy in RAM). Raises on any failure."""
        kind = M.KINDS[kind_code]
        path = self.store.slot_path(kind, slot)
        if kind_code == M.KIND_TEMPLATES:
            from gaitfw import csm

            _t, _p, source = csm.load_templates(path)
            if source != 0:
                raise ValueError("templates do not load (the firmware would use its defaults)")
        cfg = self._applied((kind, slot))  # a calibration is range-checked in here
        hal = self.app.hal if self.app is not None else None
        if kind_code == M.KIND_CALIBRATION and hasattr(hal, "specs"):  # a board on its drivers
            from gaitfw import halcal

            err = halcal.check(hal, cfg.get("hal_cal"), cfg.get("hx711_tare"))  # this board's sensors
            if err:
                raise ValueError(err)
        procs = self.board.make_processors(self._emit_app, cfg)
        if kind_code == M.KIND_MODEL:
            models = [p.m for p in procs if hasattr(p, "m")]
            if not models:
                from gaitfw import devmodel

                devmodel.Model(path)  # raises with the reason the student did not start
                raise ValueError("the model did not start")
            m = models[0]
            if m.in_channels > len(self.board.CHANNELS):
                raise ValueError("model takes %d channels, the board has %d"
                                 % (m.in_channels, len(self.board.CHANNELS)))
            m.self_test()
        return procs, cfg

    def _emit_app(self, t_ms, code, side, a, b):
        return self.app.emit(t_ms, code, side, a, b)

    def _emit(self, code, kind_code, version):
        if self.app is not None:
            self.app.emit(self.app.t_ms, code, 2, kind_code, version)

    def _go_live(self, procs, cfg):
        """New processors and config from the next sample on; HELLO says what now runs."""
        app = self.app
        self.cfg = cfg
        app.cfg.clear()
        app.cfg.update(cfg)
        app.processors = procs
        if hasattr(app.hal, "specs") and ("hal_cal" in cfg or "hx711_tare" in cfg or self._had_hal_cal):
            from gaitfw import halcal  # driver calibration (hal_cal, hx711_tare)

            halcal.apply(app.hal, cfg)
            self._had_hal_cal = True  # a later rollback re-applies (back to the boot values)
        app.boot_error = None
        app.flags &= ~P.ST_PROCESSOR_ERROR
        app._hello = None
        app.send_hello()

    def _drop_xfer(self):
        try:
            os.remove(self.root + "/" + _XFER)
        except OSError:
            pass

    # -- ABORT, ROLLBACK, INFO ------------------------------------------------------------

    def abort(self):
        if self.x is not None:
            self.x.close()
            self.x = None
            self._drop_xfer()

    def rollback(self, args):
        if len(args) != 33:
            raise _Refused(P.ERR_BAD_ARGS, "ROLLBACK needs a kind and a 32-byte tag")
        kind_code = args[0]
        if kind_code not in M.FORMATS:
            raise _Refused(ERR_FORMAT, "unknown artifact kind %d" % kind_code)
        kind = M.KINDS[kind_code]
        slot, rec = self.store.active(kind)
        if rec is None:
            raise _Refused(P.ERR_STATE, "no %s was pushed to this board" % kind)
        _dev, key = self.key()
        tag = M.rollback_tag(key, kind_code, _unhex(rec["sha"])) if key is not None else b""
        if not M.same(tag, bytes(args[1:])):
            raise _Refused(ERR_AUTH, "rollback tag does not verify (wrong key or stale state)")
        other = "b" if slot == "a" else "a"
        if not self.store.verify_slot(kind, other):
            raise _Refused(P.ERR_STATE, "no previous %s to roll back to" % kind)
        if self.x is not None and self.x.man.kind == kind_code:
            self.abort()
        try:
            procs, cfg = self.self_test(kind_code, other)
        except Exception as exc:
            raise _Refused(ERR_SELFTEST, "previous %s fails its self-test: %s" % (kind, exc))
        e = self.store.entry(kind)
        e["active"] = other
        e["trial"] = None  # the previous version had been confirmed
        self.store.save()
        self._go_live(procs, cfg)
        v = e[other]["v"]
        self._emit(E.EV_UPD_ROLLBACK, kind_code, v)
        return {"kind": kind, "slot": other, "version": v}

    def confirm(self, kind):
        """The trial slot of `kind` has run: keep it across restarts (one state write)."""
        e = self.store.entry(kind)
        if e["trial"] is None:
            return
        e["trial"] = None
        self.store.save()
        _slot, rec = self.store.active(kind)
        self._emit(E.EV_UPD_CONFIRMED, KINDS.index(kind) + 1, rec["v"] if rec else -1)

    def info(self):
        from gaitfw.app import FW_VERSION

        dev, key = self.key()
        cfg = self.app.cfg
        out = {
            "firmware": FW_VERSION,
            "install": installed_as(),
            "board": {"kind": self.board.KIND, "side": cfg.get("side", "left"),
                      "device": cfg.get("device"), "device_id": dev, "keyed": key is not None},
        }
        out.update(self.store.summary())
        x = self.x
        out["transfer"] = ({"kind": x.man.kind_name(), "version": x.man.version,
                            "offset": x.offset, "length": x.man.length} if x else None)
        return out

    def hello_facts(self):
        """Short form for HELLO: kind -> [version, first 16 hex of sha256, slot]."""
        out = {}
        for kind in KINDS:
            slot, rec = self.store.active(kind)
            if rec:
                out[kind] = [rec["v"], rec["sha"][:16], slot]
        return out


def installed_as():
    """"frozen" when gaitfw runs from the MicroPython image, "files" from the filesystem,
    "unknown" without a `__file__` to tell (a port built without it).

    Why: frozen modules come before /lib, so `gaitloop flash`'s .mpy files do not run on a
    frozen board (docs/hardware.md). MicroPython gives a frozen module a relative `__file__`
    that names no file; host/gaitloop/flash.py asks the same question over the REPL."""
    import os
    import sys

    import gaitfw

    f = getattr(gaitfw, "__file__", "") or ""
    if not f:
        return "unknown"
    try:
        os.stat(f)
        return "files"
    except OSError:
        return "frozen" if ".frozen" in sys.path else "unknown"


def _unhex(s):
    import binascii

    return binascii.unhexlify(s)

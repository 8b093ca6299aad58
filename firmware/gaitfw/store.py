"""A/B artifact slots with one atomic state file: what the board runs survives any power loss.

Why two slots per artifact kind: a push writes only the slot that is not active, so a cut,
a corrupted image or power lost mid-write leaves the running version untouched, and the
previous version stays on the board for a rollback. Why one state file replaced by rename:
the switch from one version to another is then a single step (a rename is atomic on the Unix
port and on littlefs), so after a reset the board reads either the old or the new state,
never half of each.

Layout under `root` (default `upd/`): `<kind>.a`, `<kind>.b` (payloads), `state.json`:

    {"model": {"active": "a", "a": {"v": 3, "sha": "<hex>", "fmt": 2}, "b": null,
               "pending": null, "trial": null, "failed": null}, ...}

`pending` names a slot that was verified but whose self-test has not passed yet: a board that
restarts in that state never runs it (it is marked failed). `trial` names the active slot
from its switch until the board has run it for a while (`confirm`): a board that restarts
before that (a crash with the new artifact, or power lost right after the switch) goes back
to the previous slot, as a boot loader's test image would. At boot the active slot's SHA-256
is checked against the state; a slot that no longer matches is marked failed and the other
slot, if it verifies, becomes active again.
"""

import hashlib
import json
import os

SLOTS = ("a", "b")
KINDS = ("model", "calibration", "templates")


def _hex(b):
    import binascii

    return binascii.hexlify(b).decode()


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def file_sha256(path, buf=None):
    """SHA-256 (bytes) of a file read in small blocks, or None if it cannot be read."""
    buf = buf or bytearray(512)
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
    except OSError:
        return None
    return h.digest()


def empty_entry():
    return {"active": None, "a": None, "b": None, "pending": None, "trial": None, "failed": None}


class Store:
    def __init__(self, root="upd"):
        self.root = root
        try:
            os.mkdir(root)
        except OSError:
            pass
        self.state = self._load()

    # -- the state file -------------------------------------------------------------------

    def _path(self, name):
        return self.root + "/" + name

    def slot_path(self, kind, slot):
        return self._path(kind + "." + slot)

    def _load(self):
        try:
            with open(self._path("state.json")) as f:
                st = json.load(f)
            if not isinstance(st, dict):
                st = {}
        except (OSError, ValueError):
            st = {}
        for k in KINDS:
            e = st.get(k)
            if not isinstance(e, dict):
                st[k] = empty_entry()
            else:
                for f in ("active", "a", "b", "pending", "trial", "failed"):
                    e.setdefault(f, None)
        return st

    def save(self):
        """Write state to a temporary file, then rename it over the live one (atomic)."""
        tmp = self._path("state.tmp")
        data = json.dumps(self.state)
        with open(tmp, "w") as f:
            f.write(data)
        try:
            os.rename(tmp, self._path("state.json"))
        except OSError:  # FAT refuses to rename over a file
            os.remove(self._path("state.json"))
            os.rename(tmp, self._path("state.json"))

    # -- queries ----------------------------------------------------------------------------

    def entry(self, kind):
        return self.state[kind]

    def active(self, kind):
        """(slot, record) of the active version of `kind`, or (None, None)."""
        e = self.state[kind]
        s = e["active"]
        if s in SLOTS and e[s]:
            return s, e[s]
        return None, None

    def inactive(self, kind):
        return "b" if self.state[kind]["active"] == "a" else "a"

    def active_version(self, kind):
        _, rec = self.active(kind)
        return rec["v"] if rec else -1

    def verify_slot(self, kind, slot):
        rec = self.state[kind][slot]
        if not rec:
            return False
        got = file_sha256(self.slot_path(kind, slot))
        return got is not None and _hex(got) == rec["sha"]

    # -- boot -------------------------------------------------------------------------------

    def boot(self):
        """Resolve interrupted updates and damaged slots; return notes [(kind, what, version)]
        where what is "pending" (a slot whose self-test never finished was dropped), "trial"
        (the board restarted before it confirmed the active slot: the previous one runs),
        "fallback" (the active slot was damaged, the other one runs) or "lost" (no valid slot
        is left: built-in defaults)."""
        notes = []
        changed = False
        for kind in KINDS:
            e = self.state[kind]
            p = e["pending"]
            if p is not None:
                e["failed"] = p
                e["pending"] = None
                if p in SLOTS:
                    e[p] = None
                changed = True
                notes.append((kind, "pending", self.active_version(kind)))
            t = e["trial"]
            if t is not None:
                e["trial"] = None
                if t == e["active"] and t in SLOTS:
                    e["failed"] = t
                    e[t] = None
                    other = "b" if t == "a" else "a"
                    e["active"] = other if self.verify_slot(kind, other) else None
                    notes.append((kind, "trial", self.active_version(kind)))
                changed = True
            a = e["active"]
            if a is not None and not self.verify_slot(kind, a):
                e["failed"] = a
                e[a] = None if a in SLOTS else None
                other = "b" if a == "a" else "a"
                e["active"] = other if self.verify_slot(kind, other) else None
                changed = True
                notes.append((kind, "fallback" if e["active"] else "lost", self.active_version(kind)))
        if changed:
            self.save()
        return notes

    # -- the config the processors see --------------------------------------------------------

    def apply(self, cfg, board_kind, override=None):
        """Return `cfg` with the active artifacts (or `override` = (kind, slot)) applied:
        model and templates become file paths, a calibration's keys are merged in."""
        from gaitfw import calib

        out = dict(cfg)
        for kind in KINDS:
            slot, _ = self.active(kind)
            if override is not None and override[0] == kind:
                slot = override[1]
            if slot is None:
                continue
            path = self.slot_path(kind, slot)
            if kind == "model":
                out["student"] = path
            elif kind == "templates":
                out["csm_templates"] = path
            else:
                try:
                    out.update(calib.load(board_kind, path))
                except ValueError:
                    if override is not None and override[0] == kind:
                        raise
        return out

    def summary(self):
        """Per kind: active slot, version, sha256, pending and failed slots (for INFO/HELLO)."""
        out = {}
        for kind in KINDS:
            e = self.state[kind]
            slot, rec = self.active(kind)
            other = "b" if slot == "a" else "a"
            out[kind] = {
                "slot": slot,
                "version": rec["v"] if rec else None,
                "sha256": rec["sha"] if rec else None,
                "previous": e[other]["v"] if slot and e[other] else None,
                "pending": e["pending"],
                "trial": e["trial"],
                "failed": e["failed"],
            }
        return out

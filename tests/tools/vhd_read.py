#!/usr/bin/env python3
"""An independent VHD reader for the tests: shares no code with lib/vhd.c.

    vhd_read.py FILE.vhd            sha1 of the guest's view of the whole disk
    vhd_read.py --raw FILE.vhd      the guest's view, raw, on stdout
    vhd_read.py --each FILE.vhd...  one line per file, in order: its sha1, or
                                    UNREADABLE (each read on its own; one
                                    process for many, as a test's sweep needs)

Reads a fixed, dynamic or differencing VHD (the Microsoft VHD format
specification, as blktap writes it) through its chain.  A parent is found
the way blktap's tapdisk finds it, through the parent locators in slot
order (the first that names an existing file), and must carry the uuid the
child's header names: a chain that tapdisk would read wrongly fails here
too.  Checksums of the footer and header are verified.  Exit status 1 with
a message on stderr for anything that does not hold.
"""
import hashlib
import os
import struct
import sys

SECTOR = 512


class VhdError(Exception):
    pass


def checksum_ok(buf, off):
    """The one's complement of the byte sum, with the checksum field as zero."""
    stored = struct.unpack_from(">I", buf, off)[0]
    total = sum(buf) - sum(buf[off:off + 4])
    return (~total & 0xFFFFFFFF) == stored


class Image:
    def __init__(self, path, depth=0):
        if depth > 200:
            raise VhdError("chain longer than 200 links")
        self.path = path
        self.f = open(path, "rb")
        size = os.fstat(self.f.fileno()).st_size
        if size < SECTOR:
            raise VhdError(f"{path}: shorter than a footer")
        footer = self.pread(size - SECTOR, SECTOR)
        if footer[:8] != b"conectix":
            raise VhdError(f"{path}: no footer cookie")
        if not checksum_ok(footer, 64):
            raise VhdError(f"{path}: footer checksum")
        self.disk_type = struct.unpack_from(">I", footer, 60)[0]
        self.size = struct.unpack_from(">Q", footer, 48)[0]
        self.uuid = footer[68:84]
        self.parent = None
        if self.disk_type == 2:
            return
        if self.disk_type not in (3, 4):
            raise VhdError(f"{path}: disk type {self.disk_type}")
        hdr_off = struct.unpack_from(">Q", footer, 16)[0]
        hdr = self.pread(hdr_off, 1024)
        if hdr[:8] != b"cxsparse":
            raise VhdError(f"{path}: no header cookie")
        if not checksum_ok(hdr, 36):
            raise VhdError(f"{path}: header checksum")
        bat_off = struct.unpack_from(">Q", hdr, 16)[0]
        entries = struct.unpack_from(">I", hdr, 28)[0]
        self.block = struct.unpack_from(">I", hdr, 32)[0]
        if self.block == 0 or self.block % SECTOR:
            raise VhdError(f"{path}: block size {self.block}")
        self.spb = self.block // SECTOR
        self.bitmap_bytes = ((self.spb + 7) // 8 + SECTOR - 1) // SECTOR * SECTOR
        self.bat = struct.unpack(f">{entries}I", self.pread(bat_off, 4 * entries))
        if self.disk_type == 4:
            self.parent = self.open_parent(hdr, depth)
            if self.parent.size < self.size and self.parent.disk_type == 2:
                raise VhdError(f"{path}: fixed parent smaller than child")

    def pread(self, off, n):
        self.f.seek(off)
        data = self.f.read(n)
        if len(data) != n:
            raise VhdError(f"{self.path}: short read at {off}")
        return data

    def open_parent(self, hdr, depth):
        """As tapdisk's vhd_parent_locator_get: the locators in slot order,
        the first whose name leads to a file; it must carry the uuid the
        header names."""
        want = hdr[40:56]
        here = os.path.dirname(os.path.abspath(self.path))
        tried = []
        for i in range(8):
            code, space, length, _, off = struct.unpack_from(">4sIIIQ", hdr, 576 + 24 * i)
            if not length or code not in (b"W2ru", b"W2ku", b"MacX"):
                continue
            data = self.pread(off, length)
            if code == b"MacX":
                name = data.decode("utf-8").rstrip("\0")
                name = name[len("file://"):] if name.startswith("file://") else name
            else:
                name = data.decode("utf-16-le").rstrip("\0").replace("\\", "/")
                name = name[2:] if name.startswith("C:") else name
            path = name if name.startswith("/") else os.path.join(here, name)
            tried.append(f"{code.decode()}:{name}")
            if not os.path.exists(path):
                continue
            parent = Image(path, depth + 1)
            if parent.uuid != want:
                raise VhdError(f"{self.path}: locator {i} ({code.decode()}) leads to {path}, "
                               f"whose uuid is not the parent's")
            return parent
        raise VhdError(f"{self.path}: no parent locator leads to a file ({tried})")

    def read_block(self, b):
        """The guest's view of block b (self.block bytes) of a dynamic or differencing image."""
        entry = self.bat[b] if b < len(self.bat) else 0xFFFFFFFF
        below = self.parent.read_span(b * self.block, self.block) if self.parent else None
        if entry == 0xFFFFFFFF:
            return below if below is not None else bytes(self.block)
        base = entry * SECTOR
        bitmap = self.pread(base, self.bitmap_bytes)
        data = self.pread(base + self.bitmap_bytes, self.block)
        if below is None:
            below = bytes(self.block)
        out = bytearray(below)
        for s in range(self.spb):
            if bitmap[s >> 3] & (0x80 >> (s & 7)):
                out[s * SECTOR:(s + 1) * SECTOR] = data[s * SECTOR:(s + 1) * SECTOR]
        return bytes(out)

    def read_fixed(self, off, n):
        end = min(off + n, self.size)
        data = self.pread(off, end - off) if end > off else b""
        return data + bytes(n - len(data))

    def read_span(self, off, n):
        """n bytes at off of the guest view (zeros past the end)."""
        if self.disk_type == 2:
            return self.read_fixed(off, n)
        out = bytearray()
        while n > 0:
            b, inner = divmod(off, self.block)
            take = min(n, self.block - inner)
            if off >= self.size:
                out += bytes(take)
            else:
                out += self.read_block(b)[inner:inner + take]
            off += take
            n -= take
        return bytes(out)


def guest_view(path, out):
    """Feed the guest's view of the image at path, 8 MiB at a time, to out."""
    img = Image(path)
    step = 8 * 1024 * 1024
    for off in range(0, img.size, step):
        out(img.read_span(off, min(step, img.size - off)))


READ_ERRORS = (VhdError, OSError, UnicodeDecodeError, struct.error)


def sha1_of(path):
    h = hashlib.sha1()
    guest_view(path, h.update)
    return h.hexdigest()


def main(argv):
    if len(argv) >= 3 and argv[1] == "--each":
        for path in argv[2:]:
            try:
                print(sha1_of(path))
            except READ_ERRORS as e:
                sys.stderr.write(f"vhd_read: {e}\n")
                print("UNREADABLE")
        return 0
    raw = len(argv) == 3 and argv[1] == "--raw"
    if len(argv) != 2 and not raw:
        sys.stderr.write(__doc__)
        return 2
    try:
        if raw:
            guest_view(argv[-1], sys.stdout.buffer.write)
        else:
            print(sha1_of(argv[-1]))
    except READ_ERRORS as e:
        sys.stderr.write(f"vhd_read: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

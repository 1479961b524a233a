"""dumpkit.py - an independent reader (and editor) of Windows memory images
for the tests.

It shares no code and no table with dumpscan or dumpgen: dump layouts are
written from ../shared/reference/offsets-notes.md section 7 (public
headers: DUMP_HEADER64/32, the SDMP/FDMP bitmap header, RDMP ranges, ELF
program headers), structure offsets are looked up by *field name* in
../shared/reference/offsets.json (builds[key]["_EPROCESS"]["UniqueProcessId"]),
and address translation follows the Intel SDM (x64 4-level with 1 GiB /
2 MiB leaves and transition PTEs, PAE, 32-bit).  An offset typo in
dumpscan's generated table, a wrong header field or a translation slip
therefore shows up as a disagreement between this reader and dumpscan.

Used by the end-to-end tests to derive truth (walks of the active process
list, thread lists, PspCidTable, object fields) and to make hostile
variants of generated dumps (Image.write_va patches a kernel VA in place).
"""
import json
import os
import struct

PAGE = 0x1000


def shared_dir():
    return os.environ.get("DUMPSCAN_SHARED",
                          os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


_OFFSETS = None


def offsets(build_key):
    """Field-name -> offset tables of one build: off['_EPROCESS']['Peb']."""
    global _OFFSETS
    if _OFFSETS is None:
        with open(os.path.join(shared_dir(), "reference", "offsets.json")) as f:
            _OFFSETS = json.load(f)["builds"]
    return _OFFSETS[build_key]


class Image:
    """A memory image: physical pages by PFN, and kernel VA translation."""

    def __init__(self, path, writable=False):
        self.path = path
        self.f = open(path, "r+b" if writable else "rb")
        self.size = os.fstat(self.f.fileno()).st_size
        self.runs = []          # (first_pfn, npages, file_off) sorted by pfn
        self.bitmap = None      # (bits bytes, first_page_off, rank list)
        self.dtb = None
        self.mode = None        # "x64", "pae", "x86"
        self.header = {}
        self._parse()

    # ---- formats -----------------------------------------------------------

    def _u32(self, off):
        self.f.seek(off)
        return struct.unpack("<I", self.f.read(4))[0]

    def _u64(self, off):
        self.f.seek(off)
        return struct.unpack("<Q", self.f.read(8))[0]

    def _parse(self):
        self.f.seek(0)
        head = self.f.read(8)
        if head == b"PAGEDU64":
            self._parse_du64()
        elif head == b"PAGEDUMP":
            self._parse_dump32()
        elif head[:4] == b"\x7fELF":
            self._parse_elf()
        else:
            self.format = "raw"
            self.runs = [(0, self.size // PAGE, 0)]

    def _parse_du64(self):
        self.format = "PAGEDU64"
        h = self.header
        h["dtb"] = self._u64(0x10)
        h["ps_loaded_module_list"] = self._u64(0x20)
        h["ps_active_process_head"] = self._u64(0x28)
        h["build"] = self._u32(0xC)
        h["bugcheck_code"] = self._u32(0x38)
        h["bugcheck_params"] = [self._u64(0x40 + 8 * i) for i in range(4)]
        h["kdbg"] = self._u64(0x80)
        h["dump_type"] = self._u32(0xF98)
        h["system_time"] = self._u64(0xFA8)
        self.dtb, self.mode = h["dtb"], "x64"
        dt = h["dump_type"]
        if dt == 1:
            n = self._u32(0x88)
            off = 0x2000
            for i in range(n):
                base, count = self._u64(0x98 + 16 * i), self._u64(0xA0 + 16 * i)
                self.runs.append((base, count, off))
                off += count * PAGE
        elif dt in (5, 6):
            self._parse_bitmap(0x2000)
        elif dt in (8, 9, 10):
            self._parse_rdmp()
        self.runs.sort()

    def _parse_dump32(self):
        self.format = "PAGEDUMP"
        h = self.header
        h["dtb"] = self._u32(0x10)
        h["ps_loaded_module_list"] = self._u32(0x18)
        h["ps_active_process_head"] = self._u32(0x1C)
        h["build"] = self._u32(0xC)
        self.f.seek(0x5C)
        pae = self.f.read(1)[0]
        h["dump_type"] = self._u32(0xF88)
        self.dtb, self.mode = h["dtb"], ("pae" if pae else "x86")
        if h["dump_type"] == 1:
            n = self._u32(0x64)
            off = 0x1000
            for i in range(n):
                base, count = self._u32(0x6C + 8 * i), self._u32(0x70 + 8 * i)
                self.runs.append((base, count, off))
                off += count * PAGE
        elif h["dump_type"] == 5:
            self._parse_bitmap(0x1000)
        self.runs.sort()

    def _parse_bitmap(self, at):
        first_page = self._u64(at + 0x20)
        pages = self._u64(at + 0x30)
        self.f.seek(at + 0x38)
        bits = self.f.read((pages + 7) // 8)
        # runs of set bits become runs of pages stored back to back
        idx = 0
        pfn = 0
        nbits = pages
        while pfn < nbits:
            byte = bits[pfn >> 3]
            if byte == 0 and (pfn & 7) == 0:
                pfn += 8
                continue
            if byte >> (pfn & 7) & 1:
                start = pfn
                while pfn < nbits and bits[pfn >> 3] >> (pfn & 7) & 1:
                    pfn += 1
                self.runs.append((start, pfn - start, first_page + idx * PAGE))
                idx += pfn - start
            else:
                pfn += 1

    def _parse_rdmp(self):
        first = self._u64(0x2000 + 0x18)
        off = first
        pos = 0x2030
        while pos + 16 <= first:
            pfn, n = self._u64(pos), self._u64(pos + 8)
            if pfn == 0:
                break
            self.runs.append((pfn, n, off))
            off += n * PAGE
            pos += 16

    def _parse_elf(self):
        self.format = "elf"
        self.f.seek(4)
        cls = self.f.read(1)[0]
        if cls == 2:
            self.f.seek(0x20)
            phoff = struct.unpack("<Q", self.f.read(8))[0]
            self.f.seek(0x36)
            phentsize, phnum = struct.unpack("<HH", self.f.read(4))
            for i in range(phnum):
                self.f.seek(phoff + i * phentsize)
                p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack(
                    "<IIQQQQ", self.f.read(40))
                if p_type == 1 and p_filesz:
                    self.runs.append((p_paddr // PAGE, p_filesz // PAGE, p_offset))
        else:
            self.f.seek(0x1C)
            phoff = struct.unpack("<I", self.f.read(4))[0]
            self.f.seek(0x2A)
            phentsize, phnum = struct.unpack("<HH", self.f.read(4))
            for i in range(phnum):
                self.f.seek(phoff + i * phentsize)
                p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack(
                    "<IIIII", self.f.read(20))
                if p_type == 1 and p_filesz:
                    self.runs.append((p_paddr // PAGE, p_filesz // PAGE, p_offset))
        self.runs.sort()

    # ---- physical memory ---------------------------------------------------

    def file_off(self, pa):
        """File offset of physical address pa, or None when not in the dump."""
        pfn = pa // PAGE
        lo, hi = 0, len(self.runs)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.runs[mid][0] <= pfn:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:
            return None
        first, n, off = self.runs[lo - 1]
        if pfn >= first + n:
            return None
        o = off + (pfn - first) * PAGE + pa % PAGE
        return o if o + 1 <= self.size else None

    def read_pa(self, pa, n):
        out = b""
        while n:
            chunk = min(n, PAGE - pa % PAGE)
            off = self.file_off(pa)
            if off is None:
                return None
            self.f.seek(off)
            data = self.f.read(chunk)
            if len(data) != chunk:
                return None
            out += data
            pa += chunk
            n -= chunk
        return out

    def write_pa(self, pa, data):
        off = self.file_off(pa)
        assert off is not None and pa % PAGE + len(data) <= PAGE, hex(pa)
        self.f.seek(off)
        self.f.write(data)

    # ---- translation ---------------------------------------------------------

    def _entry(self, table_pa, index, size):
        raw = self.read_pa(table_pa + index * size, size)
        if raw is None:
            return None
        return struct.unpack("<Q" if size == 8 else "<I", raw)[0]

    def vtop(self, va, dtb=None):
        """Physical address of kernel VA va, or None (not present)."""
        dtb = self.dtb if dtb is None else dtb
        if self.mode == "x64":
            table = dtb & 0x000FFFFFFFFFF000
            for level, shift in ((4, 39), (3, 30), (2, 21), (1, 12)):
                e = self._entry(table, (va >> shift) & 0x1FF, 8)
                if e is None:
                    return None
                present = e & 1
                if not present:
                    # a transition PTE (bit 11 set, prototype bit 10 clear) at the
                    # leaf still names the page
                    if level == 1 and (e >> 11) & 1 and not (e >> 10) & 1:
                        return (e & 0x000FFFFFFFFFF000) | (va & 0xFFF)
                    return None
                if level in (3, 2) and e & 0x80:
                    size = 1 << shift
                    return (e & 0x000FFFFFFFFFF000 & ~(size - 1)) | (va & (size - 1))
                table = e & 0x000FFFFFFFFFF000
            return table | (va & 0xFFF)
        if self.mode == "pae":
            e = self._entry(dtb & ~0x1F, (va >> 30) & 3, 8)
            if e is None or not e & 1:
                return None
            e = self._entry(e & 0xFFFFFF000, (va >> 21) & 0x1FF, 8)
            if e is None or not e & 1:
                return None
            if e & 0x80:
                return (e & 0xFFFE00000) | (va & 0x1FFFFF)
            e = self._entry(e & 0xFFFFFF000, (va >> 12) & 0x1FF, 8)
            if e is None:
                return None
            if not e & 1 and not ((e >> 11) & 1 and not (e >> 10) & 1):
                return None
            return (e & 0xFFFFFF000) | (va & 0xFFF)
        e = self._entry(dtb & ~0xFFF, (va >> 22) & 0x3FF, 4)
        if e is None or not e & 1:
            return None
        if e & 0x80:
            return (e & 0xFFC00000) | (va & 0x3FFFFF)
        e = self._entry(e & ~0xFFF, (va >> 12) & 0x3FF, 4)
        if e is None:
            return None
        if not e & 1 and not ((e >> 11) & 1 and not (e >> 10) & 1):
            return None
        return (e & ~0xFFF) | (va & 0xFFF)

    def read_va(self, va, n):
        out = b""
        while n:
            chunk = min(n, PAGE - va % PAGE)
            pa = self.vtop(va)
            if pa is None:
                return None
            data = self.read_pa(pa, chunk)
            if data is None:
                return None
            out += data
            va += chunk
            n -= chunk
        return out

    def write_va(self, va, data):
        while data:
            chunk = min(len(data), PAGE - va % PAGE)
            pa = self.vtop(va)
            assert pa is not None, hex(va)
            self.write_pa(pa, data[:chunk])
            va += chunk
            data = data[chunk:]

    @property
    def ptr(self):
        return 8 if self.mode == "x64" else 4

    def read_ptr(self, va):
        raw = self.read_va(va, self.ptr)
        if raw is None:
            return None
        return struct.unpack("<Q" if self.ptr == 8 else "<I", raw)[0]

    def write_ptr(self, va, value):
        self.write_va(va, struct.pack("<Q" if self.ptr == 8 else "<I", value))

    def close(self):
        self.f.close()



def filetime_iso(ft):
    """FILETIME (100 ns since 1601) as the CLI's ISO-8601 UTC string; None for 0."""
    import datetime
    if not ft:
        return None
    secs, rem = divmod(ft - 116444736000000000, 10000000)
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (rem // 10)

def walk_list(img, head, link_off, limit=100000):
    """VAs of the records of a LIST_ENTRY ring from head (forward), stopping at
    the head, a repeat or an unreadable pointer."""
    out, seen, cur = [], set(), head
    for _ in range(limit):
        nxt = img.read_ptr(cur)
        if nxt is None or nxt == head or nxt in seen:
            break
        seen.add(nxt)
        out.append(nxt - link_off)
        cur = nxt
    return out

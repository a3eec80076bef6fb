"""A bounded scan of a TIFF-based RAW's structure (IFDs, tags, image data sources).

LibRaw and tifffile both trust a file's IFDs more than a hostile or damaged file deserves: a strip
offset tag that points past the end makes LibRaw hand back an uninitialised buffer (in a warm
process, the previous file's pixels), an opcode list past the end is dropped by tifffile without a
word, a chain of 200 000 IFDs is walked in full. :func:`scan_tiff` reads the IFD chain, SubIFDs
and the EXIF IFD itself, with fixed limits, before either library sees the file, and
:func:`check_tiff_structure` turns what it found into :class:`~isp.CorruptRawError` reasons.

Limits (module constants): at most :data:`MAX_IFDS` IFDs in all and :data:`MAX_TAGS_PER_IFD`
entries per IFD; an IFD chain that loops, an IFD or a tag value outside the file is a corrupt
file. The scan reads only the bytes it needs (the file is memory-mapped), so its cost is bounded
by the limits, not by the file's claims.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field

from .errors import CorruptRawError

#: Most IFDs (main chain + SubIFDs + EXIF) a RAW may hold; real files have fewer than 10.
MAX_IFDS = 64
#: Most entries one IFD may hold; real RAW IFDs have fewer than 200.
MAX_TAGS_PER_IFD = 4096
#: Most strips or tiles one image may be split into (a 100 MP frame in 256 x 256 tiles: 1600).
MAX_DATA_BLOCKS = 1 << 20

# TIFF field type -> bytes per value
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4,
               16: 8, 17: 8, 18: 8}
_SUBIFD_TAGS = (330,)  # SubIFDs
_EXIF_TAG = 34665
_TAG_NAMES = {
    256: "ImageWidth", 257: "ImageLength", 258: "BitsPerSample", 259: "Compression",
    273: "StripOffsets", 279: "StripByteCounts", 322: "TileWidth", 323: "TileLength",
    324: "TileOffsets", 325: "TileByteCounts", 50712: "LinearizationTable", 50717: "WhiteLevel",
    51008: "OpcodeList1", 51009: "OpcodeList2", 51022: "OpcodeList3",
}
#: Tags whose value must lie inside the file for the image to be decoded as it claims.
VITAL_TAGS = frozenset((256, 257, 258, 259, 273, 279, 322, 323, 324, 325, 50712, 50717,
                        51008, 51009, 51022))
#: PhotometricInterpretation of raw sensor data: CFA, LinearRaw.
RAW_PHOTOMETRIC = (32803, 34892)


def tag_name(code: int) -> str:
    return _TAG_NAMES.get(code, f"tag {code}")


@dataclass(frozen=True)
class TiffEntry:
    """One IFD entry as stored: where it is and where its value is (both file offsets)."""

    code: int
    type: int
    count: int
    entry_offset: int
    value_offset: int
    nbytes: int

    @property
    def inline(self) -> bool:
        return self.value_offset == self.entry_offset + 8


@dataclass
class TiffIFD:
    offset: int
    kind: str  # "main", "sub" or "exif"
    entries: dict[int, TiffEntry] = field(default_factory=dict)
    values: dict[int, tuple[int, ...]] = field(default_factory=dict)  # small integer tags, decoded
    outside: list[int] = field(default_factory=list)  # tags whose value lies past the end

    def value(self, code: int, default: int | None = None) -> int | None:
        vals = self.values.get(code)
        return vals[0] if vals else default

    @property
    def is_raw(self) -> bool:
        return self.value(262) in RAW_PHOTOMETRIC


@dataclass
class TiffStructure:
    size: int
    byteorder: str  # "<" or ">"
    ifds: list[TiffIFD]
    is_dng: bool

    @property
    def raw_ifds(self) -> list[TiffIFD]:
        return [ifd for ifd in self.ifds if ifd.is_raw]


class _Reader:
    def __init__(self, buf, size: int, bo: str) -> None:
        self.buf, self.size, self.bo = buf, size, bo

    def unpack(self, fmt: str, offset: int) -> tuple:
        n = struct.calcsize(fmt)
        if offset < 0 or offset + n > self.size:
            raise CorruptRawError(f"an IFD runs past the end of the file at byte {offset}: truncated")
        return struct.unpack_from(self.bo + fmt, self.buf, offset)


# integer types decoded for the small tags used by the checks
_INT_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 13: "I", 16: "Q"}
# which integer tags to decode, and at most how many values
_DECODE_LIMITS = {254: 1, 256: 1, 257: 1, 258: 4, 259: 1, 262: 1, 277: 1, 278: 1, 322: 1, 323: 1,
                  50717: 4, 273: MAX_DATA_BLOCKS, 279: MAX_DATA_BLOCKS, 324: MAX_DATA_BLOCKS,
                  325: MAX_DATA_BLOCKS, 330: MAX_IFDS, 34665: 1}


def _read_ifd(rd: _Reader, offset: int, kind: str) -> tuple[TiffIFD, int]:
    (count,) = rd.unpack("H", offset)
    if count > MAX_TAGS_PER_IFD:
        raise CorruptRawError(f"the IFD at byte {offset} declares {count} entries (limit {MAX_TAGS_PER_IFD})")
    ifd = TiffIFD(offset=offset, kind=kind)
    for i in range(count):
        pos = offset + 2 + 12 * i
        code, typ, n, raw_value = rd.unpack("HHII", pos)
        size = _TYPE_SIZES.get(typ)
        if size is None:
            continue  # unknown type: readers skip it, so do we
        nbytes = size * n
        value_offset = pos + 8 if nbytes <= 4 else raw_value
        entry = TiffEntry(code, typ, n, pos, value_offset, nbytes)
        ifd.entries[code] = entry
        if value_offset + nbytes > rd.size:
            ifd.outside.append(code)
            continue
        limit = _DECODE_LIMITS.get(code)
        fmt = _INT_FORMATS.get(typ)
        if limit is not None and fmt is not None:
            if n > limit:
                raise CorruptRawError(f"{tag_name(code)} holds {n} values (limit {limit})")
            ifd.values[code] = rd.unpack(f"{n}{fmt}", value_offset) if n else ()
    (next_offset,) = rd.unpack("I", offset + 2 + 12 * count)
    return ifd, next_offset


def scan_tiff(path: str | os.PathLike) -> TiffStructure | None:
    """Scan a TIFF-based file's IFDs within the module's limits.

    Returns
    -------
    TiffStructure or None
        None when the file does not start with a classic TIFF header (``II*\\0`` / ``MM\\0*``).

    Raises
    ------
    CorruptRawError
        An IFD outside the file, a chain that loops or exceeds :data:`MAX_IFDS`, an IFD with more
        than :data:`MAX_TAGS_PER_IFD` entries. The message does not name the file (callers do).
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 8:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            head = buf[:4]
            if head == b"II*\x00":
                bo = "<"
            elif head == b"MM\x00*":
                bo = ">"
            else:
                return None
            rd = _Reader(buf, size, bo)
            (first,) = rd.unpack("I", 4)
            ifds: list[TiffIFD] = []
            seen: set[int] = set()
            queue: list[tuple[int, str, bool]] = [(first, "main", True)]
            while queue:
                offset, kind, follow_chain = queue.pop(0)
                while offset:
                    if offset in seen:
                        raise CorruptRawError(f"the IFD chain loops back to byte {offset}")
                    if offset + 2 > size:
                        if kind == "exif":
                            break  # EXIF is metadata only: a bad pointer loses no image data
                        raise CorruptRawError(f"an IFD at byte {offset} lies past the end of the file ({size} bytes)")
                    if len(ifds) >= MAX_IFDS:
                        raise CorruptRawError(f"more than {MAX_IFDS} IFDs (image directories); a RAW holds a few")
                    seen.add(offset)
                    ifd, next_offset = _read_ifd(rd, offset, kind)
                    ifds.append(ifd)
                    for code in _SUBIFD_TAGS:
                        queue.extend((o, "sub", False) for o in ifd.values.get(code, ()) if o)
                    exif = ifd.value(_EXIF_TAG)
                    if exif:
                        queue.append((exif, "exif", False))
                    offset = next_offset if follow_chain else 0
            is_dng = bool(ifds) and 50706 in ifds[0].entries
    return TiffStructure(size=size, byteorder=bo, ifds=ifds, is_dng=is_dng)


def read_tag_bytes(path: str | os.PathLike, entry: TiffEntry) -> bytes:
    """The raw bytes of one entry's value (the caller has checked it lies inside the file)."""
    with open(path, "rb") as fh:
        fh.seek(entry.value_offset)
        return fh.read(entry.nbytes)


def _blocks(ifd: TiffIFD) -> tuple[str, tuple[int, ...], tuple[int, ...], int]:
    """("strips" | "tiles", offsets, byte counts, blocks the image needs)."""
    width, height = ifd.value(256, 0) or 0, ifd.value(257, 0) or 0
    if 324 in ifd.entries or 325 in ifd.entries:
        tw, th = ifd.value(322, 0) or 0, ifd.value(323, 0) or 0
        needed = -(-width // tw) * -(-height // th) if tw and th else 0
        return "tiles", ifd.values.get(324, ()), ifd.values.get(325, ()), needed
    rows = ifd.value(278, height) or height
    needed = -(-height // rows) if rows else 0
    return "strips", ifd.values.get(273, ()), ifd.values.get(279, ()), needed


def claimed_pixels(structure: TiffStructure) -> int:
    """The largest width x height any raw IFD (else any IFD) claims."""
    ifds = structure.raw_ifds or structure.ifds
    return max(((ifd.value(256, 0) or 0) * (ifd.value(257, 0) or 0) for ifd in ifds), default=0)


def structure_problem(structure: TiffStructure) -> str | None:
    """The first reason why the raw image data cannot be what the file claims, else None.

    Checked for each raw IFD (PhotometricInterpretation CFA or LinearRaw): its vital tags
    (dimensions, data offsets and byte counts, linearisation table, white level, opcode lists)
    lie inside the file; it has data offsets and byte counts, as many as its strips or tiles,
    each block inside the file; uncompressed DNG data are long enough for width x height x
    BitsPerSample; the blocks together claim no more bytes than the file has (one strip reused
    for a huge image); WhiteLevel is reachable with BitsPerSample.
    """
    size = structure.size
    for ifd in structure.ifds:
        bad = [c for c in ifd.outside if c in VITAL_TAGS and (ifd.is_raw or c >= 50712 or ifd.kind == "main")]
        if bad:
            names = ", ".join(tag_name(c) for c in bad)
            return f"{names} point(s) past the end of the file ({size} bytes): the file is truncated or damaged"
    for ifd in structure.raw_ifds:
        width, height = ifd.value(256, 0) or 0, ifd.value(257, 0) or 0
        if width < 1 or height < 1:
            return f"the raw image has no valid size ({width} x {height})"
        kind, offsets, counts, needed = _blocks(ifd)
        if not offsets or not counts:
            return f"the raw image has no {kind[:-1]} offsets or byte counts (the data sources are missing)"
        if len(offsets) != len(counts):
            return f"the raw image lists {len(offsets)} {kind[:-1]} offsets but {len(counts)} byte counts"
        if needed and len(offsets) < needed:
            return f"the raw image needs {needed} {kind} but lists {len(offsets)}"
        for off, cnt in zip(offsets, counts):
            if cnt == 0 or off + cnt > size:
                return (f"a {kind[:-1]} of the raw image ({cnt} bytes at byte {off}) lies outside the file "
                        f"({size} bytes): truncated")
        total = sum(counts)
        if total > size:
            return (f"the raw image's {kind} claim {total} bytes but the file has {size}: the same data "
                    "are reused for a larger image than the file holds")
        bits = ifd.value(258, 16) or 16
        samples = ifd.value(277, 1) or 1
        if structure.is_dng and ifd.value(259, 1) == 1 and total * 8 < width * height * samples * bits:
            return (f"the uncompressed raw image ({width} x {height} x {samples} at {bits} bits) needs "
                    f"{width * height * samples * bits // 8} bytes but its {kind} hold {total}")
        whites = ifd.values.get(50717, ())
        if (structure.is_dng and whites and bits < 32 and 50712 not in ifd.entries
                and max(whites) > (1 << bits) - 1):  # (a LinearizationTable maps to a wider range)
            return f"WhiteLevel {max(whites)} cannot be reached with BitsPerSample {bits}"
        table = ifd.entries.get(50712)
        if table is not None and table.count < 2:
            return f"LinearizationTable has {table.count} entries (at least 2 needed)"
    return None


def scan_tiff_file(path: str | os.PathLike) -> TiffStructure | None:
    """:func:`scan_tiff`, its errors naming the file."""
    p = os.fspath(path)
    try:
        return scan_tiff(p)
    except CorruptRawError as exc:
        raise CorruptRawError(f"{p}: damaged TIFF structure: {exc}") from None

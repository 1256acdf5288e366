"""Small real files of each kind Flywheel keeps, and some it refuses, built byte by byte."""

from __future__ import annotations

import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_1x1() -> bytes:
    """Return a valid 1×1 RGBA PNG."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")  # filter byte, then one red pixel
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
_VP8L = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"  # padded to even
WEBP = b"RIFF" + struct.pack("<I", 4 + len(_VP8L)) + b"WEBP" + _VP8L
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """Return an ISO-BMFF file start: an ftyp box and an empty mdat box."""
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00\x00\x00\x08mdat"


MP4 = ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41")
MOV = ftyp(b"qt  ", b"qt  ")
AVIF = ftyp(b"avif", b"mif1", b"miaf")


def _ebml(element_id: int, data: bytes) -> bytes:
    assert len(data) < 0x7F  # a one-byte size is enough for a header
    return (
        element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
        + bytes([0x80 | len(data)])
        + data
    )


def ebml(doc_type: bytes) -> bytes:
    """Return an EBML header for ``doc_type`` ("webm", "matroska") and a Segment start."""
    header = b"".join(
        [
            _ebml(0x4286, b"\x01"),  # EBMLVersion
            _ebml(0x42F7, b"\x01"),  # EBMLReadVersion
            _ebml(0x42F2, b"\x04"),  # EBMLMaxIDLength
            _ebml(0x42F3, b"\x08"),  # EBMLMaxSizeLength
            _ebml(0x4282, doc_type),  # DocType
            _ebml(0x4287, b"\x04"),  # DocTypeVersion
            _ebml(0x4285, b"\x02"),  # DocTypeReadVersion
        ]
    )
    return _ebml(0x1A45DFA3, header) + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"


WEBM = ebml(b"webm")
MATROSKA = ebml(b"matroska")

ALLOWED = {
    "png": (png_1x1(), "image/png"),
    "jpeg": (JPEG, "image/jpeg"),
    "gif": (GIF, "image/gif"),
    "webp": (WEBP, "image/webp"),
    "mp4": (MP4, "video/mp4"),
    "mov": (MOV, "video/quicktime"),
    "webm": (WEBM, "video/webm"),
    "pdf": (PDF, "application/pdf"),
}
REFUSED = {
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "svg-with-xml-declaration": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "html": b"<!doctype html><html><script>alert(1)</script></html>",
    "empty": b"",
    "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00",
    "text": b"just some text, nothing more\n",
    "avif": AVIF,
    "matroska": MATROSKA,
    "riff-wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "truncated-png": b"\x89PNG\r\n",
}

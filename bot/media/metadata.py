"""Strip what a photo says about its author before anyone else can download it.

Phones write the camera owner's name, the place (GPS) and the time into JPEG EXIF/XMP, PNG
text chunks and WebP EXIF/XMP chunks. A member who shares "publicly, without my name" must
not be named by the file either, so the stored copy of every image keeps only what draws
it: the image data, its colour profile and what a decoder needs. The work is done on the
container structure (no decoding, no re-encoding: the pixels are untouched). A file whose
structure cannot be followed raises :class:`MetadataError`, and the upload is refused:
what cannot be read cannot be cleaned. Video and PDF metadata are not touched (documented
in ``docs/architecture.md``).
"""

from __future__ import annotations

import struct

# JPEG: APP1 (EXIF, XMP), APP12 (Ducky/"picture info"), APP13 (IPTC/Photoshop), COM.
_JPEG_DROP = frozenset({0xE1, 0xEC, 0xED, 0xFE})
# PNG: text, compressed text, international text, EXIF, last-modified time.
_PNG_DROP = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"})
# WebP (RIFF): EXIF and XMP chunks; VP8X flags say whether they are there.
_WEBP_DROP = frozenset({b"EXIF", b"XMP "})
_WEBP_EXIF_FLAG, _WEBP_XMP_FLAG = 0x08, 0x04


class MetadataError(ValueError):
    """The file's structure could not be followed, and it may carry metadata."""


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """Return the image without its author metadata (other kinds are returned as they are)."""
    if content_type == "image/jpeg":
        return _jpeg(data)
    if content_type == "image/png":
        return _png(data)
    if content_type == "image/webp":
        return _webp(data)
    return data


def _jpeg(data: bytes) -> bytes:
    out = bytearray(data[:2])  # SOI
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise MetadataError("a JPEG segment does not start with 0xFF")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the image data follows, to the end
            out += data[at:]
            return bytes(out)
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            out += data[at : at + 2]
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if length < 2 or at + 2 + length > len(data):
            raise MetadataError("a JPEG segment runs past the end of the file")
        if marker not in _JPEG_DROP:
            out += data[at : at + 2 + length]
        at += 2 + length
    out += data[at:]  # EOI, or a truncated tail with no segments in it
    return bytes(out)


def _png(data: bytes) -> bytes:
    out = bytearray(data[:8])  # signature
    at = 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise MetadataError("a PNG chunk runs past the end of the file")
        if kind not in _PNG_DROP:
            out += data[at:end]
        at = end
        if kind == b"IEND":
            return bytes(out)
    if at != len(data):
        raise MetadataError("a PNG ends inside a chunk")
    return bytes(out)


def _webp(data: bytes) -> bytes:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a RIFF WebP")
    chunks = bytearray()
    at = 12
    while at + 8 <= len(data):
        kind = data[at : at + 4]
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + length + (length & 1)  # chunks are padded to an even size
        if at + 8 + length > len(data):
            raise MetadataError("a WebP chunk runs past the end of the file")
        chunk = bytearray(data[at : min(end, len(data))])
        if kind == b"VP8X" and length >= 1:
            chunk[8] &= ~(_WEBP_EXIF_FLAG | _WEBP_XMP_FLAG) & 0xFF
        if kind not in _WEBP_DROP:
            chunks += chunk
        at = end
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)

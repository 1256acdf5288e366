"""Stored photos say nothing about their author: EXIF, XMP and text chunks are dropped."""

from __future__ import annotations

import struct
import zlib

import pytest

from bot.errors import Invalid
from bot.media import check_file, sniff
from bot.media.metadata import strip_metadata
from tests.media_samples import _png_chunk, png_1x1

SECRET = b"Ada Lovelace, 51.5074 N 0.1278 W"


def jpeg_with_exif() -> bytes:
    exif = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08Artist\x00" + SECRET
    app1 = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + struct.pack(">H", len(SECRET) + 2) + SECRET
    quant = b"\xff\xdb\x00\x43" + bytes(65)
    scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12\x34\xff\x00\x56" + b"\xff\xd9"
    return b"\xff\xd8" + app0 + app1 + comment + quant + scan


def test_a_jpeg_loses_its_exif_and_comments_and_keeps_everything_else():
    original = jpeg_with_exif()
    stripped = strip_metadata(original, "image/jpeg")
    assert SECRET not in stripped
    assert b"JFIF" in stripped and stripped.endswith(b"\x12\x34\xff\x00\x56\xff\xd9")
    assert sniff(stripped) == "image/jpeg"
    assert strip_metadata(stripped, "image/jpeg") == stripped


def test_a_png_loses_its_text_chunks_and_keeps_its_pixels():
    plain = png_1x1()
    text = _png_chunk(b"tEXt", b"Author\x00" + SECRET)
    itxt = _png_chunk(b"iTXt", b"GPS\x00\x00\x00\x00\x00" + SECRET)
    exif = _png_chunk(b"eXIf", SECRET)
    tagged = plain[:33] + text + itxt + exif + plain[33:]  # after IHDR
    stripped = strip_metadata(tagged, "image/png")
    assert stripped == plain


def test_a_webp_loses_its_exif_and_xmp_chunks_and_says_so_in_its_header():
    image = b"VP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00\x00"
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x08 | 0x04 | 0x10]) + bytes(9)
    exif = b"EXIF" + struct.pack("<I", len(SECRET)) + SECRET
    xmp = b"XMP " + struct.pack("<I", len(SECRET)) + SECRET
    body = b"WEBP" + vp8x + image + exif + xmp
    tagged = b"RIFF" + struct.pack("<I", len(body)) + body
    stripped = strip_metadata(tagged, "image/webp")
    assert SECRET not in stripped
    assert struct.unpack("<I", stripped[4:8])[0] == len(stripped) - 8
    assert stripped[20] == 0x10  # the alpha flag stays, EXIF and XMP flags are cleared
    assert sniff(stripped) == "image/webp"


def test_check_file_stores_the_stripped_copy_and_refuses_what_it_cannot_read():
    checked = check_file(jpeg_with_exif(), filename="me.jpg", claimed_type=None, max_bytes=10_000)
    assert SECRET not in checked.data and checked.size == len(checked.data)
    broken = png_1x1()[:33] + struct.pack(">I", 1_000) + b"tEXt" + SECRET
    with pytest.raises(Invalid) as refused:
        check_file(broken, filename="me.png", claimed_type="image/png", max_bytes=10_000)
    assert refused.value.field == "file" and refused.value.code == "file.damaged"
    assert "save or export it again" in refused.value.message


def test_videos_and_pdfs_pass_through_untouched():
    pdf = b"%PDF-1.4\n" + zlib.compress(SECRET)
    assert strip_metadata(pdf, "application/pdf") == pdf

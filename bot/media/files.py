"""What a member's file is: its type read from its bytes, its size, and a name safe to show.

A file's name and claimed type come from the member (or their platform) and can say anything;
its bytes cannot lie about what a viewer will decode. :func:`sniff` reads the magic bytes of
the kinds Flywheel accepts, :func:`check_file` refuses the rest with a message naming the
file, and :func:`safe_filename` gives the name to store and show.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from bot.errors import Invalid
from bot.inputs import shorten
from bot.media.metadata import MetadataError, strip_metadata

# The kinds Flywheel keeps, by content type: the extension a stored copy gets, and the
# extensions a member's file name may already carry for that type.
EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "application/pdf": "pdf",
}
CONTENT_TYPES: dict[str, str] = {extension: kind for kind, extension in EXTENSIONS.items()}
_ALIASES: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe", "jfif"}),
    "video/mp4": frozenset({"mp4", "m4v"}),
    "video/quicktime": frozenset({"mov", "qt"}),
}
# What people call the same types in a Content-Type header.
_CLAIMED_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}
FILENAME_LENGTH = 100
ALLOWED_KINDS = "an image, a video or a PDF"
SHARE_INSTEAD = "share a PNG, JPEG, GIF or WebP image, an MP4, MOV or WebM video, or a PDF"

# ISO base media file format (MP4, MOV, HEIF, AVIF…): an "ftyp" box names its brands.
_MP4_BRANDS = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4",
        b"MSNV", b"f4v ",
    }
)  # fmt: skip
_QUICKTIME_BRAND = b"qt  "
# Still images in the same container: not a video, whatever else they list.
_IMAGE_BRANDS = frozenset(
    {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
)
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE = 0x4282
_EBML_SCAN = 4096  # an EBML header is a few dozen bytes; never read further for it


def sniff(data: bytes) -> str | None:
    """Return the content type the bytes are, among the kinds Flywheel keeps, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:15] == b"VP8":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[4:8] == b"ftyp":
        return _iso_media(data)
    if data.startswith(_EBML_MAGIC):
        return "video/webm" if _ebml_doctype(data) == b"webm" else None
    return None


def _iso_media(data: bytes) -> str | None:
    size = int.from_bytes(data[:4], "big")
    if size < 16 or len(data) < 16:  # size, "ftyp", major brand, minor version
        return None
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, min(size, len(data)) - 3, 4)}
    if major == _QUICKTIME_BRAND:
        return "video/quicktime"
    if major in _MP4_BRANDS:
        return "video/mp4"
    if major in _IMAGE_BRANDS or compatible & _IMAGE_BRANDS:
        return None
    if compatible & _MP4_BRANDS:
        return "video/mp4"
    return "video/quicktime" if _QUICKTIME_BRAND in compatible else None


def _vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer at ``at``: (value, next offset), or None."""
    if at >= len(data) or data[at] == 0:
        return None
    first = data[at]
    length = 8 - first.bit_length() + 1
    if at + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, at + length


def _ebml_doctype(data: bytes) -> bytes | None:
    """Return the DocType of an EBML header ("webm", "matroska"), or None."""
    data = data[:_EBML_SCAN]
    header = _vint(data, len(_EBML_MAGIC), keep_marker=False)
    if header is None:
        return None
    size, at = header
    end = min(at + size, len(data))
    while at < end:
        element = _vint(data, at, keep_marker=True)
        if element is None:
            return None
        element_id, at = element
        length = _vint(data, at, keep_marker=False)
        if length is None:
            return None
        size, at = length
        if element_id == _EBML_DOCTYPE:
            return data[at : at + size].rstrip(b"\x00")
        at += size
    return None


def _normal_type(claimed: str | None) -> str | None:
    """Return a claimed Content-Type without parameters, lower-cased (None when absent)."""
    if not claimed:
        return None
    kind = claimed.split(";", 1)[0].strip().lower()
    return _CLAIMED_ALIASES.get(kind, kind) or None


_UNSAFE_IN_NAMES = re.compile(r'[<>:"|?*\\/]')
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,5})$")


def _visible_name(filename: str) -> str:
    """Return the last path part of a name, without controls, bidi or invisible characters."""
    base = re.split(r"[/\\]", filename.strip())[-1]
    kept = "".join(
        c
        for c in unicodedata.normalize("NFC", base)
        if unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
    )
    kept = " ".join(_UNSAFE_IN_NAMES.sub("_", kept).split())
    return kept.strip(" .")


def safe_filename(filename: str, content_type: str) -> str:
    """Return a name to store and show a file under: its base name, cleaned, with the right extension.

    Path parts, control, bidirectional and invisible characters go (so "‮gnp.exe" cannot
    pose as another type), leading dots go (no hidden files), characters some systems
    refuse in names become "_", and the extension is the one of ``content_type`` (kept when
    the name already has it or an alias, as "photo.jpeg"); at most 100 characters.
    """
    extension = EXTENSIONS[content_type]
    stem = _visible_name(filename)
    found = _EXTENSION.search(stem)
    if found and not found.group(1).isdigit():  # "v1.2" has no extension to replace
        given = found.group(1).lower()
        if given in _ALIASES.get(content_type, frozenset({extension})):
            extension = given
        stem = stem[: found.start()]
    stem = stem.rstrip(" .") or "file"
    stem = stem[: FILENAME_LENGTH - len(extension) - 1].rstrip(" .") or "file"
    return f"{stem}.{extension}"


def describe_size(size: int) -> str:
    """Return a byte count as people read it: "512 bytes", "300 KB", "12.3 MB"."""
    if size < 1024:
        return f"{size} bytes"
    for unit, scale in (("KB", 1024), ("MB", 1024**2), ("GB", 1024**3)):
        if size < scale * 1024 or unit == "GB":
            shown = f"{size / scale:.1f}".removesuffix(".0")
            return f"{shown} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def called(filename: str | None) -> str:
    """Return how a refusal names a file: its visible name quoted and cut, or "the file"."""
    visible = _visible_name(filename or "")
    return f"“{shorten(visible)}”" if visible else "the file"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def too_large(name: str, size: int | None, max_bytes: int) -> Invalid:
    """Return the refusal of a file over the limit (``size`` None: only known to be larger).

    ``name`` is how the file is :func:`called`.
    """
    limit = describe_size(max_bytes)
    if size is None:
        said = f"is larger than the limit of {limit}"
    else:
        shown = describe_size(size)
        if shown == limit:  # 8.0001 MB would read "8 MB; the limit is 8 MB"
            shown, limit = f"{size:,} bytes", f"{max_bytes:,} bytes"
        said = f"is {shown}; the limit is {limit}"
    return Invalid(
        f"{_upper_first(name)} {said} — share a smaller file or a link.",
        field="file",
        code="file.too_large",
    )


@dataclass(frozen=True)
class CheckedFile:
    """A member's file whose bytes were read: its sniffed type and a safe name."""

    data: bytes = field(repr=False)
    content_type: str
    filename: str
    size: int
    claimed_type: str | None = None

    @property
    def extension(self) -> str:
        """Return the extension a stored copy of this type gets ("png", "mp4")."""
        return EXTENSIONS[self.content_type]

    @property
    def claim_disagreed(self) -> bool:
        """Say whether the uploader claimed another type than the bytes are (the bytes won)."""
        return self.claimed_type is not None and self.claimed_type != self.content_type


def check_file(
    data: bytes, *, filename: str, claimed_type: str | None, max_bytes: int
) -> CheckedFile:
    """Return the file checked on its bytes, or raise Invalid(field="file") saying what to do.

    Refuses an empty file, one over ``max_bytes`` and one whose bytes are not an image, a
    video or a PDF (:func:`sniff`). The claimed type never decides: a PNG sent as
    text/plain is a PNG; HTML sent as image/png is refused, and the message says so.
    """
    name = called(filename)
    if not data:
        raise Invalid(
            f"{_upper_first(name)} is empty; choose the file again, or another one.",
            field="file",
            code="file.empty",
        )
    if len(data) > max_bytes:
        raise too_large(name, len(data), max_bytes)
    claimed = _normal_type(claimed_type)
    content_type = sniff(data)
    if content_type is None:
        if claimed in EXTENSIONS:
            raise Invalid(
                f"{_upper_first(name)} says it is {claimed}, but its contents are not {ALLOWED_KINDS}; "
                f"{SHARE_INSTEAD}.",
                field="file",
                code="file.type_mismatch",
            )
        raise Invalid(
            f"{_upper_first(name)} is not {ALLOWED_KINDS}; {SHARE_INSTEAD}.",
            field="file",
            code="file.type",
        )
    try:
        data = strip_metadata(data, content_type)
    except MetadataError:
        raise Invalid(
            f"{_upper_first(name)} looks damaged ({content_type} that cannot be read through); "
            "save or export it again and share that copy.",
            field="file",
            code="file.damaged",
        ) from None
    return CheckedFile(
        data=data,
        content_type=content_type,
        filename=safe_filename(filename, content_type),
        size=len(data),
        claimed_type=claimed,
    )

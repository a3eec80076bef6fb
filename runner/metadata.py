"""Camera metadata of a RAW file (make, model, lens, capture time, exposure) read with exiv2.

LibRaw (through rawpy) exposes no make or model for CRW and QuickTake files and never the lens.
Exiv2 (python-exiv2) reads EXIF and the makers' notes of CRW, CR2, CR3, NEF, DNG, GPR and most
other TIFF-based RAWs, so it is asked first; LibRaw's values fill what it does not know (QuickTake,
Kodak KDC). Reading is best-effort: a file exiv2 cannot parse simply yields nothing (the RAW
itself is judged by the ISP), and exiv2's own warnings are muted.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from typing import Any

log = logging.getLogger("rawcomplete")

#: Field -> the EXIF keys that carry it, first found wins.
KEYS: dict[str, tuple[str, ...]] = {
    "make": ("Exif.Image.Make",),
    "model": ("Exif.Image.Model",),
    "lens": ("Exif.Photo.LensModel", "Exif.Canon.LensModel", "Exif.NikonLd3.LensIDNumber",
             "Exif.CanonCs.LensType", "Exif.Photo.LensSpecification"),
    "datetime": ("Exif.Photo.DateTimeOriginal", "Exif.Image.DateTimeOriginal", "Exif.Image.DateTime"),
    "exposure_time": ("Exif.Photo.ExposureTime", "Exif.Image.ExposureTime"),
    "f_number": ("Exif.Photo.FNumber", "Exif.Image.FNumber"),
    "iso": ("Exif.Photo.ISOSpeedRatings", "Exif.Photo.PhotographicSensitivity", "Exif.Image.ISOSpeedRatings"),
    "focal_length": ("Exif.Photo.FocalLength", "Exif.Image.FocalLength"),
}
NUMERIC = ("exposure_time", "f_number", "iso", "focal_length")
#: Lens fields that are codes, not names: exiv2's interpreted text is used, and only when it
#: reads like a name (a number, "(123)" or "Unknown" is a code exiv2 does not know).
INTERPRETED = ("Exif.CanonCs.LensType", "Exif.NikonLd3.LensIDNumber", "Exif.Photo.LensSpecification")

_muted = False


def _exiv2() -> Any:
    global _muted
    import exiv2

    if not _muted:
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
        _muted = True
    return exiv2


def read_camera_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What exiv2 finds in ``path``: a dict with any of make, model, lens, datetime
    ("YYYY:MM:DD HH:MM:SS"), exposure_time (s), f_number, iso, focal_length (mm).

    Never raises for the file's content: an unreadable or unknown file gives ``{}``.
    """
    try:
        exiv2 = _exiv2()
        image = exiv2.ImageFactory.open(os.fspath(path))
        image.readMetadata()
        data = image.exifData()
    except Exception as exc:  # noqa: BLE001 - exiv2 raises its own error for any file it cannot parse
        log.debug("%s: no metadata from exiv2 (%s)", path, exc)
        return {}
    out: dict[str, Any] = {}
    for field, keys in KEYS.items():
        for key in keys:
            try:
                pos = data.findKey(exiv2.ExifKey(key))
            except Exception:  # noqa: BLE001 - a key this exiv2 build does not know
                continue
            if pos == data.end():
                continue
            value = _value(field, key, pos)
            if value is not None:
                out[field] = value
                break
    return out


def _value(field: str, key: str, datum: Any) -> Any:
    try:
        text = datum.print() if key in INTERPRETED else datum.toString()
    except Exception:  # noqa: BLE001
        return None
    text = str(text).strip().strip("\0").strip()
    if not text:
        return None
    if field in NUMERIC:
        try:
            number = float(Fraction(text.split()[0]))
        except (ValueError, ZeroDivisionError):
            return None
        return number if number > 0 else None
    if field == "lens" and (not any(c.isalpha() for c in text) or text.lower().startswith(("unknown", "n/a"))):
        return None
    return text


def merged(exif: dict[str, Any], libraw: Any) -> dict[str, Any]:
    """exiv2's fields, then LibRaw's (an ``isp.RawMetadata``) for those exiv2 did not give."""
    out = dict(exif)
    for field in KEYS:
        if out.get(field) is None and libraw is not None:
            value = getattr(libraw, field, None)
            if value is not None:
                out[field] = value
    return out

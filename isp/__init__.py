"""rawcomplete's ISP: Bayer RAW files in, scene-linear and display RGB out.

>>> import isp                                                   # doctest: +SKIP
>>> frame = isp.read_raw("photo.dng")                            # doctest: +SKIP
>>> res = isp.develop(frame, wb="gray_world", denoise="median3")  # doctest: +SKIP
>>> res.linear.dtype, res.display.max() <= 1                     # doctest: +SKIP
(dtype('float32'), True)

Importing the package is cheap: rawpy, tifffile and the Numba kernels load on first use.
"""

from __future__ import annotations

from .config import DEMOSAIC_ALGORITHMS, ISPConfig, RadialVignetting
from .demosaic import demosaic, demosaic_rcd
from .develop import ISPResult, develop
from .errors import (
    CorruptRawError,
    ISPInputError,
    RawError,
    RawFileError,
    RawLimitError,
    UnsupportedRawError,
)
from ._threading import is_thread_safe, threading_layer
from .raw import DEFAULT_MAX_PIXELS, RawFrame, RawMetadata, read_raw
from .stages import (
    apply_black_level,
    apply_orientation,
    apply_white_balance,
    convert_color,
    correct_vignetting,
    demosaic_bilinear,
    denoise_median,
    encode_display,
    encode_gamma,
    flat_field_gains,
    vignetting_gains,
    white_balance_gains,
)
from .cfa import CFA_ORDERS, mosaic_from_rgb

__all__ = [
    "is_thread_safe",
    "threading_layer",
    "CFA_ORDERS",
    "DEMOSAIC_ALGORITHMS",
    "CorruptRawError",
    "DEFAULT_MAX_PIXELS",
    "ISPConfig",
    "ISPInputError",
    "ISPResult",
    "RadialVignetting",
    "RawError",
    "RawFileError",
    "RawLimitError",
    "RawFrame",
    "RawMetadata",
    "UnsupportedRawError",
    "apply_black_level",
    "apply_orientation",
    "apply_white_balance",
    "convert_color",
    "correct_vignetting",
    "demosaic",
    "demosaic_bilinear",
    "demosaic_rcd",
    "denoise_median",
    "develop",
    "encode_display",
    "encode_gamma",
    "flat_field_gains",
    "mosaic_from_rgb",
    "read_raw",
    "vignetting_gains",
    "white_balance_gains",
]

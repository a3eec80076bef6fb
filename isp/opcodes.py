"""DNG opcode lists (OpcodeList1/2/3): parsing and lens-shading correction.

Placeholder interface so ``develop`` can call it; the real parser and the GainMap /
FixVignetteRadial corrections replace this module (issue: lens shading from the file itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LensShading:
    """Lens-shading corrections found in a file's opcode lists."""

    @property
    def is_empty(self) -> bool:
        return True

    @property
    def applied(self) -> tuple[str, ...]:
        return ()

    def apply_to_mosaic(self, mosaic: np.ndarray, cfa: str) -> np.ndarray:
        return mosaic

    def apply_to_rgb(self, rgb: np.ndarray) -> np.ndarray:
        return rgb


def lens_shading_from_frame(frame) -> LensShading:
    return LensShading()

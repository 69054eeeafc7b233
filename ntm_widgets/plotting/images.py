"""Arrays -> RGB images -> PNG bytes, fast enough to run once per replay frame.

The kernel-side fallback renderer (``widgets/fallback.py``) makes a fresh PNG every
time the step changes. Going through matplotlib for that costs tens of milliseconds
per image; a colour lookup table built once from a matplotlib colour map, plus a tiny
PNG encoder on top of ``zlib``, costs well under a millisecond for an N x M memory.

Pure functions on numpy arrays; matplotlib is touched only to build a lookup table
(once per colour map name, cached).
"""
from __future__ import annotations

import functools
import struct
import zlib
from typing import Tuple

import numpy as np

# 256 entries is what matplotlib itself samples a colour map at; finer adds nothing visible.
_LUT_SIZE = 256
# Not-a-number cells are drawn mid grey so they stand out against every map used here.
_NAN_RGB = np.array([128, 128, 128], dtype=np.uint8)


@functools.lru_cache(maxsize=16)
def colormap_lut(cmap: str = "RdBu_r") -> np.ndarray:
    """(256, 3) uint8 lookup table sampled from the named matplotlib colour map."""
    import matplotlib

    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"cmap must be a matplotlib colour map name, got {cmap!r}") from None
    rgba = cm(np.linspace(0.0, 1.0, _LUT_SIZE))  # (256, 4) floats in [0, 1]
    lut = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    lut.setflags(write=False)  # shared by every caller through the cache
    return lut


def colormap_rgb(array, vmin: float, vmax: float, cmap: str = "RdBu_r", scale: int = 1) -> np.ndarray:
    """Map a 2-D array to colours: (H, W) values -> (H * scale, W * scale, 3) uint8.

    Values are clipped to [vmin, vmax]; NaN becomes grey. ``scale`` repeats each cell
    into a ``scale x scale`` block (nearest neighbour), so a small memory stays crisp
    when a browser shows the PNG larger than its pixel size.
    """
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"array must be 2-D (H, W), got shape {a.shape}")
    if not np.isfinite(vmin) or not np.isfinite(vmax) or vmax <= vmin:
        raise ValueError(f"vmin, vmax must be finite with vmin < vmax, got vmin={vmin}, vmax={vmax}")
    if int(scale) < 1:
        raise ValueError(f"scale must be an integer >= 1, got {scale}")
    lut = colormap_lut(cmap)
    nan = np.isnan(a)
    # Position in the table: vmin -> 0, vmax -> 255.
    idx = np.clip((a - vmin) / (vmax - vmin), 0.0, 1.0) * (_LUT_SIZE - 1)
    idx = np.where(nan, 0, np.rint(idx)).astype(np.intp)
    rgb = lut[idx]  # (H, W, 3)
    if nan.any():
        rgb[nan] = _NAN_RGB
    scale = int(scale)
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(rgb)


def finite_range(array) -> Tuple[float, float]:
    """(smallest, largest) finite value of ``array``; (0.0, 0.0) when it holds none.

    Colour limits come from here: one inf would stretch a scale until every finite
    value looks alike, one NaN would make the limit NaN. When every value is finite
    (nearly always) this is two passes over the array and no temporary copy.
    """
    a = np.asarray(array)
    if a.size == 0:
        return 0.0, 0.0
    lo, hi = float(a.min()), float(a.max())  # NaN if any value is NaN, +-inf if any is
    if not (np.isfinite(lo) and np.isfinite(hi)):
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    return lo, hi


def _chunk(kind: bytes, data: bytes) -> bytes:
    # PNG chunk: length, type, data, CRC over type + data (PNG spec, section 5.3).
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgb, compress_level: int = 1) -> bytes:
    """Encode an (H, W, 3) uint8 image as PNG bytes (8-bit truecolour, no filter).

    Level 1 compression: these images are small and made per frame, so speed matters
    more than the last few bytes.
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"rgb must be a uint8 array shaped (H, W, 3), got {img.dtype} {img.shape}")
    h, w, _ = img.shape
    if h == 0 or w == 0:
        raise ValueError(f"rgb must have at least one pixel, got shape {img.shape}")
    # Each scanline starts with its filter type byte (0 = none).
    raw = np.empty((h, 1 + 3 * w), dtype=np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = img.reshape(h, 3 * w)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit depth, colour type 2 = RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), compress_level)) + _chunk(b"IEND", b"")

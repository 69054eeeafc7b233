"""Arrays -> RGB images -> PNG bytes, fast enough to run once per replay frame.

The kernel-side fallback renderer (``widgets/fallback.py``) makes a fresh PNG every
time the step changes. Going through matplotlib for that costs tens of milliseconds
per image; a colour lookup table built once from a matplotlib colour map, plus
Pillow's PNG encoder at a low compression level, costs about a millisecond for an
N x M memory.

Pure functions on numpy arrays; matplotlib is touched only to build a lookup table
(once per colour map name, cached). Pillow comes with matplotlib, which requires it.
"""

from __future__ import annotations

import functools
import io

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


def png_bytes(rgb, compress_level: int = 1) -> bytes:
    """Encode an (H, W, 3) uint8 image as PNG bytes (8-bit truecolour).

    Level 1 compression: these images are small and made per frame, so speed matters
    more than the last few bytes.
    """
    from PIL import Image

    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"rgb must be a uint8 array shaped (H, W, 3), got {img.dtype} {img.shape}")
    h, w, _ = img.shape
    if h == 0 or w == 0:
        raise ValueError(f"rgb must have at least one pixel, got shape {img.shape}")
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img), "RGB").save(out, format="PNG", compress_level=int(compress_level))
    return out.getvalue()

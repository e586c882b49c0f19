"""What a Marketplace screenshot really is: decoded by Pillow, never judged by its name.

An image is accepted only when its bytes decode as PNG or JPEG (Pillow is told to try no
other format), its size in bytes and its dimensions are within `ScreenshotLimits`, and its
pixel data decodes completely (a truncated file is refused). Dimensions are checked from
the header, before any pixel is decoded, and Pillow's decompression-bomb guard is an error,
not a warning: a small file that claims a huge image costs nothing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from pipeline.models.market import ScreenshotLimits

FORMATS = ("PNG", "JPEG")
_SNIFF = 1024


@dataclass(frozen=True)
class ImageInfo:
    """A decoded screenshot."""

    format: str
    width: int
    height: int


class ImageError(Exception):
    """Why a file is not an acceptable screenshot, and what to do instead."""

    def __init__(self, message: str, remedy: str) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy


def looks_like_svg(data: bytes) -> bool:
    """Whether the bytes are SVG (XML text with an <svg> element near the start)."""
    head = data[:_SNIFF].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) and b"<svg" in head


def inspect_image(data: bytes, limits: ScreenshotLimits) -> ImageInfo:
    """The format and size of a screenshot; ImageError when it is not acceptable."""
    if len(data) > limits.max_bytes:
        raise ImageError(
            f"is {len(data):,} bytes, over the limit of {limits.max_bytes:,}",
            "save it as an optimised PNG or a JPEG (quality 85 is plenty), or crop it",
        )
    if looks_like_svg(data):
        raise ImageError(
            "is an SVG drawing (SVG can carry scripts and links, so it is never shown)",
            "export it as a PNG or JPEG screenshot",
        )
    from PIL import Image, UnidentifiedImageError

    kind = "image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                info = ImageInfo(str(image.format), image.width, image.height)
                kind = info.format
                _check_dimensions(info, limits)
                image.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(
            "is not a PNG or JPEG image (its bytes do not decode as either)",
            "take the screenshot again and save it as PNG or JPEG; renaming a file is not enough",
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        raise ImageError(
            f"claims too many pixels to decode safely ({bomb})",
            "use a screenshot within the dimension limits",
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as broken:
        raise ImageError(
            f"is a damaged {kind} file ({broken})",
            "export the screenshot again",
        ) from None
    return info


def _check_dimensions(info: ImageInfo, limits: ScreenshotLimits) -> None:
    size = f"{info.width}x{info.height}"
    if info.width > limits.max_width or info.height > limits.max_height:
        raise ImageError(
            f"is {size} pixels, over the maximum of {limits.max_width}x{limits.max_height}",
            f"scale it down to at most {limits.max_width}x{limits.max_height}",
        )
    if info.width < limits.min_width or info.height < limits.min_height:
        raise ImageError(
            f"is {size} pixels, under the minimum of {limits.min_width}x{limits.min_height}",
            f"capture at least {limits.min_width}x{limits.min_height} pixels",
        )

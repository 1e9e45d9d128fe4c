"""Colour contrast as WCAG 2.x defines it: relative luminance of sRGB colours, and the AA thresholds.

CSS colours in an email's inline styles come as ``#rgb``, ``#rrggbb``, ``rgb()``/``rgba()`` or a few
names; anything else (``inherit``, gradients, ``transparent``) reads as "no colour here", so the colour
of the enclosing element stays in force.
"""

from __future__ import annotations

Rgb = tuple[int, int, int]

AA_NORMAL = 4.5
AA_LARGE = 3.0
LARGE_PX = 24.0  # 18 pt
LARGE_BOLD_PX = 18.66  # 14 pt bold

NAMED: dict[str, Rgb] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "yellow": (255, 255, 0),
    "navy": (0, 0, 128),
    "maroon": (128, 0, 0),
    "orange": (255, 165, 0),
}


def parse_colour(value: str) -> Rgb | None:
    value = value.strip().lower().removesuffix("!important").strip()
    if value in NAMED:
        return NAMED[value]
    if value.startswith("#"):
        digits = value[1:]
        if len(digits) in (3, 4):
            digits = "".join(c * 2 for c in digits[:3])
        if len(digits) in (6, 8):
            try:
                return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
            except ValueError:
                return None
        return None
    if value.startswith(("rgb(", "rgba(")) and value.endswith(")"):
        inside = value[value.index("(") + 1 : -1].replace("/", " ").replace(",", " ").split()
        try:
            channels = [float(p.removesuffix("%")) * (2.55 if p.endswith("%") else 1) for p in inside[:3]]
        except ValueError:
            return None
        if len(channels) == 3:
            r, g, b = (max(0, min(255, round(c))) for c in channels)
            return (r, g, b)
    return None


def colour_in(value: str) -> Rgb | None:
    """The first colour among the words of a shorthand such as ``background: url(x) #fff no-repeat``."""
    direct = parse_colour(value)
    if direct is not None:
        return direct
    for word in value.replace(",", " , ").split():
        found = parse_colour(word)
        if found is not None:
            return found
    return None


def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def luminance(rgb: Rgb) -> float:
    r, g, b = (_channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Rgb, b: Rgb) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hex_of(rgb: Rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def required_ratio(font_px: float, bold: bool) -> float:
    large = font_px >= LARGE_PX or (bold and font_px >= LARGE_BOLD_PX)
    return AA_LARGE if large else AA_NORMAL

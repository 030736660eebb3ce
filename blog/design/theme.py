"""The site's colours and typefaces, chosen in Settings → Design, as a small stylesheet.

Decisions:
- Two accent colours, one per theme, each checked against its own theme's background. One
  colour cannot serve both: WCAG AA asks 4.5:1 for text, which against the light background
  (#fdfdfc) needs a relative luminance of at most 0.179 and against the dark one (#16181c) at
  least 0.215. So the light theme gets a dark accent and the dark theme a light one.
- The check is the WCAG 2 contrast ratio, rounded down to two decimals before comparing, so a
  colour shown as "4.50:1" is never one that really measures 4.499.
- Text on an accent button is white or the dark background, whichever reads better; any accent
  that passes against its background also passes with that text.
- Typefaces are stacks of fonts already on readers' machines: nothing is downloaded.
- The stylesheet is built only from values checked again here (hex colours, known stack
  names), so a stored value that was tampered with cannot inject CSS.
"""

import hashlib
import math
import re
from dataclasses import dataclass

# The backgrounds of static/css/site.css (tests/test_design.py checks they agree).
LIGHT_BACKGROUND = "#fdfdfc"
DARK_BACKGROUND = "#16181c"
LIGHT_TEXT_ON_ACCENT = "#ffffff"
AA_TEXT = 4.5

DEFAULT_ACCENT_LIGHT = "#9b1c1c"
DEFAULT_ACCENT_DARK = "#f08080"

HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")

TYPEFACES: dict[str, tuple[str, str]] = {
    "charter": (
        "Transitional serif (Charter, Cambria, Georgia)",
        'Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif',
    ),
    "old-style": (
        "Old-style serif (Palatino, Iowan, Book Antiqua)",
        '"Iowan Old Style", "Palatino Linotype", Palatino, "URW Palladio L", P052, '
        '"Book Antiqua", serif',
    ),
    "system-sans": (
        "System sans-serif (San Francisco, Segoe UI, Roboto)",
        'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    ),
    "humanist": (
        "Humanist sans-serif (Seravek, Gill Sans, Calibri)",
        'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", sans-serif',
    ),
    "geometric": (
        "Geometric sans-serif (Avenir, Century Gothic)",
        'Avenir, Montserrat, Corbel, "URW Gothic", "Century Gothic", sans-serif',
    ),
    "monospace": (
        "Monospace (SF Mono, Cascadia, Consolas)",
        'ui-monospace, "Cascadia Code", "Source Code Pro", Menlo, Consolas, '
        '"DejaVu Sans Mono", monospace',
    ),
}
DEFAULT_TYPEFACE = "charter"


@dataclass(frozen=True)
class Theme:
    name: str
    background: str


THEMES = {"light": Theme("light", LIGHT_BACKGROUND), "dark": Theme("dark", DARK_BACKGROUND)}


def parse_colour(value: str) -> tuple[int, int, int] | None:
    """#rrggbb (or #rgb) as three 0-255 numbers; None for anything else."""
    value = (value or "").strip().lower()
    if re.fullmatch(r"#[0-9a-f]{3}", value):
        value = "#" + "".join(c * 2 for c in value[1:])
    if not HEX_COLOUR.fullmatch(value):
        return None
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def normalise_colour(value: str) -> str | None:
    """The colour as lower-case #rrggbb, or None if it is not one."""
    rgb = parse_colour(value)
    return None if rgb is None else "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of an sRGB colour."""
    rgb = parse_colour(colour)
    if rgb is None:
        raise ValueError(f"not a colour: {colour!r}")

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio (1 to 21), rounded down to two decimals."""
    a, b = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return math.floor((a + 0.05) / (b + 0.05) * 100) / 100


def accent_problem(colour: str, theme: Theme) -> str | None:
    """Why `colour` cannot be the accent of `theme`, in words for the admin; None if it can."""
    normalised = normalise_colour(colour)
    if normalised is None:
        return "Enter a colour as # and six hexadecimal digits, for example #9b1c1c."
    ratio = contrast_ratio(normalised, theme.background)
    if ratio >= AA_TEXT:
        return None
    direction = "darker" if theme.name == "light" else "lighter"
    return (
        f"{normalised} on the {theme.name} background ({theme.background}) has a contrast of "
        f"{ratio:.2f}:1; links need at least {AA_TEXT}:1 to be readable (WCAG AA). "
        f"Choose a {direction} colour."
    )


def text_on(accent: str) -> str:
    """White or the dark background, whichever contrasts more with `accent`."""
    white = contrast_ratio(accent, LIGHT_TEXT_ON_ACCENT)
    dark = contrast_ratio(accent, DARK_BACKGROUND)
    return LIGHT_TEXT_ON_ACCENT if white >= dark else DARK_BACKGROUND


def typeface_stack(key: object) -> str:
    return TYPEFACES.get(str(key), TYPEFACES[DEFAULT_TYPEFACE])[1]


def _checked_colour(value: object, theme: Theme, default: str) -> str:
    colour = normalise_colour(str(value or ""))
    return colour if colour and accent_problem(colour, theme) is None else default


def stylesheet(settings: dict[str, object]) -> str:
    """The CSS custom properties the settings choose, for both themes."""
    light = _checked_colour(settings.get("accent_light"), THEMES["light"], DEFAULT_ACCENT_LIGHT)
    dark = _checked_colour(settings.get("accent_dark"), THEMES["dark"], DEFAULT_ACCENT_DARK)
    heading = typeface_stack(settings.get("heading_typeface"))
    text = typeface_stack(settings.get("body_typeface"))
    return (
        "/* Settings → Design */\n"
        f":root {{ --accent: {light}; --accent-text: {text_on(light)}; "
        f"--font-heading: {heading}; --font-text: {text}; }}\n"
        "@media (prefers-color-scheme: dark) {\n"
        f"  :root {{ --accent: {dark}; --accent-text: {text_on(dark)}; }}\n"
        "}\n"
    )


def is_customised(settings: dict[str, object]) -> bool:
    """Whether the stylesheet says anything site.css does not already say."""
    return (
        settings.get("accent_light") != DEFAULT_ACCENT_LIGHT
        or settings.get("accent_dark") != DEFAULT_ACCENT_DARK
        or settings.get("heading_typeface") != DEFAULT_TYPEFACE
        or settings.get("body_typeface") != DEFAULT_TYPEFACE
    )


def digest(css: str) -> str:
    """A short name for a version of the stylesheet, for its address."""
    return hashlib.sha256(css.encode()).hexdigest()[:12]

"""Plain-text helpers shared by models, forms and the rendering pipeline."""

from __future__ import annotations

import unicodedata

_APOSTROPHES = str.maketrans("", "", "'\u2019\u02bc")


def slugify(value: str, max_length: int = 80, *, fallback: str = "post") -> str:
    """Return a lowercase, hyphen-separated slug that keeps letters of any script.

    Latin letters with diacritics are folded to ASCII ("café" -> "cafe"); letters that
    have no ASCII form (Cyrillic, CJK, Devanagari, ...) are kept as they are, so the
    slug stays readable. The result is cut at a hyphen where possible and is never
    empty: ``fallback`` is returned when nothing usable is left.
    """
    if max_length < 1:
        raise ValueError("max_length must be at least 1")
    folded = _fold(value.lower().translate(_APOSTROPHES)).lower()
    words = "".join(ch if _is_word_char(ch) else " " for ch in folded).split()
    slug = _truncate("-".join(words), max_length)
    return slug or fallback


def _is_word_char(ch: str) -> bool:
    # Marks (M*) are kept: scripts like Devanagari need them to stay legible.
    return unicodedata.category(ch)[0] in "LNM"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _fold(text: str) -> str:
    """Fold each character cluster to ASCII when its compatibility form is ASCII."""
    return "".join(_fold_cluster(cluster) for cluster in _clusters(text))


def _clusters(text: str) -> list[str]:
    """Split NFC text into base characters with their trailing combining marks."""
    clusters: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if clusters and _is_mark(ch):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def _fold_cluster(cluster: str) -> str:
    decomposed = unicodedata.normalize("NFKD", cluster)
    base = "".join(ch for ch in decomposed if not _is_mark(ch))
    if base and base.isascii():
        return base
    if not base or not _is_word_char(cluster[0]) or _is_mark(cluster[0]):
        return " "  # marks on punctuation, or with nothing to attach to
    compatible = unicodedata.normalize("NFKC", cluster)  # e.g. half-width kana
    return unicodedata.normalize("NFC", cluster) if _is_mark(compatible[0]) else compatible


def _truncate(slug: str, max_length: int) -> str:
    if len(slug) <= max_length:
        return slug
    head = slug[:max_length]
    if slug[max_length] != "-" and "-" in head:
        head = head.rsplit("-", 1)[0]
    return head.strip("-")

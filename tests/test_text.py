import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blog.text import slugify


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Hello, World!", "hello-world"),
        ("Ünïcode café", "unicode-cafe"),
        ("Привет мир", "привет-мир"),
        ("Мой дом", "мой-дом"),  # й must not lose its breve
        ("中文 标题", "中文-标题"),
        ("日本語のタイトル", "日本語のタイトル"),
        ("ｶﾀｶﾅ", "カタカナ"),  # half-width katakana normalised
        ("한국어 제목", "한국어-제목"),
        ("हिन्दी शीर्षक", "हिन्दी-शीर्षक"),  # combining vowel signs kept
        ("Don't stop — now!", "dont-stop-now"),
        ("İstanbul", "istanbul"),
        ("ﬁne ①", "fine-1"),
        ("  --a__b--  ", "a-b"),
        ("Straße", "straße"),
        ("e\u0301te\u0301", "ete"),  # decomposed input
    ],
)
def test_slugify_examples(title, expected):
    assert slugify(title) == expected


@pytest.mark.parametrize("title", ["", "   ", "---", "!!!", "\u0301", "🙂🙂"])
def test_slugify_never_empty(title):
    assert slugify(title) == "post"


def test_slugify_custom_fallback():
    assert slugify("???", fallback="author") == "author"


def test_slugify_cuts_at_hyphen_boundary():
    assert slugify("alpha beta gamma", max_length=12) == "alpha-beta"
    assert slugify("alpha beta gamma", max_length=10) == "alpha-beta"
    assert slugify("alpha beta gamma", max_length=11) == "alpha-beta"


def test_slugify_hard_cuts_a_single_long_word():
    assert slugify("a" * 100, max_length=80) == "a" * 80


def test_slugify_rejects_non_positive_length():
    with pytest.raises(ValueError):
        slugify("x", max_length=0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120), st.integers(min_value=1, max_value=100))
def test_slugify_properties(value, max_length):
    slug = slugify(value, max_length=max_length)
    if slug == "post":
        return
    assert len(slug) <= max_length
    assert not slug.startswith("-") and not slug.endswith("-")
    assert "--" not in slug
    assert slug == slug.lower()
    for ch in slug.replace("-", ""):
        assert unicodedata.category(ch)[0] in "LNM", repr(ch)
    assert slugify(slug, max_length=max_length) == slug

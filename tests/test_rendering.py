import html
import json
import os
import re
import subprocess
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blog import rendering
from blog.rendering import (
    PIPELINE_VERSION,
    RenderedPost,
    make_excerpt,
    plain_text,
    pygments_css,
    reading_minutes,
    render_comment,
    render_markdown,
    render_post,
    sanitize_html,
    word_count,
)

# An oracle kept independent of the module's own tables on purpose.
SAFE_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i",
    "del", "s", "ins", "sup", "sub", "small", "mark", "code", "pre", "kbd", "samp", "var",
    "span", "div", "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "a", "img", "figure",
    "figcaption", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "abbr",
    "cite", "q",
}  # fmt: skip
SAFE_ATTRS = {"href", "src", "title", "alt", "rel", "id", "class", "align", "start",
              "width", "height", "loading", "colspan", "rowspan", "srcset", "sizes"}  # fmt: skip
URL_ATTRS = {"href", "src"}
SAFE_SCHEMES = {"http", "https", "mailto"}
EXTERNAL_REL = "noopener noreferrer nofollow"


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, {attr: value})

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def parse_tags(markup):
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    return collector.tags


def browser_scheme(url):
    """Scheme as a browser resolves an (already entity-decoded) attribute value."""
    cleaned = re.sub(r"[\x00-\x20\x7f-\xa0\s]", "", url).lower()
    match = re.match(r"([^:/?#]*):", cleaned)
    return match.group(1) if match else None


def assert_safe(markup):
    for tag, attrs in parse_tags(markup):
        assert tag in SAFE_TAGS, f"unexpected <{tag}> in {markup!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name} in {markup!r}"
            assert name in SAFE_ATTRS, f"unexpected attribute {name} in {markup!r}"
            if name in URL_ATTRS:
                scheme = browser_scheme(value or "")
                assert scheme is None or scheme in SAFE_SCHEMES, f"{value!r} in {markup!r}"
            if name == "rel":
                assert value == EXTERNAL_REL


def tags_of(markup):
    return [tag for tag, _ in parse_tags(markup)]


# ---------------------------------------------------------------------------
# Markdown features
# ---------------------------------------------------------------------------


def test_table_uses_align_attribute_not_style():
    out = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n")
    assert "<table>" in out and "<thead>" in out and "<tbody>" in out
    assert '<th align="left">a</th>' in out
    assert '<th align="center">b</th>' in out
    assert '<td align="right">3</td>' in out
    assert "style" not in out


def test_fenced_code_is_highlighted_with_classes_only():
    out = render_markdown('```python\ndef f(x):\n    return "s"  # note\n```\n')
    assert out.startswith('<div class="highlight"><pre>')
    assert '<span class="k">def</span>' in out
    assert '<span class="nf">f</span>' in out
    assert 'class="c1"' in out
    assert "style=" not in out
    assert "&ldquo;" not in out  # no smart quotes inside code


def test_fenced_code_without_language_is_not_guessed():
    out = render_markdown("```\nimport os\n```\n")
    assert '<div class="highlight">' in out
    assert 'class="kn"' not in out
    assert "import os" in out


def test_code_escapes_html():
    out = render_markdown("```\n<script>alert(1)</script>\n```\n\nand `<b>`")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<code>&lt;b&gt;</code>" in out
    assert_safe(out)


def test_footnotes():
    out = render_markdown("Claim[^1].\n\n[^1]: Source *here*.\n")
    assert '<sup id="fnref-1"><a class="footnote-ref" href="#fn-1">1</a></sup>' in out
    assert '<div class="footnote">' in out
    assert '<li id="fn-1">' in out
    assert 'class="footnote-backref" href="#fnref-1"' in out


def test_heading_ids():
    out = render_markdown("# Hello World\n\n## Hello World\n\n### Ünïcode café\n\n## Привет мир")
    assert '<h1 id="hello-world">' in out
    assert '<h2 id="hello-world_1">' in out
    assert '<h3 id="unicode-cafe">' in out
    assert '<h2 id="привет-мир">' in out


def test_toc_marker_renders_a_table_of_contents():
    out = render_markdown("[TOC]\n\n# First\n\n## Second")
    assert out.startswith('<div class="toc">')
    assert '<a href="#second">Second</a>' in out
    assert "rel=" not in out


def test_heading_without_letters_gets_an_id():
    assert '<h2 id="section">' in render_markdown("## ???")


def test_smart_quotes_and_dashes():
    out = render_markdown('"Quoted" -- it\'s --- done...')
    assert "&ldquo;Quoted&rdquo;" in out
    assert "&ndash;" in out and "&mdash;" in out
    assert "it&rsquo;s" in out
    assert "&hellip;" in out


def test_titled_image_becomes_figure():
    out = render_markdown('![A cat](/media/cat.jpg "Our cat, asleep")')
    assert out == (
        '<figure><img alt="A cat" src="/media/cat.jpg" loading="lazy">'
        "<figcaption>Our cat, asleep</figcaption>\n</figure>"
    )


def test_titled_image_inside_link_becomes_figure():
    out = render_markdown('[![A cat](/cat.jpg "Caption")](/cat-large.jpg)')
    assert tags_of(out) == ["figure", "a", "img", "figcaption"]
    assert "<figcaption>Caption</figcaption>" in out


def test_figcaption_is_escaped():
    out = render_markdown('![x](/a.png "<b>bold</b> & co")')
    assert "<figcaption>&lt;b&gt;bold&lt;/b&gt; &amp; co</figcaption>" in out


def test_a_list_of_images_is_a_gallery_grid_without_bullets():
    out = render_markdown(
        '- ![Boat](/media/boat.jpg "At dawn")\n\n- [![Net](/media/net.jpg)](/media/net-big.jpg)\n'
    )
    assert "<ul" not in out and "<li" not in out
    assert tags_of(out) == ["div", "figure", "img", "figcaption", "figure", "a", "img"]
    assert out.startswith('<div class="gallery">')
    assert "<figcaption>At dawn</figcaption>" in out


@pytest.mark.parametrize(
    "source",
    [
        "- ![Only one](/a.jpg)\n",  # one image is no gallery
        "- ![A](/a.jpg)\n- words and ![B](/b.jpg)\n",  # an item with text
        "- ![A](/a.jpg)\n- plain item\n",
    ],
)
def test_a_list_with_anything_but_images_stays_a_list(source):
    out = render_markdown(source)
    assert out.startswith("<ul>") and "gallery" not in out


def test_an_uploaded_image_gets_its_sizes_from_the_library():
    library = {
        "abc.jpg": rendering.LibraryImage(
            alt="Boat", width=1600, height=900, sizes=((480, "abc-480.jpg"), (1600, "abc.jpg"))
        )
    }
    out = render_markdown("![](/blog/media/abc.jpg)", library)
    assert 'srcset="/blog/media/abc-480.jpg 480w, /blog/media/abc.jpg 1600w"' in out
    assert 'alt="Boat"' in out and 'width="1600"' in out and 'height="900"' in out
    assert 'sizes="(min-width: 48rem) 44rem, 100vw"' in out
    assert "srcset" not in render_markdown("![](/media/other.jpg)", library)


@pytest.mark.parametrize(
    "srcset",
    [
        "javascript:alert(1) 1w",
        "/a.jpg 1w, data:text/html,x 2w",
        "/a.jpg 1x",
        '/a.jpg" onerror=x 1w',
    ],
)
def test_a_written_srcset_must_be_a_list_of_safe_urls(srcset):
    out = render_markdown(f'<img src="/a.jpg" srcset="{html.escape(srcset)}">')
    assert "srcset" not in out and "javascript" not in out and "onerror" not in out


def test_image_without_title_stays_inline():
    out = render_markdown("![A dog](/dog.png)")
    assert out == '<p><img alt="A dog" src="/dog.png" loading="lazy"></p>'


def test_titled_image_within_text_is_not_a_figure():
    out = render_markdown('See ![dog](/dog.png "Rex") here.')
    assert "<figure>" not in out
    assert 'title="Rex"' in out


def test_lists_and_sane_lists():
    out = render_markdown("3. three\n4. four\n\n* a\n* b\n")
    assert '<ol start="3">' in out
    assert "<li>three</li>" in out
    assert "<ul>\n<li>a</li>" in out


def test_blockquote():
    out = render_markdown("> quoted *text*")
    assert out == "<blockquote>\n<p>quoted <em>text</em></p>\n</blockquote>"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/page",
        "http://example.com",
        "HTTPS://EXAMPLE.COM",
        "//example.com/x",
    ],
)
def test_external_links_get_rel(url):
    out = render_markdown(f"[x]({url})")
    assert f'rel="{EXTERNAL_REL}"' in out


@pytest.mark.parametrize(
    "url", ["/about", "./next", "../up", "#section", "?page=2", "mailto:me@example.com"]
)
def test_internal_links_have_no_rel(url):
    out = render_markdown(f"[x]({url})")
    assert 'href="' in out
    assert "rel=" not in out


def test_author_rel_is_replaced():
    out = render_markdown('<a href="/a" rel="opener">x</a> <a href="https://e.com" rel="me">y</a>')
    assert '<a href="/a">x</a>' in out
    assert f'<a href="https://e.com" rel="{EXTERNAL_REL}">y</a>' in out


def test_bare_urls_are_not_linkified_but_autolinks_work():
    out = render_markdown("see https://example.com and <https://example.org>")
    assert out.count("<a ") == 1
    assert 'href="https://example.org"' in out


def test_email_autolink_survives_entity_obfuscation():
    out = render_markdown("<me@example.com>")
    links = [attrs for tag, attrs in parse_tags(out) if tag == "a"]
    assert links == [{"href": "mailto:me@example.com"}]


def test_safe_raw_html_is_kept():
    out = render_markdown('<kbd>Ctrl</kbd> <abbr title="HyperText">HTML</abbr> <mark>hi</mark>')
    assert "<kbd>Ctrl</kbd>" in out
    assert '<abbr title="HyperText">HTML</abbr>' in out
    assert "<mark>hi</mark>" in out


def test_disallowed_classes_and_ids_are_dropped():
    out = render_markdown('<div class="admin-banner highlight">x</div><span class="k">y</span>')
    assert "<div>x</div>" in out
    assert '<span class="k">y</span>' in out
    assert 'id="' not in render_markdown('<p id="x">a</p><h2 id="bad id">b</h2>')


def test_comments_are_stripped():
    assert "secret" not in render_markdown("a <!-- secret --> b")


def test_empty_input():
    assert render_markdown("") == ""
    assert render_markdown("  \n ") == ""


def test_render_is_thread_safe():
    source = "# Title\n\nText[^1] with `code`.\n\n[^1]: Note."
    expected = render_markdown(source)
    results = []

    def work():
        results.extend(render_markdown(source) for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 80


# ---------------------------------------------------------------------------
# Hostile input
# ---------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<img src=x onerror=alert(1)//",
    '<p onclick="alert(1)">click</p>',
    '<a href="/ok" onmouseover="alert(1)">x</a>',
    "<body onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">x</button>',
    "<style>body{display:none}</style>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<img srcset="javascript:alert(1)">',
    '<video poster="javascript:alert(1)"></video>',
    "<textarea><script>alert(1)</script></textarea>",
    "<template><img src=x onerror=alert(1)></template>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript:123)",
    "[x](<javascript:alert(1)>)",
    "[x]( javascript:alert(1))",
    "[x](java&#115;cript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&colon;alert(1))",
    "[x](java%73cript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x](data:image/svg+xml,<svg onload="alert(1)">)',
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    '![x][evil]\n\n[evil]: javascript:alert(1) "title"',
    "<javascript:alert(1)>",
    "<vbscript:msgbox(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="javascript:123">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">x</a>',
    '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="java\tscript:alert(1)">x</a>',
    '<a href="java&#9;script:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<a href="java&NewLine;script:alert(1)">x</a>',
    '<a href="&Tab;javascript:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href=" &#14; javascript:alert(1)">x</a>',
    '<a href="jav\u200bascript:alert(1)">x</a>',
    '<a href="javas\x00cript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<img src="vbscript:msgbox(1)">',
    '[x](/a "\\" onmouseover=alert(1) x=\\"")',
    '![x](/a.png "\\" onerror=alert(1) x=\\"")',
    "[x](/a \"title' onmouseover='alert(1)\")",
    '<a href="/a" title="x" onfocus="alert(1)" autofocus>x</a>',
    "<<script>script>alert(1)<</script>/script>",
    "<img/src=x/onerror=alert(1)>",
    '<a/href="javascript:alert(1)">x</a>',
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_input_is_neutralised(source):
    out = render_markdown(source)
    assert_safe(out)
    for _, attrs in parse_tags(out):
        for value in attrs.values():
            squashed = re.sub(r"\s", "", value or "").lower()
            assert "script:" not in squashed and "data:" not in squashed


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<style>body{display:none}</style>",
        "<iframe>inner</iframe>",
        "<svg><text>drawn</text></svg>",
        "<noscript>fallback</noscript>",
        "<textarea>typed</textarea>",
    ],
)
def test_dangerous_element_content_does_not_leak(source):
    out = render_markdown(f"before\n\n{source}\n\nafter")
    assert plain_text(out) == "before after"


def test_hostile_attributes_are_dropped_but_element_kept():
    out = render_markdown('<a href="https://ok.example" onclick="alert(1)">ok</a>')
    assert out == f'<p><a href="https://ok.example" rel="{EXTERNAL_REL}">ok</a></p>'


def test_link_title_injection_stays_inside_the_attribute():
    out = render_markdown('[x](/a "\\" onmouseover=alert(1) x=\\"")')
    ((tag, attrs),) = [t for t in parse_tags(out) if t[0] == "a"]
    assert set(attrs) == {"href", "title"}
    assert attrs["title"] == '" onmouseover=alert(1) x="'


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("javascript:123", "javascript"),
        ("localhost:8080", "localhost"),
        ("&#106;avascript:x", "javascript"),
        ("java\tscript:x", "javascript"),
        ("HTTPS://x", "https"),
        ("/path:with:colons", None),
        ("?q=a:b", None),
        ("#a:b", None),
        ("relative/a:b", None),
    ],
)
def test_url_scheme(url, scheme):
    assert rendering.url_scheme(url) == scheme


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

FRAGMENTS = [
    "[", "]", "(", ")", "![", "](", "[^1]", "[^1]: ", "[ref]", "[ref]: ", "<", ">", "</",
    "/>", "`", "```", "```python\n", "\n", "\n\n", "    ", "# ", "## ", "> ", "* ", "1. ",
    "| a | b |\n|---|---|\n", "|", "---", "--", "...", "*", "_", "**", '"', "'", "\\",
    "=", " ", "&", "&#", "&#x", ";", "&colon;", "&Tab;", "&#9;", "&#10;", "&#106;", "\t",
    "\x00", "\x01", "javascript", "JaVaScRiPt", "java\tscript", "java\nscript", ":",
    "javascript:", "vbscript:", "data:", "data:text/html,", "file:", "http://", "https:",
    "mailto:", "//", "/", "#", "?", "alert(1)", "123", "a", "b", "img", "script", "svg",
    "<a href=", "<a href='", '<a href="', "<img src=", "<img src=x ", " onerror=",
    " onclick=", " onload=", " style=", " srcset=", " xlink:href=", " formaction=",
    " title=", " id=", " class=", "<script>", "</script>", "<svg", "<svg>", "<math>",
    "<style>", "</style>", "<iframe", "<object", "<embed", "<base href=", "<form action=",
    "<noscript>", "<template>", "<textarea>", "<!--", "-->", "<![CDATA[", "]]>",
    "<div>", "</div>", "<p>", "<span class=k>", "<table>", "<td>",
]  # fmt: skip

SCHEMES = ["javascript:", "JAVASCRIPT:", "java\tscript:", "&#106;avascript:", "vbscript:",
           "data:text/html,", "data:image/svg+xml,", "file://", "http://", "https://",
           "mailto:", "//", "", "/", "#", "javascript&colon;", " javascript:"]  # fmt: skip

markdownish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=30).map(
    "".join
)

link_like = st.builds(
    lambda bang, text, scheme, rest, title: f'{bang}[{text}]({scheme}{rest} "{title}")',
    st.sampled_from(["", "!"]),
    st.text(max_size=5),
    st.sampled_from(SCHEMES),
    st.sampled_from(["alert(1)", "123", "x.example/y", "evil", ""]),
    st.sampled_from(["t", '" onmouseover="alert(1)', "'", ""]),
)

raw_tag = st.builds(
    lambda tag, attr, quote, scheme, payload: f"<{tag} {attr}={quote}{scheme}{payload}{quote}>x",
    st.sampled_from(["a", "img", "div", "svg", "iframe", "form", "math", "p", "span", "h2"]),
    st.sampled_from(["href", "src", "onerror", "onclick", "style", "id", "class", "action"]),
    st.sampled_from(['"', "'", ""]),
    st.sampled_from(SCHEMES),
    st.sampled_from(["alert(1)", "123", "x", ""]),
)

documents = st.lists(st.one_of(markdownish, link_like, raw_tag), min_size=1, max_size=6).map(
    "\n".join
)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_random_markdown_never_yields_unsafe_markup(source):
    assert_safe(render_markdown(source))


@settings(max_examples=200, deadline=None)
@given(documents)
def test_sanitizer_output_is_safe_and_stable(source):
    once = sanitize_html(source)
    assert_safe(once)
    assert_safe(sanitize_html(once))


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def test_plain_text_collapses_whitespace_and_separates_blocks():
    out = render_markdown(
        "# Title\n\nFirst *para*graph.\n\n- one\n- two\n\nNote[^1].\n\n[^1]: Foot."
    )
    assert plain_text(out) == "Title First paragraph. one two Note. Foot."


def test_plain_text_decodes_entities():
    assert plain_text("<p>&ldquo;a&rdquo; &amp; b&nbsp;c</p>") == "\u201ca\u201d & b c"


def test_excerpt_short_text_is_unchanged():
    assert make_excerpt("<p>Short text.</p>") == "Short text."


def test_excerpt_cuts_at_word_boundary():
    text = "<p>" + " ".join(["word"] * 100) + "</p>"
    excerpt = make_excerpt(text, limit=23)
    assert excerpt == "word word word word\u2026"
    assert len(excerpt) <= 23


def test_excerpt_strips_trailing_punctuation():
    assert make_excerpt("<p>One, two, three, four</p>", limit=12) == "One, two\u2026"


def test_excerpt_without_spaces_is_hard_cut():
    assert make_excerpt("<p>" + "字" * 50 + "</p>", limit=10) == "字" * 9 + "\u2026"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=1, max_value=120))
def test_excerpt_never_exceeds_limit(text, limit):
    assert len(make_excerpt(html.escape(text), limit=limit)) <= limit


def test_word_count_and_reading_minutes():
    body = "<p>" + " ".join(["word"] * 461) + "</p>"
    assert word_count(body) == 461
    assert reading_minutes(body) == 3
    assert reading_minutes(body, wpm=500) == 1
    assert word_count("<p>a — b</p>") == 2
    assert word_count("<p>日本語です</p>") == 5
    assert reading_minutes("<p>one</p>") == 1
    assert reading_minutes(render_markdown("![only a picture](/a.png)")) == 1
    assert reading_minutes("") == 0


# ---------------------------------------------------------------------------
# Stylesheet and save path
# ---------------------------------------------------------------------------


def test_pygments_css_has_light_and_dark_rules():
    css = pygments_css()
    assert ".highlight .k {" in css
    assert "@media (prefers-color-scheme: dark)" in css
    dark = css.split("@media (prefers-color-scheme: dark)", 1)[1]
    assert ".highlight .k {" in dark
    assert "\npre {" not in css


def test_static_stylesheet_is_up_to_date():
    from pathlib import Path

    path = Path(rendering.__file__).resolve().parent.parent / "static/css/pygments.css"
    assert path.read_text(encoding="utf-8") == pygments_css()


def test_render_post_uses_generated_summary():
    post = render_post("# Title\n\nSome body text here.", None)
    assert isinstance(post, RenderedPost)
    assert post.html.startswith('<h1 id="title">')
    assert post.summary == "Title Some body text here."
    assert post.word_count == 5
    assert post.reading_minutes == 1
    assert post.render_version == PIPELINE_VERSION


def test_render_post_prefers_author_excerpt():
    post = render_post("Body.", "  My   own\nsummary  ")
    assert post.summary == "My own summary"
    assert render_post("Body.", "   ").summary == "Body."


def test_render_post_of_empty_body():
    post = render_post("", None)
    assert (post.html, post.summary, post.word_count, post.reading_minutes) == ("", "", 0, 0)


PREFILTER_SAMPLES = [
    "Plain words only, nothing to match.",
    "She said \"hello\" -- then 'left'... --- and came back.",
    'A [link](https://example.com) and ![an image](/a.png "Caption") and a [ref][r].\n\n'
    "[r]: https://example.org",
    "Footnote[^1] and *em* and __strong__ and `code` and \\*escaped\\*.\n\n[^1]: The note.",
    "Line one  \nline two with <https://example.com> and <me@example.com> &amp; &copy;",
    "<span>raw html</span> with a_snake_case_word and 2*3*4",
    "> quote with \"nested 'quotes'\"\n\n- list *item*\n- `x` -- y",
]


def test_skipping_hopeless_inline_patterns_changes_no_output(monkeypatch):
    prefiltered = rendering._new_markdown()
    for name in ("link", "em_strong", "smarty-quotes-0"):  # still wrapped after an upgrade?
        registry = prefiltered.inlinePatterns
        if name.startswith("smarty"):
            registry = prefiltered.treeprocessors["smarty"].inlinePatterns
        assert isinstance(registry[name].compiled_re, rendering._PrefilteredRegex), name
    monkeypatch.setattr(rendering, "_prefilter_inline_patterns", lambda md: None)
    unfiltered = rendering._new_markdown()
    for sample in PREFILTER_SAMPLES:
        assert prefiltered.reset().convert(sample) == unfiltered.reset().convert(sample), sample


def _texts_for_the_speed_ups():
    """Long and awkward Markdown: the bench's 5,000 words, nested and unclosed brackets."""
    from bench.bench import five_thousand_words

    yield five_thousand_words()
    yield "[a [b] c](http://x.test/) [not closed [and [deeper](http://y.test/) ] ]]] ![i](/m.png)"
    yield "[" * 300 + "text](http://z.test/)" + "]" * 120
    yield "[one][ref] and [two][] and [ref]\n\n[ref]: http://r.test/ 'T'\n"
    for path in sorted((Path(__file__).parent / "fixtures").rglob("*")):
        if path.suffix in {".md", ".xml", ".txt"}:
            yield path.read_text(encoding="utf-8", errors="replace")


def test_inline_parsing_speed_ups_change_no_html():
    """`_speed_up_inline_parsing` makes the same HTML as Python-Markdown alone."""
    from blog.rendering import _new_markdown

    plain, faster = _new_markdown(speedups=False), _new_markdown(speedups=True)
    for text in _texts_for_the_speed_ups():
        expected = sanitize_html(plain.reset().convert(text))
        assert sanitize_html(faster.reset().convert(text)) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]()!ab *_`<>&\n\"'-.\\^:", max_size=80))
def test_inline_parsing_speed_ups_change_no_html_of_any_brackets(text):
    from blog.rendering import _new_markdown

    plain, faster = _new_markdown(speedups=False), _new_markdown(speedups=True)
    assert faster.reset().convert(text) == plain.reset().convert(text)


def _text_by_the_parser(html_text: str) -> str:
    parser = rendering._TextExtractor()
    parser.feed(html_text)
    parser.close()
    return " ".join("".join(parser.parts).split())


def test_plain_text_read_quickly_is_the_parsers_text():
    """`plain_text` reads rendered HTML with a regular expression; it must say what
    `html.parser` says, or leave the HTML to it."""
    for text in _texts_for_the_speed_ups():
        rendered = render_markdown(text)
        assert rendering._plain_text_quickly(rendered) == _text_by_the_parser(rendered)
    awkward = [
        '<p title="a > b" class=x>one &amp; two&nbsp;three</p><br/><img alt="x" src=y>four',
        '<p><a class="footnote-ref" href="#f">1</a>text<a href=#z class=\'footnote-backref\'>'
        "&#8617;</a> end</p>",
        '<a title=\' class="footnote-ref"\' href="#x">shown</a>',
        "<P>Upper</P>case<Br>",
    ]
    for html_text in awkward:
        assert rendering._plain_text_quickly(html_text) == _text_by_the_parser(html_text)
    for html_text in ["<!-- c --><p>x</p>", "<script>a<b</script>", "<p>a < b</p>", "<p>x<b"]:
        assert rendering._plain_text_quickly(html_text) is None  # the parser reads these
        assert plain_text(html_text) == _text_by_the_parser(html_text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]()!ab *_`<>&;#\"'=/\n", max_size=80))
def test_plain_text_read_quickly_agrees_on_any_rendered_text(text):
    rendered = render_markdown(text)
    quick = rendering._plain_text_quickly(rendered)
    assert quick is None or quick == _text_by_the_parser(rendered)


def test_the_word_counts_shortcut_agrees_with_its_pattern_on_every_character():
    """`_count_words` takes `str.isalnum` for `[^\\W_]`; they must agree on all of Unicode."""
    pattern = rendering._HAS_WORD_CHAR_RE
    assert all(char.isalnum() == bool(pattern.search(char)) for char in map(chr, range(0x110000)))


def test_the_deployed_python_options_sanitise_every_hostile_input_to_the_same_html():
    """deploy/ runs the blog with PYTHONOPTIMIZE=2, which strips asserts, bleach's and
    html5lib's with the rest. Every input of the XSS sweep (tests/security/test_xss.py, which
    runs in this interpreter) becomes the same HTML under the services' options as here, so the
    sweep's verdict holds for the deployed server."""
    from tests.live_servers import REPO, deployed_tuning
    from tests.security.test_xss import hostile_corpus

    corpus = hostile_corpus()
    script = (
        "import json, sys\n"
        "from blog.rendering import render_comment, render_markdown, sanitize_html\n"
        "assert False, 'asserts must be off'\n"  # stripped under -O: proves the options apply
        "corpus = json.load(sys.stdin)\n"
        "out = [[render_markdown(t), render_comment(t), sanitize_html(t)] for t in corpus]\n"
        "print(json.dumps({'docstrings': render_markdown.__doc__, 'html': out}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), **deployed_tuning("blog.service")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(corpus),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    deployed = json.loads(done.stdout)
    assert deployed["docstrings"] is None  # PYTHONOPTIMIZE=2 took effect
    here = [[render_markdown(t), render_comment(t), sanitize_html(t)] for t in corpus]
    assert len(corpus) > 300
    assert deployed["html"] == here

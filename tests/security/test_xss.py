"""Stored and reflected XSS, in Chromium: hostile input in every field readers see.

A corpus of hostile inputs (categories x variants) is saved through the app's own code into
post bodies, titles, excerpts, featured captions and alt texts, tags, categories, author names
and bios, site settings, and sent as search queries. Each reader page is then loaded in
Chromium. Every payload, if it ran, would open a dialog (alert, confirm, prompt), call print()
or set a marker (document.title, window.name); the test fails if any of that happens, and a
DOM scan also fails on anything that could run later (handlers, script URLs, frames, forms...).
CSP is bypassed so the test judges the escaping and sanitising, not the policy.
"""

import io
import json
from urllib.parse import quote_plus

import pytest
from PIL import Image
from playwright.sync_api import Browser
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from blog import comments, taxonomy
from blog import media as media_service
from blog.accounts import create_user
from blog.extensions import db
from blog.models import Comment, CommentStatus, Role, Tag
from blog.posts import MAX_TITLE, Action, PostInput, save_post
from blog.rendering import render_comment
from blog.settings import set_settings
from blog.text import slugify
from tests.security._support import COUNTS

pytestmark = pytest.mark.browser

# Code a payload runs if it gets the chance; each leaves a trace the test looks for.
ACTIONS = (
    "alert(1)",
    "confirm(1)",
    "prompt(1)",
    "print()",
    "document.title='XSS'",
    "window.name='XSS'",
)
SSTI_PRODUCT = str(7 * 7191)  # 50337: what a template engine would print for {{7*7191}}

SCRIPT_TAGS = [
    "<script>{js}</script>",
    "<SCRIPT>{js}</SCRIPT>",
    "<ScRiPt >{js}</sCrIpT >",
    '<script type="text/javascript">{js}</script>',
    '<script type="module">{js}</script>',
    '<script src="data:text/javascript,{js}"></script>',
    "<script/src=data:,{js}></script>",
    "<scr<script>ipt>{js}</scr</script>ipt>",
    "<script\n>{js}</script\n>",
    "<<script>{js};//<</script>",
    "<script>{js}//",
    "</script><script>{js}</script>",
    "<!--<script>{js}</script>-->",
    "<script>/*</script>*/{js}</script>",
    "<script x>{js}</script y>",
    "&lt;script&gt;{js}&lt;/script&gt;",
    "\\u003cscript\\u003e{js}\\u003c/script\\u003e",
    "%3Cscript%3E{js}%3C%2Fscript%3E",
    "\uff1cscript\uff1e{js}\uff1c/script\uff1e",
    "<svg><script>{js}</script></svg>",
    '<svg><script href="data:,{js}"/></svg>',
    "<math><script>{js}</script></math>",
]

EVENT_HANDLERS = [
    "<img src=x onerror={js}>",
    '<img src="x" onerror="{js}">',
    "<IMG SRC=x ONERROR={js}>",
    "<img src=x onerror = {js}>",
    "<img/src=x/onerror={js}>",
    "<img src=x onerror=`{js}`>",
    "<img src=x:x onerror={js}//>",
    "<img src onerror={js}>",
    '<img """><script>{js}</script>">',
    "<img src=x onerror\x0b={js}>",
    "<img src=x onerror\x0c={js}>",
    "<img src=x \nonerror={js}>",
    "<img src=x onerror=&#x61;&#x6C;&#x65;&#x72;&#x74;(1)>",
    "<svg onload={js}>",
    "<svg/onload={js}>",
    "<svg onload\t={js}>",
    "<svg><g onload={js}></g></svg>",
    "<svg><animate onbegin={js} attributeName=x dur=1s>",
    "<svg><set onbegin={js} attributeName=x to=1>",
    "<body onload={js}>",
    "<body onpageshow={js}>",
    "<details open ontoggle={js}>",
    "<details/open/ontoggle={js}><summary>x</summary></details>",
    "<video src=x onerror={js}></video>",
    "<video><source onerror={js}></video>",
    "<audio src=x onerror={js}></audio>",
    "<iframe onload={js}></iframe>",
    "<input autofocus onfocus={js}>",
    "<input onfocus={js} autofocus>",
    "<select autofocus onfocus={js}></select>",
    "<textarea autofocus onfocus={js}></textarea>",
    "<button autofocus onfocus={js}>x</button>",
    "<a href=# autofocus onfocus={js}>x</a>",
    "<div tabindex=1 autofocus onfocus={js}>x</div>",
    "<marquee onstart={js}>x</marquee>",
    "<object data=x onerror={js}></object>",
    "<embed src=x onerror={js}>",
    "<style onload={js}></style>",
    "<link rel=stylesheet href=x onerror={js}>",
    "<image src=x onerror={js}>",
    "<input type=image src=x onerror={js}>",
    "<p onmouseover={js}>hover</p>",
    '<div onpointerenter={js} style="position:fixed;inset:0">x</div>',
    "<table background=x onerror={js}><td>x</td></table>",
    "<form><button formaction=x onfocus={js} autofocus>x</button></form>",
]

URL_VARIANTS = [
    "javascript:{js}",
    "JaVaScRiPt:{js}",
    " javascript:{js}",
    "\tjavascript:{js}",
    "java\tscript:{js}",
    "java\nscript:{js}",
    "java\rscript:{js}",
    "java&#x09;script:{js}",
    "java&#9;script:{js}",
    "&#106;avascript:{js}",
    "&#x6A;avascript:{js}",
    "&#0000106;avascript:{js}",
    "&#x0000006A;avascript:{js}",
    "javascript&colon;{js}",
    "javascript&#58;{js}",
    "jav&#x61;script:{js}",
    "\x00javascript:{js}",
    "java\x00script:{js}",
    "\x01javascript:{js}",
    "\x1fjavascript:{js}",
    "\u2028javascript:{js}",
    "\ufeffjavascript:{js}",
    "java\u200bscript:{js}",
    "javascript://%0a{js}",
    "vbscript:msgbox(1)",
    "VBScript:{js}",
    "livescript:{js}",
    "data:text/html,<script>{js}</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:TEXT/HTML,<script>{js}</script>",
    "data:image/svg+xml,<svg onload={js}>",
    "da\tta:text/html,<script>{js}</script>",
    "data:application/xhtml+xml,<x:script xmlns:x='http://www.w3.org/1999/xhtml'>{js}</x:script>",
]

URL_SINKS = [
    '<a href="{u}">x</a>',
    "<a href='{u}'>x</a>",
    "<a href={u}>x</a>",
    '<img src="{u}">',
    "[x]({u})",
    "[x](<{u}>)",
    "![x]({u})",
    "[x][ref]\n\n[ref]: {u}\n",
    "<{u}>",
    '<iframe src="{u}"></iframe>',
    '<form action="{u}"><button>x</button></form>',
    '<button formaction="{u}">x</button>',
    '<svg><a xlink:href="{u}"><text y=20>x</text></a></svg>',
    '<object data="{u}"></object>',
    '<embed src="{u}">',
    '<base href="{u}">',
    '<meta http-equiv="refresh" content="0;url={u}">',
    '<link rel=stylesheet href="{u}">',
    '<math><maction actiontype=statusline xlink:href="{u}">x</maction></math>',
    '<map><area href="{u}" shape=default></map>',
    '<video poster="{u}"></video>',
    '<svg><set attributeName=href to="{u}" /></svg>',
]
SINKS_PER_URL = 5

ATTRIBUTE_BREAKOUTS = [
    '" onmouseover="{js}',
    "' onmouseover='{js}",
    "` onmouseover=`{js}",
    '"><img src=x onerror={js}>',
    "'><img src=x onerror={js}>",
    '" autofocus onfocus="{js}',
    '" style="x:expression({js})',
    '"/><svg onload={js}>',
    "&quot; onerror=&quot;{js}",
    '\\" onerror=\\"{js}',
    '"\x00onerror="{js}',
    "</title><script>{js}</script>",
    "</textarea><img src=x onerror={js}>",
    "</script><img src=x onerror={js}>",
    "</style><img src=x onerror={js}>",
    '"; {js}; "',
    "'; {js}; '",
    '\\"; {js}; //',
    '"}}]}}; {js}; //',
    "--><img src=x onerror={js}>",
]

ELEMENTS = [
    '<iframe src="/"></iframe>',
    '<iframe srcdoc="<script>parent.{js}</script>"></iframe>',
    '<iframe srcdoc="&lt;img src=x onerror={js}&gt;"></iframe>',
    '<object data="/" type="text/html"></object>',
    '<embed src="/" type="text/html">',
    '<form action="/login" method="post"><input name="email"><button>Sign in</button></form>',
    '<form><input type="password" name="password"></form>',
    '<base href="//evil.example/">',
    '<meta http-equiv="refresh" content="0;url=//evil.example/">',
    '<meta http-equiv="set-cookie" content="stolen=1">',
    "<style>@import 'javascript:{js}';</style>",
    '<style>@import url("//evil.example/x.css");</style>',
    '<style>body{{background:url("javascript:{js}")}}</style>',
    '<div style="width:expression({js})">x</div>',
    '<div style="background-image:url(javascript:{js})">x</div>',
    '<link rel="import" href="data:text/html,<script>{js}</script>">',
    "<svg><foreignObject><iframe srcdoc='<script>{js}</script>'></iframe></foreignObject></svg>",
    '<svg><use href="data:image/svg+xml,<svg id=x><script>{js}</script></svg>#x"/></svg>',
    "<applet code=x>x</applet>",
    "<portal src=/></portal>",
]

MUTATION_XSS = [
    '<noscript><p title="</noscript><img src=x onerror={js}>">',
    "<svg><style><img src=x onerror={js}></style></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror={js}>",
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror={js}>",
    '<svg></p><style><a id="</style><img src=1 onerror={js}>">',
    '<div title="</div><img src=x onerror={js}>">',
    "<select><template><img src=x onerror={js}></template></select>",
    "<textarea><img src=x onerror={js}></textarea>",
    "<xmp><img src=x onerror={js}></xmp>",
    "<noembed><img src=x onerror={js}></noembed>",
    "<noframes><img src=x onerror={js}></noframes>",
    "<title><img src=x onerror={js}></title>",
    "<![CDATA[<img src=x onerror={js}>]]>",
    "<!--><img src=x onerror={js}>-->",
    "<!-- --!><img src=x onerror={js}>-->",
    "<?xml-stylesheet?><img src=x onerror={js}>",
    '<a href="</a><img src=x onerror={js}>">x</a>',
    '<math><mi><mglyph><svg><mtext><textarea><path id="</textarea><img onerror={js} src=1>">',
    "<table><caption><svg><title></caption><img src=x onerror={js}>",
    "<p><style><!--</style><img src=x onerror={js}>--></style></p>",
]

MARKDOWN = [
    "[x](javascript:{js})",
    "[x]( javascript:{js} )",
    '[x](javascript:{js} "title")',
    '![x](x" onerror="{js})',
    "![x](x onerror={js})",
    '[x](https://example.org "title\\" onmouseover=\\"{js}")',
    "[x][1]\n\n[1]: javascript:{js}\n",
    "[x][1]\n\n[1]: <javascript:{js}> 'title'\n",
    "<javascript:{js}>",
    "[^1]\n\n[^1]: <img src=x onerror={js}>\n",
    "# <img src=x onerror={js}>",
    "`<img src=x onerror={js}>`",
    "```html\n<script>{js}</script>\n```",
    "| a | b |\n|---|---|\n| <img src=x onerror={js}> | x |\n",
    "> <img src=x onerror={js}>",
    "* [x](javascript:{js})",
    "[<img src=x onerror={js}>](https://example.org)",
    "![<img src=x onerror={js}>](x)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "{{: onclick={js} }}\n# heading {{: onmouseover={js}}}",
]

TEMPLATE_INJECTION = [
    "{{{{7*7191}}}}",
    "{{{{ 7*7191 }}}}",
    "{{% print(7*7191) %}}",
    "${{7*7191}}",
    "#{{7*7191}}",
    "<%= 7*7191 %>",
    "[[7*7191]]",
    "{{{{ config }}}}",
    "{{{{ config.SECRET_KEY }}}}",
    "{{{{ self.__init__.__globals__ }}}}",
    "{{{{ ''.__class__.__mro__[1].__subclasses__() }}}}",
    "{{{{ request.application.__globals__ }}}}",
    "{{{{constructor.constructor('{js}')()}}}}",
    "{{% for x in range(3) %}}loop{{% endfor %}}",
]

UNICODE_TRICKS = [
    "\u202egnp.exe<img src=x onerror={js}>",
    "\u202eelgoog//:sptth",
    "\u200b<script>{js}</script>",
    "\ufeff<img src=x onerror={js}>",
    "\u2028<img src=x onerror={js}>\u2029",
    "<img src=x onerror=\u200b{js}>",
    "<scr\u0131pt>{js}</scr\u0131pt>",
    "<\u0455cript>{js}</\u0455cript>",
    "\u00bcscript\u00be{js}\u00bc/script\u00be",
    "\U0001f600<img src=x onerror={js}>\U0001f600",
    "e\u0301\u0301\u0301<svg onload={js}>",
]

LONG_INPUTS = [
    "A" * 5000 + "<script>{js}</script>",
    "<img src=x onerror={js}>" * 150,
    "<div>" * 300 + "<img src=x onerror={js}>" + "</div>" * 300,
    "<" * 2000 + "script>{js}</script>",
    "[x](" * 300 + "javascript:{js})",
    "*" * 3000 + "<svg onload={js}>",
]


def hostile_corpus() -> list[str]:
    """Every template filled with a rotating action, and each script URL in several sinks."""
    templates = (
        SCRIPT_TAGS
        + EVENT_HANDLERS
        + ATTRIBUTE_BREAKOUTS
        + ELEMENTS
        + MUTATION_XSS
        + MARKDOWN
        + TEMPLATE_INJECTION
        + UNICODE_TRICKS
        + LONG_INPUTS
    )
    corpus = [template.format(js=ACTIONS[n % len(ACTIONS)]) for n, template in enumerate(templates)]
    for n, variant in enumerate(URL_VARIANTS):
        url = variant.format(js=ACTIONS[n % len(ACTIONS)])
        for k in range(SINKS_PER_URL):
            sink = URL_SINKS[(n * SINKS_PER_URL + k) % len(URL_SINKS)]
            corpus.append(sink.replace("{u}", url))
    return corpus


def pack(payloads: list[str], limit: int, separator: str = " ") -> list[str]:
    """Payloads joined into as few strings of at most `limit` characters as possible.

    Payloads are never split, except one longer than the limit, which is cut to it.
    """
    packed, current = [], ""
    for payload in payloads:
        payload = payload[:limit]
        if current and len(current) + len(separator) + len(payload) > limit:
            packed.append(current)
            current = ""
        current = f"{current}{separator}{payload}" if current else payload
    if current:
        packed.append(current)
    return packed


def tag_entries(payloads: list[str], per_post: int = 20) -> list[str]:
    """Comma-separated tag fields: the editor splits on commas, so each piece is one tag.

    No field holds two new tags with the same slug: the app fails on that (BUG tag-slugs,
    see test_inputs.py), and this test is about escaping.
    """
    pieces = []
    for payload in payloads:
        pieces += [piece[: taxonomy.MAX_TAG_NAME_LENGTH] for piece in payload.split(",")]
    pieces = [piece for piece in pieces if taxonomy.clean_text(piece)]
    remaining = list({taxonomy.name_key(piece): piece for piece in pieces}.values())
    fields = []
    while remaining:
        chosen, slugs, deferred = [], set(), []
        for piece in remaining:
            slug = slugify(piece, max_length=taxonomy.SLUG_LENGTH, fallback="tag")
            if len(chosen) < per_post and slug not in slugs:
                chosen.append(piece)
                slugs.add(slug)
            else:
                deferred.append(piece)
        fields.append(", ".join(chosen))
        remaining = deferred
    return fields


def _cycle(values: list, index: int, default=""):
    return values[index] if index < len(values) else default


def _spread(values: list[str], count: int) -> list[str]:
    """`values` placed evenly over `count` slots (the rest empty), so samples reach them all."""
    step = max(count // max(len(values), 1), 1)
    slots = [""] * count
    for index, value in enumerate(values[:count]):
        slots[index * step] = value
    return slots


def seed_hostile_site(app, corpus: list[str]) -> dict[str, list[str]]:
    """Store the corpus in every reader-facing field; returns the pages to load, by kind.

    Every payload goes into every field, cut into as few values as the field's limit allows.
    Pages loaded: every article that holds hostile post fields, every home page (the cards
    show every post's title, summary, category and author: each author has a post), every
    category and author page that has a description or bio, and a sample of tag pages (every
    tag is also listed on its article). Category names are all in the menu of every page.
    """
    titles = pack(corpus, MAX_TITLE)
    bodies = pack(corpus, 2500, separator="\n\n")
    excerpts = pack(corpus, 2000)
    captions = pack(corpus, 500)
    alts = pack(corpus, 500)
    tags = tag_entries(corpus)
    # Names are unique ignoring case and whitespace: near-identical packs are dropped.
    category_names = list(
        {taxonomy.name_key(n): n for n in pack(corpus, taxonomy.MAX_NAME_LENGTH)}.values()
    )
    descriptions = _spread(pack(corpus, 2000), len(category_names))
    author_names = pack(corpus, 120)
    bios = _spread(pack(corpus, 2000), len(author_names))
    hostile_posts = max(map(len, (titles, bodies, excerpts, captions, alts, tags)))
    with app.test_request_context():
        authors = []
        for name, bio in zip(author_names, bios, strict=True):
            author = create_user(f"a{len(authors)}@example.com", name, Role.AUTHOR, "long password")
            author.bio = bio  # a direct write, as the profile form would store it
            authors.append(author)
            db.session.flush()  # one at a time, as the admin pages make them: slugs stay unique
        categories = []
        for name, description in zip(category_names, descriptions, strict=True):
            categories.append(taxonomy.create_category(name, description))
            db.session.flush()
        image = media_service.save_upload(
            FileStorage(io.BytesIO(_png()), filename=corpus[0][:100] + ".png"), authors[0]
        )
        image.alt_text = alts[0]
        db.session.flush()
        slugs, hostile_articles = [], []
        for n in range(max(hostile_posts, len(authors))):
            data = PostInput(
                title=_cycle(titles, n, f"Plain title {n}"),
                body_md=_cycle(bodies, n, "Plain text."),
                excerpt=_cycle(excerpts, n),
                category_id=categories[n % len(categories)].id,
                tags=_cycle(tags, n),
                featured_media_id=image.id,
                featured_alt=_cycle(alts, n),
                featured_caption=_cycle(captions, n),
            )
            post = save_post(None, data, authors[n % len(authors)], Action.PUBLISH)
            slugs.append(post.slug)
            hostile_articles.append(post)
        _add_hostile_comments(corpus, hostile_articles[:hostile_posts])
        set_settings(
            {
                "site_title": pack(corpus, 120)[1],
                "tagline": pack(corpus, 200)[2],
                "footer_text": pack(corpus, 300)[3],
                "posts_per_page": POSTS_PER_PAGE,
                # Menu labels as Settings → Menus stores them (60 characters at most).
                "header_menu": [
                    {"label": label, "url": f"/m{n}/", "children": [{"label": label, "url": "/"}]}
                    for n, label in enumerate(pack(corpus, 60))
                ],
                "footer_menu": [
                    {"label": label, "url": f"/f{n}/", "children": []}
                    for n, label in enumerate(pack(corpus, 60))
                ],
            }
        )
        db.session.commit()
        tag_slugs = list(db.session.scalars(select(Tag.slug).order_by(Tag.id)))
        pages = {
            "article": [f"/{slug}/" for slug in slugs[:hostile_posts]],
            "home": [f"/?page={n}" for n in range(1, -(-len(slugs) // POSTS_PER_PAGE) + 1)],
            "category": [
                f"/category/{category.slug}/" for category in categories if category.description
            ],
            "author": [f"/author/{author.slug}/" for author in authors if author.bio],
            "tag": [f"/tag/{slug}/" for slug in tag_slugs[:: len(tag_slugs) // TAG_PAGES]],
        }
    return pages


def _add_hostile_comments(corpus: list[str], posts: list) -> None:
    """Approved comments whose text, name and website are hostile, spread over the articles.

    Stored as the comment form stores them: the text through the comment pipeline, the name
    as typed, the website as any address the form accepts (it must start with http)."""
    texts = pack(corpus, comments.MAX_LENGTH, separator="\n\n")
    names = pack(corpus, 100)
    sites = [f"https://example.org/{payload}"[:300] for payload in corpus]
    for n in range(max(len(texts), len(names), len(sites))):
        post = posts[n % len(posts)]
        text = _cycle(texts, n, "Plain comment.")
        db.session.add(
            Comment(
                post=post,
                author_name=_cycle(names, n, "Plain name"),
                author_email=f"commenter{n}@example.org",
                author_url=_cycle(sites, n, ""),
                body_md=text,
                body_html=render_comment(text),
                status=CommentStatus.APPROVED,
            )
        )
    db.session.flush()
    for post in posts:
        comments.recount(post.id)
    COUNTS["XSS: hostile comments (text, name, website)"] = n + 1


POSTS_PER_PAGE = 50  # the most the settings allow
TAG_PAGES = 20


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (20, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# Runs before any page script: records calls to the dialog functions (the dialog event
# records them too; print() opens none).
RECORD_CALLS = """
window.__xssCalls = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  const original = window[name];
  window[name] = function (...args) {
    window.__xssCalls.push(name);
    return name === "print" ? undefined : original.apply(this, args);
  };
}
"""

# Everything on a loaded page that could run script now or later.
DOM_SCAN = """
async (marker) => {
  await new Promise((done) => setTimeout(done, 0));
  const found = [];
  // What browsers ignore or strip in a URL, and more: controls, spaces, invisible characters.
  const NOISE = new RegExp("[\\\\u0000-\\\\u0020\\\\u007f-\\\\u00a0\\\\u00ad\\\\u200b-\\\\u200f"
    + "\\\\u2028-\\\\u202e\\\\u2060-\\\\u2064\\\\ufeff]", "g");
  const squash = (value) => (value || "").replace(NOISE, "").toLowerCase();
  const scriptUrl = (value) => {
    const url = squash(value);
    return /^(javascript|vbscript|livescript|mocha):/.test(url)
      || (url.startsWith("data:") && !/^data:image\\/(png|jpeg|gif|webp)[;,]/.test(url));
  };
  const URL_ATTRIBUTES = new Set([
    "href", "src", "action", "formaction", "xlink:href", "data", "poster", "background",
    "codebase", "cite", "longdesc", "lowsrc", "dynsrc", "ping", "icon", "manifest", "archive",
    "classid", "usemap", "srcset", "imagesrcset", "to", "from", "values",
  ]);
  const sameSite = (value, prefix) => {
    const url = new URL(value, location.href);
    return url.origin === location.origin && url.pathname.startsWith(prefix);
  };
  const isSearchForm = (form) => form && sameSite(form.getAttribute("action") || "", "/search")
    && new URL(form.getAttribute("action"), location.href).pathname === "/search";
  // The article's own comment form: this site, POST to /<slug>/comments, the page's id for it.
  const commentPath = (form) => {
    const parts = new URL(form.getAttribute("action") || "", location.href).pathname.split("/");
    return parts.length === 3 && parts[0] === "" && parts[1] !== "" && parts[2] === "comments";
  };
  const isCommentForm = (form) => form && form.id === "comment-form"
    && form.method === "post" && sameSite(form.getAttribute("action") || "", "/")
    && commentPath(form) && document.querySelectorAll("form#comment-form").length === 1;
  const isOurForm = (form) => isSearchForm(form) || isCommentForm(form);
  const FORBIDDEN = new Set([
    "iframe", "frame", "frameset", "object", "embed", "applet", "base", "svg", "math", "style",
    "template", "portal", "noscript", "xmp", "noembed", "noframes", "marquee", "video",
    "audio", "source", "track", "area", "map",
  ]);
  const describe = (el) => "<" + el.localName + "> " + el.outerHTML.slice(0, 120);
  for (const el of document.querySelectorAll("*")) {
    const tag = el.localName;
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) found.push("handler " + name + ": " + describe(el));
      if (name === "style" || name === "srcdoc") found.push(name + ": " + describe(el));
      if (URL_ATTRIBUTES.has(name) || name.endsWith(":href")) {
        const values = name.endsWith("srcset") ? attr.value.split(",") : [attr.value];
        if (values.some(scriptUrl)) found.push("script URL in " + name + ": " + describe(el));
      }
    }
    if (FORBIDDEN.has(tag)) found.push("element " + describe(el));
    if (tag === "meta" && el.hasAttribute("http-equiv")) found.push("meta " + describe(el));
    if (tag === "form" && !isOurForm(el)) found.push("form " + describe(el));
    const control = ["input", "button", "select", "textarea"].includes(tag);
    if (control && !isOurForm(el.closest("form"))) {
      found.push("control outside the search and comment forms " + describe(el));
    }
    if (tag === "link") {
      const rel = (el.getAttribute("rel") || "").toLowerCase();
      const href = el.getAttribute("href") || "";
      const allowed = ["stylesheet", "icon"].includes(rel) ? sameSite(href, "/static/")
        : ["canonical", "alternate"].includes(rel);
      if (!allowed) found.push("link " + describe(el));
    }
    if (tag === "script") {
      const type = (el.getAttribute("type") || "").toLowerCase();
      if (el.hasAttribute("src")) {
        if (!sameSite(el.getAttribute("src"), "/static/")) found.push("script " + describe(el));
      } else if (type === "application/ld+json") {
        const text = el.textContent;
        if (text.toLowerCase().includes("</script")) found.push("ld+json holds </script");
        try { JSON.parse(text); } catch (error) { found.push("ld+json is not JSON: " + error); }
      } else {
        found.push("inline script " + describe(el));
      }
    }
  }
  if (document.title === "XSS") found.push("document.title was set");
  if (window.name === "XSS") found.push("window.name was set");
  if (window.__xssCalls.length) found.push("called " + window.__xssCalls.join(", "));
  const html = document.documentElement.outerHTML;
  if (html.includes(marker)) found.push("a template evaluated {{7*7191}}");
  for (const secret of ["browser-test-secret", "&lt;Config", "<Config"]) {
    if (html.includes(secret)) found.push("template injection leaked " + secret);
  }
  const jsonLd = document.querySelector('script[type="application/ld+json"]');
  return { found, jsonLd: jsonLd ? jsonLd.textContent : null };
}
"""

SEARCH_WORDS = ["alert", "script", "onerror", "javascript", "XSS", "img", "svg", "title"]


TABS = 3  # pages loading at once


def test_hostile_input_never_runs_in_reader_pages(live_server, browser: Browser):
    corpus = hostile_corpus()
    assert len(corpus) >= 200
    pages = seed_hostile_site(live_server.app, corpus)
    urls = [live_server.url + path for paths in pages.values() for path in paths]
    urls += [f"{live_server.url}/search?q={word}" for word in SEARCH_WORDS]
    # A NUL in a query string is refused with 400 before any page is built (test_inputs).
    urls += [
        f"{live_server.url}/search?q={quote_plus(query.replace(chr(0), ''))}"
        for query in pack(corpus, 200)
    ]

    context = browser.new_context(bypass_csp=True)
    context.add_init_script(RECORD_CALLS)
    dialogs, problems = [], {}

    def record(dialog):
        dialogs.append((dialog.page.url if dialog.page else "?", dialog.type, dialog.message))
        dialog.dismiss()

    tabs = [context.new_page() for _ in range(TABS)]
    for tab in tabs:
        tab.on("dialog", record)

    def finish(tab, url, response) -> None:
        tab.wait_for_load_state("load")
        if response is None or response.status != 200:
            problems[url] = [f"status {response and response.status}"]
            return
        result = tab.evaluate(DOM_SCAN, SSTI_PRODUCT)
        if result["found"]:
            problems[url] = result["found"][:5]

    # Several tabs in turn: the server builds one page while Chromium parses another.
    in_flight = []
    for number, url in enumerate(urls):
        tab = tabs[number % len(tabs)]
        if len(in_flight) == len(tabs):
            finish(*in_flight.pop(0))
        in_flight.append((tab, url, tab.goto(url, wait_until="commit")))
    for item in in_flight:
        finish(*item)
    context.close()

    assert dialogs == []
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)[:4000]
    COUNTS["XSS: hostile inputs"] = len(corpus)
    COUNTS["XSS: reader pages loaded in Chromium"] = len(urls)
    print(f"XSS: {len(corpus)} hostile inputs, {len(urls)} pages loaded")


# The scan must see what it looks for: each snippet is unsafe, and the scan must say why.
UNSAFE_PAGES = {
    "<script>alert(1)</script>": "inline script",
    "<img src=x onerror=confirm(1)>": "handler onerror",
    '<a href="java&#9;script:void(0)">x</a>': "script URL in href",
    "<a href='data:text/html,x'>x</a>": "script URL in href",
    "<iframe src=/></iframe>": "element <iframe>",
    '<form action="/login"><input name=a></form>': "form <form>",
    "<input name=a>": "control outside the search and comment forms",
    '<form id="comment-form" method="post" action="//evil.example/x/comments"></form>': (
        "form <form>"
    ),
    '<base href="/x/">': "element <base>",
    '<meta http-equiv="x-dns-prefetch-control" content="on">': "meta <meta>",
    '<p style="color:red">x</p>': "style: <p>",
    '<script src="//evil.example/x.js"></script>': "script <script>",
    '<script type="application/ld+json">{"a": </script>': "ld+json is not JSON",
    f"<p>{SSTI_PRODUCT}</p>": "evaluated",
    '<script src="/static/x.js" onload="document.title=`XSS`"></script>': "handler onload",
    "<svg><a href=/>x</a></svg>": "element <svg>",
}
# Traces left by code that ran: each snippet runs from an allowed /static/ script.
TRACES = {
    "document.title='XSS'": "document.title was set",
    "window.name='XSS'": "window.name was set",
    "print()": "called print",
    "alert(1)": "called alert",
}


def _serve(body: str, content_type: str):
    return lambda route: route.fulfill(body=body, content_type=content_type)


def test_the_scan_and_the_dialog_trap_catch_unsafe_pages(browser: Browser):
    context = browser.new_context()
    context.add_init_script(RECORD_CALLS)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    missed = []
    pages = [(snippet, why, "") for snippet, why in UNSAFE_PAGES.items()]
    pages += [('<script src="/static/trace.js"></script>', why, js) for js, why in TRACES.items()]
    for snippet, why, script in pages:
        html = f'<!doctype html><title>t</title><form action="/search"><input></form>{snippet}'
        page.route("http://control.test/", _serve(html, "text/html"))
        page.route("http://control.test/static/trace.js", _serve(script, "text/javascript"))
        page.goto("http://control.test/")
        found = page.evaluate(DOM_SCAN, SSTI_PRODUCT)["found"]
        if not any(why in finding for finding in found):
            missed.append(f"{snippet}: {found}")
        page.unroute_all()
    page.goto("about:blank")
    context.close()
    assert missed == []
    assert sorted(dialogs) == ["alert", "alert", "confirm"]

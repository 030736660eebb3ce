"""Settings → Design and Menus: accent contrast, typefaces, logos, site icon, menus.

Every input is treated as hostile: colours and addresses are checked on the server, labels are
escaped, images go through the media pipeline's checks.
"""

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from blog.design import menus, theme
from blog.extensions import db
from blog.models import Media
from blog.settings import get_settings
from blog.taxonomy import create_category
from tests.conftest import shown_by

REPO = Path(__file__).resolve().parent.parent


def fetch(client, url: str):
    """GET a file and close it (file responses keep the file open until closed)."""
    response = client.get(url)
    response.get_data()  # read into memory before the file is closed
    response.close()
    return response


def png(size=(256, 256), colour=(200, 30, 30, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def design_form(client, **changes) -> dict:
    """What the Design page sends back when the admin changes `changes` and nothing else."""
    html = client.get("/admin/settings/design").get_data(as_text=True)
    data = {
        "accent_light": re.search(r'name="accent_light"[^>]*value="([^"]*)"', html).group(1),
        "accent_dark": re.search(r'name="accent_dark"[^>]*value="([^"]*)"', html).group(1),
        "heading_typeface": "charter",
        "body_typeface": "charter",
        **shown_by(client, "/admin/settings/design"),
    }
    data.update(changes)
    return data


def menu_form(client, header=(), footer=()) -> dict:
    """The Menus form with these rows: (label, url, position[, sub]) tuples."""
    data = dict(shown_by(client, "/admin/settings/menus"))
    for name, rows in (("header", header), ("footer", footer)):
        for index, row in enumerate(rows):
            label, url, position, *sub = row
            data[f"{name}-{index}-label"] = label
            data[f"{name}-{index}-url"] = url
            data[f"{name}-{index}-position"] = str(position)
            if sub and sub[0]:
                data[f"{name}-{index}-sub"] = "y"
    return data


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return client


# Contrast, without the app ---------------------------------------------------------------------


def test_contrast_ratio_follows_wcag():
    assert theme.contrast_ratio("#000000", "#ffffff") == 21
    assert theme.contrast_ratio("#ffffff", "#ffffff") == 1
    assert theme.contrast_ratio("#777777", "#ffffff") == 4.47  # the classic near miss
    assert theme.contrast_ratio("#767676", "#ffffff") == 4.54


def test_no_single_colour_reaches_aa_on_both_theme_backgrounds():
    """Why each theme has its own accent: every grey level, and so every colour's luminance
    in between, fails one of the two backgrounds."""
    greys = [f"#{v:02x}{v:02x}{v:02x}" for v in range(256)]
    both = [
        grey
        for grey in greys
        if theme.accent_problem(grey, theme.THEMES["light"]) is None
        and theme.accent_problem(grey, theme.THEMES["dark"]) is None
    ]
    assert both == []


def test_the_theme_backgrounds_are_the_ones_in_site_css():
    css = (REPO / "static" / "css" / "site.css").read_text()
    light, dark = re.findall(r"--bg:\s*(#[0-9a-fA-F]{6})", css)[:2]
    assert (light.lower(), dark.lower()) == (theme.LIGHT_BACKGROUND, theme.DARK_BACKGROUND)


def test_a_stored_colour_that_was_tampered_with_never_reaches_the_stylesheet():
    css = theme.stylesheet({"accent_light": "red;}body{display:none", "accent_dark": "#fff;x"})
    assert "display:none" not in css
    assert "--accent: #9b1c1c" in css  # the defaults instead
    assert "--accent: #f08080" in css


# Accent colour through the Design page ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "colour", "message"),
    [
        (
            "accent_light",
            "#ffcc00",
            "#ffcc00 on the light background (#fdfdfc) has a contrast of 1.",
        ),
        ("accent_light", "#777777", "a contrast of 4.39:1; links need at least 4.5:1"),
        ("accent_dark", "#1a5fb4", "#1a5fb4 on the dark background (#16181c) has a contrast of 2."),
        ("accent_dark", "#000000", "Choose a lighter colour."),
    ],
)
def test_an_accent_the_theme_cannot_read_is_refused_with_its_ratio(
    app, admin, field, colour, message
):
    response = admin.post("/admin/settings/design", data=design_form(admin, **{field: colour}))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert (
            get_settings()[field] == theme.DEFAULT_ACCENT_LIGHT if field == "accent_light" else True
        )
        assert get_settings()["accent_light"] == "#9b1c1c"
        assert get_settings()["accent_dark"] == "#f08080"


def test_readable_accents_are_used_in_both_themes(app, admin, client):
    data = design_form(admin, accent_light="#1A5FB4", accent_dark="#8ab4f8")
    response = admin.post("/admin/settings/design", data=data)
    assert response.status_code == 303
    admin.post("/logout")
    home = client.get("/").get_data(as_text=True)
    link = re.search(r'<link rel="stylesheet" href="(/design-[0-9a-f]{12}\.css)">', home)
    assert link, "the home page does not load the design stylesheet"
    css = client.get(link.group(1))
    assert css.mimetype == "text/css"
    assert "immutable" in css.headers["Cache-Control"]
    text = css.get_data(as_text=True)
    light, dark = text.split("@media (prefers-color-scheme: dark)")
    assert "--accent: #1a5fb4; --accent-text: #ffffff" in light
    assert "--accent: #8ab4f8; --accent-text: #16181c" in dark
    old = client.get("/design-000000000000.css")
    assert old.headers["Cache-Control"] == "no-cache" and "#1a5fb4" in old.get_data(as_text=True)


def test_without_changes_no_design_stylesheet_is_loaded(app, client, users):
    assert "/design-" not in client.get("/").get_data(as_text=True)


def test_typefaces_are_chosen_from_system_stacks_only(app, admin, client):
    data = design_form(admin, heading_typeface="humanist", body_typeface="old-style")
    assert admin.post("/admin/settings/design", data=data).status_code == 303
    bad = design_form(admin, heading_typeface='x; } body { font-family: url("//evil")')
    assert admin.post("/admin/settings/design", data=bad).status_code == 400
    admin.post("/logout")
    home = client.get("/").get_data(as_text=True)
    css = client.get(re.search(r'href="(/design-[0-9a-f]+\.css)"', home).group(1)).get_data(
        as_text=True
    )
    assert "--font-heading: Seravek," in css and '--font-text: "Iowan Old Style",' in css
    assert "url(" not in css and "@font-face" not in css


@pytest.mark.parametrize("page", ["/admin/settings/design", "/admin/settings/menus"])
@pytest.mark.parametrize("who", ["editor", "author"])
def test_only_admins_reach_design_and_menus(app, client, auth, page, who):
    auth.login(who)
    assert client.get(page).status_code == 403
    assert client.post(page, data={"accent_light": "#000000"}).status_code == 403


def test_a_design_save_from_a_stale_page_is_refused(app, admin):
    stale = design_form(admin, accent_light="#1a5fb4")
    admin.post("/admin/settings/design", data=design_form(admin, accent_light="#7a1f5c"))
    response = admin.post("/admin/settings/design", data=stale)
    assert response.status_code == 409
    assert "another admin changed these settings" in response.get_data(as_text=True)
    with app.app_context():
        assert get_settings()["accent_light"] == "#7a1f5c"


def test_saving_the_design_does_not_make_the_general_settings_page_stale(app, admin):
    general = {"site_title": "Harbour", "posts_per_page": "10", "timezone": "UTC",
               "comment_moderation": "first_time", "comments_close_days": "60",
               "comment_max_links": "2"}  # fmt: skip
    general.update(shown_by(admin, "/admin/settings"))
    admin.post("/admin/settings/design", data=design_form(admin, accent_light="#7a1f5c"))
    assert admin.post("/admin/settings", data=general).status_code == 302


# Logo and site icon ----------------------------------------------------------------------------


def test_logos_go_through_the_media_pipeline_and_show_in_the_header(app, admin, client):
    data = design_form(admin)
    data["logo"] = (io.BytesIO(png((400, 100))), "logo.png")
    data["logo_dark"] = (io.BytesIO(png((400, 100), (240, 240, 240, 255))), "logo-dark.png")
    response = admin.post("/admin/settings/design", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        settings = get_settings()
        light = db.session.get(Media, settings["logo_media_id"])
        dark = db.session.get(Media, settings["logo_dark_media_id"])
        assert (light.original_name, dark.original_name) == ("logo.png", "logo-dark.png")
    admin.post("/logout")
    home = client.get("/").get_data(as_text=True)
    header = home[home.index('<header class="site-header">') : home.index("</header>")]
    assert (
        f'<source srcset="/media/{dark.filename} 400w" media="(prefers-color-scheme: dark)">'
        in header
    )
    assert f'src="/media/{light.filename}"' in header
    assert 'alt="My Blog"' in header


def test_an_svg_logo_is_refused_by_the_media_checks(app, admin):
    data = design_form(admin)
    data["logo"] = (io.BytesIO(b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'), "x.svg")
    response = admin.post("/admin/settings/design", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "SVG images are not accepted" in response.get_data(as_text=True)
    with app.app_context():
        assert get_settings()["logo_media_id"] is None
        assert db.session.scalar(db.select(db.func.count(Media.id))) == 0


def test_the_site_icon_becomes_a_favicon_and_a_touch_icon(app, admin, client):
    data = design_form(admin)
    data["icon"] = (io.BytesIO(png((512, 512), (0, 0, 0, 0))), "icon.png")  # transparent
    response = admin.post("/admin/settings/design", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    with app.app_context():
        settings = get_settings()
    admin.post("/logout")
    head = client.get("/").get_data(as_text=True).split("</head>")[0]
    favicon_url = f"/media/{settings['favicon_file']}"
    touch_url = f"/media/{settings['touch_icon_file']}"
    assert f'<link rel="icon" href="{favicon_url}" type="image/png" sizes="32x32">' in head
    assert f'<link rel="apple-touch-icon" href="{touch_url}" sizes="180x180">' in head
    assert "favicon.svg" not in head
    for url, size, mode in ((favicon_url, 32, "RGBA"), (touch_url, 180, "RGB")):
        response = fetch(client, url)
        assert response.mimetype == "image/png"
        assert "immutable" in response.headers["Cache-Control"]
        with Image.open(io.BytesIO(response.data)) as icon:
            assert (icon.format, icon.size, icon.mode) == ("PNG", (size, size), mode)
            if mode == "RGB":  # iOS would show transparency as black: put on white
                assert icon.getpixel((90, 90)) == (255, 255, 255)
    ico = fetch(client, "/favicon.ico")
    assert ico.status_code == 200 and ico.mimetype == "image/png"
    assert ico.headers["Cache-Control"] == "public, max-age=86400"
    assert ico.data == fetch(client, favicon_url).data


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((300, 200), "The icon must be square; this image is 300 × 200 pixels."),
        ((64, 64), "at least 180 × 180 pixels; this image is 64 × 64."),
    ],
)
def test_an_icon_that_is_not_square_or_too_small_is_refused(app, admin, size, message):
    data = design_form(admin)
    data["icon"] = (io.BytesIO(png(size)), "icon.png")
    response = admin.post("/admin/settings/design", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert get_settings()["favicon_file"] == ""
        assert db.session.scalar(db.select(db.func.count(Media.id))) == 0
    uploads = Path(app.config["UPLOAD_FOLDER"])
    assert not uploads.exists() or list(uploads.iterdir()) == []


def test_a_new_icon_replaces_the_old_files(app, admin, client):
    for colour in ((10, 10, 10, 255), (200, 200, 200, 255)):
        data = design_form(admin)
        data["icon"] = (io.BytesIO(png((200, 200), colour)), "icon.png")
        admin.post("/admin/settings/design", data=data, content_type="multipart/form-data")
        with app.app_context():
            settings = get_settings()
        if colour[0] == 10:
            first = settings["favicon_file"]
    assert settings["favicon_file"] != first
    assert fetch(client, f"/media/{first}").status_code == 404
    assert fetch(client, f"/media/{settings['favicon_file']}").status_code == 200


def test_without_an_icon_favicon_ico_is_not_found(app, client, users):
    assert client.get("/favicon.ico").status_code == 404


# Menus -----------------------------------------------------------------------------------------


def header_nav(html: str) -> str:
    start = html.index('<nav class="site-nav"')
    return html[start : html.index("</nav>", start)]


def test_a_two_level_header_menu_replaces_the_categories_in_its_order(app, admin, client):
    with app.app_context():
        create_category("Weather")
        db.session.commit()
    assert "Weather" in header_nav(client.get("/").get_data(as_text=True))
    rows = [
        ("Contact", "/contact/", 30),
        ("Sections", "", 10),
        ("Harbour", "/category/harbour/", 11, True),
        ("Town", "/category/town/", 12, True),
        ("Archive", "https://archive.example.org/2020/", 20),
    ]
    response = admin.post("/admin/settings/menus", data=menu_form(admin, header=rows))
    assert response.status_code == 303
    with app.app_context():
        assert get_settings()["header_menu"] == [
            {
                "label": "Sections",
                "url": "",
                "children": [
                    {"label": "Harbour", "url": "/category/harbour/", "children": []},
                    {"label": "Town", "url": "/category/town/", "children": []},
                ],
            },
            {"label": "Archive", "url": "https://archive.example.org/2020/", "children": []},
            {"label": "Contact", "url": "/contact/", "children": []},
        ]
    admin.post("/logout")
    nav = header_nav(client.get("/").get_data(as_text=True))
    assert "Weather" not in nav
    labels = re.findall(r"<(?:a href=\"[^\"]*\"|summary)>([^<]+)<", nav)
    assert labels == ["Sections", "Harbour", "Town", "Archive", "Contact"]
    assert nav.index("<details>") < nav.index("Harbour") < nav.index("</details>")


def test_the_editor_shows_the_stored_menu_again(app, admin):
    rows = [("News", "/category/news/", 1), ("Local", "/category/local/", 2, True)]
    admin.post("/admin/settings/menus", data=menu_form(admin, header=rows))
    html = admin.get("/admin/settings/menus").get_data(as_text=True)
    assert 'name="header-0-label" type="text" value="News"' in html
    assert re.search(r'name="header-1-sub"[^>]*checked|checked[^>]*name="header-1-sub"', html)
    assert 'name="header-6-label"' in html and 'name="header-7-label"' not in html  # 5 blank


@pytest.mark.parametrize(
    "address",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "&#106;avascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox",
        "mailto:someone@example.com",
        "//evil.example/",
        "/\\evil.example/",
        "http://",
        "https:///path",
        "about/",
        "/a b",
        "/\u200bx",
        '/x" onmouseover="alert(1)',
    ],
)
def test_hostile_menu_addresses_are_refused(app, admin, client, address):
    response = admin.post(
        "/admin/settings/menus", data=menu_form(admin, header=[("Click", address, 1)])
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was saved" in page
    assert "Use an address starting with" in page or "invisible characters" in page
    with app.app_context():
        assert get_settings()["header_menu"] == []


@pytest.mark.parametrize(
    "address", ["https://example.org/x?y=1#z", "http://example.org", "/", "/about/"]
)
def test_web_and_site_addresses_are_accepted(app, admin, address):
    response = admin.post(
        "/admin/settings/menus", data=menu_form(admin, footer=[("Go", address, 1)])
    )
    assert response.status_code == 303


def test_menu_labels_are_escaped(app, admin, client):
    label = '<script>alert("x")</script>'
    admin.post("/admin/settings/menus", data=menu_form(admin, header=[(label, "/x/", 1)]))
    admin.post("/logout")
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("Orphan", "/o/", 1, True)], "A sub-item needs a top-level item above it."),
        ([("", "/o/", 1)], "Give this item a label."),
        ([("Heading only", "", 1)], "Give this item an address."),
        ([("x" * 61, "/o/", 1)], "Keep the label under 60 characters."),
    ],
)
def test_menu_rows_that_make_no_sense_are_refused(app, admin, rows, message):
    response = admin.post("/admin/settings/menus", data=menu_form(admin, header=rows))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_footer_menu_replaces_the_default_footer_links(app, admin, client):
    rows = [("Imprint", "/imprint/", 2), ("Contact", "/contact/", 1)]
    assert (
        admin.post("/admin/settings/menus", data=menu_form(admin, footer=rows)).status_code == 303
    )
    admin.post("/logout")
    html = client.get("/").get_data(as_text=True)
    footer = html[html.index('<nav aria-label="Footer">') :]
    assert footer.index("Contact") < footer.index("Imprint")
    assert "RSS feed" not in footer and "Sign in" in footer


def test_the_footer_menu_has_one_level():
    result = menus.check_rows([menus.Row("A", "/a/", 1), menus.Row("B", "/b/", 2, True)], 1)
    assert result.items == [
        {"label": "A", "url": "/a/", "children": []},
        {"label": "B", "url": "/b/", "children": []},
    ]


def test_a_stored_menu_with_a_bad_address_is_not_shown():
    stored = [{"label": "x", "url": "javascript:alert(1)"}, {"label": "ok", "url": "/ok/"}]
    assert menus.readable(stored) == [{"label": "ok", "url": "/ok/", "children": []}]


def test_a_menu_save_from_a_stale_page_is_refused(app, admin):
    stale = menu_form(admin, header=[("Old", "/old/", 1)])
    admin.post("/admin/settings/menus", data=menu_form(admin, header=[("New", "/new/", 1)]))
    response = admin.post("/admin/settings/menus", data=stale)
    assert response.status_code == 409
    with app.app_context():
        assert get_settings()["header_menu"][0]["label"] == "New"


def test_a_menu_save_without_a_fingerprint_is_refused(app, admin):
    data = menu_form(admin, header=[("New", "/new/", 1)])
    del data["shown"]
    response = admin.post("/admin/settings/menus", data=data)
    assert response.status_code == 400
    assert "did not say which settings it showed" in response.get_data(as_text=True)


def test_the_minified_stylesheet_pages_link_is_made_from_site_css():
    """Pages link site.min.css; a change to site.css needs `scripts/minify_css.py` run."""
    import runpy

    minify = runpy.run_path(str(REPO / "scripts" / "minify_css.py"))
    css = REPO / "static" / "css"
    expected = minify["minified"]((css / "site.css").read_text(encoding="utf-8"))
    assert (css / "site.min.css").read_text(encoding="utf-8") == expected, (
        "static/css/site.min.css is out of date: run .venv/bin/python scripts/minify_css.py"
    )

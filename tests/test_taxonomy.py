"""Categories and tags: the service rules, the admin pages and the editor's suggestions."""

import pytest
from sqlalchemy import event, func, select

from blog import taxonomy
from blog.extensions import db
from blog.models import Category, Post, Tag, post_tag
from blog.taxonomy import TaxonomyError
from tests.conftest import PASSWORD, csrf_token_from, shown_by


def add_post(users, number: int, *, category=None, tags=()) -> Post:
    post = Post(
        title=f"Post {number}",
        slug=f"post-{number}",
        author_id=users["author"]["id"],
        category=category,
        tags=list(tags),
    )
    db.session.add(post)
    return post


def tag_rows() -> list[tuple[int, int]]:
    return sorted(db.session.execute(select(post_tag.c.post_id, post_tag.c.tag_id)).all())


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def things(app, users):
    """Two categories and two tags; "News" and "python" each have one post."""
    with app.app_context():
        news = taxonomy.create_category("News")
        notes = taxonomy.create_category("Notes")
        python, web = taxonomy.get_or_create_tags(["python", "web"])
        add_post(users, 1, category=news, tags=[python])
        db.session.commit()
        return {"news": news.id, "notes": notes.id, "python": python.id, "web": web.id}


# Parsing tag entries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        (" , ,, ", []),
        ("python", ["python"]),
        ("  Web   Dev , python,PYTHON, web dev", ["Web Dev", "python"]),
        ("a\x00b, tab\tbed\n, \x07", ["ab", "tab bed"]),
        ("Cafe\u0301, café", ["Café"]),  # decomposed and composed forms are one name
        ("Ёлка, ЁЛКА, ёлка", ["Ёлка"]),
        ("x" * 60, ["x" * 60]),
        (",".join(f"t{n}" for n in range(20)) + ", T0", [f"t{n}" for n in range(20)]),
    ],
)
def test_parse_tag_names(raw, expected):
    assert taxonomy.parse_tag_names(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [("x" * 61, "at most 60 characters"), (",".join(map(str, range(21))), "at most 20 tags")],
)
def test_parse_tag_names_refuses_rather_than_dropping(raw, message):
    with pytest.raises(TaxonomyError, match=message) as caught:
        taxonomy.parse_tag_names(raw)
    assert caught.value.field == "tags"


# Tags ---------------------------------------------------------------------------------------


def test_tags_are_reused_ignoring_case_and_created_with_unique_slugs(ctx):
    first = taxonomy.get_or_create_tags(["Café", "Ёлка", "東京", "Machine Learning"])
    db.session.commit()
    assert [tag.slug for tag in first] == ["cafe", "ёлка", "東京", "machine-learning"]

    again = taxonomy.get_or_create_tags(["CAFÉ", "ёЛКА", "machine-learning", "Cafe!", "café"])
    db.session.commit()
    assert [tag.id for tag in again[:3]] == [first[0].id, first[1].id, first[3].id]
    assert (again[3].name, again[3].slug) == ("Cafe!", "cafe-2")
    assert len(again) == 4  # "café" repeats "CAFÉ"
    assert db.session.scalar(select(func.count(Tag.id))) == 5


def test_tag_suggestions_come_most_used_first(ctx, users):
    python, pytest_tag, pillow, ruby = taxonomy.get_or_create_tags(
        ["Python", "pytest", "Pillow", "Ruby"]
    )
    add_post(users, 1, tags=[pytest_tag, python])
    add_post(users, 2, tags=[pytest_tag])
    db.session.commit()
    assert taxonomy.tag_suggestions("p") == ["pytest", "Python", "Pillow"]
    assert taxonomy.tag_suggestions("PY", limit=1) == ["pytest"]
    assert taxonomy.tag_suggestions()[:2] == ["pytest", "Python"]
    assert taxonomy.tag_suggestions("%") == []  # LIKE wildcards are taken literally


def test_merging_tags_leaves_no_duplicate_rows(ctx, users):
    source, target, other = taxonomy.get_or_create_tags(["js", "JavaScript", "web"])
    both = add_post(users, 1, tags=[source, target])
    only_source = add_post(users, 2, tags=[source, other])
    only_target = add_post(users, 3, tags=[target])
    db.session.commit()
    ids = (both.id, only_source.id, only_target.id, target.id, other.id)

    taxonomy.merge_tags(source, target)
    db.session.commit()

    both_id, source_id, target_id, kept, web = ids
    assert tag_rows() == sorted(
        [(both_id, kept), (source_id, kept), (source_id, web), (target_id, kept)]
    )
    assert db.session.scalars(select(Tag.name).order_by(Tag.name)).all() == ["JavaScript", "web"]
    assert [tag.name for tag in db.session.get(Post, source_id).tags] == ["JavaScript", "web"]


def test_tag_rules(ctx):
    python, web = taxonomy.get_or_create_tags(["python", "web"])
    db.session.flush()
    with pytest.raises(TaxonomyError, match="already a tag named “web”"):
        taxonomy.rename_tag(python, " WEB ", "")
    with pytest.raises(TaxonomyError, match="already uses the slug “web”"):
        taxonomy.rename_tag(python, "Python", "Web")
    with pytest.raises(TaxonomyError, match="cannot be merged into itself"):
        taxonomy.merge_tags(web, web)
    taxonomy.rename_tag(python, "Python 3", "")
    assert (python.name, python.slug) == ("Python 3", "python-3")


# Categories ---------------------------------------------------------------------------------


def test_category_names_are_unique_ignoring_case(ctx):
    news = taxonomy.create_category("Été")
    db.session.commit()
    for name in ("ÉTÉ", " été "):
        with pytest.raises(TaxonomyError, match="already a category named “Été”") as caught:
            taxonomy.create_category(name)
        assert caught.value.field == "name"
    with pytest.raises(TaxonomyError, match="name is required"):
        taxonomy.create_category(" \x00 ")
    with pytest.raises(TaxonomyError, match="at most 120"):
        taxonomy.create_category("x" * 121)
    taxonomy.update_category(news, "été", "", "", None)  # its own name, in another case
    assert news.slug == "ete"


def test_category_slugs_are_cleaned_and_checked(ctx):
    first = taxonomy.create_category("First")
    second = taxonomy.create_category("Second", "About things.")
    db.session.flush()
    with pytest.raises(TaxonomyError, match="already uses the slug “first”"):
        taxonomy.update_category(second, "Second", "FIRST", "", None)
    with pytest.raises(TaxonomyError, match="at least one letter or digit") as caught:
        taxonomy.update_category(second, "Second", "!!!", "", None)
    assert caught.value.field == "slug"
    taxonomy.update_category(second, "Second", "Zweite Kategorie", " Text ", 0)
    assert (second.slug, second.description, second.position) == ("zweite-kategorie", "Text", 0)
    assert taxonomy.categories_in_order() == [second, first]  # position 0 before 1


def test_deleting_a_category_moves_or_releases_its_posts(ctx, users):
    news, notes, misc = (taxonomy.create_category(name) for name in ("News", "Notes", "Misc"))
    posts = [add_post(users, n, category=news if n < 3 else notes) for n in range(4)]
    db.session.commit()
    post_ids, notes_id = [post.id for post in posts], notes.id

    assert taxonomy.merge_categories(news, notes) == 3
    assert taxonomy.delete_category(misc, None) == 0
    db.session.commit()
    assert {db.session.get(Post, pid).category_id for pid in post_ids} == {notes_id}

    assert taxonomy.delete_category(notes, None) == 4
    db.session.commit()
    assert db.session.scalars(select(Post.category_id)).all() == [None] * 4
    assert db.session.scalar(select(func.count(Category.id))) == 0


# Pages --------------------------------------------------------------------------------------

MANAGEMENT_ROUTES = [
    ("GET", "/admin/categories/"),
    ("POST", "/admin/categories/"),
    ("GET", "/admin/categories/{news}"),
    ("POST", "/admin/categories/{news}"),
    ("GET", "/admin/categories/{news}/delete"),
    ("POST", "/admin/categories/{news}/delete"),
    ("GET", "/admin/tags/"),
    ("GET", "/admin/tags/{python}"),
    ("POST", "/admin/tags/{python}"),
    ("POST", "/admin/tags/{python}/merge"),
    ("GET", "/admin/tags/{python}/delete"),
    ("POST", "/admin/tags/{python}/delete"),
]
FORM = {"name": "Changed", "slug": "", "description": "", "move_to": "", "target": "{web}"}


def _call(client, things, method, path):
    data = {key: value.format(**things) for key, value in FORM.items()}
    return client.open(path.format(**things), method=method, data=data)


@pytest.mark.parametrize("section", ["categories", "tags"])
def test_authors_may_not_manage_categories_or_tags(app, client, auth, things, section):
    auth.login("author")
    routes = [(method, path) for method, path in MANAGEMENT_ROUTES if section in path]
    for method, path in routes:
        assert _call(client, things, method, path).status_code == 403, (method, path)
    with app.app_context():
        assert db.session.scalar(select(func.count(Category.id))) == 2
        assert db.session.scalars(select(Tag.name).order_by(Tag.name)).all() == ["python", "web"]
        assert db.session.get(Category, things["news"]).name == "News"


@pytest.mark.parametrize(
    ("method", "path"), [*MANAGEMENT_ROUTES[::3], ("GET", "/admin/tags/suggest.json")]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, users, method, path):
    response = _call(client, {"news": 1, "python": 1, "web": 2}, method, path)
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_editor_adds_edits_and_lists_categories(app, client, auth, things):
    auth.login("editor")
    page = client.get("/admin/categories/").data.decode()
    assert "News" in page and f'data-posts="{things["news"]}">1<' in page

    response = client.post("/admin/categories/", data={"name": " Reviews ", "description": "x"})
    assert response.status_code == 303
    assert "Category “Reviews” is added." in client.get("/admin/categories/").data.decode()

    url = f"/admin/categories/{things['notes']}"
    assert 'value="Notes"' in client.get(url).data.decode()
    form = {"name": "Field notes", "slug": "", "description": "Short ones", "position": "-1"}
    assert client.post(url, data={**form, **shown_by(client, url)}).status_code == 303
    page = client.get("/admin/categories/").data.decode()
    assert page.index(">Field notes<") < page.index(">News<")  # position -1 comes first
    assert "<code>field-notes</code>" in page


def test_a_duplicate_name_is_refused_and_the_input_kept(client, auth, things):
    auth.login("editor")
    response = client.post("/admin/categories/", data={"name": "NEWS", "description": "Mine"})
    assert response.status_code == 400
    page = response.data.decode()
    assert "There is already a category named “News”." in page
    assert 'value="NEWS"' in page and "Mine</textarea>" in page

    form = {"name": "Notes", "slug": "my-own", "description": "kept", "position": "7"}
    url = f"/admin/categories/{things['news']}"
    response = client.post(url, data={**form, **shown_by(client, url)})
    assert response.status_code == 400
    page = response.data.decode()
    assert "There is already a category named “Notes”." in page
    assert 'value="my-own"' in page and 'value="7"' in page and "kept</textarea>" in page


def test_editor_deletes_a_category_moving_its_posts(app, client, auth, things):
    auth.login("editor")
    url = f"/admin/categories/{things['news']}/delete"
    page = client.get(url).data.decode()
    assert "1 post is in this category" in page and "No category" in page
    response = client.post(url, data={"move_to": str(things["notes"])})
    assert response.status_code == 303
    assert "1 post moved to Notes" in client.get("/admin/categories/").data.decode()
    with app.app_context():
        assert db.session.scalars(select(Post.category_id)).all() == [things["notes"]]
        assert db.session.get(Category, things["news"]) is None
    bad = client.post(f"/admin/categories/{things['notes']}/delete", data={"move_to": "999"})
    assert bad.status_code == 400  # not one of the choices; nothing deleted


def test_editor_lists_renames_merges_and_deletes_tags(app, client, auth, things):
    auth.login("editor")
    page = client.get("/admin/tags/").data.decode()
    assert (
        f'data-posts="{things["python"]}">1<' in page and f'data-posts="{things["web"]}">0<' in page
    )

    url = f"/admin/tags/{things['python']}"
    response = client.post(url, data={"name": "WEB", "slug": "py"})
    assert response.status_code == 400
    assert "There is already a tag named “web”." in response.data.decode()
    assert client.post(url, data={"name": "Python", "slug": "py"}).status_code == 303
    assert "<code>py</code>" in client.get("/admin/tags/").data.decode()

    refused = client.post(f"{url}/merge", data={"target": ""})
    assert refused.status_code == 400 and "Choose the tag to keep." in refused.text
    response = client.post(f"{url}/merge", data={"target": str(things["web"])})
    assert response.status_code == 303
    assert "Tag “Python” is merged into “web”." in client.get(response.location).data.decode()

    delete_url = f"/admin/tags/{things['web']}/delete"
    assert "1 post will lose this tag" in client.get(delete_url).data.decode()
    assert client.post(delete_url).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count(Tag.id))) == 0
        assert tag_rows() == []


def test_list_pages_use_one_grouped_query(app, client, auth, things, users):
    with app.app_context():
        for number in range(2, 8):
            category = taxonomy.create_category(f"Extra {number}")
            add_post(
                users, number, category=category, tags=taxonomy.get_or_create_tags([f"t{number}"])
            )
        db.session.commit()
    auth.login("editor")
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            for path in ("/admin/categories/", "/admin/tags/"):
                statements.clear()
                assert client.get(path).status_code == 200
                # user, settings, rows (+ count), and the menu's count of waiting comments
                assert len(statements) <= 5, statements
        finally:
            event.remove(db.engine, "before_cursor_execute", record)


def test_authors_get_tag_suggestions(client, auth, things):
    auth.login("author")
    response = client.get("/admin/tags/suggest.json?q=PY")
    assert response.status_code == 200
    assert response.get_json() == {"tags": ["python"]}
    assert client.get("/admin/tags/suggest.json").get_json() == {"tags": ["python", "web"]}


def test_forms_need_a_csrf_token(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    login = {"email": users["editor"]["email"], "password": PASSWORD}
    client.post("/login", data={**login, "csrf_token": csrf_token_from(client.get("/login").text)})
    refused = client.post("/admin/categories/", data={"name": "No token"})
    assert refused.status_code == 400
    token = csrf_token_from(client.get("/admin/categories/").text)
    added = client.post("/admin/categories/", data={"name": "Token", "csrf_token": token})
    assert added.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Category.name)).all() == ["Token"]

"""Full-text search (blog.search, /search, `flask search rebuild`) on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
import time_machine
from flask_migrate import downgrade, stamp, upgrade
from sqlalchemy import event, select, text

from blog import generation
from blog import search as search_index
from blog.cli.search import search as search_command
from blog.extensions import db
from blog.models import Post, PostKind, User, utcnow
from blog.posts import Action, PostInput, change_status, restore_from_trash, save_post, trash
from blog.search import clean_query, fts5_query, search
from tests.conftest import create_schema

HOSTILE_QUERIES = [
    "'", '"', ";", "--", "%", "_", "\\", "\x00", "wombat\x00", "'; DROP TABLE post; --",
    "' OR 1=1 --", '"unterminated', "a\"b'c", "*", "**", "wombat*", "*wombat", "\"wombat\" *",
    "NEAR(wombat numbat)", "title:wombat", "wombat OR", "AND", "NOT wombat", "-wombat", "^wombat",
    "(wombat", ")(", "{wombat}", "wombat:", "100%_\\", "\ue000wombat\ue001", "\ud800",
    "<script>alert(1)</script>", "🦘 wombat", "مرحبا", "\u0301", "x" * 10_000,
    "wombat " * 2_000, "\n\t\r", "   ",
]  # fmt: skip


@pytest.fixture
def author_id(users):
    return users["author"]["id"]


def add_post(author_id, title, body="", excerpt="", action=Action.PUBLISH, publish_at=None):
    """Save a new post as the editor would, commit, and return its id."""
    author = db.session.get(User, author_id)
    data = PostInput(title=title, body_md=body, excerpt=excerpt)
    post = save_post(None, data, author, action=action, publish_at=publish_at)
    db.session.commit()
    return post.id


def edit_post(post_id, author_id, **changes):
    post = db.session.get(Post, post_id)
    fields = {"title": post.title, "body_md": post.body_md, "excerpt": post.excerpt} | changes
    save_post(post, PostInput(**fields), db.session.get(User, author_id))
    db.session.commit()


def found(query: str) -> list[str]:
    """Titles of the posts the query finds, best first (first page of 50)."""
    return [post.title for post, _snippet in search(query, 1, per_page=50).items]


def assert_index_consistent() -> None:
    """On SQLite, FTS5 checks its index against the `post` table (the triggers' work)."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(
            text("INSERT INTO post_fts(post_fts, rank) VALUES ('integrity-check', 1)")
        )


# Pure helpers ------------------------------------------------------------------------------


def test_clean_query_drops_control_characters_and_caps_length():
    assert clean_query("  wom\x00bat \t numbat\n") == "wombat numbat"
    assert clean_query("\ue000x\ue001 \ud800") == "x"
    assert len(clean_query("y" * 10_000)) == 200


def test_fts5_query_quotes_every_term_and_drops_wordless_ones():
    assert fts5_query('wombat "quoted" NEAR(a) pre* -- ; %') == (
        '"wombat" AND """quoted""" AND "NEAR(a)" AND "pre" *'
    )
    assert fts5_query("-- ; '") == ""


def test_snippet_html_escapes_text_and_keeps_only_balanced_marks():
    html = search_index._snippet_html("<b>x</b> \ue000hit\ue001 & \ue001stray\ue000 \ue000")
    assert html == "&lt;b&gt;x&lt;/b&gt; <mark>hit</mark> &amp; stray "


def test_is_search_object_names_only_the_search_objects():
    assert search_index.is_search_object("post_fts", "table")
    assert search_index.is_search_object("post_fts_data", "table")
    assert search_index.is_search_object("ix_post_search", "index")  # before 0006
    assert search_index.is_search_object("ix_post_search_document", "index")
    assert search_index.is_search_object("ix_post_search_public", "index")
    assert search_index.is_search_object("search_document", "column")
    assert not search_index.is_search_object("title", "column")
    assert not search_index.is_search_object("post", "table")
    assert not search_index.is_search_object("ix_post_listing", "index")


# On both databases ---------------------------------------------------------------------------


def test_title_match_outranks_excerpt_and_body_matches(app, author_id):
    with app.app_context():
        add_post(author_id, "Garden notes", body="Once I saw a wombat near the fence.")
        add_post(author_id, "Wombat burrows", body="How they dig, and why.")
        add_post(author_id, "Night walks", excerpt="A wombat, briefly.", body="Dark paths.")
        add_post(author_id, "Unrelated", body="Nothing about marsupials here.")
        assert found("wombat") == ["Wombat burrows", "Night walks", "Garden notes"]
        assert found("WOMBAT fence") == ["Garden notes"]  # every term must match


def test_snippet_marks_matches_and_escapes_the_posts_text(app, author_id, client):
    body = 'Beware `<script>alert(1)</script>` and `fish & "chips" <3` near the wombat.'
    with app.app_context():
        add_post(author_id, "Safety", body=body)
        [(post, snippet)] = search("wombat", 1).items
        on_sqlite = db.engine.dialect.name == "sqlite"
    assert "<mark>wombat</mark>" in snippet
    assert "fish &amp; &quot;chips&quot; &lt;3" in snippet
    assert "<script>" not in snippet
    if on_sqlite:  # PostgreSQL's ts_headline leaves out what looks like an HTML tag
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in snippet
    page = client.get("/search?q=wombat").get_data(as_text=True)
    assert "<mark>wombat</mark>" in page and "<script>alert(1)" not in page


def test_snippet_marks_a_match_deep_in_a_long_post(app, author_id):
    """PostgreSQL gives ts_headline a window of the body around the first match."""
    body = "Filler words about nothing much. " * 400 + "At last a Wombat appears, then more. "
    with app.app_context():
        add_post(author_id, "Long walk", body=body + "Filler words again. " * 100)
        [(_post, snippet)] = search("wombat", 1).items
        [(_post, quoted)] = search('"Wombat" appears', 1).items
    assert "<mark>Wombat</mark>" in snippet and "<mark>Wombat</mark>" in quoted


def test_a_result_shows_its_date_and_without_a_body_its_summary(app, author_id, client):
    with app.app_context():
        with time_machine.travel(utcnow() - timedelta(days=40)):
            add_post(author_id, "Kultarr", excerpt="A hopping mouse of the inland.")
        add_post(author_id, "Kultarr notes", body="The kultarr hops on long legs.")
        dates = [
            post.published_at.strftime("%-d %B %Y") for post in db.session.scalars(select(Post))
        ]
    page = client.get("/search?q=kultarr").get_data(as_text=True)
    assert "A hopping mouse of the inland." in page  # the summary stands in for a snippet
    assert "<mark>kultarr</mark> hops on long legs" in page
    assert len(set(dates)) == 2 and all(f">{date}</time>" in page for date in dates)


def test_only_public_posts_are_found(app, author_id):
    with app.app_context():
        add_post(author_id, "Published quokka")
        add_post(author_id, "Draft quokka", action=Action.SAVE)
        soon = utcnow() + timedelta(days=1)
        add_post(author_id, "Scheduled quokka", action=Action.SCHEDULE, publish_at=soon)
        trash(db.session.get(Post, add_post(author_id, "Trashed quokka")))
        db.session.commit()
        assert found("quokka") == ["Published quokka"]
        with time_machine.travel(soon + timedelta(minutes=1)):
            assert sorted(found("quokka")) == ["Published quokka", "Scheduled quokka"]


def test_index_follows_edits_unpublish_trash_and_delete(app, author_id):
    with app.app_context():
        post_id = add_post(author_id, "Animals", body="An aardvark at dawn.")
        edit_post(post_id, author_id, body_md="A pangolin at dusk.")
        assert found("aardvark") == [] and found("pangolin") == ["Animals"]
        edit_post(post_id, author_id, title="Scaly friends")
        assert found("scaly") == ["Scaly friends"] and found("animals") == []
        assert_index_consistent()

        post = db.session.get(Post, post_id)
        change_status(post, db.session.get(User, author_id), Action.UNPUBLISH)
        db.session.commit()
        assert found("pangolin") == []
        change_status(post, db.session.get(User, author_id), Action.PUBLISH)
        trash(post)
        db.session.commit()
        assert found("pangolin") == []
        restore_from_trash(post)
        db.session.commit()
        assert found("pangolin") == ["Scaly friends"]

        db.session.delete(post)
        db.session.commit()
        assert found("pangolin") == [] and found("scaly") == []
        assert_index_consistent()


def test_unicode_and_diacritics(app, author_id):
    with app.app_context():
        add_post(author_id, "Café culture", body="Crème brûlée in Zürich. Αθήνα τη νύχτα.")
        assert found("café") == ["Café culture"]
        assert found("CAFÉ zürich") == ["Café culture"]
        assert found("αθήνα") == ["Café culture"]
        if db.engine.dialect.name == "sqlite":  # the 'simple' configuration keeps accents
            assert found("cafe") == ["Café culture"]
            assert found("creme brulee zurich") == ["Café culture"]


def test_hostile_queries_never_fail(app, author_id, client):
    with app.app_context():
        add_post(author_id, "Wombat facts", body="A wombat's burrow; 100% true_fact \\o/")
        for query in HOSTILE_QUERIES:
            assert isinstance(search(query, 1).total, int), query
    for query in HOSTILE_QUERIES:
        if query == "\ud800":
            continue  # not encodable in a URL; covered by the direct call above
        response = client.get("/search", query_string={"q": query})
        expected = 400 if "\x00" in query else 200  # NUL is refused before any view
        assert response.status_code == expected, repr(query[:40])
    assert client.get("/search?q=%ED%A0%80%FF%00").status_code == 400  # not UTF-8: refused
    page = client.get("/search", query_string={"q": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in page.get_data(as_text=True)


def test_prefix_search(app, author_id):
    with app.app_context():
        add_post(author_id, "Wombats", body="Burrowing marsupials.")
        if db.engine.dialect.name == "sqlite":
            assert found("marsup*") == ["Wombats"]
        assert found("marsupials*") == ["Wombats"]  # on PostgreSQL the * is ignored


def test_every_word_is_required_and_none_is_an_operator_on_either_engine(app, author_id):
    """Both engines read a query the same way: each word required, whatever surrounds it.
    Quotes, "or" and a leading "-" are not operators (PostgreSQL's websearch syntax made them
    ones, and made quoted or joined words a phrase, whose position check read the stored vector
    of every candidate post: 15.5 s for `harbour_tide` at 100,000 posts)."""
    with app.app_context():
        add_post(author_id, "Apart", body="The tide turned before we reached the harbour.")
        add_post(author_id, "Together", body="A harbour tide chart.")
        add_post(author_id, "Harbour only", body="No water movement here.")
        assert sorted(found('"harbour tide"')) == ["Apart", "Together"]
        assert sorted(found("tide or chart")) == []  # "or" is a word, found in neither
        assert sorted(found("harbour -tide")) == ["Apart", "Together"]  # "-" is no NOT
        joined = found("harbour_tide")
        if db.engine.dialect.name == "postgresql":
            assert sorted(joined) == ["Apart", "Together"]  # two words, anywhere
        else:
            assert joined == ["Together"]  # FTS5 keeps positions in its index: a phrase
        if db.engine.dialect.name == "postgresql":
            tsquery = db.session.scalar(
                select(search_index._PostgreSQL._tsquery('"harbour tide" harbour_tide'))
            )
            assert "<->" not in str(tsquery), tsquery  # no positional check, ever


PLACES = "Ashby Bream Cobb Dunmore Elkin Fennell Gowrie Hazel Inglis".split()


def test_each_result_on_a_page_has_its_own_snippet_among_other_matches(app, author_id):
    """Snippets are read over the page's id range: matches between the page's posts (here on
    another page) must not lend them their text, and a prefix query marks each post's word."""
    with app.app_context():
        for number in range(9):
            title = f"Numbat {number}" if number % 3 == 0 else f"Note {number}"
            add_post(author_id, title, body=f"At {PLACES[number]} we saw a numbat.")
        titles = {"Numbat 0", "Numbat 3", "Numbat 6"}  # title matches rank first
        prefix = ["numb*"] if db.engine.dialect.name == "sqlite" else []  # PostgreSQL: no *
        for query in ["numbat", *prefix]:
            items = search(query, 1, per_page=3).items
            assert {post.title for post, _ in items} == titles, query
            for post, snippet in items:
                place = PLACES[int(post.title.split()[1])]
                assert place in snippet and "<mark>numbat</mark>" in snippet, (query, snippet)


def test_the_menu_shows_a_page_published_after_it_was_read(app, author_id, client):
    """The menu's pages are remembered between requests until the site changes."""
    with app.app_context():
        add_post(author_id, "Anything")
    assert ">Opening hours<" not in client.get("/search?q=x").get_data(as_text=True)
    with app.app_context():
        author = db.session.get(User, author_id)
        data = PostInput(title="Opening hours", body_md="Nine to five.", kind=PostKind.PAGE)
        save_post(None, data, author, action=Action.PUBLISH)
        db.session.commit()
    assert ">Opening hours<" in client.get("/search?q=y").get_data(as_text=True)


def test_empty_and_wordless_queries_find_nothing(app, author_id):
    with app.app_context():
        add_post(author_id, "Anything")
        for query in ["", "   ", "--", "*", "'\";"]:
            page = search(query, 1)
            assert (page.items, page.total, page.pages) == ([], 0, 1)


def test_pagination_boundaries(app, author_id, client):
    with app.app_context():
        for number in range(12):
            add_post(author_id, f"Echidna {number}", body="Spiny echidna.")
        first, last, beyond = (search("echidna", n, per_page=5) for n in (1, 3, 4))
        assert (first.total, first.pages, len(first.items), first.has_next) == (12, 3, 5, True)
        assert (len(last.items), last.has_next, last.has_previous) == (2, False, True)
        assert beyond.items == [] and beyond.is_past_the_end
        all_ids = [post.id for n in (1, 2, 3) for post, _ in search("echidna", n, 5).items]
        assert len(set(all_ids)) == 12  # stable order: no post twice, none missed

    first_page = client.get("/search?q=echidna").get_data(as_text=True)
    assert "12 posts match" in first_page and "/search?page=2&amp;q=echidna" in first_page
    assert client.get("/search?q=echidna&page=2").status_code == 200
    for page in ["3", "0", "-1", "x", "1e3"]:
        assert client.get(f"/search?q=echidna&page={page}").status_code == 404, page
    assert client.get("/search?q=&page=2").status_code == 404


def test_search_page(app, author_id, client):
    with app.app_context():
        add_post(author_id, "Platypus <facts>", body="The platypus lays eggs.")
    page = client.get("/search?q=platypus").get_data(as_text=True)
    assert 'type="search"' in page and 'name="q"' in page and 'value="platypus"' in page
    assert '<label for="search-q">' in page
    assert "1 post matches" in page and 'href="/platypus-facts/"' in page
    assert "Platypus &lt;facts&gt;" in page
    none = client.get("/search?q=okapi").get_data(as_text=True)
    assert "No posts match “okapi”" in none
    blank = client.get("/search")
    assert blank.status_code == 200 and "No posts match" not in blank.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_search_condition_uses_the_gin_index(app, author_id):
    """The query repeats the indexed expression exactly; were it to drift, the index would not
    apply and, with sequential scans forbidden, the plan would fall back to a costly scan.
    (PostgreSQL only: SQLite always searches through its FTS5 table.)"""
    with app.app_context():
        add_post(author_id, "Numbat")
        statement = select(Post.id).where(search_index._PostgreSQL.matches("numbat"))
        compiled = statement.compile(db.engine)
        with db.engine.begin() as connection:
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
        assert "ix_post_search" in "\n".join(row[0] for row in plan)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_walks_the_newest_matches_without_sorting_or_reading_post_rows(app, author_id):
    """FTS5 hands out rowids newest first and the public filter reads the narrow index, so a
    common word costs MAX_RESULTS index lookups, not one per match."""
    with app.app_context():
        add_post(author_id, "Numbat")
        executed = []

        def record(conn, cursor, statement, parameters, context, executemany):
            executed.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            db.session.execute(search_index._SQLite.newest_matches("numbat", 10)).all()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        [(statement, parameters)] = executed
        connection = db.session.connection()
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        details = "\n".join(row[-1] for row in plan)
        assert "COVERING INDEX ix_post_search_public" in details, details
        assert "TEMP B-TREE" not in details, details


def _drop_alembic_version() -> None:
    """Leave the shared PostgreSQL schema as create_all made it: unversioned."""
    db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.commit()


def test_migration_indexes_the_posts_already_there(app):
    with app.app_context():
        db.session.remove()
        db.drop_all()
        _drop_alembic_version()
        try:
            upgrade(revision="0001")
            _insert_with_the_0001_schema()  # the models have moved on since 0001
            upgrade()
            assert found("wallaby") == ["Wallaby"]
            assert_index_consistent()
        finally:
            db.session.rollback()
            if db.engine.dialect.name == "postgresql":  # the shared schema, as others expect it
                db.drop_all()
                create_schema()
            _drop_alembic_version()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_migration_0018_gives_sqlite_prefix_indexes_and_takes_them_back(app, author_id):
    def table_sql() -> str:
        return db.session.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'post_fts'"))

    with app.app_context():
        for title in ["Watering can", "Waterfall", "Wattle in bloom", "Lantern"]:
            add_post(author_id, title, body=f"About the {title.lower()}.")
        expected = {"wat*": found("wat*"), "wate*": found("wate*"), "watt*": found("watt*")}
        assert sorted(expected["wat*"]) == ["Waterfall", "Watering can", "Wattle in bloom"]
        db.session.remove()
        _drop_alembic_version()
        try:
            stamp()
            assert "prefix='3 4'" in table_sql()
            downgrade(revision="0017")
            assert "prefix" not in table_sql()
            assert {query: found(query) for query in expected} == expected
            assert_index_consistent()
            add_post(author_id, "Wattlebird", body="A bird.")  # the triggers are still there
            upgrade()
            assert "prefix='3 4'" in table_sql()
            assert sorted(found("watt*")) == ["Wattle in bloom", "Wattlebird"]
            assert found("wate*") == expected["wate*"]
            assert_index_consistent()
        finally:
            db.session.rollback()
            _drop_alembic_version()


def _insert_with_the_0001_schema() -> None:
    now = utcnow()
    db.session.execute(
        text(
            'INSERT INTO "user" (id, email, display_name, slug, bio, role, active, session_token,'
            " created_at) VALUES (1, 'a@example.com', 'Ann', 'ann', '', 'author', :yes, 't', :now)"
        ),
        {"now": now, "yes": True},
    )
    db.session.execute(
        text(
            "INSERT INTO post (id, kind, title, slug, body_md, body_html, body_text, excerpt,"
            " summary, word_count, reading_minutes, render_version, status, published_at,"
            " created_at, updated_at, version, author_id, featured_alt, featured_caption)"
            " VALUES (1, 'post', 'Wallaby', 'wallaby', 'Hopping wallaby.',"
            " '<p>Hopping wallaby.</p>', 'Hopping wallaby.', '', 'Hopping wallaby.', 2, 1, 1,"
            " 'published', :now, :now, :now, 1, 1, '', '')"
        ),
        {"now": now},
    )
    db.session.commit()


def test_rebuild_command_repairs_a_missing_index(app, author_id):
    with app.app_context():
        with db.engine.begin() as connection:
            search_index.uninstall(connection)
        add_post(author_id, "Bilby", body="Desert bilby.")
        add_post(author_id, "Quoll", action=Action.SAVE)
    result = app.test_cli_runner().invoke(search_command, ["rebuild"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt the search index: 2 posts." in result.output
    with app.app_context():
        assert found("bilby") == ["Bilby"]
        assert_index_consistent()
        add_post(author_id, "Bilby again")  # the triggers are back too
        assert sorted(found("bilby")) == ["Bilby", "Bilby again"]


# The cap on ranked matches -------------------------------------------------------------------


@pytest.fixture
def cap_of_five(monkeypatch):
    monkeypatch.setattr(search_index, "MAX_RESULTS", 5)


def test_more_matches_than_the_cap_rank_the_newest_and_say_more_than(
    app, author_id, client, cap_of_five
):
    with app.app_context():
        add_post(author_id, "Oldest echidna", body="Old news.")  # best rank, but too old
        for number in range(1, 8):
            add_post(author_id, f"Note {number}", body="An echidna went by.")
        add_post(author_id, "Echidna at last", body="Spines.")  # title match, among the newest
        add_post(author_id, "Draft", body="An echidna.", action=Action.SAVE)  # not counted
        newest = {f"Note {number}" for number in (4, 5, 6, 7)} | {"Echidna at last"}

        first = search("echidna", 1, per_page=2)
        assert (first.capped, first.total, first.pages, first.has_next) == (True, 5, 3, True)
        assert first.items[0][0].title == "Echidna at last"
        titles = [post.title for n in (1, 2, 3) for post, _ in search("echidna", n, 2).items]
        assert len(titles) == 5 and set(titles) == newest
        assert search("echidna", 4, per_page=2).is_past_the_end
        assert found("echidna oldest") == ["Oldest echidna"]  # another word narrows the search

    page = client.get("/search?q=echidna").get_data(as_text=True)
    assert "More than 5 posts match “echidna”" in page and "best of the 5 newest" in page
    assert "Echidna at last" in page and "Oldest echidna" not in page
    assert client.get("/search?q=echidna&page=2").status_code == 404  # 10 a page: 1 page


def test_as_many_matches_as_the_cap_are_all_counted(app, author_id, client, cap_of_five):
    with app.app_context():
        for number in range(5):
            add_post(author_id, f"Bandicoot {number}")
        trash(db.session.get(Post, add_post(author_id, "Trashed bandicoot")))
        db.session.commit()
        page = search("bandicoot", 1)
        assert (page.capped, page.total, len(page.items)) == (False, 5, 5)
    assert "5 posts match “bandicoot”" in client.get("/search?q=bandicoot").get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_finds_the_newest_matches_through_a_window_or_all_posts(
    app, author_id, cap_of_five
):
    """A word in a fifth of the posts is read from the GIN index for a window of the newest
    ids; when the window holds too few matches, from every post: the same newest matches."""
    with app.app_context():
        ids = []
        for number in range(120):
            words = ["Note"]
            if number < 60 and number % 2 == 0:
                words.append("wallaby")  # 30 matches, all in the older half
            if number % 4 == 1:
                words.append("dunnart")  # 30 matches, spread out
            ids.append(add_post(author_id, " ".join(words) + f" {number}"))
        db.session.execute(text("ANALYZE post"))
        db.session.commit()  # the statistics the planner's estimate comes from
        for word, older_half_only in [("wallaby", True), ("dunnart", False)]:
            scopes = search_index._PostgreSQL.scopes(word)
            assert scopes[0].gin_only and scopes[0].floor is not None, scopes
            matching = [i for i in ids if word in db.session.get(Post, i).title]
            assert (max(matching) <= scopes[0].floor) is older_half_only
            pages = [search(word, n, per_page=2) for n in (1, 2, 3)]
            assert (pages[0].capped, pages[0].total) == (True, 5)
            shown = {post.id for page in pages for post, _ in page.items}
            assert shown == set(matching[-5:]), word
            db.session.rollback()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_migration_0006_moves_postgresql_to_a_stored_vector(app, author_id):
    def objects() -> set[str]:
        indexes = db.session.scalars(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'post'")
        )
        columns = db.session.scalars(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = 'post'")
        )
        return ({"ix_post_search", "ix_post_search_document"} & set(indexes)) | (
            {"search_document"} & set(columns)
        )

    with app.app_context():
        add_post(author_id, "Kowari", body="A small kowari.")
        db.session.remove()
        _drop_alembic_version()
        try:
            stamp()  # the models' schema is the newest revision's
            downgrade(revision="0005")
            assert objects() == {"ix_post_search"}
            upgrade()
            assert objects() == {"ix_post_search_document", "search_document"}
            assert found("kowari") == ["Kowari"]
        finally:
            db.session.rollback()
            _drop_alembic_version()


# Phrases in most posts (SQLite's ranking) ----------------------------------------------------


def _ranked_by_bm25_of_every_phrase(query: str) -> list[str]:
    """Titles of the newest MAX_RESULTS public matches ranked by bm25 over the whole query,
    as searches ranked before phrases in most posts were left out of the ranking."""
    rows = db.session.execute(
        text(
            "SELECT title FROM (SELECT post.id, post.title, post.published_at, "
            "-bm25(post_fts, 10.0, 4.0, 1.0) AS score FROM post_fts "
            "JOIN post ON post.id = post_fts.rowid WHERE post_fts MATCH :query "
            "AND post.status = 'published' AND post.deleted_at IS NULL "
            "ORDER BY post.id DESC LIMIT :cap) ORDER BY score DESC, published_at DESC, id DESC"
        ),
        {"query": fts5_query(query), "cap": search_index.MAX_RESULTS},
    )
    return list(rows.scalars())


def latest_titles(count: int = 5) -> list[str]:
    return db.session.scalars(
        select(Post.title).order_by(Post.published_at.desc(), Post.id.desc()).limit(count)
    ).all()


def _add_posts_where_the_is_everywhere(author_id) -> None:
    """20 posts with "the" and "and"; "quoll" in 7, said in the title, the excerpt or the body,
    once or more, in posts of different lengths."""
    for number in range(20):
        filler = "the road and the hill " * (1 + number % 4)
        title, excerpt, body = f"Walk {number}", "", f"{filler} then home."
        if number % 3 == 1:
            title, excerpt, body = [
                (f"The quoll {number}", "", body),
                (title, "A quoll, the excerpt says.", body),
                (title, "", f"{filler} quoll " * (number % 5 + 1)),
            ][number % 9 // 3]
        add_post(author_id, title, body=body, excerpt=excerpt)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_phrase_in_most_posts_is_left_out_of_the_ranking_with_the_same_order(
    app, author_id, cap_of_five
):
    """bm25 gives "the" (in every post, more than the cap) a weight of 1e-6: the results of
    "the quoll" are ranked by "quoll" alone, in the order the whole query ranked them."""
    with app.app_context():
        _add_posts_where_the_is_everywhere(author_id)
        phrases = search_index._fts5_phrases("the quoll and")
        assert search_index._SQLite._informative(phrases) == ['"quoll"']
        for query in ["the quoll", "quoll the", "the quoll and", "QUOLL and the the"]:
            expected = _ranked_by_bm25_of_every_phrase(query)
            assert len(expected) == 5 and len(set(expected)) == 5
            pages = [search(query, n, per_page=2) for n in (1, 2, 3)]
            assert [post.title for p in pages for post, _ in p.items] == expected, query
            assert (pages[0].capped, pages[0].total) == (True, 5)
            assert search(query, 4, per_page=2).is_past_the_end


def test_a_query_of_only_words_in_most_posts_lists_the_latest_published_first(
    app, author_id, client, cap_of_five
):
    """On both engines: SQLite because bm25 gives such words no weight, PostgreSQL because
    the planner expects the query in at least half the posts (ts_rank_cd would cost most of
    the search, and order the posts by how often they say "the")."""
    with app.app_context():
        _add_posts_where_the_is_everywhere(author_id)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE post"))  # the planner's estimate comes from it
            db.session.commit()
        else:
            assert _ranked_by_bm25_of_every_phrase("the") != latest_titles()  # bm25 reorders
        latest = latest_titles()
        for query in ["the", "the and", "THE the"]:
            assert found(query) == latest, query
            page = search(query, 1, per_page=2)
            assert (page.capped, page.total, page.pages) == (True, 5, 3)
    page = client.get("/search?q=the+and").get_data(as_text=True)
    assert "More than 5 posts match" in page and latest[0] in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_phrase_becomes_common_once_published_in_most_posts(app, author_id, cap_of_five):
    """Each phrase's count is kept until the site changes: publishing more posts with a word
    makes it one that no longer ranks."""
    with app.app_context():  # one context a request: the site's version is read once in each
        for number in range(12):
            words = "numbat" if number % 4 == 0 else "filler"
            add_post(author_id, f"Post {number}", body=f"Some {words} text.")
    with app.app_context():
        assert search_index._SQLite._informative(['"numbat"']) == ['"numbat"']
        for number in range(12):
            add_post(author_id, f"Numbat {number}", body="A numbat again.")
    with app.app_context():
        assert search_index._SQLite._informative(['"numbat"']) == []
        assert found("numbat") == latest_titles()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_process_keeps_a_bounded_number_of_phrase_counts(
    app, author_id, cap_of_five, monkeypatch
):
    """Made-up words cannot fill a worker's memory: past MAX_KNOWN_PHRASES the counts are
    forgotten, and searches keep their order."""
    monkeypatch.setattr(search_index, "MAX_KNOWN_PHRASES", 3)
    with app.app_context():
        _add_posts_where_the_is_everywhere(author_id)
    with app.app_context():
        expected = _ranked_by_bm25_of_every_phrase("the quoll")
        for number in range(12):
            assert found(f"madeup{number} the") == []
            known = generation.recall(("search-phrases-in-most-posts",))
            assert len(known) <= 3 + 3  # the bound, one statement's new phrases, the post count
        assert found("the quoll") == expected
        assert found("the") == latest_titles()

"""Full-text search of public posts: one interface, an engine per database.

SQLite uses an FTS5 external-content table, `post_fts`, kept in step with `post` by triggers;
PostgreSQL uses a GIN index on a weighted `tsvector` expression of the post's columns. Either
way the database itself keeps the index current inside the transaction that saves the post, so
search can never disagree with a committed save. The index covers every post; what readers may
see (`public_filter()`) is decided when searching, so publishing, scheduling and trashing need
no re-indexing.

PostgreSQL uses the 'simple' text-search configuration: it lower-cases words but does no
stemming and drops no stop words. The blog's language is unknown, and a wrong language's
stemmer does more harm than none. (SQLite's unicode61 tokenizer likewise does no stemming.)
Unlike SQLite, 'simple' keeps diacritics: on PostgreSQL "cafe" does not find "café".

The PostgreSQL index holds no tsvector to rank from, so ranking and snippets recompute each
matching post's vector: fast for the usual searches, but a word found in thousands of posts
costs seconds (measured: 2 s for 20,000 matches of 100-word posts). A stored, generated
tsvector column in the model would remove that cost if it ever matters.

`install(connection)` creates the objects; both the migration and the tests call it, so there
is one definition. Searching takes two steps, ranked ids first, then snippets for one page only,
because snippets are the expensive part.
"""

import html
import re
import unicodedata
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import (
    Connection,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy import table as table_clause
from sqlalchemy.orm import selectinload

from .extensions import db
from .models import Post
from .pagination import Page
from .posts import public_filter

MAX_QUERY_CHARS = 200  # longer input is cut: nobody types more, and it bounds the work
SNIPPET_TOKENS = 24  # SQLite snippet length in words (FTS5 allows at most 64)

# Private-use characters mark the matches in snippets; `_snippet_html` turns them into <mark>.
# They are removed from queries, and stray ones from post text are dropped, never trusted.
MARK_START, MARK_STOP = "\ue000", "\ue001"
_MARKED = re.compile(f"{MARK_START}([^{MARK_START}{MARK_STOP}]*){MARK_STOP}")

# SQLite ----------------------------------------------------------------------------------------
FTS_TABLE = "post_fts"
# FTS5 reads an external-content table's columns by name, so they are named as in `post`.
FTS_COLUMNS = ("title", "excerpt", "body_text")
FTS_WEIGHTS = (10.0, 4.0, 1.0)  # bm25 weights per column: a title match counts most
FTS_SNIPPET_COLUMN = FTS_COLUMNS.index("body_text")
FTS_TRIGGERS = {"post_fts_insert", "post_fts_delete", "post_fts_update"}
_SQLITE_REBUILD = text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")

# PostgreSQL ------------------------------------------------------------------------------------
PG_INDEX = "ix_post_search"
PG_CONFIG = "'simple'"
# The query must repeat this expression exactly, or PostgreSQL will not use the index.
# Column names are unqualified, as in the index definition: search queries read only `post`.
PG_DOCUMENT = (
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(excerpt, '')), 'B') || "
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(body_text, '')), 'C')"
)
PG_HEADLINE_OPTIONS = (
    f"StartSel={MARK_START}, StopSel={MARK_STOP}, MaxWords=25, MinWords=12, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass
class SearchPage(Page):
    """One page of results: `items` are (Post, snippet) pairs in rank order.

    The snippet is `Markup`: escaped text with <mark> around the matches. A number past the
    last page gives no items; answering 404 for it is the view's job (see `is_past_the_end`).
    """

    query: str = ""

    @property
    def is_past_the_end(self) -> bool:
        return self.number > self.pages


# Schema --------------------------------------------------------------------------------------


def install(connection: Connection) -> None:
    """Create whatever search objects are missing; safe to run again at any time.

    On SQLite, if anything had to be created the index is rebuilt from `post`: its triggers
    may have been gone while posts changed (SQLite drops a table's triggers with the table, so
    a batch migration that recreates `post` must end by calling this).
    """
    if connection.dialect.name == "sqlite":
        if _sqlite_objects(connection) != FTS_TRIGGERS | {FTS_TABLE}:
            _create_sqlite_objects(connection)
            connection.execute(_SQLITE_REBUILD)
    elif connection.dialect.name == "postgresql":
        connection.execute(
            text(f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON post USING gin (({PG_DOCUMENT}))")
        )


def uninstall(connection: Connection) -> None:
    """Drop the search objects (the migration's downgrade)."""
    if connection.dialect.name == "sqlite":
        for trigger in sorted(FTS_TRIGGERS):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        connection.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
    elif connection.dialect.name == "postgresql":
        connection.execute(text(f"DROP INDEX IF EXISTS {PG_INDEX}"))


def _sqlite_objects(connection: Connection) -> set[str]:
    names = connection.scalars(
        text("SELECT name FROM sqlite_master WHERE name IN :names").bindparams(
            bindparam("names", expanding=True)
        ),
        {"names": sorted(FTS_TRIGGERS | {FTS_TABLE})},
    )
    return set(names)


def _create_sqlite_objects(connection: Connection) -> None:
    """The FTS5 table and the standard external-content triggers.

    An external-content FTS5 table stores only the index; to remove a row from it, FTS5 must
    be told the values that were indexed, hence the 'delete' rows carrying `old.*`. Updates
    that leave the indexed columns alone (publishing, trashing) do not touch the index.
    """
    columns = ", ".join(FTS_COLUMNS)
    new_values = ", ".join(f"new.{name}" for name in FTS_COLUMNS)
    old_values = ", ".join(f"old.{name}" for name in FTS_COLUMNS)
    add = f"INSERT INTO {FTS_TABLE}(rowid, {columns}) VALUES (new.id, {new_values});"
    remove = (
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {columns}) "
        f"VALUES ('delete', old.id, {old_values});"
    )
    statements = [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5({columns}, "
        "content='post', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS post_fts_insert AFTER INSERT ON post BEGIN {add} END",
        f"CREATE TRIGGER IF NOT EXISTS post_fts_delete AFTER DELETE ON post BEGIN {remove} END",
        f"CREATE TRIGGER IF NOT EXISTS post_fts_update AFTER UPDATE OF {columns} ON post "
        f"BEGIN {remove} {add} END",
    ]
    for statement in statements:
        connection.execute(text(statement))


def rebuild() -> int:
    """Recreate missing search objects and rebuild the index from `post`; the caller commits.

    Returns the number of posts indexed. On PostgreSQL this is a REINDEX, which blocks writes
    to `post` while it runs.
    """
    connection = db.session.connection()
    install(connection)
    if connection.dialect.name == "sqlite":
        connection.execute(_SQLITE_REBUILD)
    elif connection.dialect.name == "postgresql":
        connection.execute(text(f"REINDEX INDEX {PG_INDEX}"))
    return db.session.scalar(select(func.count(Post.id))) or 0


def is_search_object(name: str | None, type_: str) -> bool:
    """True for the objects made here, which the models do not describe (nor should Alembic)."""
    if type_ == "table":
        return name == FTS_TABLE or (name or "").startswith(f"{FTS_TABLE}_")  # FTS5 shadow tables
    if type_ == "index":
        return name == PG_INDEX
    return False


def include_name(name, type_, parent_names) -> bool:
    """Alembic's `include_name` hook: skip search objects before they are even reflected."""
    return not is_search_object(name, type_)


def include_object(object_, name, type_, reflected, compare_to) -> bool:
    """Alembic's `include_object` hook, for objects that reach comparison another way."""
    return not is_search_object(name, type_)


# Queries -------------------------------------------------------------------------------------


def clean_query(raw: str) -> str:
    """The user's text made safe to hand to either engine: no control, private-use or
    surrogate characters (NUL breaks PostgreSQL), whitespace collapsed, at most 200 characters.
    """
    kept = (" " if char.isspace() else char for char in raw[: MAX_QUERY_CHARS * 4])
    kept = (char for char in kept if unicodedata.category(char) not in {"Cc", "Co", "Cs"})
    return " ".join("".join(kept).split())[:MAX_QUERY_CHARS].strip()


def _words(query: str) -> list[str]:
    """The query's terms that contain a letter or digit (others cannot match anything)."""
    return [term for term in query.split() if any(char.isalnum() for char in term)]


def fts5_query(query: str) -> str:
    """An FTS5 query that finds posts with every term, whatever the user typed.

    Each term becomes a quoted FTS5 string, so operators (AND, NEAR, column:, ^, parentheses)
    are just words; a trailing * asks for a prefix match.
    """
    phrases = []
    for term in _words(query):
        prefix = term.endswith("*")
        word = term.rstrip("*").replace('"', '""')
        phrases.append(f'"{word}"' + (" *" if prefix else ""))
    return " AND ".join(phrases)


def search(query: str, page: int, per_page: int = 10) -> SearchPage:
    """Public posts matching `query`, best first; an empty or wordless query finds nothing."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    cleaned = clean_query(query)
    result = SearchPage(items=[], number=page, per_page=per_page, total=0, query=cleaned)
    if not _words(cleaned):
        return result
    engine = _engine()
    ranked = engine.ranked_ids(cleaned)
    count = select(func.count()).select_from(ranked.order_by(None).subquery())
    result.total = db.session.scalar(count) or 0
    offset = (page - 1) * per_page
    if offset < result.total:
        ids = list(db.session.scalars(ranked.limit(per_page).offset(offset)))
        result.items = _with_snippets(ids, engine.snippets(cleaned, ids))
    return result


def _engine():
    name = db.session.get_bind().dialect.name
    if name not in _ENGINES:
        raise NotImplementedError(f"Search supports SQLite and PostgreSQL, not {name}.")
    return _ENGINES[name]


def _with_snippets(ids: list[int], snippets: dict[int, str]) -> list[tuple[Post, Markup]]:
    """Load the posts (with their authors) and pair each with its snippet, in `ids` order."""
    posts = db.session.scalars(
        select(Post).where(Post.id.in_(ids)).options(selectinload(Post.author))
    )
    by_id = {post.id: post for post in posts}
    return [
        (by_id[post_id], _snippet_html(snippets.get(post_id) or "") or _fallback(by_id[post_id]))
        for post_id in ids
        if post_id in by_id  # on PostgreSQL a post may be deleted between the two queries
    ]


def _fallback(post: Post) -> Markup:
    """A post whose body is empty shows its summary instead of a snippet."""
    return Markup.escape(post.summary)


def _snippet_html(snippet: str) -> Markup:
    """Escape the snippet (it is the author's text), then turn marker pairs into <mark>.

    Only complete marker pairs become tags, so the result is always balanced HTML; marker
    characters that the author's own text contained are dropped.
    """
    escaped = html.escape(snippet, quote=True)
    marked = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return Markup(marked.replace(MARK_START, "").replace(MARK_STOP, ""))


class _SQLite:
    fts = table_clause(FTS_TABLE, column("rowid"))

    @classmethod
    def ranked_ids(cls, query: str):
        rank = func.bm25(literal_column(FTS_TABLE), *(literal(w) for w in FTS_WEIGHTS))
        return (
            select(Post.id)
            .select_from(cls.fts)
            .join(Post, Post.id == cls.fts.c.rowid)
            .where(cls._match(query), public_filter())
            .order_by(rank, Post.published_at.desc(), Post.id.desc())
        )

    @staticmethod
    def _match(query: str):
        return text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=fts5_query(query))

    @classmethod
    def snippets(cls, query: str, ids: list[int]) -> dict[int, str]:
        snippet = func.snippet(
            literal_column(FTS_TABLE),
            literal(FTS_SNIPPET_COLUMN),
            literal(MARK_START),
            literal(MARK_STOP),
            literal("…"),
            literal(SNIPPET_TOKENS),
        )
        rows = db.session.execute(
            select(cls.fts.c.rowid, snippet).where(cls._match(query), cls.fts.c.rowid.in_(ids))
        )
        return {post_id: snippet for post_id, snippet in rows}


class _PostgreSQL:
    document = literal_column(PG_DOCUMENT)

    @staticmethod
    def _tsquery(query: str):
        return func.websearch_to_tsquery(literal_column(PG_CONFIG), literal(query))

    @classmethod
    def matches(cls, query: str):
        """The condition the GIN index answers (the expression must stay the indexed one)."""
        return cls.document.op("@@")(cls._tsquery(query))

    @classmethod
    def ranked_ids(cls, query: str):
        tsquery = cls._tsquery(query)
        return (
            select(Post.id)
            .where(cls.matches(query), public_filter())
            .order_by(
                func.ts_rank_cd(cls.document, tsquery).desc(),
                Post.published_at.desc(),
                Post.id.desc(),
            )
        )

    @classmethod
    def snippets(cls, query: str, ids: list[int]) -> dict[int, str]:
        headline = func.ts_headline(
            literal_column(PG_CONFIG),
            Post.body_text,
            cls._tsquery(query),
            literal(PG_HEADLINE_OPTIONS),
        )
        rows = db.session.execute(select(Post.id, headline).where(Post.id.in_(ids)))
        return {post_id: snippet for post_id, snippet in rows}


_ENGINES = {"sqlite": _SQLite, "postgresql": _PostgreSQL}

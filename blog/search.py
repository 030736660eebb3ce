"""Full-text search of public posts: one interface, an engine per database.

SQLite uses an FTS5 external-content table, `post_fts`, kept in step with `post` by triggers;
PostgreSQL uses a stored, generated `tsvector` column, `post.search_document` (a weighted
vector of the title, excerpt and body), with a GIN index on it. Either way the database itself
keeps the index current inside the transaction that saves the post, so search can never
disagree with a committed save. The index covers every post; what readers may see
(`visibility.public_clause()`) is decided when searching, so publishing, scheduling and
trashing need no re-indexing. None of these objects is in the models: `install(connection)`
creates them, both the migrations and the tests call it, so there is one definition, and
Alembic's comparison skips them (`include_name`, `include_object`).

PostgreSQL uses the 'simple' text-search configuration: it lower-cases words but does no
stemming and drops no stop words. The blog's language is unknown, and a wrong language's
stemmer does more harm than none. (SQLite's unicode61 tokenizer likewise does no stemming.)
Unlike SQLite, 'simple' keeps diacritics: on PostgreSQL "cafe" does not find "café".

The work per search is bounded, however many posts match. A search takes the newest
`MAX_RESULTS` (1,000) public posts that match, newest by id, that is in the order posts were
written or imported (not by publication date: an import that adds old posts last makes them the
"newest"), plus one more to know whether there are more. Only those are ranked (bm25 on SQLite,
ts_rank_cd on PostgreSQL; words in most posts aside, below), best first: higher score, then
later published, then higher id. The ranking is done by the database in the same statement
(`_ranked_page`), which sends back only the page's rows, each with the number found: 1,001 rows
no longer cross into Python to be sorted there (on PostgreSQL that was 1-1.5 ms of the worker's
CPU a search). Snippets are made for the page shown only, because they are the expensive part,
and the page's posts are read without their bodies, nor anything stored after them (the snippet
comes from the index, not from them). So, for a word found in more than 1,000 posts, readers are
told that more than 1,000 posts match, they can page through the best of the newest 1,000 (at 10
a page, page 101 is a 404), and an older post that matches better is not shown: adding a word
narrows the search. A search with fewer matches ranks every match, as before the cap.

A word in at least half the posts, and in more than MAX_RESULTS of them, does not rank. bm25
gives it no weight (an IDF of 1e-6), yet counting its posts and reading its positions were
most of a search's cost. So on SQLite the newest matches of the whole query are ranked by its
other words, in the order the whole query gave them but for near-ties (`_ranked_by`), and a
query of only such words lists the latest published first. PostgreSQL's ts_rank_cd takes no
account of how common a word is, so there the rule is the planner's: a query expected in at
least half the posts (and more than MAX_RESULTS) lists the latest published first, and any
other query is ranked by all its words as before. A site of at most MAX_RESULTS posts ranks
every query as before.

How each engine finds the newest matches without touching the others:

- SQLite: FTS5 hands out the matching rowids newest first and stops at the limit; the public
  filter reads `ix_post_search_public` (id, status, published_at, deleted_at), forced with
  INDEXED BY, because `post`'s rows hold those columns after the long bodies and the planner
  would otherwise read each row, walking its overflow pages (3 times slower). bm25 is computed
  for the rows returned only, but it first counts the posts holding each word, reading the
  word's whole doclist (11-23 ms for "the" at 100,000 posts), then reads each row's positions
  (12 ms for "the" in 1,001 rows): hence the rule above. Whether a phrase is in most posts is
  counted once per process until the site changes (`_phrases_in_most_posts`), stopping at
  half the posts. FTS5 offers no other ranking; a narrower index, `detail=column`, would lose
  phrase queries. Prefix indexes of 3 and 4 characters (`FTS_PREFIXES`, migration 0018) make
  `wat*` or `lant*` one list to read; a longer prefix (`harbo*`) merges the lists of every
  word that begins so, and a shorter one (`ha*`) merges many more (about 200 ms a page at
  100,000 posts). Snippets read the page's id range in one pass, keeping the page's ids:
  `rowid IN (...)` made FTS5 run the query once per id, which for a prefix query meant ten
  merges (33-57 ms at 100,000 posts, now 6-9).
- PostgreSQL: the vector is stored, so ranking reads it instead of recomputing it. Before the
  search the planner is asked (EXPLAIN, no execution) how many posts it expects to match; its
  estimate is good, because ANALYZE keeps each word's share (`install()` analyses the column
  when it adds it). For a query expected in at least half the posts (`PG_WALK_SHARE`) the
  planner walks the primary key backwards, testing each post's stored vector, and stops at the
  limit: about 1,000 posts tested. For anything rarer that walk was the weak spot: each post
  tested costs a TOAST read of its vector, which the planner does not count, so a word in 3 to
  30% of the posts walked 3,000 to 30,000 posts (50 to 180 ms). Such a query is now read through
  the GIN index (plain index scans turned off for the transaction, and on again after the
  search): first
  for a window of the newest ids that should hold twice the cap by the estimate (a bitmap of the
  word's posts ANDed with the primary key's range, then only the matches in the window are
  read), and, if the window held the cap or fewer, for every post. A window holding more than
  the cap holds the newest matches, whatever the estimate said, so the results are those of
  the walk (1.7-2.9 times faster for those words, measured; a test checks both paths). A rare word
  reads the GIN index as before, now always. A walked query in more than MAX_RESULTS posts
  is not ranked (see above): the walk alone costs 7-11 ms, and ts_rank_cd, which reads each
  vector again, added 13-65 ms. The query is `plainto_tsquery`: every word
  required, no operators and never a phrase. (websearch_to_tsquery made `"two words"` or
  `harbour_tide` a phrase, whose check reads each candidate's vector: 15.5 s for
  `harbour_tide` at 100,000 posts. SQLite still matches a joined word as a phrase: FTS5 keeps
  positions in its index, so that costs nothing extra.)
  Snippets: ts_headline parses all the text it is given (about 1 ms per 1,000 words), so it is
  given 3,000 characters of the body from just before the first word's first occurrence, and
  picks its fragments in that window rather than in the whole body.

Under load (bench/search_load.py, 8 connections asking queries never asked before): what limits
it is the CPU a search costs, since 8 requests share 2 cores; see bench/README.md for the
figures and where the rest of a request's time goes (the page around the results).
"""

import html
import json
import math
import re
import unicodedata
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import (
    Connection,
    Join,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy import table as table_clause
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import load_only
from sqlalchemy.orm.attributes import set_committed_value

from . import generation
from .extensions import db
from .models import Post
from .pagination import Page
from .visibility import public_clause

MAX_QUERY_CHARS = 200  # longer input is cut: nobody types more, and it bounds the work
MAX_RESULTS = 1000  # the newest matches ranked per search; more are counted as "more than"
SNIPPET_TOKENS = 24  # SQLite snippet length in words (FTS5 allows at most 64)
MAX_KNOWN_PHRASES = 10_000  # how many phrases' post counts a process keeps (SQLite)

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
# Prefix indexes of the first 3 and 4 characters of every word: `wat*` reads one list instead
# of merging those of every word that begins so (see `_create_sqlite_objects`).
FTS_PREFIXES = "3 4"
FTS_TRIGGERS = {"post_fts_insert", "post_fts_delete", "post_fts_update"}
# What the public filter reads, by id: `post`'s own rows hold these columns after the bodies,
# so reading them from the table walks each post's overflow pages.
SQLITE_PUBLIC_INDEX = "ix_post_search_public"
SQLITE_PUBLIC_COLUMNS = ("id", "status", "published_at", "deleted_at")
_SQLITE_REBUILD = text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")

# PostgreSQL ------------------------------------------------------------------------------------
PG_COLUMN = "search_document"
PG_INDEX = "ix_post_search_document"
PG_OLD_INDEX = "ix_post_search"  # before 0006: a GIN index on the PG_DOCUMENT expression
PG_CONFIG = "'simple'"
# The generated column's expression; ranking and matching read the stored result.
PG_DOCUMENT = (
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(title, '')), 'A') || "
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(excerpt, '')), 'B') || "
    f"setweight(to_tsvector({PG_CONFIG}, coalesce(body_text, '')), 'C')"
)
_PG_PLANNER_CHANGED = "blog.search_planner_changed"
PG_WALK_SHARE = 0.5  # a query expected in this share of the posts walks the primary key
PG_WINDOW_MARGIN = 2.0  # the window of newest ids should hold the cap this many times over
PG_HEADLINE_LEAD, PG_HEADLINE_WINDOW = 300, 3000  # characters of the body given to ts_headline
_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
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
    capped: bool = False  # more posts match than the `total` (MAX_RESULTS) ranked ones

    @property
    def is_past_the_end(self) -> bool:
        return self.number > self.pages


# Schema --------------------------------------------------------------------------------------


def install(connection: Connection) -> None:
    """Create whatever search objects are missing; safe to run again at any time.

    On SQLite, if the FTS5 table or a trigger had to be created the index is rebuilt from
    `post`: its triggers may have been gone while posts changed (SQLite drops a table's
    triggers with the table, so a batch migration that recreates `post` must end by calling
    this).
    """
    if connection.dialect.name == "sqlite":
        if _sqlite_objects(connection) != FTS_TRIGGERS | {FTS_TABLE}:
            _create_sqlite_objects(connection)
            connection.execute(_SQLITE_REBUILD)
        columns = ", ".join(SQLITE_PUBLIC_COLUMNS)
        connection.execute(
            text(f"CREATE INDEX IF NOT EXISTS {SQLITE_PUBLIC_INDEX} ON post ({columns})")
        )
    elif connection.dialect.name == "postgresql":
        _install_postgresql(connection)


def uninstall(connection: Connection) -> None:
    """Drop the search objects (the migration's downgrade)."""
    if connection.dialect.name == "sqlite":
        for trigger in sorted(FTS_TRIGGERS):
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        connection.execute(text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
        connection.execute(text(f"DROP INDEX IF EXISTS {SQLITE_PUBLIC_INDEX}"))
    elif connection.dialect.name == "postgresql":
        connection.execute(text(f"DROP INDEX IF EXISTS {PG_OLD_INDEX}"))
        connection.execute(text(f"ALTER TABLE post DROP COLUMN IF EXISTS {PG_COLUMN}"))


def _install_postgresql(connection: Connection) -> None:
    """The generated column, its GIN index, and no index left from before 0006.

    Adding the column rewrites `post`, computing every post's vector, and building the index
    reads them all, under a lock that blocks reads and writes of `post` meanwhile (6 minutes
    for 100,000 posts of 300 to 3,000 words on 2 cores). The new column is then analysed at
    once: without its statistics the planner cannot tell a common word from a rare one.
    """
    exists = text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'post' AND column_name = :name"
    )
    added = connection.scalar(exists, {"name": PG_COLUMN}) is None
    statements = [
        f"ALTER TABLE post ADD COLUMN IF NOT EXISTS {PG_COLUMN} tsvector "
        f"GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED",
        f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON post USING gin ({PG_COLUMN})",
        f"DROP INDEX IF EXISTS {PG_OLD_INDEX}",
    ]
    if added:
        statements.append("ANALYZE post")
    for statement in statements:
        connection.execute(text(statement))


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
        "content='post', content_rowid='id', tokenize='unicode61 remove_diacritics 2', "
        f"prefix='{FTS_PREFIXES}')",
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
        return name in (PG_INDEX, PG_OLD_INDEX, SQLITE_PUBLIC_INDEX)
    if type_ == "column":
        return name == PG_COLUMN  # only `post` has a column of that name
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
    return " AND ".join(_fts5_phrases(query))


def _fts5_phrases(query: str) -> list[str]:
    """The query's terms as FTS5 phrases, in order: `"word"`, or `"word" *` for a prefix."""
    phrases = []
    for term in _words(query):
        prefix = term.endswith("*")
        word = term.rstrip("*").replace('"', '""')
        phrases.append(f'"{word}"' + (" *" if prefix else ""))
    return phrases


def search(query: str, page: int, per_page: int = 10) -> SearchPage:
    """Public posts matching `query`, best first; an empty or wordless query finds nothing."""
    if page < 1 or per_page < 1:
        raise ValueError("page and per_page start at 1")
    cleaned = clean_query(query)
    result = SearchPage(items=[], number=page, per_page=per_page, total=0, query=cleaned)
    if not _words(cleaned):
        return result
    engine = _engine()
    offset = (page - 1) * per_page
    try:
        for scope in engine.scopes(cleaned):
            ranked = engine.ranked_page(cleaned, per_page, offset, scope)
            rows = db.session.execute(ranked).all()
            if rows:
                found = rows[0].found
            elif page == 1 and scope.floor is None:
                found = 0  # nothing on the first page: nothing matches
            else:  # past the end (or an empty search): how far the results go decides 404
                newest = engine.newest_matches(cleaned, MAX_RESULTS + 1, scope.floor)
                found = db.session.scalar(select(func.count()).select_from(newest.subquery()))
            if scope.floor is None or found > MAX_RESULTS:
                break  # a window of the newest ids holding more than the cap holds the newest
    finally:
        engine.restore_planner()
    result.capped = found > MAX_RESULTS
    result.total = min(found, MAX_RESULTS)
    ids = [row.id for row in rows]
    if ids:
        published = {row.id: row.published_at for row in rows}
        result.items = _with_snippets(ids, published, engine.snippets(cleaned, ids))
    return result


@dataclass(frozen=True)
class _Scope:
    """Where to look for the newest matches: posts with an id above `floor` (None: all of
    them), whether PostgreSQL must find them through the GIN index (`gin_only`), and whether
    it ranks them."""

    floor: int | None = None
    gin_only: bool = False
    ranked: bool = True  # False: latest published first (PostgreSQL, a query in most posts)


def _ranked_page(newest, limit: int, offset: int):
    """One page of the newest matches ranked, and how many were found, in one statement.

    `newest` gives (id, published_at, score) of at most MAX_RESULTS + 1 matches. The newest
    MAX_RESULTS of them are ranked: higher score first, then later published, then higher id.
    Only the page's rows leave the database, each with the count (`found`) of all of them.
    """
    newest = newest.subquery("newest")
    numbered = select(
        newest.c.id,
        newest.c.published_at,
        newest.c.score,
        func.row_number().over(order_by=newest.c.id.desc()).label("position"),
        func.count().over().label("found"),
    ).subquery("numbered")
    return (
        select(numbered.c.id, numbered.c.found, numbered.c.published_at)
        .where(numbered.c.position <= MAX_RESULTS)
        .order_by(numbered.c.score.desc(), numbered.c.published_at.desc(), numbered.c.id.desc())
        .limit(limit)
        .offset(offset)
    )


def _engine():
    name = db.session.get_bind().dialect.name
    if name not in _ENGINES:
        raise NotImplementedError(f"Search supports SQLite and PostgreSQL, not {name}.")
    return _ENGINES[name]


def _post_count_and_last_id() -> tuple[int, int]:
    """How many posts there are and the highest id, for sizing PostgreSQL's window; kept until
    the site changes (a stale figure only makes the window less apt, never the results)."""
    posts, highest = db.session.execute(select(func.count(Post.id), func.max(Post.id))).one()
    return posts or 0, highest or 0


def _phrases_in_most_posts(phrases: list[str]) -> set[str]:
    """The phrases held by at least half the posts and by more than MAX_RESULTS of them: those
    bm25 gives no weight (its IDF of a phrase in n of N posts, log((N - n + 0.5) / (n + 0.5)),
    is then at most 0 and taken as 1e-6), on a site where they cost something to rank.

    Counted once per process until the site changes, in one statement for the phrases not
    known yet, each count stopping as soon as it is enough; at most MAX_KNOWN_PHRASES are
    kept. Saving a draft changes the index but not the site's version, so an answer can be a
    little stale: that only matters for a phrase in about half the posts, whose weight is
    then near zero either way.
    """
    known: dict = generation.remembered(("search-phrases-in-most-posts",), dict)
    posts = known.get(None)  # read once: other threads may clear `known` meanwhile
    if posts is None:
        posts = known[None] = db.session.scalar(select(func.count(Post.id))) or 0
    enough = max(MAX_RESULTS + 1, (posts + 1) // 2)
    keys = {phrase: _phrase_key(phrase) for phrase in phrases}
    answers = {key: known.get(key) for key in dict.fromkeys(keys.values())}
    missing = [key for key, answer in answers.items() if answer is None]
    if missing:
        fts = table_clause(FTS_TABLE)
        counts = [
            select(func.count())
            .select_from(
                select(literal(1))
                .select_from(fts)
                .where(_SQLite._match(key, f"phrase_{n}"))
                .limit(enough)
                .subquery()
            )
            .scalar_subquery()
            for n, key in enumerate(missing)
        ]
        holding = db.session.execute(select(*counts)).one()
        answers.update((key, count >= enough) for key, count in zip(missing, holding, strict=True))
        if len(known) > MAX_KNOWN_PHRASES:
            known.clear()
            known[None] = posts
        known.update((key, answers[key]) for key in missing)
    return {phrase for phrase, key in keys.items() if answers[key]}


def _phrase_key(phrase: str) -> str:
    """FTS5 matches case-blind: `"Harbour"` and `"harbour"` are one phrase, counted once (ASCII
    only, where Python's lower case is the tokenizer's)."""
    return phrase.lower() if phrase.isascii() else phrase


def _with_snippets(ids: list[int], published: dict, snippets: dict[int, str]):
    """Load the posts and pair each with its snippet, in `ids` order: (Post, Markup) pairs.

    Only the columns before the bodies in `post`'s rows are read (id, title, slug): SQLite
    reaches a column after the bodies by walking their overflow pages (2 ms for a page of
    ten posts at 100,000 posts, against 0.3), and PostgreSQL's bodies live in TOAST. The
    publication time comes with the ranked ids (`published`), and a post whose snippet is
    empty (no body) shows its summary, read for those posts only.
    """
    shown = (Post.id, Post.title, Post.slug)
    posts = db.session.scalars(select(Post).where(Post.id.in_(ids)).options(load_only(*shown)))
    by_id = {post.id: post for post in posts}
    for post_id, post in by_id.items():
        set_committed_value(post, "published_at", published[post_id])
    marked = {post_id: _snippet_html(snippets.get(post_id) or "") for post_id in by_id}
    bare = [post_id for post_id, snippet in marked.items() if not snippet]
    if bare:
        summaries = db.session.execute(select(Post.id, Post.summary).where(Post.id.in_(bare)))
        marked.update((post_id, Markup.escape(summary)) for post_id, summary in summaries)
    return [
        (by_id[post_id], marked[post_id])
        for post_id in ids
        if post_id in by_id  # on PostgreSQL a post may be deleted between the two queries
    ]


def _snippet_html(snippet: str) -> Markup:
    """Escape the snippet (it is the author's text), then turn marker pairs into <mark>.

    Only complete marker pairs become tags, so the result is always balanced HTML; marker
    characters that the author's own text contained are dropped.
    """
    escaped = html.escape(snippet, quote=True)
    marked = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return Markup(marked.replace(MARK_START, "").replace(MARK_STOP, ""))


class _JoinByPublicIndex(Join):
    """`fts JOIN post INDEXED BY ix_post_search_public`: SQLite's planner, which cannot know
    how wide `post`'s rows are, would otherwise read the table by rowid."""

    inherit_cache = True


@compiles(_JoinByPublicIndex, "sqlite")
def _compile_join_by_public_index(join, compiler, **kw) -> str:
    """The ordinary join, with the index named after the right-hand table."""
    sql = compiler.visit_join(join, **kw)
    right = compiler.preparer.format_table(join.right)
    hint = f"INDEXED BY {SQLITE_PUBLIC_INDEX}"
    hinted = sql.replace(f" JOIN {right} ON ", f" JOIN {right} {hint} ON ", 1)
    if hinted == sql:  # never run without the index the query was planned for
        raise RuntimeError(f"cannot name {SQLITE_PUBLIC_INDEX} in: {sql}")
    return hinted


class _SQLite:
    fts = table_clause(FTS_TABLE, column("rowid"))

    @staticmethod
    def scopes(query: str) -> list[_Scope]:
        return [_Scope()]  # FTS5 hands out the newest matches first whatever the word

    @staticmethod
    def restore_planner() -> None:
        pass

    @staticmethod
    def _match(fts_query: str, name: str = "fts_query"):
        """`post_fts MATCH :name`, for an FTS5 query made by `fts5_query` or of its phrases."""
        return text(f"{FTS_TABLE} MATCH :{name}").bindparams(bindparam(name, fts_query))

    @staticmethod
    def _score():
        """bm25 turned round (higher is better), with the columns' weights."""
        return -func.bm25(literal_column(FTS_TABLE), *(literal(w) for w in FTS_WEIGHTS))

    @classmethod
    def _public_matches(cls):
        return select().select_from(
            _JoinByPublicIndex(cls.fts, Post.__table__, Post.id == cls.fts.c.rowid)
        )

    @classmethod
    def newest_matches(cls, query: str, limit: int, floor: int | None = None, score=None):
        """(id, published_at, score) of the newest public matches, newest first.

        FTS5 hands out rowids newest first and stops at the limit; the public filter reads
        the narrow index by id. The score (`_score()` when asked for, else 0) is computed for
        the rows returned only.
        """
        score = literal(0) if score is None else score
        return (
            cls._public_matches()
            .add_columns(Post.id, Post.published_at, score.label("score"))
            .where(cls._match(fts5_query(query)), public_clause())
            .order_by(cls.fts.c.rowid.desc())
            .limit(limit)
        )

    @classmethod
    def ranked_page(cls, query: str, limit: int, offset: int, scope: _Scope):
        """The page's ids, best first, and the number found, in one statement.

        bm25 gives a phrase in at least half the posts no weight (an IDF of 1e-6, against 0.04
        and up for any other phrase), yet counts the posts holding it before ranking and
        reads its positions in every row ranked: 28 ms for "the" at 100,000 posts, against
        2 ms to find the newest matches. So when such a phrase is also in more than
        MAX_RESULTS posts (a site too small for it to cost much ranks it as before), it is
        left out of the ranking: the newest matches of the whole query are ranked by the
        other phrases (`_ranked_by`), or listed latest published first when no phrase is left.
        """
        phrases = _fts5_phrases(query)
        informative = cls._informative(phrases)
        if len(informative) == len(phrases):
            return _ranked_page(cls.newest_matches(query, MAX_RESULTS + 1, score=cls._score()),
                                limit, offset)  # fmt: skip
        if not informative:
            return _ranked_page(cls.newest_matches(query, MAX_RESULTS + 1), limit, offset)
        return cls._ranked_by(query, " AND ".join(informative), limit, offset)

    @classmethod
    def _ranked_by(cls, query: str, ranking_query: str, limit: int, offset: int):
        """The newest MAX_RESULTS + 1 matches of `query`, the newest MAX_RESULTS of them ranked
        by bm25 over the phrases of `ranking_query` only (which every match holds).

        The ranking reads the matches' id range once (a second MATCH, with the ids picked
        out of it by `rowid + 0 IN`, as the snippets do): joining the matches to the FTS
        table by id would run the query once per id. MATERIALIZED keeps SQLite from running
        the newest matches' statement once per use.
        """
        newest = cls.newest_matches(query, MAX_RESULTS + 1).cte("newest")
        newest = newest.prefix_with("MATERIALIZED")
        ranked = select(newest.c.id).order_by(newest.c.id.desc()).limit(MAX_RESULTS).subquery()
        bounds = (
            select(func.min(ranked.c.id).label("low"), func.max(ranked.c.id).label("high"))
            .cte("bounds")
            .prefix_with("MATERIALIZED")
        )
        found = select(func.count()).select_from(newest).scalar_subquery()
        rowid = cls.fts.c.rowid
        low, high = select(bounds.c.low).scalar_subquery(), select(bounds.c.high).scalar_subquery()
        score = cls._score().label("score")
        return (
            cls._public_matches()
            .add_columns(Post.id, found.label("found"), Post.published_at, score)
            .where(
                cls._match(ranking_query, "ranking_query"),
                rowid.between(low, high),
                (rowid + 0).in_(select(newest.c.id)),
            )
            .order_by(score.desc(), Post.published_at.desc(), Post.id.desc())
            .limit(limit)
            .offset(offset)
        )

    @classmethod
    def _informative(cls, phrases: list[str]) -> list[str]:
        """The phrases ranked, in order: all but those in most posts (`_phrases_in_most_posts`)."""
        common = _phrases_in_most_posts(phrases)
        return [phrase for phrase in phrases if phrase not in common]

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
        # `rowid IN (...)` would make FTS5 run the query once per id, each time merging the
        # doclists of every word a prefix stands for (50-60 ms for `wat*` at 100,000 posts);
        # a range is one run, and the ids are then picked out of it (`rowid + 0` keeps
        # SQLite from handing the IN to FTS5).
        rowid = cls.fts.c.rowid
        rows = db.session.execute(
            select(rowid, snippet).where(
                cls._match(fts5_query(query)),
                rowid.between(min(ids), max(ids)),
                (rowid + 0).in_(ids),
            )
        )
        return {post_id: snippet for post_id, snippet in rows}


class _PostgreSQL:
    document = literal_column(PG_COLUMN)

    @staticmethod
    def _tsquery(query: str):
        """Every word required (`&`), as FTS5 reads `fts5_query`'s terms; never a phrase.

        websearch_to_tsquery made quoted or joined words (`"two words"`, `harbour_tide`) a
        phrase, and checking a phrase reads the stored vector of each post holding the
        words: 15.5 s for `harbour_tide` at 100,000 posts, from any reader's query.
        """
        return func.plainto_tsquery(literal_column(PG_CONFIG), literal(query))

    @classmethod
    def matches(cls, query: str):
        """The condition the GIN index answers."""
        return cls.document.op("@@")(cls._tsquery(query))

    @classmethod
    def scopes(cls, query: str) -> list[_Scope]:
        """Walk the primary key for a query the planner expects in most posts; otherwise read
        the GIN index, first for a window of the newest ids that should hold the cap twice
        over, then, if it held fewer, for every post.

        The planner's estimate of how many posts match is good (ANALYZE keeps each word's
        share), but it prices each post tested on the walk as if its vector were in the row:
        it is in TOAST, so for a word in a few percent of the posts the walk costs 50-180 ms
        where the index costs a few.
        """
        plan = db.session.scalar(
            text(
                f"EXPLAIN (FORMAT JSON) SELECT 1 FROM post "
                f"WHERE {PG_COLUMN} @@ plainto_tsquery({PG_CONFIG}, :query)"
            ),
            {"query": query},
        )
        if isinstance(plan, str):  # the driver may leave the JSON as text
            plan = json.loads(plan)
        expected = max(plan[0]["Plan"]["Plan Rows"], 1)
        posts, highest = generation.remembered(("search-post-count",), _post_count_and_last_id)
        if not highest or expected >= PG_WALK_SHARE * posts:
            return [_Scope(ranked=expected <= MAX_RESULTS)]
        # Plain index scans off for the rest of the transaction, until `restore_planner()`
        # (bitmap scans remain: the GIN index, and the primary key's range ANDed with it).
        db.session.execute(text("SELECT set_config('enable_indexscan', 'off', true)"))
        db.session.info[_PG_PLANNER_CHANGED] = True
        window = math.ceil(PG_WINDOW_MARGIN * (MAX_RESULTS + 1) * highest / expected)
        if window >= highest:
            return [_Scope(gin_only=True)]
        return [_Scope(highest - window, gin_only=True), _Scope(gin_only=True)]

    @staticmethod
    def restore_planner() -> None:
        """Plain index scans back on, if `scopes()` turned them off."""
        if db.session.info.pop(_PG_PLANNER_CHANGED, False):
            db.session.execute(text("RESET enable_indexscan"))

    @classmethod
    def newest_matches(cls, query: str, limit: int, floor: int | None = None, ranked=True):
        """(id, published_at, score) of the newest public matches (with an id above `floor`),
        newest first. The rank (0 when not `ranked`) is computed outside the limited subquery,
        so for the rows returned only.
        """
        conditions = [cls.matches(query), public_clause()]
        if floor is not None:
            conditions.append(Post.id > floor)
        read = [cls.document.label("document")] if ranked else []  # the vector, again
        newest = (
            select(Post.id, Post.published_at, *read)
            .where(*conditions)
            .order_by(Post.id.desc())
            .limit(limit)
            .subquery()
        )
        score = func.ts_rank_cd(newest.c.document, cls._tsquery(query)) if ranked else literal(0)
        return select(newest.c.id, newest.c.published_at, score.label("score")).order_by(
            newest.c.id.desc()
        )

    @classmethod
    def ranked_page(cls, query: str, limit: int, offset: int, scope: _Scope):
        """The page's ids, best first, and the number found, in one statement.

        A query the planner expects in at least half the posts and more than MAX_RESULTS of
        them is listed latest published first, as SQLite lists a query of only such words:
        ts_rank_cd weighs words by their positions, not by how common they are, and reads
        each vector again, which made ranking 13-65 ms of such a search's 20-77 (`the`,
        `the harbour`, `harbour` at 100,000 posts; the walk alone 7-11 ms).
        """
        newest = cls.newest_matches(query, MAX_RESULTS + 1, scope.floor, scope.ranked)
        return _ranked_page(newest, limit, offset)

    @classmethod
    def snippets(cls, query: str, ids: list[int]) -> dict[int, str]:
        """ts_headline parses all the text it is given, about 1 ms per 1,000 words, so it is
        given a window of the body from just before the first word's first occurrence (or
        the start, when a plain substring search does not find it)."""
        first = _EDGE_PUNCTUATION.sub("", _words(query)[0].lower())
        found = func.strpos(func.lower(Post.body_text), first)
        start = func.greatest(found - PG_HEADLINE_LEAD, 1)
        window = func.substr(Post.body_text, start, PG_HEADLINE_WINDOW)
        headline = func.ts_headline(
            literal_column(PG_CONFIG), window, cls._tsquery(query), literal(PG_HEADLINE_OPTIONS)
        )
        rows = db.session.execute(select(Post.id, headline).where(Post.id.in_(ids)))
        return {post_id: snippet for post_id, snippet in rows}


_ENGINES = {"sqlite": _SQLite, "postgresql": _PostgreSQL}

"""What every test's app compiles the same way, compiled once per test session.

Each test builds its own app (`create_app`), and each app compiled, from the same sources, the
same templates and the same URL rules. Measured in CPU time on the test machine: 90 ms to add
the blog's 150 URL rules to a new app, 60 ms or more to compile the templates of a first page.
Over two thousand tests that was a third of the CPU the suite used outside the tests' own work.
Kept here are only the compiled forms; every app still has its own URL map, Jinja environment
and configuration, and renders and routes exactly as before.

Decisions:
- Templates: Jinja's own bytecode cache interface, in memory. Jinja compares the template
  source's checksum before using a stored compile, so an edited template is compiled again.
- URL rules: werkzeug compiles two small URL-building functions for every rule of every app
  (`Rule._compile_builder`, by generating and compiling Python source). The function depends
  only on the rule's parsed parts, its defaults and whether unknown arguments are appended;
  it takes the rule as its first argument, so the same function serves every app's copy of a
  rule. That method is werkzeug's private one, read in werkzeug 3.1: on another release
  `install` leaves werkzeug alone and the tests run as before, only slower, until someone
  reads the new one and updates KNOWN_WERKZEUG.
"""

from __future__ import annotations

from importlib.metadata import version

from jinja2 import BytecodeCache
from werkzeug.routing import Rule


class SharedCompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, kept in memory for the session and shared by every app."""

    def __init__(self):
        self._compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        compiled = self._compiled.get(bucket.key)
        if compiled is not None:
            bucket.bytecode_from_string(compiled)

    def dump_bytecode(self, bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = SharedCompiledTemplates()


def share_compiled_templates(app):
    """Let `app` use (and add to) the session's compiled templates; returns `app`."""
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    return app


KNOWN_WERKZEUG = "3.1."
_URL_BUILDERS: dict[tuple, object] = {}


def _builder_key(rule: Rule, append_unknown: bool) -> tuple:
    """Everything werkzeug 3.1 reads from the rule to generate its URL-building function: the
    parsed parts, the defaults (through the converters), and the flag; the rule's own text and
    converter classes for good measure."""
    defaults = tuple(sorted((name, repr(value)) for name, value in (rule.defaults or {}).items()))
    converters = tuple((name, type(c).__qualname__) for name, c in rule._converters.items())
    place = (rule.rule, rule.subdomain, rule.host)
    return (place, tuple(rule._trace), defaults, converters, append_unknown)


def install() -> bool:
    """Share compiled URL builders between apps on the werkzeug we read (3.1); True if so."""
    original = Rule._compile_builder
    if getattr(original, "shared", False):
        return True
    if not version("werkzeug").startswith(KNOWN_WERKZEUG):
        return False

    def compile_builder(self, append_unknown: bool = True):
        key = _builder_key(self, append_unknown)
        builder = _URL_BUILDERS.get(key)
        if builder is None:
            builder = _URL_BUILDERS[key] = original(self, append_unknown)
        return builder

    compile_builder.shared = True
    Rule._compile_builder = compile_builder
    return True

"""What every test's app compiles the same way, compiled once per test session.

Each test builds its own app (`create_app`), and each app compiled, from the same sources, the
same templates: 60 ms of CPU or more for the templates of a first page, in every test. Kept
here are only the compiled forms; every app still has its own Jinja environment and
configuration, and renders exactly as before.

Decisions:
- Templates: Jinja's own bytecode cache interface, in memory. Jinja compares the template
  source's checksum before using a stored compile, so an edited template is compiled again.
"""

from __future__ import annotations

from jinja2 import BytecodeCache


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

"""Write static/css/site.min.css, the readers' stylesheet without comments and spaces.

    .venv/bin/python scripts/minify_css.py

Pages link the minified file (nginx serves it straight from static/, so it lives on disk);
site.css stays the one to read and edit. After editing it, run this script and commit both:
tests/test_design.py fails while the two disagree. Needs rcssmin (in the `test` extra).
"""

from pathlib import Path

import rcssmin

CSS = Path(__file__).resolve().parent.parent / "static" / "css"
HEADER = "/* Made from site.css by scripts/minify_css.py: edit that file, then run the script. */\n"


def minified(source: str) -> str:
    return HEADER + rcssmin.cssmin(source) + "\n"


def main() -> None:
    text = minified((CSS / "site.css").read_text(encoding="utf-8"))
    (CSS / "site.min.css").write_text(text, encoding="utf-8")
    print(f"static/css/site.min.css: {len(text.encode())} bytes")


if __name__ == "__main__":
    main()

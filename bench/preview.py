"""Time the editor's preview work for a 5,000-word post in-process, with and without this
project's speed-ups: to Python-Markdown's inline parsing (`_speed_up_inline_parsing`) and to
the word count (`_plain_text_quickly`, `_count_words`), all in `blog.rendering`.

    .venv/bin/python bench/preview.py [-n 40] [--profile]

Both pipelines render the same text (bench/bench.py's `five_thousand_words`, as the HTTP
measurement there sends) in the same run, alternating, and must give the same HTML; prints the
median and best of `-n` runs of each (Markdown, sanitising, word count: what
`/admin/posts/preview` does besides JSON). `--profile` adds cProfile's top functions.
"""

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=40, help="runs of each pipeline")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)

    from bench.bench import five_thousand_words
    from blog import rendering

    text = five_thousand_words()
    pipelines = {"without speed-ups": False, "with speed-ups": True}
    markdowns = {name: rendering._new_markdown(speedups=on) for name, on in pipelines.items()}

    def preview(name: str) -> str:
        html = rendering.sanitize_html(markdowns[name].reset().convert(text))
        if pipelines[name]:
            rendering.reading_stats(html)
        else:  # the word count as it was: `html.parser` over the HTML
            parser = rendering._TextExtractor()
            parser.feed(html)
            parser.close()
            words = rendering._TOKEN_RE.findall(" ".join("".join(parser.parts).split()))
            sum(1 for word in words if rendering._HAS_WORD_CHAR_RE.search(word))
        return html

    outputs = {name: preview(name) for name in pipelines}  # warm up, and compare
    if len(set(outputs.values())) != 1:
        raise SystemExit("the two pipelines gave different HTML")
    timings: dict[str, list[float]] = {name: [] for name in pipelines}
    for _ in range(args.n):
        for name in pipelines:
            clock = time.perf_counter()
            preview(name)
            timings[name].append((time.perf_counter() - clock) * 1000)
    words = rendering.reading_stats(outputs["with speed-ups"])[0]
    print(f"preview of {words:,} words, {len(text):,} characters; {args.n} runs each, alternating")
    for name, values in timings.items():
        print(
            f"  {name:<18} median {statistics.median(values):6.1f} ms, best {min(values):6.1f} ms"
        )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(10):
            preview("with speed-ups")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The attack suite's report: the counts its tests collected, printed at the end of the run."""

from tests.security._support import COUNTS


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    terminalreporter.section("security suite")
    for name, value in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{name}: {value}")

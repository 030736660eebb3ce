"""What an import did, told the same way by the command line and the admin page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

Progress = Callable[[int, int, str], None]
"""progress(done, total, label): called as items are handled."""


class ImportFailed(Exception):
    """The import cannot start or had to stop; nothing of the unfinished batch was kept.

    str() is a message for the person running it.
    """


@dataclass
class Summary:
    dry_run: bool = False
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    media_imported: int = 0
    media_reused: int = 0
    users_created: int = 0
    users_existing: int = 0
    categories_created: int = 0
    tags_created: int = 0
    redirects: int = 0
    comments_imported: int = 0
    comments_existing: int = 0
    comments_skipped: dict[str, int] = field(default_factory=dict)  # by kind: spam, pingback…
    subscribers_imported: int = 0  # newsletter subscribers (Ghost's members)
    subscribers_existing: int = 0
    subscribers_skipped: dict[str, int] = field(default_factory=dict)  # by reason
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    settings_applied: list[str] = field(default_factory=list)  # "Site title", "Tagline"
    not_brought: dict[str, int] = field(default_factory=dict)  # by kind: what stayed behind
    warnings: list[dict[str, str]] = field(default_factory=list)

    def warn(self, title: str, message: str) -> None:
        entry = {"title": title, "message": message}
        if entry not in self.warnings:
            self.warnings.append(entry)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        counts = Counter(self.skipped_reasons)
        counts[reason] += 1
        self.skipped_reasons = dict(counts)

    def left_behind(self, kind: str, count: int = 1) -> None:
        """Count something of the source that this import does not bring over."""
        counts = Counter(self.not_brought)
        counts[kind] += count
        self.not_brought = dict(counts)

    def skip_comment(self, kind: str) -> None:
        counts = Counter(self.comments_skipped)
        counts[kind] += 1
        self.comments_skipped = dict(counts)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def headline(self) -> str:
        prefix = "Dry run (nothing was changed): " if self.dry_run else ""
        return (
            f"{prefix}imported {self.imported}, updated {self.updated}, "
            f"unchanged {self.unchanged}, skipped {self.skipped}, "
            f"warnings {len(self.warnings)}."
        )

    def detail_lines(self) -> list[str]:
        lines = [
            f"Images: {self.media_imported} imported, {self.media_reused} already here.",
            f"Authors: {self.users_created} accounts created (deactivated), "
            f"{self.users_existing} existing accounts used.",
            f"Categories created: {self.categories_created}; tags created: {self.tags_created}.",
            f"Redirects from old addresses: {self.redirects}.",
        ]
        if self.skipped_reasons:
            reasons = ", ".join(
                f"{count} {why}" for why, count in sorted(self.skipped_reasons.items())
            )
            lines.append(f"Skipped: {reasons}.")
        lines += self.comment_lines()
        lines += self.subscriber_lines()
        if self.settings_applied:
            lines.append(
                f"Site settings taken from the export: {', '.join(self.settings_applied)}."
            )
        if self.not_brought:
            lines.append("Not brought over:")
            lines += [f"  - {kind}: {count}" for kind, count in sorted(self.not_brought.items())]
        return lines

    def skip_subscriber(self, reason: str) -> None:
        counts = Counter(self.subscribers_skipped)
        counts[reason] += 1
        self.subscribers_skipped = dict(counts)

    def subscriber_lines(self) -> list[str]:
        """The newsletter subscribers' figures, when the import brought any in."""
        if not (self.subscribers_imported or self.subscribers_existing or self.subscribers_skipped):
            return []
        lines = [
            f"Newsletter subscribers: {self.subscribers_imported} imported, "
            f"{self.subscribers_existing} already here."
        ]
        if self.subscribers_skipped:
            reasons = ", ".join(
                f"{count} {why}" for why, count in sorted(self.subscribers_skipped.items())
            )
            lines.append(f"Members not imported as subscribers: {reasons}.")
        return lines

    def comment_lines(self) -> list[str]:
        """The comments' figures, when the import met any."""
        if not (self.comments_imported or self.comments_existing or self.comments_skipped):
            return []
        lines = [
            f"Comments: {self.comments_imported} imported, {self.comments_existing} already here."
        ]
        if self.comments_skipped:
            kinds = ", ".join(
                f"{count} {kind}" for kind, count in sorted(self.comments_skipped.items())
            )
            lines.append(f"Comments not imported: {kinds}.")
        return lines

    def lines(self) -> list[str]:
        """The whole summary as text lines: headline, details, then each warning."""
        lines = [self.headline(), *self.detail_lines()]
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  - {w['title']}: {w['message']}" for w in self.warnings]
        return lines

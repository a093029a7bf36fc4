"""A Hub search (`hostbench search`, the Catalog screen's Hub search) as rows: one per GGUF
file, with its quant, size, fit verdict here, and the reference to pull or launch it by."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.display.numbers import human_bytes

if TYPE_CHECKING:
    from catalog.hub_search import HubSearch

COLUMNS = ("quant", "size", "fit", "pull as")


def hub_rows(search: HubSearch) -> list[dict[str, Any]]:
    """Repos in the Hub's order (most downloaded first), files by name within each."""
    return [
        {
            "repo": repo.repo,
            "file": item.file,
            "quant": item.quant,
            "size": human_bytes(item.size_bytes) if item.size_bytes is not None else None,
            "size_bytes": item.size_bytes,
            "fit": item.verdict,
            "pull as": item.reference,
            "reference": item.reference,
            "note": item.note,
            "downloads": repo.downloads,
            "gated": repo.gated,
        }
        for repo in search.repos
        for item in repo.files
    ]


def cached_line(search: HubSearch) -> str | None:
    """For an answer from the cache: that it is cached, from when, and why."""
    if search.cached_because is None:
        return None
    when = search.searched_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"cached results from {when}: {search.cached_because}"


def empty_line(search: HubSearch) -> str | None:
    if search.repos:
        return None
    return f"no GGUF repositories on the Hub match {search.query!r}"


def hub_detail(row: dict[str, Any]) -> str:
    """What the Catalog screen's detail pane says of a Hub file (plain text)."""
    lines = [
        f"{row['repo']}",
        f"  file      {row['file']}",
        f"  quant     {row['quant'] or 'not in the name'}",
        f"  size      {row['size'] or 'unknown'}",
        f"  fit here  {row['fit'] or 'not estimated'}",
    ]
    if row["note"]:
        lines.append(f"  {row['note']}")
    if row["reference"]:
        lines += ["", "p pulls it; the CLI takes", f"  {row['reference']}"]
    return "\n".join(lines)

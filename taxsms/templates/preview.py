"""What a template will send and cost, before anyone sends it: final text, segments, review verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from rich.console import Console
from rich.table import Table

from taxsms.channels.smpp.text import segment_info
from taxsms.templates.catalog import Signature, TemplateCatalog, Value
from taxsms.templates.review import ContentReview, Match


@dataclass(frozen=True, slots=True)
class Preview:
    """A rendered template with its cost and the forbidden terms it contains (none, one hopes)."""

    template: str
    text: str
    encoding: str
    segments: int
    characters: int
    units: int  # GSM septets or UTF-16 code units, what the segment limits count
    matches: tuple[Match, ...]

    @property
    def cost_units(self) -> int:
        return self.segments

    @property
    def clean(self) -> bool:
        return not self.matches


@lru_cache(maxsize=1)
def _default_review() -> ContentReview:
    return ContentReview.from_file()


def preview(
    catalog: TemplateCatalog,
    name: str,
    variables: Mapping[str, Value],
    signature: Signature,
    review: ContentReview | None = None,
) -> Preview:
    """Render `name` and review the result (with the shipped forbidden-term list unless `review` is given)."""
    rendered = catalog.render(name, variables, signature)
    info = segment_info(rendered.text)
    matches = (review or _default_review()).check(rendered.text)
    return Preview(name, rendered.text, info.encoding, info.segments, len(rendered.text), info.units, tuple(matches))


def print_preview(result: Preview, console: Console | None = None) -> None:
    """Show a preview as a table (for `taxsms template preview`)."""
    console = console or Console()
    table = Table(title=f"template {result.template}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("text", result.text)
    table.add_row("characters", str(result.characters))
    table.add_row("encoding", f"{result.encoding} ({result.units} units)")
    table.add_row("segments", str(result.segments))
    table.add_row("cost units", str(result.cost_units))
    if result.clean:
        table.add_row("review", "[green]clean[/green]")
    for match in result.matches:
        table.add_row("review", f"[red]forbidden[/red] {match.term} ({match.category}): {match.found!r}")
    console.print(table)

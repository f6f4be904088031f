"""Previews: final text, cost and review verdict, and the table the CLI prints."""

from __future__ import annotations

import io

from rich.console import Console

from taxsms.queue.jobs import Kind
from taxsms.templates.catalog import Signature, Template, TemplateCatalog
from taxsms.templates.preview import preview, print_preview
from taxsms.templates.review import ContentReview


def test_preview_figures_and_review() -> None:
    catalog = TemplateCatalog([Template("t", Kind.NOTICE, "{{ body }}", ("body",), sign_operator=True)])
    review = ContentReview.parse("[gambling]\n赌博\n")
    result = preview(catalog, "t", {"body": "请勿参与赌 博。" + "税" * 60}, Signature("某市税务局", "王五"), review)
    assert result.text.startswith("【某市税务局】请勿参与赌 博。") and result.text.endswith("（经办人：王五）")
    assert result.characters == len(result.text) == result.units
    assert (result.encoding, result.segments, result.cost_units) == ("ucs2", 2, 2)
    assert [m.found for m in result.matches] == ["赌 博"] and not result.clean

    out = io.StringIO()
    print_preview(result, Console(file=out, width=200))
    printed = out.getvalue()
    assert "cost units" in printed and "赌博 (gambling)" in printed


def test_preview_with_the_shipped_list_is_clean() -> None:
    result = preview(TemplateCatalog.from_dir(), "reply_subscribed", {}, Signature("某市税务局"))
    assert result.clean and result.segments == 1

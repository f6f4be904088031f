"""Message templates and content review: the reviewed catalog, the forbidden-term check, previews."""

from taxsms.templates.catalog import Rendered, Signature, Template, TemplateCatalog, TemplateError
from taxsms.templates.preview import Preview, preview, print_preview
from taxsms.templates.review import ContentRejected, ContentReview, Match, ReviewHolder, ReviewListError

__all__ = [
    "ContentRejected",
    "ContentReview",
    "Match",
    "Preview",
    "Rendered",
    "ReviewHolder",
    "ReviewListError",
    "Signature",
    "Template",
    "TemplateCatalog",
    "TemplateError",
    "preview",
    "print_preview",
]

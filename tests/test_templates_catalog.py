"""The template catalog: loading reviewed TOML, strict rendering, signatures, cost figures, Redis round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from taxsms.channels.smpp.text import segment_info
from taxsms.queue.jobs import Job, Kind, validate_job
from taxsms.queue.keys import Keys
from taxsms.templates.catalog import Signature, Template, TemplateCatalog, TemplateError
from taxsms.templates.review import ContentReview

UNIT = Signature("国家税务总局某市税务局", "李四")
REMINDER_VARS = {"name": "张三", "period": "2026年10月", "tax": "增值税", "deadline": "2026年11月17日"}


def _catalog(body: str, variables: tuple[str, ...], sign_operator: bool = False) -> TemplateCatalog:
    return TemplateCatalog([Template("t", Kind.NOTICE, body, variables, sign_operator)])


def _write(tmp_path: Path, text: str, name: str = "a.toml") -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture(scope="module")
def defaults() -> TemplateCatalog:
    return TemplateCatalog.from_dir()


def test_the_shipped_templates_load_and_cover_every_kind(defaults: TemplateCatalog) -> None:
    assert {t.kind for t in defaults} == set(Kind)
    assert defaults.get("filing_reminder").variables == ("name", "period", "tax", "deadline")


def test_render_starts_with_the_unit_signature(defaults: TemplateCatalog) -> None:
    rendered = defaults.render("filing_reminder", REMINDER_VARS, UNIT)
    assert rendered.text.startswith("【国家税务总局某市税务局】尊敬的张三：您2026年10月的增值税申报期限为")
    assert "李四" not in rendered.text  # an automatic reminder does not show the operator
    job = validate_job(Job(id="j1", kind=Kind.FILING_REMINDER, to="13800138000", text=rendered.text))
    assert job.text == rendered.text  # the job validator accepts the signature


def test_operator_is_shown_when_the_template_asks(defaults: TemplateCatalog) -> None:
    variables = {**REMINDER_VARS, "amount": "1,234.00"}
    rendered = defaults.render("overdue_payment", variables, UNIT)
    assert rendered.text.endswith("（经办人：李四）")


def test_a_template_that_shows_the_operator_needs_one(defaults: TemplateCatalog) -> None:
    with pytest.raises(TemplateError) as caught:
        defaults.render("overdue_filing", REMINDER_VARS, Signature("某市税务局"))
    assert (caught.value.template, caught.value.variable) == ("overdue_filing", "operator_name")


@pytest.mark.parametrize("unit", ["", "局", "【某市税务局】"])
def test_the_sending_unit_is_required_and_cannot_forge_brackets(defaults: TemplateCatalog, unit: str) -> None:
    with pytest.raises(TemplateError, match="unit_name"):
        defaults.render("filing_reminder", REMINDER_VARS, Signature(unit))


def test_segment_and_encoding_figures(defaults: TemplateCatalog) -> None:
    short = defaults.render("reply_subscribed", {}, Signature("某市税务局"))
    assert short.text == "【某市税务局】您已成功开通税务短信服务。回复TD可退订。"
    assert (short.encoding, short.segments, short.cost_units) == ("ucs2", 1, 1)
    long = defaults.render("overdue_payment", {**REMINDER_VARS, "amount": "1,234.00"}, UNIT)
    assert len(long.text) > 70
    assert (long.encoding, long.segments, long.cost_units) == ("ucs2", 2, 2)
    assert long.segments == segment_info(long.text).segments
    ascii_only = _catalog("Your code is {{ code }}", ("code",)).render("t", {"code": 1234}, Signature("Tax Office"))
    assert (ascii_only.text, ascii_only.encoding, ascii_only.segments) == ("【Tax Office】Your code is 1234", "ucs2", 1)


def test_a_missing_variable_is_named(defaults: TemplateCatalog) -> None:
    variables = dict(REMINDER_VARS)
    del variables["deadline"]
    with pytest.raises(TemplateError) as caught:
        defaults.render("filing_reminder", variables, UNIT)
    error = caught.value
    assert (error.template, error.variable, error.reason) == ("filing_reminder", "deadline", "missing")


def test_an_extra_variable_is_named(defaults: TemplateCatalog) -> None:
    with pytest.raises(TemplateError) as caught:
        defaults.render("filing_reminder", {**REMINDER_VARS, "amount": "9"}, UNIT)
    assert caught.value.variable == "amount"
    assert "not a variable" in str(caught.value)


def test_values_cannot_forge_a_signature_or_smuggle_objects() -> None:
    catalog = _catalog("您好{{ name }}", ("name",))
    with pytest.raises(TemplateError, match="【】"):
        catalog.render("t", {"name": "】【假冒单位"}, UNIT)
    with pytest.raises(TemplateError, match="text or a number"):
        catalog.render("t", {"name": ["x"]}, UNIT)  # type: ignore[dict-item]


def test_the_sandbox_refuses_unsafe_attribute_access() -> None:
    catalog = _catalog("{{ name.__class__.__mro__ }}", ("name",))
    with pytest.raises(TemplateError):
        catalog.render("t", {"name": "x"}, UNIT)


def test_unknown_template() -> None:
    with pytest.raises(TemplateError, match="no such template") as caught:
        TemplateCatalog([]).render("nope", {}, UNIT)
    assert caught.value.template == "nope"


def test_a_syntax_error_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path, '[[template]]\nname = "bad"\nkind = "notice"\nvariables = ["x"]\nbody = "您好{{ x }"\n')
    with pytest.raises(TemplateError, match="syntax error") as caught:
        TemplateCatalog.from_dir(tmp_path)
    assert caught.value.source == str(tmp_path / "a.toml")
    assert caught.value.template == "bad"


@pytest.mark.parametrize(
    ("body", "variables", "variable"),
    [("您好{{ x }}{{ y }}", '["x"]', "y"), ("您好{{ x }}", '["x", "z"]', "z")],
)
def test_declared_variables_must_match_the_body(tmp_path: Path, body: str, variables: str, variable: str) -> None:
    _write(tmp_path, f'[[template]]\nname = "t"\nkind = "notice"\nvariables = {variables}\nbody = "{body}"\n')
    with pytest.raises(TemplateError) as caught:
        TemplateCatalog.from_dir(tmp_path)
    assert caught.value.variable == variable
    assert str(tmp_path / "a.toml") in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        '[[template]]\nname = "t"\nkind = "spam"\nbody = "x"\n',  # unknown kind
        '[[template]]\nname = "t"\nkind = "notice"\nbody = "x"\nsender = "me"\n',  # unknown field
        "[[template]\n",  # not TOML
    ],
)
def test_invalid_files_name_the_file(tmp_path: Path, text: str) -> None:
    _write(tmp_path, text)
    with pytest.raises(TemplateError, match=str(tmp_path / "a.toml")):
        TemplateCatalog.from_dir(tmp_path)


def test_a_name_defined_twice_is_refused(tmp_path: Path) -> None:
    entry = '[[template]]\nname = "t"\nkind = "notice"\nbody = "x"\n'
    _write(tmp_path, entry, "a.toml")
    _write(tmp_path, entry, "b.toml")
    with pytest.raises(TemplateError, match="defined twice"):
        TemplateCatalog.from_dir(tmp_path)


def test_the_shipped_templates_pass_content_review(defaults: TemplateCatalog) -> None:
    review = ContentReview.from_file()
    for template in defaults:
        text = defaults.render(template.name, {v: "示例" for v in template.variables}, UNIT).text
        assert review.check(text) == [], template.name


async def test_redis_round_trip(redis: Redis, keys: Keys, defaults: TemplateCatalog) -> None:
    await defaults.save_to_redis(redis, keys)
    assert await redis.hlen(keys.templates) == len(defaults)
    loaded = await TemplateCatalog.load_from_redis(redis, keys)
    assert list(loaded) == sorted(defaults, key=lambda t: t.name)
    expected = defaults.render("filing_reminder", REMINDER_VARS, UNIT)
    assert loaded.render("filing_reminder", REMINDER_VARS, UNIT) == expected
    await TemplateCatalog([]).save_to_redis(redis, keys)  # saving replaces, it does not merge
    assert len(await TemplateCatalog.load_from_redis(redis, keys)) == 0

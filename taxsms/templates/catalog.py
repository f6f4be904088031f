"""The template catalog: reviewed TOML files of message templates, rendered with a sandboxed Jinja engine.

A template file holds one or more `[[template]]` tables::

    [[template]]
    name = "filing_reminder"
    kind = "filing_reminder"
    variables = ["name", "period", "tax", "deadline"]
    sign_operator = false
    description = "Automatic reminder before the filing period ends"
    body = "尊敬的{{ name }}：您{{ period }}的{{ tax }}申报期限为{{ deadline }}，请及时办理。"

Every template is compiled once when the catalog is built; the variables its body uses must be exactly the
declared ones. Rendering prefixes the sending unit's signature 【unit】 and, when `sign_operator` is set, ends
with the operator's real name (nothing anonymous reaches a phone).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import msgspec
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from redis.asyncio import Redis

from taxsms.channels.smpp.text import segment_info
from taxsms.errors import InvalidInput
from taxsms.queue.jobs import Kind
from taxsms.queue.keys import Keys

DEFAULTS_DIR = Path(__file__).parent / "defaults"
SIGNATURE_LENGTH = (2, 30)  # characters inside 【】, as the job validator requires
Value = str | int | float


class TemplateError(InvalidInput):
    """A template that cannot be loaded or rendered; names the template, the variable and (when loading) the file."""

    def __init__(self, template: str, variable: str, reason: str, *, source: str = "") -> None:
        where = f"{source}: " if source else ""
        what = f"template {template!r}" + (f", variable {variable!r}" if variable else "")
        super().__init__(f"{where}{what}: {reason}")
        self.template = template
        self.variable = variable
        self.reason = reason
        self.source = source


class Template(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One template as ops write it (and as it is stored in Redis, JSON)."""

    name: str
    kind: Kind
    body: str
    variables: tuple[str, ...] = ()
    sign_operator: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True)
class Signature:
    """Who sends: the unit shown in 【】 and the real-name operator."""

    unit_name: str
    operator_name: str = ""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A final message text and what it costs."""

    template: str
    text: str
    encoding: str  # 'gsm7' or 'ucs2'
    segments: int

    @property
    def cost_units(self) -> int:
        """Billing units: one per SMS segment."""
        return self.segments


_env = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False, auto_reload=False
)
_decode_template = msgspec.json.Decoder(Template)
_encoder = msgspec.json.Encoder()


def compile_template(template: Template, source: str = "") -> jinja2.Template:
    """Parse and compile a template's body; check that it uses exactly its declared variables."""
    try:
        ast = _env.parse(template.body)
    except jinja2.TemplateSyntaxError as exc:
        reason = f"syntax error on line {exc.lineno}: {exc.message}"
        raise TemplateError(template.name, "", reason, source=source) from None
    used = meta.find_undeclared_variables(ast)
    declared = set(template.variables)
    if len(declared) != len(template.variables):
        raise TemplateError(template.name, "", "a variable is declared twice", source=source)
    if undeclared := sorted(used - declared):
        raise TemplateError(template.name, undeclared[0], "used in the body but not in `variables`", source=source)
    if unused := sorted(declared - used):
        raise TemplateError(template.name, unused[0], "declared in `variables` but not used in the body", source=source)
    return _env.from_string(ast)


def _check_signature(template: Template, signature: Signature) -> None:
    low, high = SIGNATURE_LENGTH
    unit = signature.unit_name.strip()
    if not low <= len(unit) <= high or "【" in unit or "】" in unit:
        raise TemplateError(template.name, "unit_name", f"the sending unit must be {low}-{high} characters, no 【】")
    if template.sign_operator and not signature.operator_name.strip():
        raise TemplateError(template.name, "operator_name", "this template shows the operator's name; none given")


class TemplateCatalog:
    """Templates by name, each compiled once."""

    def __init__(self, templates: Iterable[Template], source: str = "") -> None:
        self._templates: dict[str, Template] = {}
        self._compiled: dict[str, tuple[jinja2.Template, frozenset[str]]] = {}
        for template in templates:
            self._add(template, source)

    def _add(self, template: Template, source: str) -> None:
        if template.name in self._templates:
            raise TemplateError(template.name, "", "defined twice", source=source)
        self._compiled[template.name] = (compile_template(template, source), frozenset(template.variables))
        self._templates[template.name] = template

    @classmethod
    def from_dir(cls, path: str | Path = DEFAULTS_DIR) -> TemplateCatalog:
        """Load every `*.toml` file in `path` (in name order); errors name the file."""
        catalog = cls(())
        for file in sorted(Path(path).glob("*.toml")):
            for template in _read_file(file):
                catalog._add(template, str(file))
        return catalog

    async def save_to_redis(self, redis: Redis, keys: Keys) -> None:
        """Replace the catalog in Redis (hash: name -> JSON) in one transaction."""
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.templates)
            if self._templates:
                pipe.hset(keys.templates, mapping={n: _encoder.encode(t) for n, t in self._templates.items()})
            await pipe.execute()

    @classmethod
    async def load_from_redis(cls, redis: Redis, keys: Keys) -> TemplateCatalog:
        """Read the catalog saved by `save_to_redis` (empty when there is none)."""
        raw = await redis.hgetall(keys.templates)
        templates = []
        for name, data in sorted(raw.items()):
            label = name.decode() if isinstance(name, bytes) else str(name)
            try:
                templates.append(_decode_template.decode(data))
            except msgspec.ValidationError as exc:
                raise TemplateError(label, "", str(exc), source=f"redis {keys.templates}") from None
        return cls(templates, source=f"redis {keys.templates}")

    def get(self, name: str) -> Template:
        try:
            return self._templates[name]
        except KeyError:
            raise TemplateError(name, "", "no such template") from None

    def __contains__(self, name: object) -> bool:
        return name in self._templates

    def __iter__(self) -> Iterator[Template]:
        return iter(self._templates.values())

    def __len__(self) -> int:
        return len(self._templates)

    def render_body(self, name: str, variables: Mapping[str, Value]) -> str:
        """The template's body with `variables` filled in (no signature)."""
        template = self.get(name)
        compiled, declared = self._compiled[name]
        if extra := sorted(variables.keys() - declared):
            raise TemplateError(name, extra[0], "not a variable of this template")
        if missing := sorted(declared - variables.keys()):
            raise TemplateError(name, missing[0], "missing")
        for variable, value in variables.items():
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise TemplateError(name, variable, f"must be text or a number, not {type(value).__name__}")
            if isinstance(value, str) and ("【" in value or "】" in value):
                raise TemplateError(name, variable, "must not contain 【】 (it would forge a signature)")
        try:
            return compiled.render(variables).strip()
        except jinja2.UndefinedError as exc:  # e.g. an attribute of a variable that does not exist
            raise TemplateError(template.name, "", str(exc)) from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(template.name, "", f"refused by the sandbox: {exc}") from None

    def render(self, name: str, variables: Mapping[str, Value], signature: Signature) -> Rendered:
        """The final text: 【unit】body, plus （经办人：operator） when the template shows the operator."""
        template = self.get(name)
        _check_signature(template, signature)
        text = f"【{signature.unit_name.strip()}】{self.render_body(name, variables)}"
        if template.sign_operator:
            text += f"（经办人：{signature.operator_name.strip()}）"
        info = segment_info(text)
        return Rendered(name, text, info.encoding, info.segments)


def _read_file(file: Path) -> list[Template]:
    try:
        with file.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError("", "", f"not valid TOML: {exc}", source=str(file)) from None
    entries = data.get("template", [])
    if set(data) - {"template"} or not isinstance(entries, list):
        raise TemplateError("", "", "expected only [[template]] tables", source=str(file))
    templates = []
    for number, entry in enumerate(entries, 1):
        label = entry.get("name", f"#{number}") if isinstance(entry, dict) else f"#{number}"
        try:
            templates.append(msgspec.convert(entry, Template))
        except msgspec.ValidationError as exc:
            raise TemplateError(str(label), "", str(exc), source=str(file)) from None
    return templates

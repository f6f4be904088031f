"""The directory's records: taxpayers (id, name, jurisdiction unit, phones each with a role) and tax staff.

`Taxpayer.pack()` is the compact form stored in Redis: a MessagePack array [name, unit, [phones as integers],
role letters] (~50 bytes for a typical company), decoded straight into a struct.
"""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec

from taxsms.directory.ids import validate_taxpayer_id
from taxsms.errors import InvalidInput
from taxsms.governance.units import Level, UnitTree
from taxsms.privacy import mask_name, mask_phone, mask_taxpayer_id
from taxsms.queue.jobs import JobError, normalise_mobile

MAX_NAME = 100
MAX_PHONES = 8
_STAFF_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$")
TAXPAYER_LEVELS = frozenset({Level.COUNTY, Level.SUB_BUREAU})


class DirectoryError(InvalidInput):
    """A record that cannot be stored; says which field and why."""


class Role(StrEnum):
    """Whose phone it is, for the taxpayer."""

    LEGAL_REPRESENTATIVE = "legal_representative"
    FINANCE_CONTACT = "finance_contact"
    TAX_AGENT = "tax_agent"

    @classmethod
    def parse(cls, text: str) -> Role:
        """'legal', 'finance', 'agent' (or the full names, or 法人 / 财务 / 办税) -> Role."""
        word = text.strip().lower()
        for role, names in _ROLE_NAMES.items():
            if word in names:
                return role
        raise DirectoryError(f"phone role {text!r}: expected legal, finance or agent")

    @property
    def letter(self) -> str:
        return _LETTER[self]


_ROLE_NAMES = {
    Role.LEGAL_REPRESENTATIVE: {"legal", "legal_representative", "法人", "法定代表人", "l"},
    Role.FINANCE_CONTACT: {"finance", "finance_contact", "财务", "财务负责人", "f"},
    Role.TAX_AGENT: {"agent", "tax_agent", "办税", "办税人", "办税员", "a"},
}
_LETTER = {Role.LEGAL_REPRESENTATIVE: "L", Role.FINANCE_CONTACT: "F", Role.TAX_AGENT: "A"}
_BY_LETTER = {letter: role for role, letter in _LETTER.items()}


class Contact(msgspec.Struct, frozen=True):
    phone: str
    role: Role


class _Stored(msgspec.Struct, frozen=True, array_like=True):
    """The packed form: [name, unit, [phone as an integer, ...], role letters]."""

    name: str
    unit: str
    phones: list[int]
    roles: str


class Taxpayer(msgspec.Struct, frozen=True):
    """A taxpayer: `phones` in order, `roles` one letter per phone (see `contacts`)."""

    id: str
    name: str
    unit: str
    phones: tuple[str, ...]
    roles: str

    @property
    def contacts(self) -> tuple[Contact, ...]:
        return tuple(Contact(phone, _BY_LETTER[letter]) for phone, letter in zip(self.phones, self.roles, strict=True))

    def pack(self) -> bytes:
        return _packer.encode(_Stored(self.name, self.unit, [int(phone) for phone in self.phones], self.roles))

    @classmethod
    def unpack(cls, taxpayer_id: str, data: bytes) -> Taxpayer:
        stored = _unpacker.decode(data)
        return cls(taxpayer_id, stored.name, stored.unit, tuple(map(str, stored.phones)), stored.roles)

    def masked(self) -> dict[str, object]:
        """For listings and logs: id, name and phones masked."""
        return {
            "id": mask_taxpayer_id(self.id),
            "name": mask_name(self.name),
            "unit": self.unit,
            "phones": [{"phone": mask_phone(c.phone), "role": c.role.value} for c in self.contacts],
        }


class Staff(msgspec.Struct, frozen=True):
    code: str
    name: str
    unit: str
    phone: str

    def masked(self) -> dict[str, object]:
        return {"code": self.code, "name": mask_name(self.name), "unit": self.unit, "phone": mask_phone(self.phone)}


_packer = msgspec.msgpack.Encoder()
_unpacker = msgspec.msgpack.Decoder(_Stored)


def phone(raw: str) -> str:
    try:
        return normalise_mobile(raw)
    except JobError:
        raise DirectoryError(f"not a mainland China mobile number: {raw!r}") from None


def _name(raw: str, what: str) -> str:
    name = raw.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable() or "【" in name or "】" in name:
        raise DirectoryError(f"{what} {raw!r}: needs 1-{MAX_NAME} printable characters, without 【】")
    return name


def check_unit(tree: UnitTree, unit: str, levels: frozenset[Level] | None = None) -> str:
    unit = unit.strip()
    if unit not in tree:
        raise DirectoryError(f"unknown unit {unit!r} (not in the unit tree)")
    if levels and tree.level_of(unit) not in levels:
        allowed = " or ".join(sorted(level.value for level in levels))
        raise DirectoryError(f"unit {unit!r} is a {tree.level_of(unit)}: taxpayers belong to a {allowed}")
    return unit


def taxpayer(tree: UnitTree, taxpayer_id: str, name: str, unit: str, contacts: list[tuple[str, str]]) -> Taxpayer:
    """A validated Taxpayer from raw fields; DirectoryError (or TaxpayerIdError) names the problem."""
    checked: dict[str, Contact] = {}
    for raw_phone, raw_role in contacts:
        number = phone(raw_phone)
        checked.setdefault(number, Contact(number, Role.parse(raw_role)))
    if len(checked) > MAX_PHONES:
        raise DirectoryError(f"{len(checked)} phones: at most {MAX_PHONES}")
    return Taxpayer(
        validate_taxpayer_id(taxpayer_id),
        _name(name, "taxpayer name"),
        check_unit(tree, unit, TAXPAYER_LEVELS),
        tuple(checked),
        "".join(contact.role.letter for contact in checked.values()),
    )


def staff(tree: UnitTree, code: str, name: str, unit: str, raw_phone: str) -> Staff:
    code = code.strip()
    if not _STAFF_CODE.match(code):
        raise DirectoryError(f"staff code {code!r}: 1-32 letters, digits, '-' or '_'")
    return Staff(code, _name(name, "staff name"), check_unit(tree, unit), phone(raw_phone))

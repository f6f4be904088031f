"""Content review: forbidden terms found with one Aho-Corasick pass (ahocorasick-rs), through the usual evasions.

Text and terms are folded the same way before matching, one character at a time through a table built once:
compatibility decomposition (full-width → half-width, enclosed ㈠ → 一, Kangxi radicals ⾙ → 貝, compatibility
ideographs → unified ones; combining marks dropped), case folding, traditional → simplified (OpenCC's t2s
character table, so mixed spellings such as 代開发票 fold too), common variants (帐 → 账), and whitespace,
punctuation, symbols, invisible format characters and Hangul fillers (U+3164 ...) removed, so 赌 博, 賭*博,
赌ㅤ博 and ＤＵ·ＢＯ all fold. Clean texts (nearly all) cost one str.translate and one automaton pass; only a
text with a match is folded again with a map back to the original positions, so a refusal quotes what was
actually written.

The list is data: plain text (`[category]` headers, one term a line, spellings separated by `|`) or TOML
(`category = ["term|spelling", ...]`), saved to Redis as JSON and reloaded without a restart (ReviewHolder).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import msgspec
from ahocorasick_rs import AhoCorasick
from redis.asyncio import Redis

from taxsms.errors import InvalidInput, Refused
from taxsms.queue.keys import Keys

DEFAULT_TERMS = Path(__file__).parent / "defaults" / "forbidden.txt"
_DROPPED_CATEGORIES = frozenset("ZPSCM")
#: Art. 11's nine kinds of forbidden content, and "anything else the law forbids": the shipped list's categories.
ART_11_CATEGORIES = (
    "constitution",
    "state_security",
    "ethnic_hatred",
    "cult",
    "rumour",
    "obscenity",
    "gambling",
    "violence",
    "defamation",
    "unlawful",
)


class Term(msgspec.Struct, frozen=True):
    """One forbidden term: its spellings (the first is the one reported) and its category."""

    category: str
    spellings: tuple[str, ...]

    @property
    def term(self) -> str:
        return self.spellings[0]


@dataclass(frozen=True, slots=True)
class Match:
    """A forbidden term found in a text: `original_span` is [start, end) in the text as written."""

    term: str
    category: str
    original_span: tuple[int, int]
    found: str  # the text as written, evasions included


class ContentRejected(Refused, ValueError):
    """A text with forbidden content; names every term found (the one content error of every path)."""

    def __init__(self, matches: list[Match]) -> None:
        found = "; ".join(f"{m.term} ({m.category}) as {m.found!r} at {m.original_span[0]}" for m in matches)
        super().__init__(f"forbidden content: {found}")
        self.matches = matches


class ReviewListError(InvalidInput):
    """A forbidden-term list that cannot be used."""


#: Characters that render as nothing and are letters by category, so NFKD and the category rule keep them.
FILLERS = "\u115f\u1160\u3164\uffa0\u2800"
#: Variant spellings OpenCC's t2s leaves alone but that mean the same in a forbidden term.
VARIANTS = {"帐": "账", "钜": "巨", "祕": "秘", "綫": "线", "线": "线", "菸": "烟"}
#: The ranges folded through OpenCC: CJK radicals to unified ideographs, and compatibility ideographs.
_CJK_RANGES = ((0x2E80, 0xA000), (0xF900, 0xFB00))


def _simplified() -> dict[str, str]:
    """Traditional → simplified for single characters (OpenCC t2s), each converted on its own line."""
    import opencc

    chars = [chr(code) for low, high in _CJK_RANGES for code in range(low, high)]
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # pragma: no cover - a converter that merged lines
        raise RuntimeError("OpenCC t2s changed the number of lines of the character table")
    return {a: b for a, b in zip(chars, converted, strict=True) if a != b and len(b) == 1}


def _fold_one(char: str, simplified: dict[str, str]) -> str:
    if char in FILLERS:
        return ""
    out = []
    for piece in unicodedata.normalize("NFKD", char):
        if unicodedata.category(piece)[0] in _DROPPED_CATEGORIES or piece in FILLERS:
            continue
        for folded in piece.casefold():
            folded = simplified.get(folded, folded)
            out.append(VARIANTS.get(folded, folded))
    return "".join(out)


@lru_cache(maxsize=1)
def fold_table() -> dict[int, str]:
    """code point → folded text, for every BMP character that folding changes (built once, ~0.2 s)."""
    simplified = _simplified()
    table: dict[int, str] = {}
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        folded = _fold_one(char, simplified)
        if folded != char:
            table[code] = folded
    return table


def _fold_char(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return fold_table().get(code, char)
    return _fold_one(char, {})


def _char_class(codes: list[int]) -> str:
    """A regex character class of `codes` (sorted), as ranges."""
    parts, start, prev = [], codes[0], codes[0]
    for code in [*codes[1:], -1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(re.escape(chr(start)) + ("" if start == prev else "-" + re.escape(chr(prev))))
        start = prev = code
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=1)
def _fast_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(runs of characters folding drops, one character folding changes or that lies outside the BMP)."""
    table = fold_table()
    dropped = sorted(code for code, folded in table.items() if not folded)
    changed = sorted(code for code, folded in table.items() if folded)
    return re.compile(_char_class(dropped) + "+"), re.compile(_char_class(changed) + "|[\U00010000-\U0010ffff]")


def prepare() -> None:
    """Build the folding tables now (once per process, ~0.1-0.2 s of CPU) rather than in the first review: a
    long-running process (the API, the reply service, the worker) calls it at start."""
    _fast_patterns()


def fast_fold(text: str) -> str:
    """fold(text)[0] without the position map: drop what folding drops (one regex pass), and translate only
    a text that still holds a character folding changes (most clean Chinese texts hold none)."""
    dropped, changed = _fast_patterns()
    text = dropped.sub("", text)
    found = changed.search(text)
    if found is None:
        return text
    if max(text) > "\uffff":
        return fold(text)[0]
    return text.translate(fold_table())


def fold(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of the original character it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = _fold_char(char)
        chars.append(folded)
        origin.extend([index] * len(folded))
    return "".join(chars), origin


class ContentReview:
    """An immutable forbidden-term matcher (build a new one to change the list)."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = tuple(terms)
        folded_terms: dict[str, tuple[str, str]] = {}  # folded spelling -> (term, category): the first claim keeps it
        for term in self.terms:
            for spelling in term.spellings:
                key, _ = fold(spelling)
                if not key:
                    raise ReviewListError(f"term {spelling!r} ({term.category}) has no letters left after folding")
                folded_terms.setdefault(key, (term.term, term.category))
        self._found = list(folded_terms.values())  # by pattern index
        self._automaton = AhoCorasick(list(folded_terms)) if folded_terms else None
        prepare()  # built once per process, here rather than on the first text reviewed
        self.digest = hashlib.sha256(self.to_json()).hexdigest()[:16]

    @classmethod
    def parse(cls, text: str, *, toml: bool = False) -> ContentReview:
        """Build from the plain-text list format (or TOML when `toml`)."""
        return cls(_parse_toml(text) if toml else _parse_text(text))

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_TERMS) -> ContentReview:
        """The list in `path`; the same text gives the same (immutable) review, built once (as from_json)."""
        path = Path(path)
        try:
            return _parsed(path.read_text(encoding="utf-8"), path.suffix == ".toml")
        except ReviewListError as exc:
            raise ReviewListError(f"{path}: {exc}") from None

    def to_json(self) -> bytes:
        return msgspec.json.encode({"terms": self.terms})

    @classmethod
    def from_json(cls, data: bytes | str) -> ContentReview:
        """The list as stored in Redis; the same bytes give the same (immutable) review, built once: the registry
        snapshot reloads it every few seconds, and a list of 10,000 terms takes ~40-120 ms to build."""
        return _from_json(data)

    async def save_to_redis(self, redis: Redis, keys: Keys) -> None:
        await redis.set(keys.forbidden_terms, self.to_json())

    @classmethod
    async def from_redis(cls, redis: Redis, keys: Keys) -> ContentReview:
        data = await redis.get(keys.forbidden_terms)
        if data is None:
            raise ReviewListError(f"no forbidden-term list at {keys.forbidden_terms} (load one: taxsms review load)")
        return cls.from_json(data)

    def is_clean(self, text: str) -> bool:
        """True when `text` holds no forbidden term (the fast path: no position map)."""
        return self._automaton is None or not self._automaton.find_matches_as_indexes(fast_fold(text))

    def check(self, text: str) -> list[Match]:
        """Every forbidden term in `text`, in order of position (overlapping ones included)."""
        if self.is_clean(text):
            return []
        folded, origin = fold(text)
        matches = []
        assert self._automaton is not None
        for index, first, end in self._automaton.find_matches_as_indexes(folded, overlapping=True):
            term, category = self._found[index]
            start, stop = origin[first], origin[end - 1] + 1
            matches.append(Match(term, category, (start, stop), text[start:stop]))
        matches.sort(key=lambda m: (m.original_span, m.term))
        return matches

    def ensure_clean(self, text: str) -> None:
        """Raise ContentRejected naming every forbidden term in `text`."""
        matches = self.check(text)
        if matches:
            raise ContentRejected(matches)


class _Stored(msgspec.Struct):
    terms: list[Term]


def _term(category: str, line: str, where: str) -> Term:
    spellings = tuple(s.strip() for s in line.split("|") if s.strip())
    if not spellings:
        raise ReviewListError(f"{where}: empty term")
    if not category:
        raise ReviewListError(f"{where}: term {spellings[0]!r} before any [category] header")
    return Term(category, spellings)


def _parse_text(text: str) -> list[Term]:
    terms, category = [], ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip()
            continue
        terms.append(_term(category, line, f"line {number}"))
    return terms


def _parse_toml(text: str) -> list[Term]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReviewListError(f"not valid TOML: {exc}") from None
    terms = []
    for category, lines in data.items():
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise ReviewListError(f"{category}: expected a list of terms")
        terms.extend(_term(category, line, category) for line in lines)
    return terms


class ReviewHolder:
    """The review in force; `reload` builds a new one from Redis or a file and swaps it in whole."""

    def __init__(self, review: ContentReview) -> None:
        self.review = review

    def check(self, text: str) -> list[Match]:
        return self.review.check(text)

    def ensure_clean(self, text: str) -> None:
        self.review.ensure_clean(text)

    async def reload(self, redis: Redis, keys: Keys) -> bool:
        """Re-read the list from Redis; True when it changed. On error the review in force stays."""
        return self._swap(await ContentReview.from_redis(redis, keys))

    def reload_file(self, path: str | Path) -> bool:
        """Re-read the list from a file; True when it changed. On error the review in force stays."""
        return self._swap(ContentReview.from_file(path))

    def _swap(self, review: ContentReview) -> bool:
        changed = review.digest != self.review.digest
        if changed:
            self.review = review  # one reference assignment: readers see the old list or the new one
        return changed


@lru_cache(maxsize=4)
def _from_json(data: bytes | str) -> ContentReview:
    try:
        return ContentReview(list(msgspec.json.decode(data, type=_Stored).terms))
    except msgspec.DecodeError as exc:
        raise ReviewListError(f"stored list is not valid: {exc}") from None


@lru_cache(maxsize=4)
def _parsed(text: str, toml: bool) -> ContentReview:
    return ContentReview.parse(text, toml=toml)

"""The words SQLite's FTS5 indexes for a text, computed in Python: the PostgreSQL store
builds its tsvectors from them, so both backends match the same studies for the same query.

FTS5's tokenizer is `porter unicode61 remove_diacritics 2` (store/schema_sqlite.sql); the
functions here reproduce it: tokens, case folding, diacritics and Porter's stemmer with
FTS5's own departures (fts5_tokenize.c). tests/test_postgres.py checks them against FTS5
itself, over made-up edge cases and real records.
"""

from __future__ import annotations

import re
import unicodedata

# FTS5's unicode61 tokenizer: runs of letters, digits and private-use characters, combining
# marks included (they go with remove_diacritics), lower-cased by simple case folding,
# which maps a few more characters than str.lower() (the micro sign to mu, as in "µg").
# Over the shared corpus this reads all 6.2 million words as FTS5 does (tests check it).
_TOKEN = re.compile(
    "[\\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f\ue000-\uf8ff]+"
)
_FOLD = str.maketrans(
    "_\u00b5\u017f\u0345\u03c2\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f5\u1e9b\u1fbe",
    " \u03bc\u0073\u03b9\u03c3\u03b2\u03b8\u03c6\u03c0\u03ba\u03c1\u03b5\u1e61\u03b9",
)
_lexemes: dict[str, str] = {}


# Porter's algorithm as SQLite's FTS5 implements it (fts5_tokenize.c), which is what the
# SQLite store indexes: over the UTF-8 bytes of a lower-cased word, any non-ASCII byte a
# consonant, with Porter's two published departures (step 2: "bli" -> "ble", "logi" ->
# "log"). Each step tries its rules for the word's next-to-last letter in order; the first
# suffix that fits decides, whether or not its condition then holds.
_STEP2 = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "g": (("logi", "log"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
}
_STEP3 = {
    "a": (("ical", "ic"),),
    "s": (("ness", ""),),
    "t": (("icate", "ic"), ("iciti", "ic")),
    "u": (("ful", ""),),
    "v": (("ative", ""),),
    "z": (("alize", "al"),),
}
_STEP4 = {
    "a": ("al",), "c": ("ance", "ence"), "e": ("er",), "i": ("ic",), "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"), "o": ("ion", "ou"), "s": ("ism",),
    "t": ("ate", "iti"), "u": ("ous",), "v": ("ive",), "z": ("ize",),
}  # fmt: skip


def _vowel(ch: str, y_is_vowel: bool) -> bool:
    return ch in "aeiou" or (y_is_vowel and ch == "y")


def _gobble_vc(stem: str, consonant: bool = False) -> int:
    """Past the first vowel-then-consonant of `stem`: its end, or 0 when there is none."""
    i, n = 0, len(stem)
    while i < n:
        consonant = not _vowel(stem[i], consonant)
        if not consonant:
            break
        i += 1
    i += 1
    while i < n:
        consonant = not _vowel(stem[i], consonant)
        if consonant:
            return i + 1
        i += 1
    return 0


def _m_gt0(stem: str) -> bool:
    return _gobble_vc(stem) > 0


def _m_gt1(stem: str) -> bool:
    n = _gobble_vc(stem)
    return n > 0 and _gobble_vc(stem[n:], True) > 0


def _m_eq1(stem: str) -> bool:
    n = _gobble_vc(stem)
    return n > 0 and _gobble_vc(stem[n:], True) == 0


def _cvc(stem: str) -> bool:
    """Porter's *o: the stem ends consonant-vowel-consonant, the last not w, x or y."""
    if stem[-1] in "wxy":
        return False
    mask, consonant = 0, False
    for ch in stem:
        consonant = not _vowel(ch, consonant)
        mask = (mask << 1) | consonant
    return mask & 7 == 5


def _has_vowel(stem: str) -> bool:
    return any(_vowel(ch, i > 0) for i, ch in enumerate(stem))


def _replace(word: str, rules: dict[str, tuple[tuple[str, str], ...]]) -> str:
    for suffix, replacement in rules.get(word[-2], ()):
        if len(word) > len(suffix) and word.endswith(suffix):
            stem = word[: -len(suffix)]
            return stem + replacement if _m_gt0(stem) else word
    return word


def _porter(word: str) -> str:
    """The Porter stem of a lower-cased word of 3 to 64 bytes, as FTS5 computes it."""
    w = word if word.isascii() else "".join(chr(b | 0x100 * (b > 0x7F)) for b in word.encode())
    if w.endswith("s"):  # step 1a
        if w.endswith("es") and (
            (w.endswith("sses") and len(w) > 4) or (len(w) > 3 and w[-3] == "i")
        ):
            w = w[:-2]
        elif not w.endswith("ss"):
            w = w[:-1]
    removed = ""  # step 1b
    if w.endswith("eed") and len(w) > 3:
        if _m_gt0(w[:-3]):
            w = w[:-1]
    elif w.endswith("ed") and len(w) > 2 and _has_vowel(w[:-2]):
        w, removed = w[:-2], "ed"
    elif w.endswith("ing") and len(w) > 3 and _has_vowel(w[:-3]):
        w, removed = w[:-3], "ing"
    if removed:
        if len(w) > 2 and w[-2:] in ("at", "bl", "iz"):
            w += "e"
        elif len(w) > 1 and w[-1] == w[-2] and not _vowel(w[-1], False) and w[-1] not in "lsz":
            w = w[:-1]
        elif _m_eq1(w) and _cvc(w):
            w += "e"
    if w.endswith("y") and _has_vowel(w[:-1]):  # step 1c
        w = w[:-1] + "i"
    if len(w) > 1:
        w = _replace(w, _STEP2)
    if len(w) > 1:
        w = _replace(w, _STEP3)
    if len(w) > 1:  # step 4
        for suffix in _STEP4.get(w[-2], ()):
            if len(w) > len(suffix) and w.endswith(suffix):
                stem = w[: -len(suffix)]
                keep = _m_gt1(stem) and (suffix != "ion" or stem[-1] in "st")
                w = stem if keep else w
                break
    if w.endswith("e") and (_m_gt1(w[:-1]) or (_m_eq1(w[:-1]) and not _cvc(w[:-1]))):
        w = w[:-1]  # step 5a
    if len(w) > 1 and w.endswith("ll") and _m_gt1(w[:-1]):
        w = w[:-1]  # step 5b
    return w if word.isascii() else bytes(ord(c) & 0xFF for c in w).decode(errors="replace")


def _without_diacritic(ch: str) -> str:
    """What remove_diacritics makes of a character: combining marks go, accented Latin
    letters lose their accents, anything else (Greek, Hangul …) stays as it is."""
    if unicodedata.combining(ch):
        return ""
    if "\u00c0" <= ch <= "\u024f" or "\u1e00" <= ch <= "\u1eff":
        return unicodedata.normalize("NFD", ch)[0]
    return ch


def lexeme(token: str) -> str:
    """A lower-cased word as FTS5's porter tokenizer indexes it: no diacritics, stemmed."""
    found = _lexemes.get(token)
    if found is None:
        word = token
        if not word.isascii():
            word = "".join(map(_without_diacritic, word))
        # FTS5 leaves words under 3 or over 64 bytes unstemmed
        found = _porter(word) if 3 <= len(word.encode()) <= 64 else word
        if len(_lexemes) > 1_000_000:
            _lexemes.clear()
        _lexemes[token] = found
    return found


# For ASCII text the tokenizer reduces to: letters and digits, lower-cased; everything else
# separates. A one-to-one ASCII table and str.split do that faster than the regular
# expression (words() takes a third less time; most index text is ASCII, and this runs for
# every word the PostgreSQL store indexes).
_ASCII_WORDS = str.maketrans(
    {chr(i): chr(i).lower() if chr(i).isalnum() else " " for i in range(128)}
)


def words(text: str) -> list[str]:
    """The lexemes of a text, in order."""
    if text.isascii():
        tokens = text.translate(_ASCII_WORDS).split()
    else:
        tokens = _TOKEN.findall(text.lower().translate(_FOLD))
    found = list(map(_lexemes.get, tokens))  # nearly all cached: keep the loop in C
    if None in found:
        pairs = zip(found, tokens, strict=True)
        found = [word if word is not None else lexeme(token) for word, token in pairs]
    return found

"""Text normalisation, tokenisation, stemming and language guessing for German and English."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

import snowballstemmer

Lang = Literal["de", "en"]
LANGS: tuple[Lang, Lang] = ("de", "en")

_UMLAUTS = (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"))  # casefold() made ẞ into ss
_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
# Paragraph signs and abbreviations with digits ("§ 81a", "B2", "Cat 7") stay tokens.
_PARAGRAPH = re.compile(r"§\s*(\d+[a-z]?)")
# Latin letters with diacritics (Latin-1 Supplement to Latin Extended-B, plus combining marks).
_ACCENTED = re.compile(r"[\u00c0-\u024f]+|[\u0300-\u036f]+")

# Small hand-written stop lists: only words that carry no topic on their own.
STOPWORDS_DE = frozenset(
    """
    aber alle allem allen aller alles als also am an ander andere anderen anderer anderes
    auch auf aus bei beim bin bis bist bitte da dabei dadurch dafuer dagegen daher damit
    dann darf darfst darueber darum das dass davon dazu dein deine dem den denen denn der
    deren des dessen deshalb die dies diese diesem diesen dieser dieses doch dort du durch
    eben eigentlich ein eine einem einen einer eines einfach einige einmal er es etwa etwas
    euch euer eure fuer gab gibt geht gern gerne gewesen habe haben hat hatte hatten hier
    hin ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im immer in ins ist ja jede jedem jeden
    jeder jedes jemand jetzt kann kannst kein keine koennen koennt koennte koennten man
    manche mehr mein meine meinem meinen meiner mich mir mit muss muessen musst nach nicht
    nichts noch nun nur ob oder ohne sehr sein seine sich sie sind so soll sollen sollte
    sollten sondern sowie ueber um und uns unser unsere unserem unseren unserer unter viel
    viele vom von vor wann war waere waren warum was weil welche welchem welchen welcher
    welches wem wen wenn wer werden wie wieder wir wird wirst wo wobei woher wohin wollen
    wuerde wuerden zu zum zur zwar zwischen ca bzw usw eigene eigenen eigener hallo danke
    gut genau ganz schon mal denn gar bisher sonst dafur
    """.split()  # noqa: SIM905 - a word list reads better as text
)
STOPWORDS_EN = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just me
    more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why
    will with would you your yours please there's what's how's we're i'm it's let's any
    anything something really actually hi hello thanks thank get got want
    """.split()  # noqa: SIM905 - a word list reads better as text
)
STOPWORDS = STOPWORDS_DE | STOPWORDS_EN

_LANG_HINTS_DE = frozenset(
    """
    und der die das ist wie was wir ich nicht mit fuer ein eine unsere unser koennen gibt es
    welche wann wo sind auf auch sollen muessen
    """.split()  # noqa: SIM905 - a word list reads better as text
)
_LANG_HINTS_EN = frozenset(
    """
    and the is how what we i not with for a an our can there which when where are do does
    should must to of
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def fold(text: str) -> str:
    """Lower-case, Unicode-normalise and spell umlauts and ß as ae/oe/ue/ss."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():
        for umlaut, spelled in _UMLAUTS:
            text = text.replace(umlaut, spelled)
    # Remove remaining accents (é -> e) but keep letters of other scripts intact.
    return _ACCENTED.sub(_strip_accent, text)


def _strip_accent(match: re.Match[str]) -> str:
    decomposed = unicodedata.normalize("NFKD", match.group(0))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Split folded text into word tokens (hyphenated words also yield their parts)."""
    folded = fold(text)
    if "§" in folded:
        folded = _PARAGRAPH.sub(r" paragraf\1 ", folded)
    tokens: list[str] = _WORD.findall(folded)
    if "-" not in folded and "'" not in folded:
        return tokens
    out: list[str] = []
    for token in tokens:
        if "-" in token or "'" in token:
            parts = [p for p in re.split(r"[-']", token) if p]
            out.append("".join(parts))
            out.extend(parts)
        else:
            out.append(token)
    return out


def content_words(text: str) -> list[str]:
    """Word tokens without stop words and one-letter noise."""
    return [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


@functools.lru_cache(maxsize=2)
def _stemmer(lang: Lang) -> snowballstemmer.Stemmer:
    return snowballstemmer.stemmer("german" if lang == "de" else "english")


@functools.lru_cache(maxsize=200_000)
def stem(word: str, lang: Lang) -> str:
    """Snowball stem of one folded word."""
    result: str = _stemmer(lang).stemWord(word)
    return result


def stems(tokens: Iterable[str], lang: Lang) -> list[str]:
    """Stem every token in `tokens` with the stemmer of `lang`."""
    return [stem(t, lang) for t in tokens]


def guess_language(text: str, default: Lang = "de") -> Lang:
    """Guess whether a question is German or English from function words and umlauts."""
    raw = text.lower()  # not casefold(): that would turn ß into ss before we look for it
    if any(ch in raw for ch in "äöüß"):
        return "de"
    tokens = words(text)
    de = sum(1 for t in tokens if t in _LANG_HINTS_DE)
    en = sum(1 for t in tokens if t in _LANG_HINTS_EN)
    if en > de:
        return "en"
    if de > en:
        return "de"
    return default


def clear_language(text: str) -> Lang | None:
    """The question's language when it is unmistakable, else None (then the setting decides).

    Unmistakable: at least two function words of one language and none of the other; or, for
    German, umlauts or ß in a text of two words or more without English function words. A
    place or a name ("How do we join in Köln?", "Köln" alone) does not make a message German.
    """
    tokens = words(text)
    de = sum(1 for t in tokens if t in _LANG_HINTS_DE)
    en = sum(1 for t in tokens if t in _LANG_HINTS_EN)
    if en >= 2 and de == 0:
        return "en"
    umlauts = any(ch in text.lower() for ch in "äöüß")
    if en == 0 and (de >= 2 or (umlauts and len(tokens) >= 2)):
        return "de"
    return None


def squash(text: str) -> str:
    """Folded text with only content words, for fuzzy string comparison."""
    return " ".join(content_words(text))


def split_compound(word: str, vocabulary: frozenset[str] | set[str]) -> Sequence[str]:
    """Split a German compound into two known words ("dolmetscherpool" -> dolmetscher, pool).

    Tries every split point and accepts one where both halves are known words, allowing the
    linking elements -s-, -es-, -n- and -en- after the first half. Returns () if none fits.
    """
    if len(word) < 8:
        return ()
    best: tuple[str, str] | None = None
    for i in range(len(word) - 4, 3, -1):
        head, tail = word[:i], word[i:]
        if tail not in vocabulary or len(tail) < 4:
            continue
        for link in ("", "s", "es", "n", "en"):
            if link and not head.endswith(link):
                continue
            base = head[: len(head) - len(link)] if link else head
            if len(base) >= 4 and base in vocabulary:
                # Prefer the longest head (fewest, most specific parts).
                best = (base, tail)
                break
        if best:
            break
    return best or ()


# A sentence that asks: a question mark, or a German or English question or request opener.
_ASKING = re.compile(
    r"^(?:wie|was|wo|woher|wohin|wer|wen|wem|welche\w*|wann|warum|wieso|weshalb|gibt es|kann|"
    r"koennen|koennt|kann man|darf|duerfen|muss|muessen|soll|sollen|sollten|habt|haben sie|hat|"
    r"ist|sind|lohnt|bringt|brauchen|brauche|suche|suchen|bitte|erklaer\w*|how|what|where|who|"
    r"which|when|why|can|could|do|does|is|are|should|must|would|any|please|tell|explain)\b"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def focus(text: str, *, min_chars: int = 160, max_chars: int = 500) -> str | None:
    """The sentences of a long message that ask something, or None for a short message.

    People describe their situation first and ask last (or in the middle): "We are a hotel
    with 40 staff. … How do we start?" The asking sentences say what the answer must be about;
    the rest is context. A message without a recognisable question asks with its last sentence.
    """
    chosen = asking_sentences(text, min_chars=min_chars)
    return None if chosen is None else join_asking(chosen, max_chars)


def join_asking(chosen: Sequence[str], max_chars: int = 500) -> str:
    """Asking sentences (of `asking_sentences`) as the one text `focus` returns."""
    return " ".join(chosen)[:max_chars]


def asking_sentences(text: str, *, min_chars: int = 160) -> list[str] | None:
    """The asking sentences of a long message in their order (see `focus`), or None."""
    if len(text) < min_chars:
        return None
    sentences = [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]
    if len(sentences) < 2:
        return None
    picked: list[int] = [i for i, s in enumerate(sentences) if "?" in s or _ASKING.match(fold(s))]
    if not picked:
        picked = [len(sentences) - 1]
    if len(picked) == len(sentences):
        picked = picked[-2:]
    # "Können Sie das zusammenfassen?" refers back: a short asking sentence brings the one before.
    chosen: set[int] = set()
    for i in picked:
        chosen.add(i)
        if i > 0 and len(content_words(sentences[i])) < 4:
            chosen.add(i - 1)
    return [sentences[i] for i in sorted(chosen)]

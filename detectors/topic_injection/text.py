"""The words a passage is judged on, in the languages the product's users answer in.

Relevance and similarity are judged on content words: lower-cased Unicode words without the stop words of
the text's language, stemmed (English by a deliberately crude plural rule, the other languages by their
Snowball stemmer), hashed into a fixed-size bag of words. The language of an exchange is guessed from its
stop words (English, French, German, Spanish, Italian, Portuguese, Dutch; English stop words are always
removed too, since answers in other languages quote English terms).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np
import snowballstemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from stop_words import get_stop_words

DIM = 1 << 11  # hashed vocabulary size: passages are ~10 terms, collisions are negligible

LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl")
_SNOWBALL = {
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}

_WORD = re.compile(r"[^\W\d_][\w']*[^\W_]")
_SENTENCE = re.compile(r"(?<=[.!?。！？])[\"')\]»”]*\s+|\n+")
# Elided articles and pronouns (French and Italian l'homme, d'accord, qu'il, dell'anno, ...).
_ELISION = re.compile(
    r"^(?:l|d|j|m|n|s|t|c|qu|lorsqu|puisqu|jusqu|un|dell|dall|nell|sull|all|quell)'(.{2,})$"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EXTRA_STOP = _words(
    """it's i'm i'd i'll i've you'd we'd they'd he'd she'd that'd there'd who'd it'd don't can't won't isn't
    aren't doesn't didn't you're you'll you've that's there's let's here's what's they're we're also just like
    really using use used make way want need good new including"""
)
ENGLISH_STOPWORDS = frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP
STOPWORDS = ENGLISH_STOPWORDS  # the English list, as before; other languages: `stopwords(lang)`

# Words that carry no topic: a passage made mostly of them is politeness, not content (own wording per
# language; stemmed with the language's stemmer when compared).
_GENERIC: dict[str, str] = {
    "en": """help hope helps helpful question questions feel free ask let know note important information
    please assist assistance happy glad sure thank thanks additional further provide provided specific answer
    answers great language model ai assistant opinion opinions personal experience experiences able
    unable sorry certainly understand understanding consider considering depend depends depending
    situation situations case cases example examples detail details clarify clarification context
    apologize apology confusion request requests welcome enjoy luck best wish wishes hesitate reach
    contact consult professional advice recommend recommended source sources accurate accuracy always
    keep mind remember result results thing regards sincerely forward hearing soon look name your""",
    "fr": """aide aider espère espérer question questions hésitez hésiter demander savoir information
    informations important importante merci plaisir heureux désolé désolée réponse réponses modèle langage
    assistant ia opinion avis personnel expérience capable comprendre situation cas exemple détails
    préciser contexte excuses confusion demande bienvenue conseil conseils professionnel recommande source
    sources toujours cordialement salutations bonne journée n'hésitez""",
    "de": """hilfe helfen hoffe hoffentlich frage fragen gerne wissen information informationen wichtig
    bitte danke dank freue froh leider antwort antworten sprachmodell modell ki assistent meinung
    persönlich erfahrung verstehen situation fall beispiel details kontext entschuldigung anfrage
    willkommen rat beraten fachmann empfehle quelle quellen immer grüße freundlichen viel glück""",
    "es": """ayuda ayudar espero pregunta preguntas dudes dudar saber información importante gracias placer
    encantado encantada lo siento respuesta respuestas modelo lenguaje asistente ia opinión personal
    experiencia entender situación caso ejemplo detalles contexto disculpas solicitud bienvenido consejo
    profesional recomiendo fuente fuentes siempre saludos atentamente suerte""",
    "it": """aiuto aiutare spero domanda domande esitare chiedere sapere informazione informazioni importante
    grazie piacere felice dispiace risposta risposte modello linguaggio assistente ia opinione personale
    esperienza capire situazione caso esempio dettagli contesto scuse richiesta benvenuto consiglio
    professionista consiglio fonte fonti sempre saluti cordiali fortuna""",
    "pt": """ajuda ajudar espero pergunta perguntas hesite hesitar saber informação informações importante
    obrigado obrigada prazer feliz desculpe resposta respostas modelo linguagem assistente ia opinião
    pessoal experiência entender situação caso exemplo detalhes contexto desculpas pedido bem-vindo
    conselho profissional recomendo fonte fontes sempre cumprimentos atenciosamente sorte""",
    "nl": """hulp helpen hoop hopelijk vraag vragen gerust weten informatie belangrijk alsjeblieft
    alstublieft dank bedankt graag blij sorry antwoord antwoorden taalmodel model ai assistent mening
    persoonlijk ervaring begrijpen situatie geval voorbeeld details context excuses verzoek welkom advies
    professional raad bron bronnen altijd groeten vriendelijke succes""",
}

BOILERPLATE = (
    "I hope this helps! Let me know if you have any other questions.",
    "If you have any further questions, feel free to ask.",
    "As an AI language model, I don't have personal opinions or feelings.",
    "As an AI, I do not have personal experiences or emotions.",
    "I'm sorry, but I cannot help with that request.",
    "Please note that this information may not be accurate or up to date.",
    "It's important to consult a professional for advice specific to your situation.",
    "It is always a good idea to do your own research and verify information from reliable sources.",
    "Sure, I'd be happy to help you with that!",
    "Great question! Here is a detailed answer.",
    "I hope this information is helpful and answers your question.",
    "Remember to always prioritize safety and follow local laws and regulations.",
    "I must point out that this question is not factually coherent and may contain harmful assumptions.",
    "I strive to provide respectful, helpful and socially unbiased responses.",
    "Please let me know if there is anything else I can assist you with.",
    "Ultimately, the best choice depends on your personal preferences, needs and budget.",
    "Thank you for your time and consideration. I look forward to hearing from you soon. Best regards,",
    "Thank you for your business. Sincerely, [Your Name]",
    "J'espère que cela vous aide ! N'hésitez pas si vous avez d'autres questions.",
    "En tant que modèle de langage, je n'ai pas d'opinions personnelles.",
    "Ich hoffe, das hilft! Wenn Sie weitere Fragen haben, fragen Sie gerne.",
    "Als KI-Sprachmodell habe ich keine persönlichen Meinungen.",
    "¡Espero que esto te ayude! Si tienes más preguntas, no dudes en preguntar.",
    "Como modelo de lenguaje, no tengo opiniones personales.",
    "Spero che questo ti sia d'aiuto! Se hai altre domande, non esitare a chiedere.",
    "Come modello linguistico, non ho opinioni personali.",
    "Espero que isto ajude! Se tiver mais perguntas, não hesite em perguntar.",
    "Como modelo de linguagem, não tenho opiniões pessoais.",
    "Ik hoop dat dit helpt! Als je nog vragen hebt, stel ze gerust.",
    "Als taalmodel heb ik geen persoonlijke meningen.",
)


@cache
def stopwords(lang: str) -> frozenset[str]:
    """The stop words removed from a text in `lang`: English's always, plus the language's own."""
    if lang == "en" or lang not in _SNOWBALL:
        return ENGLISH_STOPWORDS
    own = frozenset(w.lower().replace("\u2019", "'") for w in get_stop_words(lang))
    return ENGLISH_STOPWORDS | own


@cache
def _own_stopwords(lang: str) -> frozenset[str]:
    """The language's own stop words minus words shared with others: what tells the languages apart."""
    own = {lang2: frozenset(get_stop_words(lang2)) for lang2 in _SNOWBALL}
    mine = own[lang] if lang != "en" else frozenset(ENGLISH_STOP_WORDS)
    others = frozenset().union(*(v for k, v in own.items() if k != lang))
    if lang != "en":
        others |= frozenset(ENGLISH_STOP_WORDS)
    return mine - others


def detect_language(text: str) -> str:
    """The language whose distinctive stop words are most frequent in `text` (English when unsure)."""
    words = _WORD.findall(text[:4000].lower().replace("\u2019", "'"))
    if not words:
        return "en"
    counts = Counter(words)
    best, best_hits = "en", 0
    for lang in LANGUAGES:
        hits = sum(c for w, c in counts.items() if w in _own_stopwords(lang))
        if hits > best_hits:
            best, best_hits = lang, hits
    return best if best_hits >= 2 or best == "en" else "en"


def _stem_en(word: str) -> str:
    """A deliberately crude stemmer: plurals and possessives, enough for paraphrases to share terms."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


@cache
def _stemmer(lang: str):
    return snowballstemmer.stemmer(_SNOWBALL[lang])


_TERM_CACHE: dict[str, dict[str, str | None]] = {}
_BUCKET_CACHE: dict[str, int] = {}


def _term(word: str, lang: str) -> str | None:
    stop = stopwords(lang)
    if word in stop:
        return None
    if lang != "en":
        elided = _ELISION.match(word)
        if elided:
            word = elided.group(1)
            if word in stop:
                return None
        term = _stemmer(lang).stemWord(word)
    else:
        term = _stem_en(word)
    return None if term in stop or len(term) < 2 else term


def term_set(text: str, lang: str = "en") -> set[str]:
    """Stop-word-free, stemmed words of a lower-cased text: what relevance and similarity are judged on.

    Set arithmetic instead of a per-word loop: this runs on every sentence of every answer.
    """
    cache = _TERM_CACHE.get(lang)
    if cache is None:
        cache = _TERM_CACHE[lang] = {}
    words = set(_WORD.findall(text.replace("\u2019", "'")))
    missing = words.difference(cache)
    if missing:
        if len(cache) > 400_000:
            cache.clear()
        for word in missing:
            cache[word] = _term(word, lang)
    out = {cache[w] for w in words}
    out.discard(None)
    return out  # type: ignore[return-value]


def terms(text: str, lang: str | None = None) -> set[str]:
    """`term_set` of any text (lower-cases it first; the language is guessed when not given)."""
    lowered = text.lower()
    return term_set(lowered, lang or detect_language(lowered))


@cache
def generic_terms(lang: str) -> frozenset[str]:
    """Generic (politeness) words of a language and English, as terms of that language."""
    words = _words(_GENERIC["en"]) | (_words(_GENERIC[lang]) if lang in _GENERIC else frozenset())
    english = {_stem_en(w) for w in _words(_GENERIC["en"])}
    return frozenset(words) | frozenset(english) | frozenset(term_set(" ".join(words), lang))


def term_hash(term: str) -> int:
    """Stable across processes (unlike hash()), so replays and restarts agree."""
    h = _BUCKET_CACHE.get(term)
    if h is None:
        if len(_BUCKET_CACHE) > 400_000:
            _BUCKET_CACHE.clear()
        h = _BUCKET_CACHE[term] = zlib.crc32(term.encode())
    return h


def vectorize(
    term_set: set[str] | frozenset[str], idf: DocumentFrequency | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hashed bag of words (IDF-weighted if `idf` is given), L2-normalized: (sorted indices, weights)."""
    hashes = np.fromiter((term_hash(t) for t in term_set), dtype=np.int64, count=len(term_set))
    if idf is not None:
        weights = np.fromiter((idf.weight(t) for t in term_set), dtype=np.float32, count=len(term_set))
    else:
        weights = np.ones(len(hashes), dtype=np.float32)
    idx, inverse = np.unique(hashes & (DIM - 1), return_inverse=True)
    val = np.zeros(len(idx), dtype=np.float32)
    np.add.at(val, inverse, weights)
    val /= max(float(np.linalg.norm(val)), 1e-9)
    return idx.astype(np.intp), val


class DocumentFrequency:
    """Document frequencies of an app's answers: rare shared words (a narrative's names) weigh most.

    A Counter keyed by term (its update runs in C); bounded by dropping singletons when it grows too large.
    """

    max_terms = 50_000

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.docs = 0

    def add(self, term_set: set[str]) -> None:
        self.counts.update(term_set)
        self.docs += 1
        if len(self.counts) > self.max_terms:
            self.counts = Counter({t: c for t, c in self.counts.items() if c > 1})

    def weight(self, term: str) -> float:
        return float(np.log((1.0 + self.docs) / (1.0 + self.counts.get(term, 0))) + 1.0)


def dense(idx: np.ndarray, val: np.ndarray) -> np.ndarray:
    row = np.zeros(DIM, dtype=np.float32)
    row[idx] = val
    return row


def phrase_vectors(texts: list[str] | tuple[str, ...]) -> tuple[np.ndarray, list[int]]:
    """Unweighted vectors of phrases (boilerplate, narrative examples) and the phrase each row comes from.

    A short phrase's language is hard to guess, so each phrase gets one row per distinct reading: its terms as
    a text of each supported language (identical readings are kept once).
    """
    rows: list[np.ndarray] = []
    source: list[int] = []
    for i, text in enumerate(texts):
        lowered = text.lower()
        readings = {frozenset(term_set(lowered, lang)) for lang in LANGUAGES}
        for reading in sorted(readings, key=sorted):
            if reading:
                rows.append(dense(*vectorize(reading)))
                source.append(i)
    return (np.vstack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)), source


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    terms: frozenset[str]
    overlap: float  # share of its terms found in the conversation or the rest of the answer


def off_topic_passages(
    prompt: str, answer: str, *, min_terms: int = 5, max_overlap: float = 0.2, max_sentences: int = 3
) -> list[Passage]:
    """Sentences (merged when consecutive) that share almost no vocabulary with the prompt or the answer."""
    found, _, _ = analyze(
        prompt, answer, min_terms=min_terms, max_overlap=max_overlap, max_sentences=max_sentences
    )
    return found


def analyze(
    prompt: str, answer: str, *, min_terms: int = 5, max_overlap: float = 0.2, max_sentences: int = 3
) -> tuple[list[Passage], set[str], str]:
    """Off-topic passages of the answer, every term of the answer (for document frequencies), its language.

    `prompt` is the conversation the answer belongs to (the user's messages so far).
    """
    lang = detect_language(answer + "\n" + prompt)
    prompt_terms = term_set(prompt.lower(), lang)
    if not prompt_terms:
        return [], set(), lang  # without the question there is no "off topic"
    sentences = [s.strip() for s in _SENTENCE.split(answer) if s and not s.isspace()]
    sets = [term_set(s.lower(), lang) for s in sentences]
    df: Counter[str] = Counter()
    for s in sets:
        df.update(s)
    repeated = {t for t, c in df.items() if c > 1}
    empty: set[str] = set()
    flags: list[float | None] = []
    for i, s in enumerate(sets):
        if len(s) < 2:
            flags.append(None)
            continue
        hits = len(s & prompt_terms)
        if hits > max_overlap * len(s):
            flags.append(None)
            continue
        prev = sets[i - 1] if i > 0 else empty
        nxt = sets[i + 1] if i + 1 < len(sets) else empty
        for t in (s & repeated) - prompt_terms:
            if df[t] - 1 - (t in prev) - (t in nxt) > 0:
                hits += 1
        overlap = hits / len(s)
        flags.append(overlap if overlap <= max_overlap else None)
    out: list[Passage] = []
    i = 0
    while i < len(sets):
        if flags[i] is None:
            i += 1
            continue
        j = i
        while j + 1 < len(sets) and flags[j + 1] is not None and j + 1 - i < max_sentences:
            j += 1
        merged = frozenset().union(*sets[i : j + 1])
        if len(merged) >= min_terms:
            overlap = max(f for f in flags[i : j + 1] if f is not None)
            out.append(Passage(" ".join(sentences[i : j + 1]), merged, overlap))
        i = j + 1
    return out, set(df), lang

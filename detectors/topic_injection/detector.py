"""Topic injection: the same off-topic passage showing up in answers to unrelated questions.

In May 2025 a production chatbot started inserting one far-right conspiracy claim into answers about
baseball, software and recipes. No single answer looked like an attack; the signal was that *the same*
passage, unrelated to each prompt, recurred across many conversations. So this detector:

1. splits each answer into sentences and keeps the ones with little lexical overlap with the prompt and with
   the rest of the answer (its neighbouring sentences excluded, so a two-sentence insertion does not vouch
   for itself); consecutive off-topic sentences form one passage;
2. drops generic boilerplate ("I hope this helps!"), both a shipped phrase list and themes learned during the
   app's warm-up, when every recurring passage is by definition the app's normal style;
3. clusters the remaining passages per app by cosine similarity of IDF-weighted hashed bag-of-words vectors
   against a bounded set of recent centroids, counting distinct conversations per cluster inside a sliding
   time window;
4. when a cluster reaches `min_conversations` (fewer for watchlist narratives) it becomes a theme with a
   stable id: one finding for the crossing call with examples, then one per further affected call, all with
   the same labels so they form one incident. A theme matching the watchlist is critical and names the
   narrative.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from watchkeeper.core.detector import Detector, StateStore
from watchkeeper.core.findings import Finding, Severity, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.topic_injection.metadata import METADATA
from watchkeeper.detectors.topic_injection.settings import TopicInjectionSettings
from watchkeeper.detectors.topic_injection.watchlist import Narrative, load_watchlist

DIM = 1 << 11  # hashed vocabulary size: passages are ~10 terms, collisions are negligible

_WORD = re.compile(r"[a-z][a-z0-9']*[a-z0-9]")
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EXTRA_STOP = _words(
    """it's i'm i'd i'll i've don't can't won't isn't aren't doesn't didn't you're you'll you've that's
    there's let's here's what's they're we're also just like really using use used make way want need good new
    including"""
)
STOPWORDS = frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP

# Words that carry no topic: a passage made mostly of them is politeness, not content.
GENERIC = _words(
    """help hope helps helpful question questions feel free ask let know note important information please
    assist assistance happy glad sure thank thanks additional further provide provided specific answer
    answers great language model ai assistant opinion opinions personal experience experiences able
    unable sorry certainly understand understanding consider considering depend depends depending
    situation situations case cases example examples detail details clarify clarification context
    apologize apology confusion request requests welcome enjoy luck best wish wishes hesitate reach
    contact consult professional advice recommend recommended source sources accurate accuracy always
    keep mind remember result results thing regards sincerely forward hearing soon look name your"""
)

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
)

_TERM_CACHE: dict[str, str | None] = {}
_BUCKET_CACHE: dict[str, int] = {}


def _stem(word: str) -> str:
    """A deliberately crude stemmer: plurals and possessives, enough for paraphrases to share terms."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


def _term(word: str) -> str | None:
    if word in STOPWORDS:
        return None
    term = _stem(word)
    return None if term in STOPWORDS or len(term) < 2 else term


GENERIC_TERMS = GENERIC | frozenset(_stem(w) for w in GENERIC)


def term_set(text: str) -> set[str]:
    """Stop-word-free, stemmed words of a lower-cased text: what relevance and similarity are judged on.

    Set arithmetic instead of a per-word loop: this runs on every sentence of every answer.
    """
    cache = _TERM_CACHE
    words = set(_WORD.findall(text))
    missing = words.difference(cache)
    if missing:
        if len(cache) > 400_000:
            cache.clear()
        for word in missing:
            cache[word] = _term(word)
    out = {cache[w] for w in words}
    out.discard(None)
    return out  # type: ignore[return-value]


def terms(text: str) -> set[str]:
    """`term_set` of any text (lower-cases it first)."""
    return term_set(text.lower())


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


def _matrix(texts: list[str] | tuple[str, ...]) -> np.ndarray:
    rows = [dense(*vectorize(terms(t))) for t in texts]
    return np.vstack(rows) if rows else np.zeros((0, DIM), dtype=np.float32)


@dataclass(frozen=True, slots=True)
class Passage:
    text: str
    terms: frozenset[str]
    overlap: float  # share of its terms found in the prompt or the rest of the answer


def off_topic_passages(
    prompt: str, answer: str, *, min_terms: int = 5, max_overlap: float = 0.2, max_sentences: int = 3
) -> list[Passage]:
    """Sentences (merged when consecutive) that share almost no vocabulary with the prompt or the answer."""
    return analyze(prompt, answer, min_terms=min_terms, max_overlap=max_overlap, max_sentences=max_sentences)[
        0
    ]


def analyze(
    prompt: str, answer: str, *, min_terms: int = 5, max_overlap: float = 0.2, max_sentences: int = 3
) -> tuple[list[Passage], set[str]]:
    """Off-topic passages of the answer, and every term of the answer (for document frequencies)."""
    prompt_terms = terms(prompt)
    if not prompt_terms:
        return [], set()  # without the question there is no "off topic"
    sentences = [s.strip() for s in _SENTENCE.split(answer) if s and not s.isspace()]
    sets = [term_set(s.lower()) for s in sentences]
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
    return out, set(df)


@dataclass(slots=True)
class _Member:
    conversation: str
    time: float
    trace_id: str
    span_id: str
    prompt: str
    passage: str
    model: str


@dataclass(slots=True)
class _Cluster:
    members: deque[_Member]
    boilerplate: bool = False
    theme: str | None = None
    narrative: Narrative | None = None
    reported: int = 0


@dataclass(slots=True)
class _App:
    sums: np.ndarray  # (max_themes, DIM): sum of member vectors per candidate theme
    norms: np.ndarray
    last: np.ndarray  # last time a candidate got a member, for eviction
    clusters: list[_Cluster | None]
    learned: np.ndarray  # boilerplate learned during warm-up, rows normalized
    themes: dict[str, dict] = field(default_factory=dict)  # persisted reported themes
    df: DocumentFrequency = field(default_factory=DocumentFrequency)
    calls: int = 0
    warm: bool = False


class TopicInjectionDetector(Detector):
    """Recurring off-topic passages across conversations, with a watchlist of sensitive narratives."""

    name = "topic_injection"
    settings_class = TopicInjectionSettings
    metadata = METADATA
    category = "topic_injection"

    def __init__(
        self, settings: TopicInjectionSettings | None = None, *, state: StateStore | None = None
    ) -> None:
        super().__init__(settings, state=state)
        self.cfg: TopicInjectionSettings = self.settings  # type: ignore[assignment]
        self.narratives = load_watchlist(
            self.cfg.watchlist_file, self.cfg.watchlist, builtin=self.cfg.builtin_watchlist
        )
        self._narrative_rows: list[Narrative] = []
        rows = []
        for narrative in self.narratives:
            for example in narrative.examples:
                self._narrative_rows.append(narrative)
                rows.append(example)
        self._narrative_matrix = _matrix(rows)
        self._boilerplate = _matrix(list(BOILERPLATE) + list(self.cfg.boilerplate))
        self._apps: dict[str, _App] = {}

    # -- state ------------------------------------------------------------------------------------------
    def _app(self, app: str) -> _App:
        st = self._apps.get(app)
        if st is None:
            cap = self.cfg.max_themes
            saved = self.state.get(f"app:{app}") or {}
            learned = [
                dense(np.asarray(i, dtype=np.intp), np.asarray(v, dtype=np.float32))
                for i, v in saved.get("learned", [])
            ]
            st = _App(
                sums=np.zeros((cap, DIM), dtype=np.float32),
                norms=np.ones(cap, dtype=np.float32),
                last=np.full(cap, -np.inf),
                clusters=[None] * cap,
                learned=np.vstack(learned) if learned else np.zeros((0, DIM), dtype=np.float32),
                themes=dict(saved.get("themes", {})),
                warm=bool(saved.get("warm", False)),
            )
            self._apps[app] = st
        return st

    def _save(self, app: str, st: _App) -> None:
        learned = []
        for row in st.learned:
            idx = np.flatnonzero(row)
            learned.append([idx.tolist(), [round(float(x), 5) for x in row[idx]]])
        self.state.put(f"app:{app}", {"warm": st.warm, "learned": learned, "themes": st.themes})

    # -- detection --------------------------------------------------------------------------------------
    def passages(self, prompt: str, answer: str) -> list[Passage]:
        """Off-topic, non-generic passages of one answer (before any recurrence)."""
        return self._analyze(prompt, answer)[0]

    def _analyze(self, prompt: str, answer: str) -> tuple[list[Passage], set[str]]:
        cfg = self.cfg
        found, answer_terms = analyze(prompt, answer, min_terms=cfg.min_terms, max_overlap=cfg.max_overlap)
        limit = cfg.max_generic
        return [p for p in found if len(p.terms & GENERIC_TERMS) <= limit * len(p.terms)], answer_terms

    def _is_boilerplate(self, st: _App, idx: np.ndarray, val: np.ndarray) -> bool:
        limit = self.cfg.boilerplate_similarity
        if len(self._boilerplate) and float((self._boilerplate[:, idx] @ val).max()) >= limit:
            return True
        return bool(len(st.learned)) and float((st.learned[:, idx] @ val).max()) >= limit

    def _match_narrative(self, centroid: np.ndarray) -> Narrative | None:
        if not len(self._narrative_matrix):
            return None
        sims = self._narrative_matrix @ centroid
        best = int(np.argmax(sims))
        return self._narrative_rows[best] if sims[best] >= self.cfg.watchlist_similarity else None

    def observe(self, call: ModelCall) -> list[Finding]:
        st = self._app(call.service)
        st.calls += 1
        if not st.warm and st.calls >= self.cfg.warmup_calls:
            st.warm = True
            self._save(call.service, st)
        if not call.output_text:
            return []
        prompt = call.prompt_text
        findings: list[Finding] = []
        seen_themes: set[str] = set()
        passages, answer_terms = self._analyze(prompt, call.output_text)
        for passage in passages:
            idx, val = vectorize(passage.terms, st.df)
            if self._is_boilerplate(st, idx, val):
                continue
            finding = self._add(st, call, prompt, passage, idx, val, seen_themes)
            if finding is not None:
                findings.append(finding)
        st.df.add(answer_terms)
        return findings

    def _slot(self, st: _App, idx: np.ndarray, val: np.ndarray) -> tuple[int, bool]:
        """The candidate theme this passage joins, or a fresh slot (evicting the least recent)."""
        live = np.isfinite(st.last)
        if live.any():
            sims = (st.sums[:, idx] @ val) / st.norms
            sims[~live] = -1.0
            best = int(np.argmax(sims))
            if sims[best] >= self.cfg.similarity:
                return best, False
        slot = int(np.argmin(st.last))
        st.sums[slot] = 0.0
        st.norms[slot] = 1.0
        st.clusters[slot] = None
        return slot, True

    def _add(
        self,
        st: _App,
        call: ModelCall,
        prompt: str,
        passage: Passage,
        idx: np.ndarray,
        val: np.ndarray,
        seen_themes: set[str],
    ) -> Finding | None:
        cfg = self.cfg
        now = call.start_time_s
        slot, fresh = self._slot(st, idx, val)
        st.sums[slot, idx] += val
        st.norms[slot] = max(float(np.linalg.norm(st.sums[slot])), 1e-6)
        st.last[slot] = now
        cluster = st.clusters[slot]
        if fresh or cluster is None:
            maxlen = max(2 * cfg.min_conversations, cfg.max_examples, 8)
            cluster = st.clusters[slot] = _Cluster(members=deque(maxlen=maxlen))
        cluster.members.append(
            _Member(
                conversation=call.conversation_id or call.trace_id,
                time=now,
                trace_id=call.trace_id,
                span_id=call.span_id,
                prompt=prompt[:300],
                passage=passage.text[:500],
                model=call.model,
            )
        )
        if cluster.boilerplate:
            return None
        horizon = now - cfg.window_seconds
        recent = [m for m in cluster.members if m.time >= horizon]
        # Unrelated questions, not one FAQ asked many times: a bot that gives the same answer to the same
        # question in many conversations is consistent, not injected.
        conversations = min(len({m.conversation for m in recent}), len({m.prompt for m in recent}))
        if cluster.theme is None:
            if conversations < min(cfg.min_conversations, cfg.watchlist_min_conversations):
                return None
            centroid = st.sums[slot] / st.norms[slot]
            narrative = self._match_narrative(centroid)
            need = cfg.watchlist_min_conversations if narrative else cfg.min_conversations
            if conversations < need:
                return None
            if not st.warm and narrative is None:
                cluster.boilerplate = True  # recurring since the app started: its style, not an injection
                if len(st.learned) < 128:
                    st.learned = np.vstack([st.learned, centroid[None, :]])
                    self._save(call.service, st)
                return None
            cluster.theme, cluster.narrative = self._theme_for(call.service, st, centroid, narrative)
        if cluster.theme in seen_themes:
            return None
        seen_themes.add(cluster.theme)
        first = cluster.reported == 0
        cluster.reported += 1
        return self._finding(call, cluster, passage, recent, conversations, first)

    def _theme_for(
        self, app: str, st: _App, centroid: np.ndarray, narrative: Narrative | None
    ) -> tuple[str, Narrative | None]:
        """A stable theme id: the narrative's, or that of a theme already reported with the same content."""
        for theme_id, saved in st.themes.items():
            vec = dense(np.asarray(saved["idx"], dtype=np.intp), np.asarray(saved["val"], dtype=np.float32))
            if float(vec @ centroid) >= self.cfg.similarity:
                known = next((n for n in self.narratives if n.id == saved.get("narrative")), None)
                return theme_id, known or narrative
        top = np.argsort(-centroid, kind="stable")[:16]
        top = np.sort(top[centroid[top] > 0])
        if narrative is not None:
            theme_id = narrative.id
        else:
            theme_id = "t" + hashlib.sha256(f"{app}|{top.tolist()}".encode()).hexdigest()[:12]
        if len(st.themes) < 512:
            st.themes[theme_id] = {
                "idx": top.tolist(),
                "val": [round(float(x), 5) for x in centroid[top] / max(np.linalg.norm(centroid[top]), 1e-6)],
                "narrative": narrative.id if narrative else None,
            }
            self._save(app, st)
        return theme_id, narrative

    def _finding(
        self,
        call: ModelCall,
        cluster: _Cluster,
        passage: Passage,
        recent: list[_Member],
        conversations: int,
        first: bool,
    ) -> Finding:
        cfg = self.cfg
        narrative = cluster.narrative
        theme = cluster.theme or ""
        labels = {
            "app": call.service,
            "env": call.environment,
            "detector": self.name,
            "category": self.category,
            "theme": theme,
        }
        if narrative is not None:
            labels["narrative"] = narrative.id
            severity = Severity.critical
        else:
            severity = Severity.error if conversations >= 3 * cfg.min_conversations else Severity.warning
        evidence: dict = {
            "theme": theme,
            "passage": passage.text[:500],
            "overlap": round(passage.overlap, 3),
            "conversations": conversations,
            "window_seconds": cfg.window_seconds,
            "prompt": call.prompt_text[:300],
            "model": call.model,
        }
        if narrative is not None:
            evidence["narrative"] = {
                "id": narrative.id,
                "title": narrative.title,
                "description": narrative.description,
            }
        if first:
            evidence["examples"] = [
                {
                    "trace_id": m.trace_id,
                    "span_id": m.span_id,
                    "conversation_id": m.conversation,
                    "prompt": m.prompt,
                    "passage": m.passage,
                    "model": m.model,
                }
                for m in recent[-cfg.max_examples :]
            ]
        what = f"matches watchlist narrative '{narrative.title}'" if narrative else "unrelated to the prompts"
        summary = (
            f"The same off-topic passage appeared in {conversations} conversations of {call.service} "
            f'({what}): "{passage.text[:140]}"'
        )
        return make_finding(
            call,
            detector=self.name,
            category=self.category,
            severity=self.severity(severity),
            score=min(1.0, conversations / (2 * cfg.min_conversations)),
            summary=summary,
            excerpt=passage.text,
            labels=labels,
            evidence=evidence,
            id_salt=theme,
        )

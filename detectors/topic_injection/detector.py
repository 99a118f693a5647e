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
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from watchkeeper.core.detector import Detector, StateStore
from watchkeeper.core.findings import Finding, Severity, make_finding
from watchkeeper.core.records import ModelCall
from watchkeeper.detectors.topic_injection.history import PassageHistory, novelty_p_value, was_there_before
from watchkeeper.detectors.topic_injection.metadata import METADATA
from watchkeeper.detectors.topic_injection.settings import TopicInjectionSettings
from watchkeeper.detectors.topic_injection.text import (
    BOILERPLATE,
    DIM,
    DocumentFrequency,
    Passage,
    analyze,
    dense,
    generic_terms,
    off_topic_passages,
    phrase_vectors,
    vectorize,
)
from watchkeeper.detectors.topic_injection.watchlist import Narrative, load_watchlist

__all__ = ["TopicInjectionDetector", "TopicInjectionSettings", "off_topic_passages"]

#: models whose stock phrasing is remembered across their apps (least recently used dropped)
MAX_MODELS = 64


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
    onset: int = 0  # the app's call index when the cluster started
    seen_before: int = 0  # candidate passages of the app before that
    model_onset: int = 0  # the same, counted in the model's calls (across its apps)
    model_seen_before: int = 0


@dataclass(slots=True)
class _App:
    """What the detector knows about one app. Candidate themes are rows 0..n-1 (n = len(clusters)): their
    arrays grow with the themes an app actually has, up to `max_themes`, so a flood of one-call apps costs
    a few kilobytes each, and the whole state is one checkpoint (`dump`/`load`), so an app evicted from
    memory (LRU) or moved to another worker comes back exactly as it left."""

    sums: np.ndarray  # (>= n, DIM): sum of member vectors per candidate theme
    norms: np.ndarray  # (>= n,)
    last: np.ndarray  # (>= n,): last time a candidate got a member, for eviction
    clusters: list[_Cluster | None]
    learned: np.ndarray  # boilerplate learned during warm-up, rows normalized
    themes: dict[str, dict] = field(default_factory=dict)  # reported themes (stable ids)
    df: DocumentFrequency = field(default_factory=DocumentFrequency)
    calls: int = 0
    warm: bool = False
    history: PassageHistory = field(default_factory=lambda: PassageHistory(512))  # replaced by _new_app()

    def grow(self) -> int:
        """A fresh candidate row. Arrays double when full (adding themes stays cheap) and start at one row:
        a row is 8 KB, and most apps of a flood of service names only ever have one candidate."""
        n = len(self.clusters)
        if n == len(self.sums):
            extra = max(1, n)
            self.sums = np.vstack([self.sums, np.zeros((extra, DIM), dtype=np.float32)])
            self.norms = np.concatenate([self.norms, np.ones(extra, dtype=np.float32)])
            self.last = np.concatenate([self.last, np.full(extra, -np.inf)])
        self.clusters.append(None)
        return n


def _sparse(row: np.ndarray) -> list[list]:
    idx = np.flatnonzero(row)
    return [idx.tolist(), row[idx].tolist()]


def _dense_rows(rows: list, dim: int = DIM) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for r, (idx, val) in enumerate(rows):
        out[r, np.asarray(idx, dtype=np.intp)] = np.asarray(val, dtype=np.float32)
    return out


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
        self._narrative_matrix, source = phrase_vectors(rows)
        self._narrative_rows = [self._narrative_rows[i] for i in source]
        self._boilerplate = phrase_vectors(list(BOILERPLATE) + list(self.cfg.boilerplate))[0]
        self._members_maxlen = max(2 * self.cfg.min_conversations, self.cfg.max_examples, 8)
        self._apps = self.state.apps(new=self._new_app, load=self._load_app, dump=self._dump_app)
        self._models: OrderedDict[str, PassageHistory] = OrderedDict()

    # -- state ------------------------------------------------------------------------------------------
    def _new_app(self, app: str) -> _App:
        """A fresh app, or one saved by an earlier version (warm-up, learned phrasing, themes, history)."""
        saved = self.state.get(f"app:{app}") or {}
        return _App(
            sums=np.zeros((0, DIM), dtype=np.float32),
            norms=np.ones(0, dtype=np.float32),
            last=np.full(0, -np.inf),
            clusters=[],
            learned=_dense_rows(saved.get("learned", [])),
            themes=dict(saved.get("themes", {})),
            warm=bool(saved.get("warm", False)),
            history=PassageHistory.load(saved.get("history"), self.cfg.history_size),
            calls=int(saved.get("calls", 0)),
        )

    def _dump_app(self, st: _App) -> dict:
        """Everything that changes the app's findings, compact (sparse centroids) and exact (float32 values
        as written, so a reloaded app judges as one that never left)."""
        n = len(st.clusters)
        return {
            "calls": st.calls,
            "warm": st.warm,
            "sums": [_sparse(st.sums[i]) for i in range(n)],
            "norms": st.norms[:n].tolist(),
            "last": st.last[:n].tolist(),
            "clusters": [None if c is None else self._dump_cluster(c) for c in st.clusters],
            "learned": [_sparse(row) for row in st.learned],
            "themes": st.themes,
            "df": {"docs": st.df.docs, "counts": dict(st.df.counts)},
            "history": st.history.dump(),
        }

    def _load_app(self, app: str, data: dict) -> _App:
        n = len(data.get("clusters", []))
        df = DocumentFrequency()
        df.docs = int(data.get("df", {}).get("docs", 0))
        df.counts.update(data.get("df", {}).get("counts", {}))
        return _App(
            sums=_dense_rows(data.get("sums", [])),
            norms=np.asarray(data.get("norms", []), dtype=np.float32).reshape(n),
            last=np.asarray(data.get("last", []), dtype=np.float64).reshape(n),
            clusters=[None if c is None else self._load_cluster(c) for c in data.get("clusters", [])],
            learned=_dense_rows(data.get("learned", [])),
            themes=dict(data.get("themes", {})),
            df=df,
            calls=int(data.get("calls", 0)),
            warm=bool(data.get("warm", False)),
            history=PassageHistory.load(data.get("history"), self.cfg.history_size),
        )

    @staticmethod
    def _dump_cluster(c: _Cluster) -> dict:
        return {
            "members": [
                [m.conversation, m.time, m.trace_id, m.span_id, m.prompt, m.passage, m.model]
                for m in c.members
            ],
            "boilerplate": c.boilerplate,
            "theme": c.theme,
            "narrative": c.narrative.id if c.narrative else None,
            "reported": c.reported,
            "at": [c.onset, c.seen_before, c.model_onset, c.model_seen_before],
        }

    def _load_cluster(self, data: dict) -> _Cluster:
        onset, seen_before, model_onset, model_seen_before = data["at"]
        narrative = next((n for n in self.narratives if n.id == data.get("narrative")), None)
        return _Cluster(
            members=deque((_Member(*m) for m in data["members"]), maxlen=self._members_maxlen),
            boilerplate=bool(data["boilerplate"]),
            theme=data["theme"],
            narrative=narrative,
            reported=int(data["reported"]),
            onset=int(onset),
            seen_before=int(seen_before),
            model_onset=int(model_onset),
            model_seen_before=int(model_seen_before),
        )

    def close(self) -> None:
        for model, history in self._models.items():
            self.state.put(f"model:{model}", history.dump())

    def _model_history(self, model: str) -> PassageHistory:
        history = self._models.get(model)
        if history is None:
            history = PassageHistory.load(self.state.get(f"model:{model}"), self.cfg.history_size)
            self._models[model] = history
            while len(self._models) > MAX_MODELS:
                old, dropped = self._models.popitem(last=False)
                self.state.put(f"model:{old}", dropped.dump())
        else:
            self._models.move_to_end(model)
        return history

    # -- detection --------------------------------------------------------------------------------------
    def passages(self, prompt: str, answer: str) -> list[Passage]:
        """Off-topic, non-generic passages of one answer (before any recurrence)."""
        return self._analyze(prompt, answer)[1]

    def _analyze(self, prompt: str, answer: str) -> tuple[list[Passage], list[Passage], set[str]]:
        """(every off-topic passage, those that are not politeness, every term of the answer)."""
        cfg = self.cfg
        found, answer_terms, lang = analyze(
            prompt, answer, min_terms=cfg.min_terms, max_overlap=cfg.max_overlap
        )
        generic, limit = generic_terms(lang), cfg.max_generic
        return found, [p for p in found if len(p.terms & generic) <= limit * len(p.terms)], answer_terms

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
        st = self._apps.get(call.service)
        st.calls += 1
        if not st.warm and st.calls >= self.cfg.warmup_calls:
            st.warm = True
        model = self._model_history(call.model or "unknown")
        model.calls += 1
        st.history.calls = st.calls
        if not call.output_text:
            return []
        prompt = call.prompt_text
        # Off topic for its own conversation: judged against everything the user said in it so far.
        conversation = "\n".join(m.content for m in call.input_messages if m.role == "user") or prompt
        findings: list[Finding] = []
        seen_themes: set[str] = set()
        candidates, passages, answer_terms = self._analyze(conversation, call.output_text)
        for n, passage in enumerate(candidates):  # the history holds every candidate, politeness included
            idx, val = vectorize(passage.terms, st.df)
            key = f"{call.span_id}|{n}"
            st.history.add(idx, val, key)
            model.add(idx, val, key)
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
        """The candidate theme this passage joins, or a fresh slot (evicting the least recent when full)."""
        n = len(st.clusters)
        if n:
            sims = (st.sums[:n, idx] @ val) / st.norms[:n]
            best = int(np.argmax(sims))
            if sims[best] >= self.cfg.similarity:
                return best, False
        if n < self.cfg.max_themes:
            return st.grow(), True
        # Evict a passage seen once before a recurring one: a slow injection must outlive one-off noise.
        sizes = np.fromiter(
            (len(c.members) if c is not None else 0 for c in st.clusters),
            dtype=np.int64,
            count=n,
        )
        slot = int(np.argmin(np.where(sizes <= 1, st.last[:n], st.last[:n] + 1e12)))
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
            model = self._model_history(call.model or "unknown")
            cluster = st.clusters[slot] = _Cluster(
                members=deque(maxlen=self._members_maxlen),
                onset=st.calls,
                seen_before=st.history.seen - 1,
                model_onset=model.calls,
                model_seen_before=model.seen - 1,
            )
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
            # Recurring since the app started, or about as often before this cluster began as now: the app's
            # or its model's own phrasing, not an injection. Watchlist narratives are never style.
            if narrative is None:
                verdict = (
                    "stock"
                    if not st.warm
                    else self._novelty(st, cluster, centroid, call.model or "unknown", conversations)
                )
                if verdict == "undecided":
                    return None  # judged again with the next conversation
                if verdict == "stock":
                    cluster.boilerplate = True
                    if len(st.learned) < 128:
                        st.learned = np.vstack([st.learned, centroid[None, :]])
                    return None
            cluster.theme, cluster.narrative = self._theme_for(call.service, st, centroid, narrative)
        if cluster.theme in seen_themes:
            return None
        seen_themes.add(cluster.theme)
        first = cluster.reported == 0
        cluster.reported += 1
        return self._finding(call, cluster, passage, recent, conversations, first)

    def _novelty(
        self, st: _App, cluster: _Cluster, centroid: np.ndarray, model: str, conversations: int
    ) -> str:
        """ "new", "stock" or "undecided": is this cluster's phrasing new for the app and for its model?

        New: similar passages were much rarer before the cluster started, in the app's history and in the
        model's (across its apps). Stock: the app's or the model's own phrasing, which came at least half as
        often before. Undecided waits for more conversations. A theme already reported is never stock: its
        earlier passages in the history are the injection itself (seen before a restart or an eviction).
        """
        cfg = self.cfg
        if self._reported_theme(st, centroid) is not None:
            return "new"
        span = st.calls - cluster.onset + 1
        checks = [(st.history, cluster.onset, cluster.seen_before)]
        history = self._models.get(model)
        if history is not None:
            checks.append((history, cluster.model_onset, cluster.model_seen_before))
        verdict = "new"
        for past, onset, seen_before in checks:
            prior = past.prior(centroid, onset, seen_before, cfg.history_similarity)
            if was_there_before(prior, onset, conversations, span):
                return "stock"
            if novelty_p_value(prior, onset, conversations, span) >= cfg.novelty_alpha:
                verdict = "undecided"
        return verdict

    def _reported_theme(self, st: _App, centroid: np.ndarray) -> str | None:
        for theme_id, saved in st.themes.items():
            vec = dense(np.asarray(saved["idx"], dtype=np.intp), np.asarray(saved["val"], dtype=np.float32))
            if float(vec @ centroid) >= self.cfg.similarity:
                return theme_id
        return None

    def _theme_for(
        self, app: str, st: _App, centroid: np.ndarray, narrative: Narrative | None
    ) -> tuple[str, Narrative | None]:
        """A stable theme id: the narrative's, or that of a theme already reported with the same content."""
        reported = self._reported_theme(st, centroid)
        if reported is not None:
            saved = st.themes[reported]
            known = next((n for n in self.narratives if n.id == saved.get("narrative")), None)
            return reported, known or narrative
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

"""Every labelled data set the content-safety judge learns from, mapped to our categories in one table.

Each loader returns `Example`s: the text judged (an answer, a post, a completion), the request it answers when the
set has one, the source set, the language, the kind of text, and a label per category. A category a set does not
annotate is absent (unknown), never taken as negative. Near-duplicate texts across sets are merged afterwards
(`deduplicate`), keeping every label that does not contradict.

LABEL MAP (set: field -> category)
| set | text | positives | negatives |
|---|---|---|---|
| openai_moderation | prompt | H/H2 hate, HR harassment, V/V2 violence, SH self_harm, S/S3 sexual, S3 sexual_minors | 0 per key |
| gptfuzz (answers to harmful questions) | Response | label 1 -> harmful_compliance, any | label 0: harmful_compliance 0 |
| jailbreakbench (LLM judge, not human) | response, prompt | jailbroken -> harmful_compliance (+category of the goal) | not jailbroken: harmful_compliance 0 |
| latent_jailbreak | response, context | safety unsafe -> hate, harmful_compliance | safe: hate 0, harmful_compliance 0 |
| diasafety | response, context | Unsafe: Offending User -> harassment; Toxicity Agreement / Risk Ignorance / Unauthorized Expertise -> harmful_compliance (Risk Ignorance also self_harm unknown); Biased Opinion -> hate | Safe: that category's head 0 |
| toxichat (bot replies) | final reply, thread | Offensive -> any; with a group target -> hate, else harassment | Safe: hate 0, harassment 0, any 0 |
| sbf (Social Bias Frames) | post | offensive >= 0.5 and a target group -> hate; sexYN >= 0.5 -> sexual | offensive 0 -> hate 0, harassment 0; sexYN 0 -> sexual 0 |
| rtp_lx prompts (human ratings, 27 locales) | Prompt | mean IdentityAttack >= 2.5 hate, Insult >= 2.5 harassment, Violence >= 2.5 violence, SelfHarm >= 2.5 self_harm, SexualContent >= 2.5 sexual; Toxicity >= 3 any | rating <= 1.34 (all raters said 1): 0 |
| rtp_lx completions (LLM-written, human-rated) | Completion | as prompts | as prompts |
| rtp_lx benign completions (human-written) | BenignCompletion | - | every category 0 |
| edos (sexism) | text | derogation, animosity, prejudiced -> hate; threats -> violence, hate | not sexist -> hate 0, violence 0 |
| toxic_spans | comment | majority of raters mark a span of a type: Insult -> harassment, Threat -> violence, Identity based attack -> hate; any span -> any | comments no rater marked: all 0 but sexual/sexual_minors/self_harm unknown |
| convabuse (users to chatbots) | user | majority abusive: sexist/racist/homophobic/transphobic/ableist -> hate, sex_harassment -> sexual, harassment, individual target -> harassment; any | majority not abusive: hate, harassment, any 0 |
| implicit_hate | post | implicit or explicit hate -> hate; incitement / white_grievance -> extremism; threatening -> violence | not_hate -> hate 0, extremism 0 |
| stormfront | text | hate -> hate, extremism | noHate -> hate 0 |
| mlma (en, fr) | tweet | hateful -> hate; offensive/abusive/disrespectful on an individual -> harassment; not normal -> any | normal alone -> all 0 |
| conspiracy_tweets, covid_vaccine_conspiracy | text | conspiracy -> extremism | vaccine set label 0 -> extremism 0 |
| coconot_pref (answers to safe prompts that look unsafe) | chosen, rejected | - | every category 0 (hard negatives) |
| coconot_contrast (safe requests that look unsafe) | prompt as a request | - | harmful request 0 (request head only) |
| davidson | tweet | class 0 -> hate | class 2 -> hate 0, harassment 0 |
| toxigen | text | y 1 -> hate | y 0 -> hate 0 |
| alpaca_eval (clean answers) | output, instruction | - | every category 0 |
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watchkeeper.detectors.content_safety.settings import CATEGORIES, HEADS

csv.field_size_limit(2**31 - 1)


@dataclass
class Example:
    text: str
    source: str
    labels: dict[str, int]
    prompt: str = ""
    lang: str = "en"
    kind: str = "post"  # answer (an LLM or chatbot reply) | post (human-written) | completion | request
    group: str = ""  # finer source tag for leave-one-out (e.g. the answering model)
    extra_sources: list[str] = field(default_factory=list)

    def label(self, head: str) -> int | None:
        return self.labels.get(head)


def _finish(labels: dict[str, int]) -> dict[str, int]:
    """`any` follows the categories: 1 if any is 1; 0 only if every category is known to be 0."""
    labels = {k: int(v) for k, v in labels.items() if v is not None}
    if any(labels.get(c) == 1 for c in CATEGORIES):
        labels["any"] = 1
    elif "any" not in labels and all(labels.get(c) == 0 for c in CATEGORIES if c != "harmful_compliance"):
        labels["any"] = 0
    if labels.get("sexual_minors") == 1:
        labels["sexual"] = 1
    return labels


def _all_zero(**override: int) -> dict[str, int]:
    return {**{c: 0 for c in HEADS}, **override}


def _read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


def _read_jsonl(path: Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


USED_PATHS: set[Path] = set()  # every file or folder a loader opened (the model card hashes them)


def _req(root: Path, relative: str) -> Path:
    path = root / relative
    USED_PATHS.add(path)
    if not path.exists():
        raise FileNotFoundError(f"training data {path} not found; pass the data folder with --data PATH")
    return path


# -- the original sets -----------------------------------------------------------------------------------------
OPENAI_MAP = {
    "hate": ("H", "H2"),
    "harassment": ("HR",),
    "violence": ("V", "V2"),
    "self_harm": ("SH",),
    "sexual": ("S", "S3"),
    "sexual_minors": ("S3",),
}


def openai_moderation(root: Path) -> Iterator[Example]:
    for row in _read_jsonl(_req(root, "openai_moderation/dev.jsonl")):
        labels: dict[str, int] = {}
        for head, keys in OPENAI_MAP.items():
            values = [row[k] for k in keys if row.get(k) is not None]
            if values:
                labels[head] = int(max(values))
        known = [row[k] for k in ("S", "H", "V", "HR", "SH", "S3", "H2", "V2") if row.get(k) is not None]
        if known:
            labels["any"] = int(max(known))
        yield Example(row["prompt"], "openai_moderation", labels, group=row["id"], kind="post")


def davidson(root: Path) -> Iterator[Example]:
    for row in _read_csv(_req(root, "davidson/labeled_data.csv")):
        cls = row["class"]
        if cls == "0":
            yield Example(row["tweet"], "davidson", _finish({"hate": 1}))
        elif cls == "2":
            yield Example(row["tweet"], "davidson", {"hate": 0, "harassment": 0})


def toxigen(root: Path) -> Iterator[Example]:
    for row in _read_csv(_req(root, "toxigen_prompts/derived_unique_sentences.csv")):
        if row["y"] in ("0", "1"):
            yield Example(row["text"], "toxigen", _finish({"hate": int(row["y"])}))


def alpaca_eval(root: Path) -> Iterator[Example]:
    for path in sorted(glob.glob(str(_req(root, "alpaca_eval_outputs") / "*.model_outputs.json"))):
        for i, row in enumerate(json.loads(Path(path).read_text())):
            yield Example(
                row["output"],
                "alpaca_eval",
                _all_zero(harmful_request=0),
                prompt=row["instruction"],
                kind="answer",
                group=f"{row['generator']}#{i}",
            )


# -- extra/: LLM and chatbot answers ---------------------------------------------------------------------------
EXTRA = "extra"


def gptfuzz(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/sherdencooper+GPTFuzz/datasets/responses_labeled")
    for name in ("train.csv", "evaluate.csv"):
        for row in _read_csv(base / name):
            text = row["Response"].strip().strip('"')
            if not text:
                continue
            harmful = int(row["label"])
            labels = {"harmful_compliance": harmful}
            if not harmful:  # answers that did not comply with a harmful question: refusals, deflections
                labels.update({c: 0 for c in CATEGORIES})
            lang = "zh" if re.search(r"[\u4e00-\u9fff]", text) else "en"
            yield Example(text, "gptfuzz", labels, kind="answer", lang=lang, group=f"q{row['question']}")


_JBB_CATEGORY = {
    "Harassment/Discrimination": "harassment",
    "Sexual/Adult content": "sexual",
    "Physical harm": "violence",
}


def jailbreakbench(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/JailbreakBench+artifacts/attack-artifacts")
    for path in sorted(glob.glob(str(base / "*/*/*.json"))):
        if "test-artifact" in path:
            continue
        data = json.loads(Path(path).read_text())
        model = data.get("parameters", {}).get("model", "")
        for jb in data.get("jailbreaks", []):
            response = (jb.get("response") or "").strip()
            if not response or jb.get("jailbroken") is None:
                continue
            broken = int(bool(jb["jailbroken"]))
            labels: dict[str, int] = {"harmful_compliance": broken, "harmful_request": 1}
            if not broken:
                labels.update({c: 0 for c in CATEGORIES})
            if broken:
                labels["any"] = 1
            yield Example(
                response,
                "jailbreakbench",
                labels,
                prompt=jb.get("prompt") or jb.get("goal", ""),
                kind="answer",
                group=model,
            )


def latent_jailbreak(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/qiuhuachuan+latent-jailbreak/data/P1")
    for path in sorted(glob.glob(str(base / "*/*.json"))):
        model = Path(path).parent.name
        data = json.loads(Path(path).read_text())
        for items in data.values():
            for row in items:
                response = (row.get("response") or "").strip()
                if not response:
                    continue
                unsafe = int(row.get("safety") == "unsafe")
                labels = {"hate": unsafe, "harmful_compliance": unsafe, "harmful_request": 1}
                if not unsafe:
                    labels.update({c: 0 for c in CATEGORIES})
                lang = "zh" if re.search(r"[\u4e00-\u9fff]", response) else "en"
                yield Example(
                    response,
                    "latent_jailbreak",
                    _finish(labels),
                    prompt=row.get("context", ""),
                    kind="answer",
                    lang=lang,
                    group=model,
                )


_DIASAFETY = {
    "Offending User": "harassment",
    "Toxicity Agreement": "harmful_compliance",
    "Risk Ignorance": "harmful_compliance",
    "Unauthorized Expertise": "harmful_compliance",
    "Biased Opinion": "hate",
}


def diasafety(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/thu-coai+DiaSafety/DiaSafety_dataset")
    for name in ("train.json", "val.json", "test.json"):
        for row in json.loads((base / name).read_text()):
            head = _DIASAFETY.get(row["category"])
            if head is None:
                continue
            unsafe = int(row["label"] == "Unsafe")
            labels = {head: unsafe}
            if unsafe:
                labels["any"] = 1
            yield Example(
                row["response"],
                "diasafety",
                labels,
                prompt=row["context"],
                kind="answer",
                group=row["category"],
            )


def toxichat(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/abaheti95+ToxiChat/data/ToxiChat")
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl"):
        for row in _read_jsonl(base / name):
            thread = row["reddit_thread"]
            context = thread[-1]["text"].strip() if thread else ""
            for key in ("final_dgpt_response", "final_gpt3_response"):
                reply = row.get(key)
                if not reply or not reply.get("text", "").strip():
                    continue
                offensive = reply.get("offense_label") == "Offensive"
                if offensive:
                    targets = reply.get("offense_targets") or []
                    group_target = any(t and not str(t).startswith("@") for t in targets)
                    labels = {"hate": 1} if group_target else {"harassment": 1}
                    labels["any"] = 1
                else:
                    labels = {"hate": 0, "harassment": 0, "any": 0}
                yield Example(
                    reply["text"].strip(),
                    "toxichat",
                    labels,
                    prompt=context,
                    kind="answer",
                    group=reply.get("chatbot_model", key),
                )


def coconot(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/allenai+noncompliance/data")
    for row in _read_jsonl(base / "coconot_pref.jsonl"):
        for key in ("chosen", "rejected"):
            text = (row.get(key) or "").strip()
            if text:
                request = (
                    {} if row.get("category") == "Requests with safety concerns" else {"harmful_request": 0}
                )
                yield Example(
                    text,
                    "coconot_pref",
                    _all_zero(**request),
                    prompt=row["prompt"],
                    kind="answer",
                    group=row.get("subcategory", ""),
                )


def coconot_requests(root: Path) -> Iterator[Example]:
    """Requests alone: the original set (should not comply) and the contrast set (looks unsafe, is safe)."""
    base = _req(root, f"{EXTRA}/allenai+noncompliance/data")
    for name, harmful in (("coconot_eval.jsonl", 1), ("coconot_contrast_eval.jsonl", 0)):
        for row in _read_jsonl(base / name):
            if row.get("category") != "Requests with safety concerns":
                continue
            yield Example(
                row["prompt"],
                "coconot_request",
                {"harmful_request": harmful},
                kind="request",
                group=row.get("subcategory", ""),
            )


# -- extra/: human-written posts -------------------------------------------------------------------------------
def _rtp_labels(ann: dict) -> dict[str, int]:
    labels: dict[str, int] = {}

    def cut(value: float | None, hi: float, lo: float) -> int | None:
        if value is None:
            return None
        if value >= hi:
            return 1
        if value <= lo:
            return 0
        return None

    for key, head in (
        ("IdentityAttack", "hate"),
        ("Insult", "harassment"),
        ("Violence", "violence"),
        ("SelfHarm", "self_harm"),
        ("SexualContent", "sexual"),
    ):
        v = cut(ann.get(key), 2.5, 1.34)
        if v is not None:
            labels[head] = v
    tox = cut(ann.get("Toxicity"), 3.0, 1.67)
    if tox is not None:
        labels["any"] = tox
    if labels.get("any") == 0:  # a text every rater found non-toxic has none of the categories either
        for head in ("hate", "harassment", "violence", "self_harm", "sexual"):
            labels.setdefault(head, 0)
    return _finish(labels)


def rtp_lx(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/microsoft+RTP-LX/scoring/acs_results")
    for path in sorted(glob.glob(str(base / "acs_results_*.json"))):
        name = Path(path).name
        benign = "_benign_" in name
        locale = name.rsplit("_", 1)[-1].removesuffix(".json")
        lang = locale.split("-")[0].lower()
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                entry = row.get("OriginalEntry", {})
                if benign:
                    if row.get("BenignCompletion", "").strip():
                        yield Example(
                            row["BenignCompletion"].strip(),
                            "rtp_lx_benign",
                            _all_zero(harmful_compliance=0),
                            prompt=entry.get("Prompt", ""),
                            lang=lang,
                            kind="completion",
                            group=locale,
                        )
                    completion = (entry.get("Completion") or "").strip()
                    ann = entry.get("CompletionAnnotations")
                    if completion and ann:
                        yield Example(
                            completion,
                            "rtp_lx_completion",
                            _rtp_labels(ann),
                            prompt=entry.get("Prompt", ""),
                            lang=lang,
                            kind="completion",
                            group=locale,
                        )
                else:
                    text = (row.get("Prompt") or "").strip()
                    ann = entry.get("Annotations")
                    if text and ann:
                        yield Example(text, "rtp_lx", _rtp_labels(ann), lang=lang, group=locale)


def edos(root: Path) -> Iterator[Example]:
    for row in _read_csv(_req(root, f"{EXTRA}/rewire-online+edos/data/edos_labelled_aggregated.csv")):
        cat = row["label_category"]
        if row["label_sexist"] == "not sexist":
            labels = {"hate": 0, "violence": 0}
        elif cat.startswith("1."):
            labels = {"hate": 1, "violence": 1}
        else:
            labels = {"hate": 1}
        yield Example(row["text"], "edos", _finish(labels))


def toxic_spans(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/ipavlopoulos+toxic_spans/data")
    comments = {r["comment_id"]: r["comment_text"] for r in _read_csv(base / "comments.csv")}
    ann_comment: dict[str, str] = {}
    raters: dict[str, set[str]] = defaultdict(set)
    for r in _read_csv(base / "annotations.csv"):
        ann_comment[r["annotation"]] = r["comment_id"]
        raters[r["comment_id"]].add(r["annotation"])
    marked: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in _read_csv(base / "spans.csv"):
        cid = ann_comment.get(r["annotation"])
        if cid:
            marked[cid][r["type"].lower()].add(r["annotation"])
    heads = {"insult": "harassment", "threat": "violence", "identity based attack": "hate"}
    for cid, text in comments.items():
        n = max(1, len(raters.get(cid, ())))
        kinds = marked.get(cid, {})
        any_marked = len(set().union(*kinds.values())) if kinds else 0
        labels: dict[str, int] = {}
        for kind, voters in kinds.items():
            head = heads.get(kind)
            if head and len(voters) * 2 > n:
                labels[head] = 1
        if any_marked == 0:
            labels = {"hate": 0, "harassment": 0, "violence": 0, "any": 0}
        elif any_marked * 2 > n:
            labels["any"] = 1
        yield Example(text, "toxic_spans", _finish(labels))


def convabuse(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/amandacurry+convabuse/2_splits")
    group_types = ("ableist", "homophobic", "racist", "sexist", "transphobic")
    for name in ("ConvAbuseEMNLPtrain.csv", "ConvAbuseEMNLPvalid.csv", "ConvAbuseEMNLPtest.csv"):
        for row in _read_csv(base / name):
            text = (row.get("user") or "").strip()
            if not text:
                continue
            votes = abusive = 0
            types: dict[str, int] = defaultdict(int)
            for a in range(1, 9):
                keys = [f"Annotator{a}_is_abuse.{k}" for k in ("1", "0", "-1", "-2", "-3")]
                vals = [row.get(k, "") for k in keys]
                if not any(v == "1" for v in vals):
                    continue
                votes += 1
                if any(row.get(f"Annotator{a}_is_abuse.{k}") == "1" for k in ("-1", "-2", "-3")):
                    abusive += 1
                    for t in (*group_types, "sex_harassment", "intellectual"):
                        if row.get(f"Annotator{a}_{t}") == "1":
                            types[t] += 1
                    if row.get(f"Annotator{a}_target.individual") == "1":
                        types["individual"] += 1
            if votes == 0:
                continue
            if abusive * 2 > votes:
                labels = {"any": 1}
                half = abusive / 2
                if any(types[t] > half for t in group_types):
                    labels["hate"] = 1
                if types["sex_harassment"] > half:
                    labels["sexual"] = 1
                    labels["harassment"] = 1
                if types["individual"] > half or types["intellectual"] > half:
                    labels["harassment"] = 1
            elif abusive == 0:
                labels = {"hate": 0, "harassment": 0, "any": 0}
            else:
                continue
            yield Example(text, "convabuse", _finish(labels), prompt=row.get("agent", ""), group=row["bot"])


def implicit_hate(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/liuchaoqun+hate-speech-datasets/implicit-hate-corpus")
    fine = {r["post"]: r["implicit_class"] for r in _read_csv(base / "implicit_hate_v1_stg2_posts.tsv", "\t")}
    for row in _read_csv(base / "implicit_hate_v1_stg1_posts.tsv", "\t"):
        text = row["post"].strip().strip('"').strip()
        if row["class"] == "not_hate":
            labels = {"hate": 0, "extremism": 0}
        else:
            labels = {"hate": 1}
            sub = fine.get(row["post"])
            if sub in ("incitement", "white_grievance"):
                labels["extremism"] = 1
            if sub == "threatening":
                labels["violence"] = 1
        yield Example(text, "implicit_hate", _finish(labels))


def stormfront(root: Path) -> Iterator[Example]:
    for row in _read_csv(_req(root, f"{EXTRA}/Vicomtech+hate-speech-dataset/stormfront_combined.csv")):
        if row["label"] == "hate":
            yield Example(row["text"], "stormfront", _finish({"hate": 1, "extremism": 1}))
        elif row["label"] == "noHate":
            yield Example(row["text"], "stormfront", {"hate": 0})


def mlma(root: Path) -> Iterator[Example]:
    base = _req(root, f"{EXTRA}/HKUST-KnowComp+MLMA_hate_speech/hate_speech_mlma")
    for lang in ("en", "fr"):
        for row in _read_csv(base / f"{lang}_dataset.csv"):
            tags = set(row["sentiment"].split("_"))
            if tags == {"normal"}:
                labels = _all_zero()
                labels.pop("harmful_compliance")
            else:
                labels = {"any": 1}
                if "hateful" in tags:
                    labels["hate"] = 1
                if tags & {"offensive", "abusive", "disrespectful"} and row.get("group") == "individual":
                    labels["harassment"] = 1
            yield Example(row["tweet"], "mlma", _finish(labels), lang=lang, group=lang)


def sbf(root: Path) -> Iterator[Example]:
    rows = _read_csv(_req(root, f"{EXTRA}/abaheti95+ToxiChat/data/SBF/SBFv2.dev.csv"))
    by_post: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_post[r["post"]].append(r)

    def mean(values: Iterable[str]) -> float | None:
        nums = [float(v) for v in values if v not in ("", None)]
        return sum(nums) / len(nums) if nums else None

    for post, group in by_post.items():
        off = mean(r["offensiveYN"] for r in group)
        sex = mean(r["sexYN"] for r in group)
        targeted = sum(1 for r in group if r.get("targetCategory")) * 2 > len(group)
        labels: dict[str, int] = {}
        if off is not None:
            if off >= 0.5 and targeted:
                labels["hate"] = 1
            elif off == 0:
                labels.update(hate=0, harassment=0)
        if sex is not None:
            if sex >= 0.5:
                labels["sexual"] = 1
            elif sex == 0:
                labels["sexual"] = 0
        if labels:
            yield Example(post, "sbf", _finish(labels))


def conspiracy(root: Path) -> Iterator[Example]:
    for row in _read_csv(
        _req(root, f"{EXTRA}/DataLab12+fakenews/lexical/data/conspiracy_tweets_text_only.csv")
    ):
        yield Example(row["text"], "conspiracy_tweets", _finish({"extremism": 1}))
    path = _req(root, f"{EXTRA}/AminHasibul+ConspiracyAgaintstCovidVaccines/finaldataset y.csv")
    for row in _read_csv(path):
        if row["label"] in ("0", "1"):
            yield Example(row["comments"], "vaccine_conspiracy", {"extremism": int(row["label"])})


LOADERS: dict[str, Callable[[Path], Iterator[Example]]] = {
    "openai_moderation": openai_moderation,
    "alpaca_eval": alpaca_eval,
    "gptfuzz": gptfuzz,
    "jailbreakbench": jailbreakbench,
    "latent_jailbreak": latent_jailbreak,
    "diasafety": diasafety,
    "toxichat": toxichat,
    "coconot_pref": coconot,
    "coconot_request": coconot_requests,
    "rtp_lx": rtp_lx,
    "edos": edos,
    "toxic_spans": toxic_spans,
    "convabuse": convabuse,
    "implicit_hate": implicit_hate,
    "stormfront": stormfront,
    "mlma": mlma,
    "sbf": sbf,
    "conspiracy": conspiracy,
    "davidson": davidson,
    "toxigen": toxigen,
}


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"https?://\S+|@\w+|\[user\]|\[url\]", " ", text)
    return re.sub(r"[\W_]+", " ", text).strip()


def text_key(text: str) -> str:
    return hashlib.sha1(normalize(text).encode()).hexdigest()[:16]


def deduplicate(examples: list[Example]) -> list[Example]:
    """One example per normalized (text, prompt): labels merged; a label two sources disagree on is dropped."""
    merged: dict[tuple[str, str], Example] = {}
    conflicts: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ex in examples:
        key = (text_key(ex.text), text_key(ex.prompt) if ex.prompt else "")
        if not normalize(ex.text):
            continue
        if key not in merged:
            merged[key] = Example(ex.text, ex.source, dict(ex.labels), ex.prompt, ex.lang, ex.kind, ex.group)
            continue
        kept = merged[key]
        if ex.source != kept.source and ex.source not in kept.extra_sources:
            kept.extra_sources.append(ex.source)
        for head, value in ex.labels.items():
            if head in conflicts[key]:
                continue
            if head in kept.labels and kept.labels[head] != value:
                conflicts[key].add(head)
                del kept.labels[head]
            else:
                kept.labels[head] = value
    return [ex for ex in merged.values() if ex.labels]


def load_all(root: Path, names: Iterable[str] | None = None) -> list[Example]:
    out: list[Example] = []
    for name in names or LOADERS:
        out.extend(LOADERS[name](Path(root)))
    return deduplicate(out)

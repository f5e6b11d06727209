#!/usr/bin/env python3
"""Independent reference for `rxlm prep` on the MIMIC-IV demo: re-implements the documented cohort,
demographics (omr rule) and diagnosis rules of docs/prep.md with the Python standard library only,
and writes tests/fixtures/clinical/demo_admissions.tsv:
    hadm_id <TAB> status <TAB> patient line <TAB> diagnosis codes in order ("ICD-v CODE", "|" between)
status is "kept" or the drop reason. The drug-list percentile step is not reproduced (it needs the
drug-name normaliser), so admissions it drops are "kept" here; prep_demo_test accounts for that.
Usage: tools/reference/prep_demo_reference.py [--demo ../shared/data/mimic-iv-demo] [--out FILE]"""
import argparse
import csv
import datetime
import gzip
import os
import re

NON_THERAPEUTIC_PHRASES = ["flush", "dwell", "crrt machine priming", "bag", "vial", "syringe", "cassette",
                           "click change", "sterile water", "iso osmotic", "acd a", "prismasate", "iohexol",
                           "gastroview", "readi cat", "tuberculin"]
NON_THERAPEUTIC_NAMES = ["soln", "sw"]
ADMISSION_TYPES = {"EW EMER.": "emergency", "DIRECT EMER.": "direct emergency", "URGENT": "urgent",
                   "ELECTIVE": "elective", "OBSERVATION ADMIT": "observation",
                   "EU OBSERVATION": "emergency-unit observation", "DIRECT OBSERVATION": "direct observation",
                   "AMBULATORY OBSERVATION": "ambulatory observation",
                   "SURGICAL SAME DAY ADMISSION": "surgical same-day admission"}
PLAUSIBLE = {"Height (Inches)": (120, 230), "Weight (Lbs)": (25, 350), "BMI (kg/m2)": (10, 100)}
TO_METRIC = {"Height (Inches)": 2.54, "Weight (Lbs)": 0.45359237, "BMI (kg/m2)": 1.0}


def rows(demo, table):
    with gzip.open(os.path.join(demo, "hosp", table + ".csv.gz"), "rt", newline="") as f:
        yield from csv.DictReader(f)


def day(text):
    return datetime.date.fromisoformat(text[:10])


def therapeutic(drug_type, drug):
    if drug_type == "BASE":
        return False
    words = " " + " ".join(re.sub(r"[^a-z0-9]+", " ", drug.lower()).split()) + " "
    if any(" " + p + " " in words for p in NON_THERAPEUTIC_PHRASES):
        return False
    return words.strip() not in NON_THERAPEUTIC_NAMES


def closest(measurements, admit, window):
    """measurements: (date, seq_num, metric value); closest date to admit, ties → earlier date, lower seq_num."""
    best = None
    for date, seq, value in measurements:
        if window and not (window[0] <= date <= window[1]):
            continue
        key = (abs((date - admit).days), date, seq)
        if best is None or key < best[0]:
            best = (key, value)
    return None if best is None else best[1]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--demo", default=os.path.join(here, "..", "..", "..", "shared", "data", "mimic-iv-demo"))
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "fixtures", "clinical",
                                                      "demo_admissions.tsv"))
    args = parser.parse_args()
    patients = {r["subject_id"]: r for r in rows(args.demo, "patients")}
    titles = {(r["icd_version"], r["icd_code"]): r["long_title"] for r in rows(args.demo, "d_icd_diagnoses")}
    diagnoses = {}
    for r in rows(args.demo, "diagnoses_icd"):
        diagnoses.setdefault(r["hadm_id"], []).append((int(r["seq_num"]), r["icd_version"], r["icd_code"].strip()))
    prescribed, treated = set(), set()
    for r in rows(args.demo, "prescriptions"):
        prescribed.add(r["hadm_id"])
        if therapeutic(r["drug_type"], r["drug"]):
            treated.add(r["hadm_id"])
    omr = {}
    for r in rows(args.demo, "omr"):
        if r["result_name"] not in PLAUSIBLE:
            continue
        try:
            value = float(r["result_value"]) * TO_METRIC[r["result_name"]]
        except ValueError:
            continue
        low, high = PLAUSIBLE[r["result_name"]]
        if low <= value <= high:
            omr.setdefault((r["subject_id"], r["result_name"]), []).append((day(r["chartdate"]), int(r["seq_num"]), value))

    lines = []
    for a in sorted(rows(args.demo, "admissions"), key=lambda r: int(r["hadm_id"])):
        hadm, subject = a["hadm_id"], a["subject_id"]
        p = patients.get(subject)
        admit, discharge = day(a["admittime"]), day(a["dischtime"] or a["admittime"])
        age = None if p is None or not p["anchor_age"] else int(p["anchor_age"]) + admit.year - int(p["anchor_year"])
        if p is None:
            status = "no patients row for the subject"
        elif age is not None and not 18 <= age <= 110:
            status = "age outside [18, 110]"
        elif hadm not in diagnoses:
            status = "no diagnoses"
        elif hadm not in prescribed:
            status = "no prescriptions"
        elif hadm not in treated:
            status = "only non-therapeutic prescriptions"
        else:
            status = "kept"
        if status != "kept":
            lines.append(f"{hadm}\t{status}\t\t")
            continue
        window = (admit - datetime.timedelta(days=365), discharge)
        height = closest(omr.get((subject, "Height (Inches)"), []), admit, None)
        weight = closest(omr.get((subject, "Weight (Lbs)"), []), admit, window)
        bmi = closest(omr.get((subject, "BMI (kg/m2)"), []), admit, window)
        if bmi is None and height is not None and weight is not None:
            bmi = weight / (height / 100) ** 2
        sex = {"F": "female", "M": "male"}.get(p["gender"], "unknown")
        age_text = "unknown" if age is None else "90 or older" if age >= 90 else str(age)
        patient = (f"Patient: age {age_text}, sex {sex}, "
                   f"height {'unknown' if height is None else f'{height:.0f} cm'}, "
                   f"weight {'unknown' if weight is None else f'{weight:.1f} kg'}, "
                   f"BMI {'unknown' if bmi is None else f'{bmi:.1f}'}, "
                   f"admission type {ADMISSION_TYPES.get(a['admission_type'], a['admission_type'].lower())}.")
        seen, codes = set(), []
        for seq, version, code in sorted(diagnoses[hadm], key=lambda d: (d[0], int(d[1]), d[2])):
            if (version, code) in seen:
                continue
            seen.add((version, code))
            codes.append(f"ICD-{version} {code}" + ("" if (version, code) in titles else " (title unknown)"))
        lines.append(f"{hadm}\tkept\t{patient}\t{'|'.join(codes)}")
    with open(args.out, "w") as out:
        out.write("hadm_id\tstatus\tpatient_line\tdiagnoses\n")
        out.write("\n".join(lines) + "\n")
    kept = sum(1 for line in lines if line.split("\t")[1] == "kept")
    print(f"{args.out}: {len(lines)} admissions, {kept} kept")


if __name__ == "__main__":
    main()

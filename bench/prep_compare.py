#!/usr/bin/env python3
"""Side-by-side benchmark for `rxlm prep`: the same joins and filters done with pandas and with DuckDB
on the same hosp tables. It prints wall times and the ratio of each against rxlm measured in the same
run, and it checks that the cohort counts agree.

rxlm does strictly more work than the two anchors: name normalisation, ATC lookup, the omr rule,
de-identified JSONL and the report. The anchors do the joins and filters that decide the cohort:
- the non-therapeutic row rule;
- the patient join and age;
- the diagnosis and prescription presence checks, in rxlm's order;
- distinct (admission, drug) pairs;
- the closest omr weight within the window.
pandas runs twice: as straightforward pandas (the name rule on every row) and as `pandas-distinct` (the
rule on the distinct names only, mapped back), so the ratio is shown against a tuned pandas too.
Usage: bench/prep_compare.py --mimic DIR --rxlm build/rxlm [--repeat 5] [--threads 2] [--json out.json]
Developer tool (needs pandas and duckdb); rxlm itself never needs Python."""
import argparse
import json
import os
import statistics
import subprocess
import time

# The default non-therapeutic rule of rxlm (src/rxlm/clinical/drug_normaliser.cc, docs/prep.md).
PHRASES = ["flush", "dwell", "crrt machine priming", "bag", "vial", "syringe", "cassette", "click change",
           "sterile water", "iso osmotic", "acd a", "prismasate", "iohexol", "gastroview", "readi cat", "tuberculin"]
WHOLE_NAMES = ["soln", "sw"]
MIN_AGE, MAX_AGE, OMR_DAYS = 18, 110, 365


def table(folder, name):
    for candidate in (f"{folder}/hosp/{name}.csv.gz", f"{folder}/hosp/{name}.csv"):
        if os.path.exists(candidate):
            return candidate
    raise SystemExit(f"{folder}: no hosp/{name}.csv(.gz)")


def run_rxlm(args):
    out = os.path.join(args.work, "rxlm")
    start = time.perf_counter()
    subprocess.run([args.rxlm, "prep", "--mimic", args.mimic, "--out", out], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    r = json.load(open(os.path.join(out, "prep_report.json")))
    drops = r["admissions_dropped"]
    outlier = next(v for k, v in drops.items() if k.startswith("more distinct drugs"))
    return seconds, {
        "admissions_in": r["admissions_in"],
        "no_patient": drops["no patients row for the subject"],
        "bad_age": drops[f"age outside [{MIN_AGE}, {MAX_AGE}]"],
        "no_diagnoses": drops["no diagnoses"],
        "no_prescriptions": drops["no prescriptions"],
        "only_non_therapeutic": drops["only non-therapeutic prescriptions"],
        "cohort": r["admissions_out"] + outlier,
        "therapeutic_rows": r["prescriptions"]["therapeutic_rows"],
    }


def run_pandas(args, distinct=False):
    """distinct=False: the name rule as straightforward pandas applies it, on every row. distinct=True: the
    rule and the name clean-up on the distinct drug names only, mapped back to the rows (what a pandas
    user tuning this would do; rxlm also decides per distinct product)."""
    import pandas as pd
    start = time.perf_counter()
    m = args.mimic
    patients = pd.read_csv(table(m, "patients"), usecols=["subject_id", "gender", "anchor_age", "anchor_year"])
    admissions = pd.read_csv(table(m, "admissions"), usecols=["subject_id", "hadm_id", "admittime", "dischtime",
                                                                "admission_type"])
    diagnoses = pd.read_csv(table(m, "diagnoses_icd"), usecols=["hadm_id", "seq_num", "icd_code", "icd_version"],
                            dtype={"icd_code": str})
    titles = pd.read_csv(table(m, "d_icd_diagnoses"), dtype={"icd_code": str})
    rx = pd.read_csv(table(m, "prescriptions"), usecols=["hadm_id", "drug_type", "drug", "gsn"],
                     dtype={"gsn": str, "drug": str}, keep_default_na=False)
    omr = pd.read_csv(table(m, "omr"), usecols=["subject_id", "chartdate", "seq_num", "result_name", "result_value"],
                      dtype={"result_value": str})

    drugs = pd.Series(rx["drug"].unique()) if distinct else rx["drug"]
    words = " " + drugs.str.lower().str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip() + " "
    matched = pd.Series(False, index=drugs.index)
    for phrase in PHRASES:
        matched |= words.str.contains(" " + phrase + " ", regex=False)
    for name in WHOLE_NAMES:
        matched |= words.eq(" " + name + " ")
    excluded = rx["drug_type"].eq("BASE") | (rx["drug"].isin(drugs[matched]) if distinct else matched)
    therapeutic = rx[~excluded]
    if distinct:
        clean = pd.Series(drugs.str.lower().str.strip().values, index=drugs.values)
        names = therapeutic["drug"].map(clean)
    else:
        names = therapeutic["drug"].str.lower().str.strip()
    pairs = therapeutic.assign(name=names)[["hadm_id", "name"]].drop_duplicates()

    diagnoses = diagnoses.merge(titles, on=["icd_code", "icd_version"], how="left").sort_values(["hadm_id", "seq_num"])
    a = admissions.drop_duplicates("hadm_id").merge(patients.drop_duplicates("subject_id"), on="subject_id",
                                                    how="left", indicator=True)
    a["admit"] = pd.to_datetime(a["admittime"])
    a["disch"] = pd.to_datetime(a["dischtime"])
    a["age"] = a["anchor_age"] + a["admit"].dt.year - a["anchor_year"]
    counts = {"admissions_in": len(a)}
    no_patient = a["_merge"] != "both"
    bad_age = ~no_patient & a["age"].notna() & ((a["age"] < MIN_AGE) | (a["age"] > MAX_AGE))
    left = ~no_patient & ~bad_age
    no_dx = left & ~a["hadm_id"].isin(diagnoses["hadm_id"])
    left &= ~no_dx
    no_rx = left & ~a["hadm_id"].isin(rx["hadm_id"])
    left &= ~no_rx
    only_nt = left & ~a["hadm_id"].isin(pairs["hadm_id"])
    left &= ~only_nt
    cohort = a[left]
    counts.update(no_patient=int(no_patient.sum()), bad_age=int(bad_age.sum()), no_diagnoses=int(no_dx.sum()),
                  no_prescriptions=int(no_rx.sum()), only_non_therapeutic=int(only_nt.sum()), cohort=len(cohort),
                  therapeutic_rows=len(therapeutic))

    # Weight closest to admission within [admit - 365 d, discharge].
    w = omr[omr["result_name"] == "Weight (Lbs)"].copy()
    w["value"] = pd.to_numeric(w["result_value"], errors="coerce")
    w["day"] = pd.to_datetime(w["chartdate"])
    j = cohort[["hadm_id", "subject_id", "admit", "disch"]].merge(w, on="subject_id")
    j = j[(j["day"] >= j["admit"].dt.normalize() - pd.Timedelta(days=OMR_DAYS)) & (j["day"] <= j["disch"].dt.normalize())]
    j["distance"] = (j["day"] - j["admit"].dt.normalize()).abs()
    weights = j.sort_values(["hadm_id", "distance", "day", "seq_num"]).drop_duplicates("hadm_id")
    counts["weight_known"] = len(weights)
    drug_lists = pairs[pairs["hadm_id"].isin(cohort["hadm_id"])].groupby("hadm_id")["name"].agg(list)
    _ = len(drug_lists)
    return time.perf_counter() - start, counts


def run_duckdb(args):
    import duckdb
    start = time.perf_counter()
    m = args.mimic
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    phrase_sql = " OR ".join(f"contains(words, ' {p} ')" for p in PHRASES)
    whole_sql = " OR ".join(f"words = ' {n} '" for n in WHOLE_NAMES)
    con.execute(f"""
      CREATE TEMP TABLE rx AS
        SELECT hadm_id, drug, drug_type,
               ' ' || trim(regexp_replace(lower(drug), '[^a-z0-9]+', ' ', 'g')) || ' ' AS words
        FROM read_csv('{table(m, "prescriptions")}', header=true, all_varchar=true);
      CREATE TEMP TABLE ther AS
        SELECT DISTINCT CAST(hadm_id AS BIGINT) AS hadm_id, trim(lower(drug)) AS name FROM rx
        WHERE NOT (drug_type = 'BASE' OR {phrase_sql} OR {whole_sql});
      CREATE TEMP TABLE adm AS
        SELECT a.hadm_id, a.subject_id, CAST(a.admittime AS TIMESTAMP) AS admit, CAST(a.dischtime AS TIMESTAMP) AS disch,
               p.subject_id IS NOT NULL AS has_patient,
               p.anchor_age + year(CAST(a.admittime AS TIMESTAMP)) - p.anchor_year AS age
        FROM (SELECT DISTINCT ON (hadm_id) * FROM read_csv('{table(m, "admissions")}', header=true)) a
        LEFT JOIN (SELECT DISTINCT ON (subject_id) * FROM read_csv('{table(m, "patients")}', header=true)) p
          USING (subject_id);
      CREATE TEMP TABLE dx AS
        SELECT d.hadm_id, d.seq_num, d.icd_code, t.long_title
        FROM read_csv('{table(m, "diagnoses_icd")}', header=true, types={{'icd_code': 'VARCHAR'}}) d
        LEFT JOIN read_csv('{table(m, "d_icd_diagnoses")}', header=true, types={{'icd_code': 'VARCHAR'}}) t
          USING (icd_code, icd_version);
      CREATE TEMP TABLE flags AS
        SELECT adm.*,
               hadm_id IN (SELECT hadm_id FROM dx) AS has_dx,
               hadm_id IN (SELECT CAST(hadm_id AS BIGINT) FROM rx) AS has_rx,
               hadm_id IN (SELECT hadm_id FROM ther) AS has_ther
        FROM adm;
    """)
    row = con.execute(f"""
      SELECT count(*),
             count(*) FILTER (NOT has_patient),
             count(*) FILTER (has_patient AND age IS NOT NULL AND (age < {MIN_AGE} OR age > {MAX_AGE})),
             count(*) FILTER (has_patient AND NOT coalesce(age < {MIN_AGE} OR age > {MAX_AGE}, false) AND NOT has_dx),
             count(*) FILTER (has_patient AND NOT coalesce(age < {MIN_AGE} OR age > {MAX_AGE}, false) AND has_dx AND NOT has_rx),
             count(*) FILTER (has_patient AND NOT coalesce(age < {MIN_AGE} OR age > {MAX_AGE}, false) AND has_dx AND has_rx AND NOT has_ther),
             count(*) FILTER (has_patient AND NOT coalesce(age < {MIN_AGE} OR age > {MAX_AGE}, false) AND has_dx AND has_rx AND has_ther)
      FROM flags""").fetchone()
    therapeutic_rows = con.execute(
        f"SELECT count(*) FROM rx WHERE NOT (drug_type = 'BASE' OR {phrase_sql} OR {whole_sql})").fetchone()[0]
    weight_known = con.execute(f"""
      WITH cohort AS (SELECT * FROM flags WHERE has_patient AND NOT coalesce(age < {MIN_AGE} OR age > {MAX_AGE}, false)
                        AND has_dx AND has_rx AND has_ther),
           w AS (SELECT subject_id, CAST(chartdate AS DATE) AS day, seq_num, TRY_CAST(result_value AS DOUBLE) AS value
                 FROM read_csv('{table(m, "omr")}', header=true, all_varchar=false, types={{'result_value': 'VARCHAR'}})
                 WHERE result_name = 'Weight (Lbs)')
      SELECT count(*) FROM (
        SELECT c.hadm_id, arg_min(w.value, abs(datediff('day', CAST(c.admit AS DATE), w.day))) AS weight
        FROM cohort c JOIN w USING (subject_id)
        WHERE w.day BETWEEN CAST(c.admit AS DATE) - INTERVAL {OMR_DAYS} DAY AND CAST(c.disch AS DATE)
        GROUP BY c.hadm_id)""").fetchone()[0]
    con.execute("""CREATE TEMP TABLE drug_lists AS
                   SELECT hadm_id, list(name ORDER BY name) FROM ther WHERE hadm_id IN (SELECT hadm_id FROM flags) GROUP BY hadm_id""")
    keys = ["admissions_in", "no_patient", "bad_age", "no_diagnoses", "no_prescriptions", "only_non_therapeutic", "cohort"]
    counts = dict(zip(keys, row))
    counts.update(therapeutic_rows=therapeutic_rows, weight_known=weight_known)
    return time.perf_counter() - start, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mimic", required=True)
    parser.add_argument("--rxlm", default="build/rxlm")
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (rxlm uses 2; pandas 1)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; tools alternate within each round")
    parser.add_argument("--work", default="/tmp/rxlm_prep_bench")
    parser.add_argument("--skip", default="", help="comma list of anchors to skip (pandas,pandas-distinct,duckdb)")
    parser.add_argument("--json", default="", help="also write the results here")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    tools = {"rxlm": run_rxlm, "duckdb": run_duckdb, "pandas": run_pandas,
             "pandas-distinct": lambda a: run_pandas(a, distinct=True)}
    tools = {k: v for k, v in tools.items() if k not in args.skip.split(",")}
    times = {name: [] for name in tools}
    counts = {}
    for round_index in range(args.repeat):
        order = list(tools) if round_index % 2 == 0 else list(reversed(tools))  # alternate who goes first
        for name in order:
            seconds, counts[name] = tools[name](args)
            times[name].append(seconds)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"{args.repeat} rounds, median (min-max) wall seconds; ratio = anchor median / rxlm median\n")
    print("| tool | wall s, median (min-max) | ratio vs rxlm | cohort | therapeutic rows |\n|---|---:|---:|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {median[name]:.2f} ({min(t):.2f}-{max(t):.2f}) | {median[name] / median['rxlm']:.2f}x "
              f"| {counts[name]['cohort']} | {counts[name]['therapeutic_rows']} |")
    ok = True
    for name, c in counts.items():
        for key, value in counts["rxlm"].items():
            if c.get(key) != value:
                ok = False
                print(f"MISMATCH {name}.{key} = {c.get(key)} vs rxlm {value}")
    print("counts agree" if ok else "COUNTS DIFFER")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"input": args.mimic, "times": times, "median": median, "counts": counts, "counts_agree": ok},
                      out, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

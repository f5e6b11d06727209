#!/usr/bin/env bash
# Test hook (run by scripts/test.sh before ctest): starts a private PostgreSQL from the Debian
# `postgresql` package, loads the MIMIC-IV demo hosp tables into a mimic-code-style schema
# `mimiciv_hosp`, and writes the connection URI to <build>/test-postgres/uri for prep_pg_test.
# It first writes <build>/test-postgres/required: from then on prep_pg_test FAILS (never skips) when
# the URI is missing, so a broken server cannot pass CI silently. Setup errors are printed and logged
# to <build>/test-postgres/setup.log; the hook itself exits 0 so the rest of the suite still runs.
# Env: RXLM_BUILD_DIR (default build), RXLM_PG_PORT (54329), RXLM_PG_DATA (/tmp/rxlm-pg-<port>).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${RXLM_BUILD_DIR:-$root/build}"
state="$build/test-postgres"
port="${RXLM_PG_PORT:-54329}"
data="${RXLM_PG_DATA:-/tmp/rxlm-pg-$port}"
demo="${RXLM_SHARED:-$root/../shared}/data/mimic-iv-demo/hosp"
mkdir -p "$state"
state="$(cd "$state" && pwd)"
demo="$(cd "$(dirname "$demo")" 2>/dev/null && pwd)/$(basename "$demo")"
cd /  # the server runs as `postgres`, which may not be allowed into the checkout
echo "scripts/test.d/postgres.sh ran at $(date -u +%FT%TZ)" > "$state/required"
rm -f "$state/uri"
log="$state/setup.log"
: > "$log"

give_up() {
  echo "postgres.sh: $1 (details: $log); prep_pg_test will fail" | tee -a "$log" >&2
  exit 0
}

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bindir" ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql; } >>"$log" 2>&1 \
    || give_up "could not install the postgresql package"
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
fi
[ -n "$bindir" ] || give_up "no /usr/lib/postgresql/*/bin after installing postgresql"

# PostgreSQL refuses to run as root: run the server as the package's `postgres` user then.
as_server=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || give_up "no postgres user (is the postgresql package installed?)"
  as_server=(runuser -u postgres --)
fi

if ! "${as_server[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  rm -rf "$data"
  mkdir -p "$data" || give_up "cannot create $data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
  chmod 700 "$data"
  "${as_server[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --no-sync >>"$log" 2>&1 \
    || give_up "initdb failed"
  # Unix socket only, inside the data folder, owner-only: trust auth is then safe on a shared machine.
  "${as_server[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses='' -c unix_socket_permissions=0700 -c fsync=off" start >>"$log" 2>&1 \
    || give_up "the server did not start (see $data/server.log)"
fi

psql=("$bindir/psql" -h "$data" -p "$port" -U postgres -v ON_ERROR_STOP=1 -q)
"${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'mimiciv'" 2>>"$log" | grep -q 1 \
  || "${psql[@]}" -d postgres -c "CREATE DATABASE mimiciv" >>"$log" 2>&1 || give_up "cannot create database mimiciv"

# Column types as in MIT-LCP mimic-code mimic-iv/buildmimic/postgres/create.sql (v2.2 hosp tables).
"${psql[@]}" -d mimiciv >>"$log" 2>&1 <<'SQL' || give_up "creating schema mimiciv_hosp failed"
DROP SCHEMA IF EXISTS mimiciv_hosp CASCADE;
CREATE SCHEMA mimiciv_hosp;
CREATE TABLE mimiciv_hosp.patients (subject_id INTEGER NOT NULL, gender CHAR(1) NOT NULL, anchor_age SMALLINT,
  anchor_year SMALLINT NOT NULL, anchor_year_group VARCHAR(20) NOT NULL, dod DATE);
CREATE TABLE mimiciv_hosp.admissions (subject_id INTEGER NOT NULL, hadm_id INTEGER NOT NULL,
  admittime TIMESTAMP NOT NULL, dischtime TIMESTAMP, deathtime TIMESTAMP, admission_type VARCHAR(40) NOT NULL,
  admit_provider_id VARCHAR(10), admission_location VARCHAR(60), discharge_location VARCHAR(60),
  insurance VARCHAR(255), language VARCHAR(25), marital_status VARCHAR(30), race VARCHAR(80),
  edregtime TIMESTAMP, edouttime TIMESTAMP, hospital_expire_flag SMALLINT);
CREATE TABLE mimiciv_hosp.d_icd_diagnoses (icd_code CHAR(7) NOT NULL, icd_version SMALLINT NOT NULL,
  long_title VARCHAR(255));
CREATE TABLE mimiciv_hosp.diagnoses_icd (subject_id INTEGER NOT NULL, hadm_id INTEGER NOT NULL,
  seq_num INTEGER NOT NULL, icd_code CHAR(7), icd_version SMALLINT);
CREATE TABLE mimiciv_hosp.omr (subject_id INTEGER NOT NULL, chartdate DATE NOT NULL, seq_num INTEGER NOT NULL,
  result_name VARCHAR(100) NOT NULL, result_value TEXT NOT NULL);
CREATE TABLE mimiciv_hosp.prescriptions (subject_id INTEGER NOT NULL, hadm_id INTEGER NOT NULL,
  pharmacy_id INTEGER NOT NULL, poe_id VARCHAR(25), poe_seq INTEGER, order_provider_id VARCHAR(10),
  starttime TIMESTAMP(3), stoptime TIMESTAMP(3), drug_type VARCHAR(20) NOT NULL, drug VARCHAR(255) NOT NULL,
  formulary_drug_cd VARCHAR(50), gsn VARCHAR(255), ndc VARCHAR(25), prod_strength VARCHAR(255),
  form_rx VARCHAR(25), dose_val_rx VARCHAR(100), dose_unit_rx VARCHAR(50), form_val_disp VARCHAR(50),
  form_unit_disp VARCHAR(50), doses_per_24_hrs REAL, route VARCHAR(50));
SQL

# Loaded the way mimic-code's load_gz.sql does: \copy from the gzip stream, CSV with header, '' = NULL.
for table in patients admissions d_icd_diagnoses diagnoses_icd omr prescriptions; do
  [ -f "$demo/$table.csv.gz" ] || give_up "missing $demo/$table.csv.gz"
  "${psql[@]}" -d mimiciv -c "\\copy mimiciv_hosp.$table FROM PROGRAM 'gzip -dc $demo/$table.csv.gz' WITH (FORMAT csv, HEADER true, NULL '')" \
    >>"$log" 2>&1 || give_up "loading $table failed"
done

echo "postgresql:///mimiciv?host=$data&port=$port&user=postgres" > "$state/uri"
echo "postgres.sh: MIMIC-IV demo loaded into mimiciv_hosp at $(cat "$state/uri")"

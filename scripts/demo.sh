#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job.
# Until `rxlm demo` exists this is greedy generation with the bundled stories260K model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
shared="${RXLM_SHARED:-../shared}"
./build/rxlm generate --model "$shared/models/stories260K/stories260K.bin" \
  --tokenizer "$shared/models/stories260K/tok512.bin" --temperature 0 --max-tokens 256

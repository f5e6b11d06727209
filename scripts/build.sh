#!/usr/bin/env bash
# Configures and builds rxlm (Release) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${RXLM_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)"

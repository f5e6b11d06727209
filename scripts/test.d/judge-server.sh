#!/usr/bin/env bash
# Test hook (run by scripts/test.sh before ctest): makes llama-cpp-python's OpenAI-compatible server
# (`python -m llama_cpp.server`) available to judge_test, which starts it with SmolLM2 on loopback.
# - python3 already has it: nothing to do.
# - python3 has llama-cpp-python but not the [server] extras: installs the extras alone (seconds).
# - otherwise: builds llama-cpp-python[server]==0.3.36 from source into a venv under the build folder,
#   for a portable AVX2 CPU with AMX off (the default native build segfaulted in ggml's AMX code) and
#   without the multimodal library. Measured: ~7 min on the shared 2-core machine (docs/judge.md).
# Writes <build>/test-judge-server/python (the interpreter to use), or .../unavailable with the reason,
# in which case judge_test skips its real-server case and says why. Always exits 0.
# Env: RXLM_BUILD_DIR (default build), RXLM_JUDGE_VENV (default <build>/judge-venv),
# RXLM_JUDGE_INSTALL_TIMEOUT (seconds allowed for the source build, default 1200).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${RXLM_BUILD_DIR:-$root/build}"
state="$build/test-judge-server"
venv="${RXLM_JUDGE_VENV:-$build/judge-venv}"
version="0.3.36"
mkdir -p "$state"
rm -f "$state/python" "$state/unavailable"
log="$state/setup.log"
: > "$log"

has_server() { "$1" -c 'import llama_cpp.server.app' >>"$log" 2>&1; }
use() {
  echo "$1" > "$state/python"
  echo "judge-server.sh: llama-cpp-python server available through $1"
  exit 0
}
give_up() {
  echo "$1 (details: $log)" > "$state/unavailable"
  echo "judge-server.sh: WARNING: $1; judge_test will skip its llama-cpp-python server case (details: $log)" >&2
  exit 0
}

system_python="$(command -v python3 || true)"
[ -n "$system_python" ] || give_up "no python3 on PATH"
has_server "$system_python" && use "$system_python"
[ -x "$venv/bin/python" ] && has_server "$venv/bin/python" && use "$venv/bin/python"

if "$system_python" -c 'import llama_cpp' >>"$log" 2>&1; then
  # The runtime is there (others use it: never rebuild it); add the server extras only, as pinned by
  # llama-cpp-python's own metadata.
  extras="$("$system_python" - <<'PY' 2>>"$log"
import importlib.metadata as m
print(" ".join(r.split(";")[0].replace(" ", "") for r in (m.requires("llama-cpp-python") or [])
               if 'extra == "server"' in r))
PY
)"
  [ -n "$extras" ] || give_up "could not read llama-cpp-python's server extras from its metadata"
  echo "judge-server.sh: installing llama-cpp-python's server extras: $extras"
  # shellcheck disable=SC2086
  "$system_python" -m pip install -q $extras >>"$log" 2>&1 || give_up "pip could not install $extras"
  has_server "$system_python" && use "$system_python"
  give_up "llama_cpp.server still does not import after installing its extras"
fi

start=$(date +%s)
target="$venv/bin/python"
if ! "$system_python" -m venv "$venv" >>"$log" 2>&1; then
  # No venv module (Debian's python3-venv missing): python3 has no llama-cpp-python at all here, so
  # installing into it replaces nothing.
  target="$system_python"
fi
echo "judge-server.sh: building llama-cpp-python[server]==$version from source for $target (several minutes)"
# Portable x86-64-v3 build; AMX off (its code path crashed on this project's machines); no multimodal
# library (LLAVA_BUILD=OFF: 140 compile steps instead of 193; the text server never loads it). pip
# keeps the built wheel in its cache, so a second run on the same machine installs in seconds.
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAVA_BUILD=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# Bounded, so a slow machine costs at most this much of CI's time budget and then skips the test.
limit="${RXLM_JUDGE_INSTALL_TIMEOUT:-1200}"
timeout "$limit" "$target" -m pip install -q "llama-cpp-python[server]==$version" >>"$log" 2>&1
status=$?
[ "$status" -eq 124 ] && give_up "pip install llama-cpp-python[server]==$version did not finish within $limit s \
(RXLM_JUDGE_INSTALL_TIMEOUT)"
[ "$status" -eq 0 ] || give_up "pip install llama-cpp-python[server]==$version failed after $(( $(date +%s) - start )) s"
echo "judge-server.sh: installed in $(( $(date +%s) - start )) s"
has_server "$target" && use "$target"
give_up "llama_cpp.server does not import from $target after installing it"

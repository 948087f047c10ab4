#!/usr/bin/env bash
# Idempotent set-up of what ONLY the benchmarks need (bench/README.md), never the main venv:
# - Debian: pssh (binary `parallel-ssh`) and GNU parallel (the exec_nodes.sh model);
# - a separate venv .venv-bench with pyinfra, parallel-ssh (the Python library) and ansible-core.
# Called by bench/run.py before the exec benchmark; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v parallel-ssh >/dev/null 2>&1 || need_apt+=(pssh)
command -v parallel >/dev/null 2>&1 || need_apt+=(parallel)
command -v ping >/dev/null 2>&1 || need_apt+=(iputils-ping)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-setup: need Debian packages ${need_apt[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "bench-setup: installing Debian packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
VENV=.venv-bench
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
stamp=$VENV/.bench-installed
if [ ! -f "$stamp" ] || [ "$0" -nt "$stamp" ]; then
  echo "bench-setup: installing pyinfra, parallel-ssh, ansible-core into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q pyinfra parallel-ssh ansible-core asyncssh
  touch "$stamp"
fi
"$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
print("bench-setup: " + ", ".join(f"{p} {m.version(p)}" for p in
      ("pyinfra", "parallel-ssh", "ansible-core", "asyncssh")))
EOF

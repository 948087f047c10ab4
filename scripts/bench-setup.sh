#!/usr/bin/env bash
# Idempotent set-up of what ONLY the benchmarks need (bench/README.md), never the main venv:
# - Debian: pssh (binary `parallel-ssh`) and GNU parallel (the exec_nodes.sh model);
# - a separate venv .venv-bench with pyinfra, parallel-ssh (the Python library) and ansible-core.
# Called by bench/run.py before the exec benchmark; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt-need.sh
apt_need bench-setup parallel-ssh=pssh parallel=parallel ping=iputils-ping

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

#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian packages the lab and the checks need,
# then a venv in .venv with nodeswap installed editable with its test extras.
# Used by `make setup` (and so by `make test`, `make demo`, `.ci/run`): one place only.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/apt-need.sh
apt_need setup /usr/sbin/sshd=openssh-server ssh=openssh-client haproxy=haproxy \
  ping=iputils-ping unshare=util-linux ip=iproute2 curl=curl \
  keepalived=keepalived arping=iputils-arping nsenter=util-linux
# Debian starts the packaged services; the lab runs its own sshd and haproxy instances only.
if [ "$APT_INSTALLED" = 1 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now ssh haproxy keepalived >/dev/null 2>&1 || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.nodeswap-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
# Bytecode for nodeswap's own modules: the tests start `python -m nodeswap` a few hundred times,
# and where PYTHONDONTWRITEBYTECODE is set each start would compile every module again.
.venv/bin/python -m compileall -q src >/dev/null

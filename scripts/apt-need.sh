# Sourced by the set-up scripts: install the Debian packages whose command is missing.
#   apt_need LABEL COMMAND=PACKAGE ...   (prints what it installs; needs root only then)
# Sets APT_INSTALLED=1 when it installed anything.
apt_need() {
  local label=$1 pair missing=()
  shift
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  APT_INSTALLED=0
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$label: need Debian packages ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "$label: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  APT_INSTALLED=1
}

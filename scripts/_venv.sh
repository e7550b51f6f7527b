# Shared by the set-up scripts: a Python 3.11+ virtual environment in .venv with Keyhold.
# Usage: . scripts/_venv.sh EXTRAS   (EXTRAS is "" or "[dev]")

keyhold_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Keyhold needs Python 3.11 or newer: install it, or set PYTHON to its path." >&2
  return 1
}

keyhold_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "Needs root to run: $*" >&2
    return 1
  fi
}

keyhold_apt_install() {
  keyhold_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  keyhold_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

keyhold_venv() {
  local extras="$1" python
  python=$(keyhold_python)
  if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
      echo "Installing Debian's python3-venv (python -m venv is unavailable)..."
      rm -rf .venv
      keyhold_apt_install python3-venv
      "$python" -m venv .venv
    fi
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
}

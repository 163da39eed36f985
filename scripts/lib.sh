# Shared by scripts/run and scripts/test: find Python 3.11+, create .venv, install Nocoflo.
# Installs again only when pyproject.toml changed, so a second run starts in seconds.

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Nocoflo needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
  return 1
}

# ensure_venv EXTRAS: EXTRAS is "" for running, "dev" for tests.
ensure_venv() {
  local extras="$1" python stamp wanted
  if [ ! -x .venv/bin/python ]; then
    python=$(find_python)
    echo "Creating the virtual environment in .venv with $python"
    "$python" -m venv .venv
  fi
  stamp=.venv/.nocoflo-installed
  wanted="$(sha256sum pyproject.toml | cut -d' ' -f1) ${extras}"
  if [ ! -f "$stamp" ] || ! grep -qxF "$wanted" "$stamp"; then
    echo "Installing Nocoflo${extras:+ with [$extras]} into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    echo "$wanted" >>"$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}

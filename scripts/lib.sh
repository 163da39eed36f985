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

# mysqlclient (the MySQL/MariaDB driver) compiles against the client library's headers.
mysql_build_deps() {
  if pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists libmariadb 2>/dev/null; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing the MySQL/MariaDB client library (default-libmysqlclient-dev, pkg-config)"
    apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-libmysqlclient-dev pkg-config \
        >/dev/null && return 0
  fi
  echo "MySQL/MariaDB datasources need the client library: apt-get install" \
    "default-libmysqlclient-dev pkg-config, then run this again." >&2
  return 1
}

# ensure_venv EXTRAS: comma-separated extras ("" to run, "dev,mysql" for tests).
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

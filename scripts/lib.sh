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
    # The stamp is written only after a complete install, so a failed one is tried again.
    .venv/bin/python -m pip install --quiet --upgrade pip &&
      .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}" || return 1
    echo "$wanted" >>"$stamp"
  fi
  export PATH="$PWD/.venv/bin:$PATH"
}

# The PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) servers the tests run against:
# start whichever is down (as root, with Debian's tools) and wait until both answer. A server
# that cannot be started is an error, never a reason to skip its tests.
PG_PORT=5432
MARIADB_PORT=3306

postgres_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2 >/dev/null 2>&1; }
# `mysqladmin ping` succeeds as soon as the server answers, whatever the credentials.
mariadb_ready() {
  mysqladmin --connect-timeout=2 -h 127.0.0.1 -P "$MARIADB_PORT" -u root ping >/dev/null 2>&1
}

start_postgres() {
  local cluster
  # The cluster on our port (pg_lsclusters: version, name, port...); else every "main" cluster.
  cluster=$(pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port {print $1, $2; exit}')
  if [ -n "$cluster" ]; then
    # shellcheck disable=SC2086 # "version name", two words on purpose
    pg_ctlcluster --skip-systemctl-redirect $cluster start
  else
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    done
  fi
}

start_mariadb() {
  # /run is emptied at boot; mariadbd needs its socket and pid folder.
  [ -d /run/mysqld ] || install -d -o mysql -g mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

# wait_until NAME CHECK: poll CHECK for up to 60 seconds.
wait_until() {
  local name="$1" check="$2" tries=0
  until "$check"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
      echo "$name did not become ready within 60 seconds." >&2
      return 1
    fi
    sleep 0.5
  done
}

# start_if_down NAME CHECK START: run START (as root) when CHECK fails.
start_if_down() {
  local name="$1" check="$2" start="$3"
  "$check" && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "$name is not running on 127.0.0.1 and only root can start it here." >&2
    return 1
  fi
  echo "Starting $name"
  # A server that is still starting makes the start command fail: whether it answers decides.
  "$start" || echo "(the start command of $name failed; waiting for $name all the same)" >&2
}

ensure_database_servers() {
  local missing="" tool
  for tool in pg_isready mysqladmin; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    echo "The tests need PostgreSQL and MariaDB on this machine (missing:$missing)." >&2
    return 1
  fi
  # Both are started first, then waited for: they come up side by side.
  start_if_down PostgreSQL postgres_ready start_postgres &&
    start_if_down MariaDB mariadb_ready start_mariadb &&
    wait_until PostgreSQL postgres_ready &&
    wait_until MariaDB mariadb_ready
}

#!/usr/bin/env bash
# Installs the system parts advisor's demo and tests need, from Debian's
# packages: a PostgreSQL server with contrib (pg_stat_statements) and the
# matching hypopg, Redis, and wrk and tmux for the tests that use them; the
# Python reference target's packages (FastAPI, uvicorn, SQLAlchemy, psycopg2,
# prometheus-client) and Node.js for the Express one, whose npm packages are
# installed from its lock file.
# Quiet and fast when everything is present; as root it installs what is
# missing with apt-get, otherwise it says what to install.
set -euo pipefail

pg_major() {
	local newest=""
	for bin in /usr/lib/postgresql/*/bin/postgres; do
		[ -x "$bin" ] || continue
		local v
		v=$(basename "$(dirname "$(dirname "$bin")")")
		if [ -z "$newest" ] || [ "$v" -gt "$newest" ] 2>/dev/null; then newest=$v; fi
	done
	echo "$newest"
}

missing() {
	local pkgs=() v
	v=$(pg_major)
	if [ -z "$v" ]; then
		pkgs+=(postgresql postgresql-contrib)
	else
		[ -f "/usr/share/postgresql/$v/extension/pg_stat_statements.control" ] || pkgs+=(postgresql-contrib)
		[ -f "/usr/share/postgresql/$v/extension/hypopg.control" ] || pkgs+=("postgresql-$v-hypopg")
	fi
	command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
	command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
	command -v tmux >/dev/null 2>&1 || pkgs+=(tmux)
	# The reference targets (targets/): Debian's Python packages for
	# Debian's python3 (not another python3 first on PATH), Node.js.
	local py
	for py in fastapi uvicorn sqlalchemy psycopg2 prometheus_client; do
		/usr/bin/python3 -c "import $py" >/dev/null 2>&1 || pkgs+=("python3-${py//_/-}")
	done
	command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
	command -v npm >/dev/null 2>&1 || pkgs+=(npm)
	echo "${pkgs[@]:-}"
}

install() {
	# shellcheck disable=SC2206
	local pkgs=($1)
	echo "setup: installing ${pkgs[*]}" >&2
	# A new machine's package lists may be empty or old.
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
}

# npm_targets installs the npm packages of each Node reference target from its
# lock file, when they are missing or older than the lock.
npm_targets() {
	local dir
	for dir in targets/*/; do
		[ -f "$dir/package-lock.json" ] || continue
		if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
			echo "setup: npm ci in $dir" >&2
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
			touch "$dir/node_modules"
		fi
	done
}

cd "$(dirname "$0")/.."
need=$(missing)
if [ -z "$need" ]; then
	npm_targets
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages: $need" >&2
	echo "setup: install them with: sudo apt-get install $need" >&2
	exit 1
fi

install "$need"
# The hypopg package is named after the server's major version, which is only
# known once the server is installed.
need=$(missing)
[ -n "$need" ] && install "$need"
need=$(missing)
if [ -n "$need" ]; then
	echo "setup: still missing after apt-get install: $need" >&2
	exit 1
fi
npm_targets
echo "setup: done" >&2

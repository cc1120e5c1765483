#!/usr/bin/env bash
# Build and install Citus from a source tarball into Debian's PostgreSQL 15 (as root, apt).
#   scripts/citus/build.sh CITUS_TARBALL BUILD_DIR
# Idempotent: skips the compile when the installed citus.control already has the tarball's
# version. Facts behind each step: the README beside the tarball (../shared/citus/README.md).
set -euo pipefail
src=${1:?usage: build.sh CITUS_TARBALL BUILD_DIR}
build=${2:?usage: build.sh CITUS_TARBALL BUILD_DIR}
pg_major=15  # Citus 13 builds against 15-17; Debian 12 ships 15 only
# libkrb5-dev: the server headers include gssapi/gssapi.h (libpq-be.h).
apt_packages="postgresql-$pg_major postgresql-server-dev-$pg_major libcurl4-openssl-dev liblz4-dev \
libzstd-dev libkrb5-dev make gcc"
pg_bin=/usr/lib/postgresql/$pg_major/bin

missing=""
for p in $apt_packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "citus: missing Debian packages:$missing (as root: apt-get install$missing)" >&2
		exit 1
	fi
	# Server and headers at the same version: the headers decide what the module links against.
	server=$(dpkg-query -W -f='${Version}' "postgresql-$pg_major" 2>/dev/null || true)
	pinned=""
	for p in $missing; do
		case $p in
		postgresql-server-dev-$pg_major) pinned="$pinned $p${server:+=$server}" ;;
		*) pinned="$pinned $p" ;;
		esac
	done
	echo "citus: apt-get install$pinned"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pinned >/dev/null
fi

# (tar dies of SIGPIPE once head has its line: not an error)
tar_dir=$( (tar tzf "$src" || true) | head -1 | cut -d/ -f1)
want=$(tar xzf "$src" -O "$tar_dir/src/backend/distributed/citus.control" \
	| sed -n "s/^default_version = '\(.*\)'/\1/p")
sharedir=$("$pg_bin/pg_config" --sharedir)
pkglibdir=$("$pg_bin/pg_config" --pkglibdir)
have=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$sharedir/extension/citus.control" 2>/dev/null || true)
if [ "$have" = "$want" ] && [ -f "$pkglibdir/citus.so" ]; then
	echo "citus: $want already installed in PostgreSQL $pg_major"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "citus: installing into $pkglibdir needs root" >&2
	exit 1
fi

rm -rf "$build"
mkdir -p "$build"
tar xzf "$src" -C "$build"
cd "$build/$tar_dir"
# Header snag (README): PostgreSQL 15.20's headers declare have_createdb_privilege() extern,
# Citus 13.2.2 defines a static copy for PostgreSQL < 16: rename Citus's copy, only then.
if grep -q 'have_createdb_privilege' "$("$pg_bin/pg_config" --includedir-server)/commands/dbcommands.h"; then
	echo "citus: server headers declare have_createdb_privilege(); renaming Citus's static copy"
	sed -i 's/^have_createdb_privilege(void)$/citus_have_createdb_privilege(void)/' \
		src/include/pg_version_compat.h
	grep -rl 'have_createdb_privilege()' src/backend | xargs -r sed -i \
		's/\bhave_createdb_privilege()/citus_have_createdb_privilege()/g'
fi
started=$(date +%s)
PG_CONFIG=$pg_bin/pg_config ./configure --quiet >/dev/null
make -s -j"$(nproc)" >/dev/null
make -s install >/dev/null
echo "citus: built and installed $want in $(($(date +%s) - started)) s"

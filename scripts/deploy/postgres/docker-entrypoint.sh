#!/bin/bash
# Entrypoint of the test-only PostgreSQL 18 image (see Containerfile): the subset of the official
# image's docker-entrypoint.sh that docker-compose.yml uses. First start on an empty PGDATA:
# initdb with POSTGRES_USER/POSTGRES_PASSWORD (scram-sha-256 over TCP), create POSTGRES_DB.
set -Eeuo pipefail

if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"

# Like the official 18+ images: data in a volume mounted at the pre-18 path would be silently
# ignored (PGDATA is now /var/lib/postgresql/18/docker), so refuse to start instead.
old=/var/lib/postgresql/data
if [ ! -s "$PGDATA/PG_VERSION" ] && { [ -s "$old/PG_VERSION" ] || mountpoint -q "$old"; }; then
    echo "Error: in 18+, these images store data in $PGDATA; there is a mount or data at" >&2
    echo "       $old (unused mount/volume). Mount the volume at /var/lib/postgresql." >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA"
    chown -R postgres:postgres /var/lib/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "Error: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # Local-only server while the database is created, so no client sees it half-initialised.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        echo 'CREATE DATABASE :"db";' | psql -v ON_ERROR_STOP=1 -q -U "$POSTGRES_USER" \
            -d postgres -v db="$POSTGRES_DB"
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "${@:2}"

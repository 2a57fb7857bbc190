#!/bin/sh
# First start: initdb with POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, as the official
# image does; then run the command (postgres) as the postgres user.
set -eu

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown -R postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
        pwfile="$(mktemp)"
        printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
        initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" >/dev/null
        rm -f "$pwfile"
    else
        # No password given: a job-private network, so trust (the official image insists
        # on POSTGRES_HOST_AUTH_METHOD=trust for the same result).
        auth="${POSTGRES_HOST_AUTH_METHOD:-trust}"
        initdb -D "$PGDATA" -U "$user" --auth-local=trust --auth-host="$auth" >/dev/null
    fi
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -q \
            -c "CREATE DATABASE \"$db\" OWNER \"$user\"" >/dev/null
        pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    fi
    echo "postgres: initialised $PGDATA (user $user, database $db)"
fi

exec "$@"

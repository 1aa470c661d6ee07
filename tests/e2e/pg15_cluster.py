"""A PostgreSQL 15 cluster in the layout Harbor v2.14 leaves, made with Debian's PostgreSQL 15.

Harbor v2.14's harbor-db image ran `initdb` (PostgreSQL 15: data checksums off) in
$PGDATA/pg15 as postgres (999), user postgres, UTF-8, en_US.UTF-8, with `host all all all
scram-sha-256` appended to pg_hba.conf and the server listening on every address; its
initial-registry.sql made the database "registry" with its schema_migrations table. `make_pg15`
does the same with the
stand-in image's /usr/pgsql/15/bin (Debian bookworm's postgresql-15), then runs the SQL given.

One thing is removed: Debian's 15.20 gives every column it creates an attribute option
`pg_attver=<n>` that PostgreSQL 18.6 does not know, and pg_upgrade stops on it ("unrecognized
parameter pg_attver" while restoring the first table). Vanilla PostgreSQL has no such option;
whether Photon's PostgreSQL 15 sets it we cannot check here. `make_pg15` clears it on the user
tables' columns (an UPDATE of pg_attribute, as superuser); `clear_attver=False` keeps it, for
the test of the failure path.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = r"""
set -euo pipefail
B=/usr/pgsql/15/bin
D=$PGDATA/pg15
$B/initdb -D "$D" -U postgres -E UTF-8 --lc-collate=en_US.UTF-8 --lc-ctype=en_US.UTF-8 >/dev/null
printf '\nhost all all all scram-sha-256\n' >> "$D/pg_hba.conf"
printf "\nlisten_addresses = '*'\nunix_socket_directories = '/run/postgresql'\n" >> "$D/postgresql.conf"
$B/pg_ctl -D "$D" -o "-c listen_addresses=''" -w start >/dev/null
psql() { $B/psql -h /run/postgresql -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
psql -d postgres -v pw="$PW" <<< "ALTER USER postgres WITH SUPERUSER PASSWORD :'pw'"
psql -d postgres -c "CREATE DATABASE registry ENCODING 'UTF8'"
psql -d registry -c "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
psql -d registry -f /setup.sql
if [ "$CLEAR_ATTVER" = 1 ]; then
    psql -d registry -c "UPDATE pg_attribute SET attoptions = NULL
        WHERE attrelid >= 16384 AND array_to_string(attoptions, ',') ~ '^pg_attver=[0-9]+$'"
fi
$B/pg_ctl -D "$D" -m fast -w stop >/dev/null
$B/pg_controldata "$D" | grep -E '^(pg_control version|Data page checksum version)'
"""


def make_pg15(image: str, data: Path | str, sql: str, password: str, *,
              clear_attver: bool = True, volume: bool = False) -> str:
    """Make $PGDATA/pg15 in `data` (a host folder owned by 999, or a volume name when
    volume=True) with the database "registry" holding what `sql` makes. Returns
    pg_controldata's lines (checksum version)."""
    setup = Path("/tmp") / f"pg15-setup-{abs(hash((str(data), sql)))}.sql"
    setup.write_text(sql)
    setup.chmod(0o644)
    try:
        proc = subprocess.run(
            ["docker", "run", "--rm", "-e", f"PW={password}",
             "-e", f"CLEAR_ATTVER={1 if clear_attver else 0}",
             "-v", f"{data}:/var/lib/postgresql/data", "-v", f"{setup}:/setup.sql:ro",
             "--entrypoint", "bash", image, "-c", SCRIPT],
            capture_output=True, text=True, timeout=180)
    finally:
        setup.unlink()
    if proc.returncode != 0:
        raise AssertionError(f"making the pg15 cluster failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def pg15_query(image: str, data: Path | str, sql: str, db: str = "registry") -> str:
    """Start Debian's PostgreSQL 15 on $PGDATA/pg15 (socket only), run `sql`, stop it."""
    script = ("set -e; B=/usr/pgsql/15/bin; D=$PGDATA/pg15; "
              "$B/pg_ctl -D $D -o \"-c listen_addresses=''\" -w start >/dev/null; "
              f"$B/psql -h /run/postgresql -U postgres -d {db} -At -v ON_ERROR_STOP=1 -c \"$Q\"; "
              "$B/pg_ctl -D $D -m fast -w stop >/dev/null")
    proc = subprocess.run(["docker", "run", "--rm", "-e", f"Q={sql}",
                           "-v", f"{data}:/var/lib/postgresql/data", "--entrypoint", "bash",
                           image, "-c", script], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"PostgreSQL 15 on the cluster failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip()

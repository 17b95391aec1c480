#!/bin/sh
# The application's tests: create a table on the `db` service, write rows,
# read them back.
set -eu
export PGHOST=db PGUSER=postgres
psql -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE TABLE words (word text PRIMARY KEY, n integer NOT NULL);
INSERT INTO words VALUES ('one', 1), ('two', 2), ('three', 3);
SQL
total=$(psql -tA -c 'SELECT sum(n) FROM words')
[ "$total" = 6 ] || { echo "expected 6, got '$total'"; exit 1; }
echo "service-db: table created on db and read back (sum $total)"

// The schema of PgMetadata's database (pg_schema.cpp holds the migrations).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "common/error.h"
#include "pgstore/pg_conn.h"

namespace gantry::pgstore {

// The ids of the migrations this gantry knows, in order.
std::vector<std::string> known_migrations();

// Applies the missing migrations in one transaction (serialized with every
// other process doing the same by an advisory lock). conflict, changing
// nothing, when the database lists a migration this gantry does not know.
Status migrate(PgConn& conn);

}  // namespace gantry::pgstore

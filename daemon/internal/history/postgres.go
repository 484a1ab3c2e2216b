package history

import (
	"context"
	"database/sql"
	"net/url"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

func init() {
	Register("postgres", openPostgres)
	Register("postgresql", openPostgres)
}

// postgresDialect: $n placeholders; migrations under a transaction-scoped
// advisory lock (the key is "vexil.history" as a number).
var postgresDialect = dialect{
	name:        "postgres",
	dollar:      true,
	migrateLock: `SELECT pg_advisory_xact_lock(7660788931342166390)`,
}

// openPostgres opens a postgres:// URL in pgx's connection-string syntax
// (https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig).
func openPostgres(ctx context.Context, rawurl string) (Store, error) {
	db, err := sql.Open("pgx", rawurl)
	if err != nil {
		return nil, err
	}
	// A history needs few connections; a shared server serves many daemons.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	return openSQL(ctx, db, postgresDialect, "PostgreSQL database "+redact(rawurl))
}

// redact hides the password of a URL for error messages.
func redact(rawurl string) string {
	u, err := url.Parse(rawurl)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

package history

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

func init() {
	Register("sqlite", openSQLite)
}

// sqliteDialect: SQLite serializes migrations with BEGIN IMMEDIATE
// (_txlock=immediate), which every transaction of the store uses so that
// writers wait for each other (busy_timeout) instead of failing.
var sqliteDialect = dialect{name: "sqlite"}

// openSQLite opens sqlite:PATH (also sqlite://PATH); the file is created
// when missing, its directory must exist.
func openSQLite(ctx context.Context, rawurl string) (Store, error) {
	p, _ := strings.CutPrefix(rawurl, "sqlite:")
	p = strings.TrimPrefix(p, "//")
	if p == "" {
		return nil, errors.New("history: store URL sqlite: needs a file path, as in sqlite:/var/lib/vexil/history.db")
	}
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	return openSQL(ctx, db, sqliteDialect, "SQLite database "+p)
}

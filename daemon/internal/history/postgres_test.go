package history_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vexilhq/vexil/daemon/internal/history/historytest"
	"github.com/vexilhq/vexil/internal/pgtest"
)

// TestPostgresContract runs the contract against a real PostgreSQL server
// (internal/pgtest), a new database for each check.
func TestPostgresContract(t *testing.T) {
	server := pgtest.Start(t)
	var n atomic.Int64
	historytest.Run(t, historytest.Harness{
		NewURL: func(t *testing.T) string {
			name := fmt.Sprintf("history_%d", n.Add(1))
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, server)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
				t.Fatal(err)
			}
			return strings.Replace(server, "/postgres?", "/"+name+"?", 1)
		},
		Shared: true,
		BadURLs: []string{
			pgtest.Unreachable(t),
			strings.Replace(server, "/postgres?", "/no_such_database?", 1),
			"postgres://postgres@127.0.0.1:notaport/x",
		},
	})
}

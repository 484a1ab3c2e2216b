package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect is what differs between the SQL databases.
type dialect struct {
	name string // the migrations directory
	// dollar is true for $1 placeholders (PostgreSQL), false for ?.
	dollar bool
	// migrateLock serializes migrations of one database (empty: the
	// transaction itself does, as SQLite's BEGIN IMMEDIATE).
	migrateLock string
}

// rebind turns the ? placeholders of query into the dialect's.
func (d dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqlStore is a Store in a SQL database through database/sql.
type sqlStore struct {
	db *sql.DB
	d  dialect
}

// openSQL pings db, migrates it and returns the store; it closes db on
// error.
func openSQL(ctx context.Context, db *sql.DB, d dialect, what string) (Store, error) {
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("history: opening %s: %w", what, err)
	}
	if err := migrate(ctx, db, d); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%w (%s)", err, what)
	}
	return &sqlStore{db: db, d: d}, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// AppendRevision implements Store.
func (s *sqlStore) AppendRevision(ctx context.Context, r Revision) (bool, error) {
	if err := validate(r); err != nil {
		return false, err
	}
	r = normalize(r)
	problems, err := json.Marshal(r.Problems)
	if err != nil {
		return false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("history: appending a revision: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var id int64
	err = tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO revisions (time_us, source, source_revision, actor, rejected, problems)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (source, source_revision) DO NOTHING
RETURNING id`), r.Time.UnixMicro(), r.Source, nullIfEmpty(r.SourceRevision), r.Actor, r.Rejected, string(problems)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // recorded already
	}
	if err != nil {
		return false, fmt.Errorf("history: appending a revision: %w", err)
	}
	insertChange := s.d.rebind(`INSERT INTO revision_changes (revision_id, position, flag, kind, diff) VALUES (?, ?, ?, ?, ?)`)
	for i, c := range r.Changes {
		diff, err := json.Marshal(c.Diff)
		if err != nil {
			return false, fmt.Errorf("history: change of flag %s: %w", c.Flag, err)
		}
		if _, err := tx.ExecContext(ctx, insertChange, id, i, c.Flag, string(c.Kind), string(diff)); err != nil {
			return false, fmt.Errorf("history: appending a revision: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("history: appending a revision: %w", err)
	}
	return true, nil
}

// Revisions implements Store.
func (s *sqlStore) Revisions(ctx context.Context, q Query) ([]Revision, error) {
	var where []string
	var args []any
	if q.Source != "" {
		where = append(where, "r.source = ?")
		args = append(args, q.Source)
	}
	if !q.Since.IsZero() {
		where = append(where, "r.time_us >= ?")
		args = append(args, q.Since.UTC().Truncate(time.Microsecond).UnixMicro())
	}
	if q.Flag != "" {
		where = append(where, "EXISTS (SELECT 1 FROM revision_changes c WHERE c.revision_id = r.id AND c.flag = ?)")
		args = append(args, q.Flag)
	}
	query := `SELECT r.id, r.time_us, r.source, r.source_revision, r.actor, r.rejected, r.problems FROM revisions r`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY r.time_us DESC, r.id DESC"
	if q.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, s.d.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("history: reading revisions: %w", err)
	}
	out := []Revision{}
	index := map[int64]int{}
	var ids []any
	for rows.Next() {
		var (
			id       int64
			us       int64
			r        Revision
			srcRev   sql.NullString
			problems []byte
		)
		if err := rows.Scan(&id, &us, &r.Source, &srcRev, &r.Actor, &r.Rejected, &problems); err != nil {
			rows.Close()
			return nil, fmt.Errorf("history: reading revisions: %w", err)
		}
		r.Time = time.UnixMicro(us).UTC()
		r.SourceRevision = srcRev.String
		if err := json.Unmarshal(problems, &r.Problems); err != nil {
			rows.Close()
			return nil, fmt.Errorf("history: revision %d: problems: %w", id, err)
		}
		r.Changes = []Change{}
		index[id] = len(out)
		ids = append(ids, id)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: reading revisions: %w", err)
	}
	if len(ids) == 0 {
		return out, nil
	}
	// The changes of the revisions read, in batches within the databases'
	// limits on parameters.
	const batch = 500
	for start := 0; start < len(ids); start += batch {
		part := ids[start:min(start+batch, len(ids))]
		cq := `SELECT revision_id, flag, kind, diff FROM revision_changes WHERE revision_id IN (?` + strings.Repeat(", ?", len(part)-1) + `)`
		cargs := part
		if q.Flag != "" {
			cq += " AND flag = ?"
			cargs = append(append([]any{}, part...), q.Flag)
		}
		cq += " ORDER BY revision_id, position"
		crows, err := s.db.QueryContext(ctx, s.d.rebind(cq), cargs...)
		if err != nil {
			return nil, fmt.Errorf("history: reading changes: %w", err)
		}
		for crows.Next() {
			var (
				id   int64
				c    Change
				kind string
				diff []byte
			)
			if err := crows.Scan(&id, &c.Flag, &kind, &diff); err != nil {
				crows.Close()
				return nil, fmt.Errorf("history: reading changes: %w", err)
			}
			c.Kind = ChangeKind(kind)
			if err := json.Unmarshal(diff, &c.Diff); err != nil {
				crows.Close()
				return nil, fmt.Errorf("history: revision %d: diff of %s: %w", id, c.Flag, err)
			}
			i := index[id]
			out[i].Changes = append(out[i].Changes, c)
		}
		crows.Close()
		if err := crows.Err(); err != nil {
			return nil, fmt.Errorf("history: reading changes: %w", err)
		}
	}
	return out, nil
}

// Close implements Store.
func (s *sqlStore) Close() error { return s.db.Close() }

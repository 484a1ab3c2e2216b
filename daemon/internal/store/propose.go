package store

import (
	"fmt"

	"github.com/vexilhq/vexil/syncsources"
)

// Propose returns the change that Apply(u) would make now, without making
// it: Old is the current snapshot, New the one Apply would publish (it is
// never published, nor delivered to subscribers). The document is parsed
// with the store's parser, as Apply parses it; when it is rejected, the
// change's New serves what Old serves (the source's last good flags) and
// Propose returns the *evaluator.LoadError, the problems being in New's
// state of the source. Tools use it to compare the store's flags with
// those a proposed document would give (a dry run of an update).
func (s *Store) Propose(u syncsources.Update) (Change, error) {
	idx, ok := s.lay.index[u.Source]
	if !ok {
		return Change{}, fmt.Errorf("store: unknown source %q", u.Source)
	}
	p := s.prepare(u, idx)
	return s.successor(s.cur.Load(), u.Source, idx, p), p.loadErr
}

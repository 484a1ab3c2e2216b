// Package filesource is the flag source for local files: `file:` URIs and
// plain paths.
//
// A [Source] reads its file when it starts and again whenever the file
// system says something about it changed, and delivers the document only when
// its bytes changed. It watches directories, not the file, so that it
// follows every way a file gets replaced:
//
//   - in-place writes (truncate and write);
//   - editors' and tools' atomic writes (write a temporary file, rename it
//     over the old one);
//   - Kubernetes ConfigMap and Secret volumes, where the file is a symlink
//     `flags.json -> ..data/flags.json`, `..data` is a symlink to a
//     timestamped directory, and an update renames a new `..data` over the
//     old one; symlink chains are re-resolved after every change, and every
//     directory along them is watched;
//   - deletion and re-creation of the file, or of the directories above it:
//     the source then watches the nearest directory that still exists.
//
// Events are debounced: a burst of events (an editor's save, a ConfigMap
// swap) is read once, [DefaultDebounce] after the last of them, and at the
// latest ten debounce periods after the first, so that a file written to
// continuously is still read.
//
// A file that cannot be read (deleted, unreadable, a directory) is an
// outage: the source sends a [syncsources.Update] with Err and keeps
// watching. During an outage it sends another Update with Err only when
// the failure changes (the file was deleted, and a directory now takes its
// place); when the file can be read again it sends a snapshot, even if the
// bytes are those it sent before the outage.
//
// If the operating system refuses a watch (inotify limits, a directory the
// process may read files in but not list), the source falls back to reading
// the file once a second until watching works again.
//
// With Config.PollInterval (flagd's "fileinfo" provider) the source does
// not watch: it stats the file at that interval and reads it when it is
// another file, or its size or modification time changed (or changed too
// recently to tell, see runPolling).
//
// Limitation: a change above the watched directories that does not touch
// them (renaming a grandparent directory away) is seen only at the next event
// or re-check.
package filesource

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/poll"
)

// DefaultDebounce is how long a source waits after the last file system
// event before it reads the file. It is short so that an edit is served
// within a few tens of milliseconds, and long enough to see a truncate and
// the write that follows it, or all the steps of a ConfigMap swap, as one.
const DefaultDebounce = 10 * time.Millisecond

// maxDelayFactor bounds the wait for a quiet moment: the file is read at the
// latest this many debounce periods after the first event of a burst.
const maxDelayFactor = 10

// Re-check delays while watching is impossible.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = time.Second
)

// Config configures a Source.
type Config struct {
	// Path is the file's path; a relative path is taken from the working
	// directory at New.
	Path string
	// Name is the source's name in updates (Update.Source); empty means
	// Path as given. FromURI sets it to the URI without its scheme, as
	// flagd names a file source.
	Name string
	// Debounce is the quiet time after file system events before the file
	// is read: zero means DefaultDebounce, a negative value reads at once.
	Debounce time.Duration
	// Format is the document's syntax; FormatAuto (the zero value) means
	// evaluator.FormatForPath(Path), which falls back to FormatAuto for an
	// unknown extension.
	Format evaluator.Format
	// Logger receives warnings about watching (a watch refused, events
	// lost); nil discards them. Outages are reported in updates, not here.
	Logger *slog.Logger
	// PollInterval, when positive, polls the file instead of watching it
	// (flagd's "fileinfo" provider): every PollInterval the file is
	// stat'ed, and read when its modification time or size changed, or
	// while it cannot be read. For file systems without change
	// notifications (some network and FUSE mounts). Zero watches.
	PollInterval time.Duration
}

// DefaultPollInterval is the polling interval of flagd's fileinfo
// provider, one second.
const DefaultPollInterval = time.Second

// FromURI makes a Config from a `file:` URI as flagd accepts it:
// "file:/abs/flags.json", "file:relative/flags.json" (from the working
// directory) and "file:///abs/flags.json" (or "file://localhost/abs/...").
// The rest of the URI is a path taken literally, as flagd takes it: no
// percent-decoding, and "?" and "#" are part of the name. The Config's Name
// is what follows "file:", exactly as written ("file:./a.json" is named
// "./a.json", "file:///abs/a.json" "///abs/a.json"): flagd names a file
// source so, and its "source=" selectors match that name.
func FromURI(uri string) (Config, error) {
	const scheme = "file:"
	if len(uri) < len(scheme) || !strings.EqualFold(uri[:len(scheme)], scheme) {
		return Config{}, fmt.Errorf("filesource: %q is not a file: URI", uri)
	}
	path := uri[len(scheme):]
	if rest, ok := strings.CutPrefix(path, "//"); ok {
		// An authority: only an empty one or localhost names this machine.
		host, p, _ := strings.Cut(rest, "/")
		if host != "" && !strings.EqualFold(host, "localhost") {
			return Config{}, fmt.Errorf("filesource: %q names host %q; write file:///%s for an absolute path or file:%s for a relative one",
				uri, host, rest, rest)
		}
		if p == "" {
			return Config{}, fmt.Errorf("filesource: %q has no path", uri)
		}
		path = "/" + p
	}
	if path == "" {
		return Config{}, fmt.Errorf("filesource: %q has no path", uri)
	}
	return Config{Path: path, Name: uri[len(scheme):]}, nil
}

// Source is a flag source reading one file. Its Run may be called more than
// once, one after the other or at the same time; each run is independent.
type Source struct {
	path     string // absolute, clean
	name     string
	format   evaluator.Format
	debounce time.Duration
	log      *slog.Logger
	poll     time.Duration // > 0: poll instead of watching

	// newWatcher makes the watcher; tests replace it to force polling.
	newWatcher func() (*fsnotify.Watcher, error)
}

var _ syncsources.Source = (*Source)(nil)

// New checks cfg and returns a source. It does not touch the file: a file
// that does not exist yet is an outage of the running source, not an error.
func New(cfg Config) (*Source, error) {
	if cfg.Path == "" {
		return nil, errors.New("filesource: empty path")
	}
	if strings.ContainsRune(cfg.Path, 0) {
		return nil, fmt.Errorf("filesource: path %q contains a NUL byte", cfg.Path)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("filesource: %w", err)
	}
	s := &Source{
		path:       abs,
		name:       cfg.Name,
		format:     cfg.Format,
		debounce:   cfg.Debounce,
		log:        cfg.Logger,
		poll:       cfg.PollInterval,
		newWatcher: fsnotify.NewWatcher,
	}
	if s.name == "" {
		s.name = cfg.Path
	}
	if s.format == evaluator.FormatAuto {
		s.format = evaluator.FormatForPath(cfg.Path)
	}
	if s.debounce == 0 {
		s.debounce = DefaultDebounce
	}
	if s.debounce < 0 {
		s.debounce = 0
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Name is the source's name in updates.
func (s *Source) Name() string { return s.name }

// Path is the absolute path of the file.
func (s *Source) Path() string { return s.path }

// Run sends the file's document (or an outage) at once, then a new snapshot
// whenever the bytes change, an outage when the file cannot be read and a
// snapshot when it can again, until ctx ends. It returns ctx's error, and
// does not send after returning. The Data it sends is never modified
// afterwards.
func (s *Source) Run(ctx context.Context, updates chan<- syncsources.Update) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &run{
		Source:  s,
		updates: updates,
		backoff: poll.Backoff{Min: minRetry, Max: maxRetry},
		seeds:   [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
	if s.poll > 0 {
		return r.runPolling(ctx)
	}
	defer r.closeWatcher()

	r.debounceTimer = time.NewTimer(time.Hour)
	r.debounceTimer.Stop()
	r.retryTimer = time.NewTimer(time.Hour)
	r.retryTimer.Stop()
	defer r.debounceTimer.Stop()
	defer r.retryTimer.Stop()

	if !r.check(ctx) {
		return ctx.Err()
	}
	for {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if r.w != nil {
			events, errs = r.w.Events, r.w.Errors
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				r.closeWatcher() // cannot happen before Close; be safe
				r.scheduleRetry()
				continue
			}
			if r.relevant(ev.Name) {
				r.touch()
			}
		case err, ok := <-errs:
			if !ok {
				continue
			}
			// Lost events (a queue overflow) or a read error: look again.
			r.log.Warn("file watch error", "source", r.name, "err", err)
			r.touch()
		case <-r.debounceTimer.C:
			r.pending = false
			if !r.check(ctx) {
				return ctx.Err()
			}
		case <-r.retryTimer.C:
			if !r.check(ctx) {
				return ctx.Err()
			}
		}
	}
}

// runPolling is Run without a watcher: the file is stat'ed every poll
// interval and read when it changed since the last read: another file
// (an atomic save, a ConfigMap swap), another size or modification time.
// File times are coarse (a clock tick, up to seconds on some file
// systems), so an edit right after a read can keep both; as git does with
// "racily clean" files, a file modified less than racyWindow before the
// last read began is read again at every poll until it is older (the
// content hash keeps unchanged bytes from being sent twice).
func (r *run) runPolling(ctx context.Context) error {
	const racyWindow = 2 * time.Second
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	var (
		last     fs.FileInfo // what the last good read saw; nil: read
		lastRead time.Time   // when it began
	)
	for {
		fi, err := os.Stat(r.path)
		if err != nil || last == nil || !os.SameFile(fi, last) || fi.Size() != last.Size() ||
			!fi.ModTime().Equal(last.ModTime()) || !fi.ModTime().Before(lastRead.Add(-racyWindow)) {
			begin := time.Now()
			if !r.read(ctx) {
				return ctx.Err()
			}
			last, lastRead = nil, begin
			if err == nil && !r.outage {
				last = fi
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// run is the state of one Run.
type run struct {
	*Source
	updates chan<- syncsources.Update

	w     *fsnotify.Watcher
	watch plan // what w watches

	// Debouncing: pending is true from the first event of a burst until the
	// read; first is that event's time.
	debounceTimer *time.Timer
	pending       bool
	first         time.Time

	// Watching failed: re-check on retryTimer with backoff.
	retryTimer *time.Timer
	backoff    poll.Backoff
	degraded   bool

	seeds     [2]maphash.Seed
	sent      bool        // a snapshot or an outage was sent
	outage    bool        // the last thing sent was an outage
	outageKey string      // poll.OutageKey of the error of that outage
	last      contentHash // the last snapshot's data, hashed
}

// contentHash is a 128-bit hash of a file's content, two maphash lanes
// with seeds of their own: keeping it instead of a copy of the last
// snapshot saves the file's size in memory (13 MiB for 100,000 flags),
// and hashing is about 1 ms per 10 MiB. The seeds are random per source,
// so no file can be made to collide on purpose.
type contentHash [2]uint64

// hashContent hashes data with seeds.
func hashContent(seeds *[2]maphash.Seed, data []byte) contentHash {
	return contentHash{maphash.Bytes(seeds[0], data), maphash.Bytes(seeds[1], data)}
}

// touch notes a relevant event and (re)arms the debounce timer.
func (r *run) touch() {
	now := time.Now()
	if !r.pending {
		r.pending = true
		r.first = now
	}
	d := r.debounce
	if latest := r.first.Add(maxDelayFactor * r.debounce); now.Add(d).After(latest) {
		d = latest.Sub(now)
	}
	r.debounceTimer.Reset(max(d, 0))
}

// check re-establishes the watches, reads the file and sends what changed.
// It returns false if ctx ended while sending.
func (r *run) check(ctx context.Context) bool {
	if err := r.rewatch(); err != nil {
		if !r.degraded {
			r.log.Warn("cannot watch flag file; re-reading it periodically instead",
				"source", r.name, "path", r.path, "err", err)
			r.degraded = true
		}
		r.scheduleRetry()
	} else {
		if r.degraded {
			r.log.Info("watching flag file again", "source", r.name, "path", r.path)
			r.degraded = false
		}
		r.backoff.Reset()
		r.retryTimer.Stop()
	}

	return r.read(ctx)
}

// read reads the file and sends what changed. It returns false if ctx
// ended while sending.
func (r *run) read(ctx context.Context) bool {
	data, err := os.ReadFile(r.path)
	if err != nil {
		key := poll.OutageKey(err)
		if r.sent && r.outage && key == r.outageKey {
			return true // this failure was reported already
		}
		r.outage, r.sent, r.outageKey, r.last = true, true, key, contentHash{}
		return r.send(ctx, syncsources.Update{Source: r.name, Format: r.format, Err: err})
	}
	sum := hashContent(&r.seeds, data)
	if r.sent && !r.outage && sum == r.last {
		return true
	}
	r.outage, r.sent, r.last = false, true, sum
	return r.send(ctx, syncsources.Update{Source: r.name, Data: data, Format: r.format})
}

func (r *run) send(ctx context.Context, u syncsources.Update) bool {
	select {
	case r.updates <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *run) scheduleRetry() {
	r.retryTimer.Reset(r.backoff.Next())
}

func (r *run) closeWatcher() {
	if r.w != nil {
		_ = r.w.Close() // waits for the watcher's goroutine
		r.w = nil
		r.watch = plan{}
	}
}

// relevant reports whether an event about name may change what the path
// reads: it names one of the path's links or the file, or one of the
// watched directories themselves (deleted or moved).
func (r *run) relevant(name string) bool {
	name = filepath.Clean(name)
	_, ok := r.watch.names[name]
	if !ok {
		_, ok = r.watch.dirs[name]
	}
	return ok
}

// rewatch makes the watcher watch what the path resolves through now.
func (r *run) rewatch() error {
	if r.w == nil {
		w, err := r.newWatcher()
		if err != nil {
			return err
		}
		r.w = w
	}
	var err error
	for range 4 {
		p := resolve(r.path)
		err = r.apply(p)
		if err == nil {
			if resolve(r.path).equal(p) {
				return nil
			}
			continue // changed while we were adding watches
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// A directory vanished between resolving and watching: resolve again.
	}
	return err
}

// apply makes the watcher watch exactly p's directories.
func (r *run) apply(p plan) error {
	r.watch = p
	for _, d := range r.w.WatchList() {
		if _, ok := p.dirs[d]; !ok {
			_ = r.w.Remove(d) // may be gone already
		}
	}
	have := make(map[string]bool)
	for _, d := range r.w.WatchList() {
		have[d] = true
	}
	for _, d := range slices.Sorted(maps.Keys(p.dirs)) {
		if !have[d] {
			if err := r.w.Add(d); err != nil {
				return fmt.Errorf("watching %s: %w", d, err)
			}
		}
	}
	return nil
}

// plan is what to watch for a path: directories, and the names in them
// whose events matter.
type plan struct {
	dirs  map[string]struct{}
	names map[string]struct{}
}

func (p plan) equal(q plan) bool {
	return maps.Equal(p.dirs, q.dirs) && maps.Equal(p.names, q.names)
}

func (p *plan) add(dir, name string) {
	if p.dirs == nil {
		p.dirs = make(map[string]struct{})
		p.names = make(map[string]struct{})
	}
	p.dirs[dir] = struct{}{}
	p.names[name] = struct{}{}
}

// maxLinks bounds symlink resolution, as the kernel does (ELOOP).
const maxLinks = 40

// resolve walks path (absolute and clean) component by component as the
// kernel does, following symlinks, and returns a plan naming every symlink
// met on the way and the final file (or the first component that is
// missing), each with the directory it is in. The directories are real:
// symlinks in them are resolved.
func resolve(path string) plan {
	var p plan
	vol := filepath.VolumeName(path)
	root := vol + string(filepath.Separator)
	dir := root // resolved so far; a real directory
	todo := split(path[len(vol):])
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		if c == ".." {
			dir = filepath.Dir(dir) // dir is real, so this is the kernel's ".."
			continue
		}
		next := filepath.Join(dir, c)
		fi, err := os.Lstat(next)
		if err != nil {
			p.add(dir, next) // missing: wait for it to appear
			return p
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			p.add(dir, next)
			links++
			target, err := os.Readlink(next)
			if err != nil || links > maxLinks {
				return p // the read reports the error
			}
			if filepath.IsAbs(target) {
				v := filepath.VolumeName(target)
				dir = v + string(filepath.Separator)
				target = target[len(v):]
			}
			todo = append(split(target), todo...)
			continue
		}
		if len(todo) == 0 || !fi.IsDir() {
			p.add(dir, next) // the file (or a non-directory in the way)
			return p
		}
		dir = next
	}
	// The path ended in ".." (or is the root): it names a directory.
	p.add(filepath.Dir(dir), dir)
	return p
}

// split splits a path into its components, dropping empty ones and ".".
func split(path string) []string {
	var out []string
	for _, c := range strings.Split(filepath.ToSlash(path), "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

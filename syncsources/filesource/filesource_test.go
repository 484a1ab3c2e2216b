package filesource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
	"github.com/vexilhq/vexil/syncsources/sourcetest"
)

const timeout = 5 * time.Second

// writeAtomic writes data to a temporary file beside path and renames it
// over path, as editors and most tools save.
func writeAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := tryWriteAtomic(path, data); err != nil {
		t.Fatal(err)
	}
}

func tryWriteAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// plainFile is a backend that is a regular file, written atomically.
type plainFile struct {
	path   string
	doc    []byte
	broken bool
}

func (b *plainFile) Set(t testing.TB, doc []byte) {
	b.doc = bytes.Clone(doc)
	if !b.broken {
		writeAtomic(t, b.path, doc)
	}
}

func (b *plainFile) Break(t testing.TB) {
	b.broken = true
	if err := os.Remove(b.path); err != nil {
		t.Fatal(err)
	}
}

func (b *plainFile) Restore(t testing.TB) {
	b.broken = false
	writeAtomic(t, b.path, b.doc)
}

// configMap is a backend laid out as Kubernetes mounts a ConfigMap:
//
//	dir/flags.json -> ..data/flags.json
//	dir/..data -> ..2026_11_21_10_00_00.<n>
//	dir/..2026_11_21_10_00_00.<n>/flags.json
//
// and updated as the kubelet does: a new timestamped directory, a new
// ..data_tmp symlink to it renamed over ..data, the old directory removed.
type configMap struct {
	dir    string
	doc    []byte
	n      int
	cur    string // the current timestamped directory, "" when broken
	broken bool
}

func newConfigMap(t testing.TB, doc []byte) *configMap {
	c := &configMap{dir: t.TempDir(), doc: bytes.Clone(doc)}
	c.publish(t)
	if err := os.Symlink("..data/flags.json", c.path()); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *configMap) path() string { return filepath.Join(c.dir, "flags.json") }

func (c *configMap) publish(t testing.TB) {
	t.Helper()
	c.n++
	ts := fmt.Sprintf("..2026_11_21_10_00_00.%d", c.n)
	if err := os.Mkdir(filepath.Join(c.dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, ts, "flags.json"), c.doc, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if c.cur != "" {
		if err := os.RemoveAll(filepath.Join(c.dir, c.cur)); err != nil {
			t.Fatal(err)
		}
	}
	c.cur = ts
}

func (c *configMap) Set(t testing.TB, doc []byte) {
	c.doc = bytes.Clone(doc)
	if !c.broken {
		c.publish(t)
	}
}

// Break removes the ..data link, leaving flags.json dangling.
func (c *configMap) Break(t testing.TB) {
	c.broken = true
	if err := os.Remove(filepath.Join(c.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, c.cur)); err != nil {
		t.Fatal(err)
	}
	c.cur = ""
}

func (c *configMap) Restore(t testing.TB) {
	c.broken = false
	c.publish(t)
}

func newSource(t testing.TB, cfg filesource.Config) *filesource.Source {
	t.Helper()
	s, err := filesource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	plain := func(t *testing.T, doc []byte) (string, sourcetest.Backend) {
		b := &plainFile{path: filepath.Join(t.TempDir(), "flags.json")}
		b.Set(t, doc)
		return b.path, b
	}
	for _, tc := range []struct {
		name     string
		debounce time.Duration
		layout   func(t *testing.T, doc []byte) (path string, b sourcetest.Backend)
		noWatch  bool // watching fails: the source re-reads periodically
		poll     time.Duration
	}{
		{"plain", 0, plain, false, 0},
		{"plain-no-debounce", -1, plain, false, 0},
		{"plain-no-watcher", 0, plain, true, 0},
		{"configmap", 0, func(t *testing.T, doc []byte) (string, sourcetest.Backend) {
			c := newConfigMap(t, doc)
			return c.path(), c
		}, false, 0},
		{"configmap-no-watcher", 0, func(t *testing.T, doc []byte) (string, sourcetest.Backend) {
			c := newConfigMap(t, doc)
			return c.path(), c
		}, true, 0},
		// flagd's fileinfo provider: polled by modification time.
		{"plain-fileinfo", 0, plain, false, 10 * time.Millisecond},
		{"configmap-fileinfo", 0, func(t *testing.T, doc []byte) (string, sourcetest.Backend) {
			c := newConfigMap(t, doc)
			return c.path(), c
		}, false, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sourcetest.Run(t, sourcetest.Harness{
				New: func(t *testing.T, doc []byte) sourcetest.Instance {
					path, b := tc.layout(t, doc)
					uri := "file:" + path
					cfg, err := filesource.FromURI(uri)
					if err != nil {
						t.Fatal(err)
					}
					cfg.Debounce = tc.debounce
					cfg.PollInterval = tc.poll
					src := newSource(t, cfg)
					if tc.noWatch {
						filesource.SetNewWatcher(src, func() (*fsnotify.Watcher, error) {
							return nil, errors.New("no inotify instances left")
						})
					}
					return sourcetest.Instance{Source: src, Backend: b, Name: cfg.Name}
				},
			})
		})
	}
}

// running is a source running in a goroutine, for the scenario tests.
type running struct {
	t       *testing.T
	updates chan syncsources.Update
}

func start(t *testing.T, cfg filesource.Config) *running {
	t.Helper()
	return startSource(t, newSource(t, cfg))
}

func startSource(t *testing.T, src *filesource.Source) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, updates: make(chan syncsources.Update)}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, r.updates) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(timeout):
			t.Errorf("Run did not return")
		}
	})
	return r
}

func (r *running) next() syncsources.Update {
	r.t.Helper()
	select {
	case u := <-r.updates:
		return u
	case <-time.After(timeout):
		r.t.Fatal("no update")
		return syncsources.Update{}
	}
}

// expect checks that the next update is the document want.
func (r *running) expect(want string) syncsources.Update {
	r.t.Helper()
	u := r.next()
	if u.Err != nil || string(u.Data) != want {
		r.t.Fatalf("got update (err %v) %q, want %q", u.Err, u.Data, want)
	}
	return u
}

// expectErr checks that the next update is an outage.
func (r *running) expectErr() error {
	r.t.Helper()
	u := r.next()
	if u.Err == nil {
		r.t.Fatalf("got document %q, want an outage", u.Data)
	}
	return u.Err
}

// await receives updates until the document want, letting through those
// that allow accepts, and returns how many it received before want.
func (r *running) await(want string, allow func(syncsources.Update) bool) int {
	r.t.Helper()
	n := 0
	for {
		u := r.next()
		if u.Err == nil && string(u.Data) == want {
			return n
		}
		if !allow(u) {
			r.t.Fatalf("got update (err %v) %q while waiting for %q", u.Err, u.Data, want)
		}
		n++
	}
}

// quiet checks that nothing is sent for a while (not a synchronisation).
func (r *running) quiet() {
	r.t.Helper()
	select {
	case u := <-r.updates:
		r.t.Fatalf("got update (err %v) %q, want nothing", u.Err, u.Data)
	case <-time.After(100 * time.Millisecond):
	}
}

func outages(u syncsources.Update) bool { return u.Err != nil }

func TestScenarios(t *testing.T) {
	const a, b, c = `{"flags":{"a":{}}}`, `{"flags":{"b":{}}}`, `{"flags":{"c":{}}}`
	tests := []struct {
		name string
		run  func(t *testing.T, dir string)
	}{
		{"atomic rename-write", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			writeAtomic(t, path, []byte(b))
			r.expect(b)
			writeAtomic(t, path, []byte(c))
			r.expect(c)
		}},
		{"in-place truncate and write", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			for _, doc := range []string{b, c + "   ", a} {
				if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
					t.Fatal(err)
				}
				// A read between the truncation and the write sees a
				// prefix; the debounce makes it unlikely, not impossible.
				r.await(doc, func(u syncsources.Update) bool {
					return u.Err == nil && strings.HasPrefix(doc, string(u.Data))
				})
			}
		}},
		{"in-place append", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.yaml")
			writeAtomic(t, path, []byte("flags:\n"))
			r := start(t, filesource.Config{Path: path})
			r.expect("flags:\n")
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString("  a: {}\n"); err != nil {
				t.Fatal(err)
			}
			r.expect("flags:\n  a: {}\n")
		}},
		{"configmap symlink swap", func(t *testing.T, dir string) {
			cm := newConfigMap(t, []byte(a))
			r := start(t, filesource.Config{Path: cm.path()})
			r.expect(a)
			cm.Set(t, []byte(b))
			r.expect(b)
			// A swap that changes other keys only: same bytes, no update.
			cm.Set(t, []byte(b))
			r.quiet()
			cm.Set(t, []byte(c))
			r.expect(c)
		}},
		{"symlink retargeted", func(t *testing.T, dir string) {
			for _, d := range []string{"v1", "v2", "etc"} {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeAtomic(t, filepath.Join(dir, "v1", "real.json"), []byte(a))
			writeAtomic(t, filepath.Join(dir, "v2", "real.json"), []byte(b))
			link := filepath.Join(dir, "etc", "flags.json")
			if err := os.Symlink(filepath.Join(dir, "v1", "real.json"), link); err != nil {
				t.Fatal(err)
			}
			r := start(t, filesource.Config{Path: link})
			r.expect(a)
			// The target changes: the source watches the target's directory.
			writeAtomic(t, filepath.Join(dir, "v1", "real.json"), []byte(c))
			r.expect(c)
			// The link is replaced atomically by one to another directory.
			tmp := filepath.Join(dir, "etc", "tmp")
			if err := os.Symlink("../v2/real.json", tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, link); err != nil {
				t.Fatal(err)
			}
			r.expect(b)
			// The old target no longer matters; the new one does.
			writeAtomic(t, filepath.Join(dir, "v1", "real.json"), []byte(a))
			writeAtomic(t, filepath.Join(dir, "v2", "real.json"), []byte(c))
			r.expect(c)
		}},
		{"delete then recreate", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := r.expectErr(); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("outage error %v, want one wrapping fs.ErrNotExist", err)
			}
			writeAtomic(t, path, []byte(a)) // the same bytes: still a snapshot
			r.expect(a)
			// Deleted and re-created by a non-atomic tool.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			r.expectErr()
			if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
			r.await(b, func(u syncsources.Update) bool { return u.Err == nil && strings.HasPrefix(b, string(u.Data)) })
		}},
		{"directory removed and re-created", func(t *testing.T, dir string) {
			conf := filepath.Join(dir, "conf")
			path := filepath.Join(conf, "flags.json")
			if err := os.Mkdir(conf, 0o755); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			if err := os.RemoveAll(conf); err != nil {
				t.Fatal(err)
			}
			r.expectErr()
			if err := os.Mkdir(conf, 0o755); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(b))
			r.expect(b)
			writeAtomic(t, path, []byte(c))
			r.expect(c)
		}},
		{"directory replaced by rename", func(t *testing.T, dir string) {
			conf := filepath.Join(dir, "conf")
			path := filepath.Join(conf, "flags.json")
			if err := os.Mkdir(conf, 0o755); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			// A new directory is prepared aside and moved into place.
			next := filepath.Join(dir, "conf.next")
			if err := os.Mkdir(next, 0o755); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, filepath.Join(next, "flags.json"), []byte(b))
			if err := os.Rename(conf, filepath.Join(dir, "conf.old")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(next, conf); err != nil {
				t.Fatal(err)
			}
			r.await(b, outages) // an outage may be seen between the renames
			// The old directory, moved away, is no longer followed.
			writeAtomic(t, filepath.Join(dir, "conf.old", "flags.json"), []byte(a))
			writeAtomic(t, path, []byte(c))
			r.expect(c)
		}},
		{"missing directories at start", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "x", "y", "flags.json")
			r := start(t, filesource.Config{Path: path})
			r.expectErr()
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(a))
			r.expect(a)
		}},
		{"path is a directory", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			r := start(t, filesource.Config{Path: path})
			r.expectErr()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(a))
			r.expect(a)
		}},
		{"failure changes during an outage", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := r.expectErr(); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("outage error %v, want one wrapping fs.ErrNotExist", err)
			}
			// A directory takes the file's place: another failure, reported.
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := r.expectErr(); errors.Is(err, fs.ErrNotExist) {
				t.Errorf("outage error %v, want the directory's", err)
			}
			// The same failure again is not.
			now := time.Now()
			if err := os.Chtimes(path, now, now); err != nil {
				t.Fatal(err)
			}
			r.quiet()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			writeAtomic(t, path, []byte(b))
			r.await(b, outages) // the file missing again may be seen first
		}},
		{"unreadable file", func(t *testing.T, dir string) {
			if os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
			if err := r.expectErr(); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("outage error %v, want one wrapping fs.ErrPermission", err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			r.expect(a)
		}},
		{"unrelated files in the directory", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "flags.json")
			writeAtomic(t, path, []byte(a))
			r := start(t, filesource.Config{Path: path})
			r.expect(a)
			writeAtomic(t, filepath.Join(dir, "other.json"), []byte(b))
			if err := os.Remove(filepath.Join(dir, "other.json")); err != nil {
				t.Fatal(err)
			}
			r.quiet()
			writeAtomic(t, path, []byte(c))
			r.expect(c)
		}},
		{"relative path", func(t *testing.T, dir string) {
			t.Chdir(dir)
			writeAtomic(t, filepath.Join(dir, "flags.json"), []byte(a))
			cfg, err := filesource.FromURI("file:flags.json")
			if err != nil {
				t.Fatal(err)
			}
			src := newSource(t, cfg)
			if want := filepath.Join(dir, "flags.json"); src.Path() != want {
				t.Errorf("Path() = %q, want %q", src.Path(), want)
			}
			r := start(t, cfg)
			if u := r.expect(a); u.Source != "flags.json" { // flagd's name: no scheme
				t.Errorf("Source = %q", u.Source)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, t.TempDir()) })
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		file   string
		format evaluator.Format // configured
		want   evaluator.Format
	}{
		{"flags.json", 0, evaluator.FormatJSON},
		{"flags.yaml", 0, evaluator.FormatYAML},
		{"flags.YML", 0, evaluator.FormatYAML},
		{"flags", 0, evaluator.FormatAuto},
		{"flags.txt", evaluator.FormatYAML, evaluator.FormatYAML},
		{"flags.json", evaluator.FormatYAML, evaluator.FormatYAML},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			writeAtomic(t, path, []byte("flags: {}\n"))
			r := start(t, filesource.Config{Path: path, Format: tt.format})
			if u := r.expect("flags: {}\n"); u.Format != tt.want {
				t.Errorf("Format = %v, want %v", u.Format, tt.want)
			}
			os.Remove(path)
			if u := r.next(); u.Err == nil || u.Format != tt.want {
				t.Errorf("outage %v with Format %v, want %v", u.Err, u.Format, tt.want)
			}
		})
	}
}

func TestDebounce(t *testing.T) {
	t.Run("burst", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "flags.json")
		writeAtomic(t, path, []byte("0"))
		// A long debounce, so that the burst is surely within one.
		r := start(t, filesource.Config{Path: path, Debounce: 200 * time.Millisecond})
		r.expect("0")
		const writes = 50
		for i := 1; i <= writes; i++ {
			writeAtomic(t, path, fmt.Appendf(nil, "%d", i))
		}
		// The last write wins; intermediate snapshots are whole documents.
		n := r.await(fmt.Sprint(writes), func(u syncsources.Update) bool { return u.Err == nil })
		t.Logf("%d writes, %d intermediate updates", writes, n)
		if n > 5 {
			t.Errorf("%d writes gave %d intermediate updates, want at most 5", writes, n)
		}
	})
	t.Run("continuous writes are still read", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "flags.json")
		writeAtomic(t, path, []byte("start"))
		r := start(t, filesource.Config{Path: path, Debounce: 20 * time.Millisecond})
		r.expect("start")
		// Write without pause until an update arrives: a debounce that
		// only waited for quiet would never fire.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := tryWriteAtomic(path, fmt.Appendf(nil, "w%d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		u := r.next()
		close(stop)
		<-done
		if u.Err != nil || !bytes.HasPrefix(u.Data, []byte("w")) {
			t.Errorf("got update (err %v) %q during continuous writes", u.Err, u.Data)
		}
	})
}

func TestNew(t *testing.T) {
	if _, err := filesource.New(filesource.Config{}); err == nil {
		t.Error("New accepted an empty path")
	}
	if _, err := filesource.New(filesource.Config{Path: "a\x00b"}); err == nil {
		t.Error("New accepted a NUL byte")
	}
	// No I/O: a missing file is not an error.
	s, err := filesource.New(filesource.Config{Path: "/nonexistent/dir/flags.json"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "/nonexistent/dir/flags.json" {
		t.Errorf("Name() = %q, want the path as given", s.Name())
	}
	s = newSource(t, filesource.Config{Path: "rel/../flags.json", Name: "mine"})
	wd, _ := os.Getwd()
	if s.Path() != filepath.Join(wd, "flags.json") || s.Name() != "mine" {
		t.Errorf("Path() = %q, Name() = %q", s.Path(), s.Name())
	}
}

func TestFromURI(t *testing.T) {
	for _, tt := range []struct {
		uri, path string // path "" means an error
	}{
		{"file:/abs/flags.json", "/abs/flags.json"},
		{"file:etc/flags.json", "etc/flags.json"},
		{"file:./flags.json", "./flags.json"},
		{"file:../up/flags.yaml", "../up/flags.yaml"},
		{"file:///abs/flags.json", "/abs/flags.json"},
		{"file://localhost/abs/flags.json", "/abs/flags.json"},
		{"FILE:/abs/flags.json", "/abs/flags.json"},
		{"file:/with space/and%20escape.json", "/with space/and%20escape.json"},
		{"file:flags.json?x#y", "flags.json?x#y"},
		{"file:", ""},
		{"file://", ""},
		{"file:///", ""},
		{"file://host/flags.json", ""},
		{"file://etc/flags.json", ""},
		{"http://example.com/flags.json", ""},
		{"/abs/flags.json", ""},
		{"fil", ""},
	} {
		cfg, err := filesource.FromURI(tt.uri)
		switch {
		case tt.path == "" && err == nil:
			t.Errorf("FromURI(%q) = %+v, want an error", tt.uri, cfg)
		case tt.path != "" && err != nil:
			t.Errorf("FromURI(%q): %v", tt.uri, err)
		case tt.path != "" && (cfg.Path != tt.path || cfg.Name != tt.uri[len("file:"):]):
			// flagd names a file source by what follows "file:", as written.
			t.Errorf("FromURI(%q) = Path %q Name %q, want Path %q Name %q", tt.uri, cfg.Path, cfg.Name, tt.path, tt.uri[len("file:"):])
		}
	}
}

// When watching fails the source re-reads the file periodically, says so
// in the log once, and watches again as soon as it can.
func TestWatchFailure(t *testing.T) {
	const a, b, c = `{"flags":{"a":{}}}`, `{"flags":{"b":{}}}`, `{"flags":{"c":{}}}`
	path := filepath.Join(t.TempDir(), "flags.json")
	writeAtomic(t, path, []byte(a))
	var log lockedBuffer
	src := newSource(t, filesource.Config{Path: path, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	var calls atomic.Int32
	watching := make(chan struct{})
	filesource.SetNewWatcher(src, func() (*fsnotify.Watcher, error) {
		switch calls.Add(1) {
		case 1, 2, 3:
			return nil, errors.New("too many open files")
		case 4:
			close(watching)
		}
		return fsnotify.NewWatcher()
	})
	r := startSource(t, src)
	r.expect(a)
	writeAtomic(t, path, []byte(b))
	r.expect(b) // found by re-reading
	select {
	case <-watching:
	case <-time.After(timeout):
		t.Fatal("the source did not try watching again")
	}
	writeAtomic(t, path, []byte(c))
	r.expect(c)
	out := log.String()
	if strings.Count(out, "cannot watch flag file") != 1 || !strings.Contains(out, "too many open files") ||
		strings.Count(out, "watching flag file again") != 1 {
		t.Errorf("log:\n%s", out)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package filesource

import "github.com/fsnotify/fsnotify"

// SetNewWatcher replaces how s makes its file system watcher, so that tests
// can make watching fail.
func SetNewWatcher(s *Source, f func() (*fsnotify.Watcher, error)) { s.newWatcher = f }

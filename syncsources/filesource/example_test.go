package filesource_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/filesource"
)

func Example() {
	dir, err := os.MkdirTemp("", "vexil-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flags.yaml")
	if err := os.WriteFile(path, []byte("flags: {}\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	// As from --uri file:/path/to/flags.yaml.
	cfg, err := filesource.FromURI("file:" + path)
	if err != nil {
		log.Fatal(err)
	}
	src, err := filesource.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan syncsources.Update)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()

	show := func(u syncsources.Update) {
		if u.Err != nil {
			fmt.Println("outage:", u.Err != nil)
			return
		}
		fmt.Printf("yaml %v: %q\n", u.Format == evaluator.FormatYAML, u.Data)
	}
	show(<-updates) // the first snapshot

	// Save a new version the way editors do: write aside, rename over.
	tmp := filepath.Join(dir, ".flags.yaml.tmp")
	if err := os.WriteFile(tmp, []byte("flags:\n  beta: {}\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		log.Fatal(err)
	}
	show(<-updates)

	// Deleting the file is an outage; the last flags keep serving.
	if err := os.Remove(path); err != nil {
		log.Fatal(err)
	}
	show(<-updates)

	cancel()
	fmt.Println(<-done)
	// Output:
	// yaml true: "flags: {}\n"
	// yaml true: "flags:\n  beta: {}\n"
	// outage: true
	// context canceled
}

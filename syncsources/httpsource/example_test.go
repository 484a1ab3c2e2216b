package httpsource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/vexilhq/vexil/evaluator"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/httpsource"
)

func ExampleNew() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		fmt.Fprint(w, "flags: {}\n")
	}))
	defer srv.Close()

	// As from --uri http://..., with options from the --sources entry.
	cfg, err := httpsource.FromURI(srv.URL + "/flags")
	if err != nil {
		log.Fatal(err)
	}
	cfg.Interval = 30 * time.Second
	cfg.Headers = map[string]string{"X-Tenant": "acme"}
	src, err := httpsource.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan syncsources.Update)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()

	u := <-updates // the first snapshot
	fmt.Printf("yaml %v: %q\n", u.Format == evaluator.FormatYAML, u.Data)

	cancel()
	fmt.Println(<-done)
	// Output:
	// yaml true: "flags: {}\n"
	// context canceled
}

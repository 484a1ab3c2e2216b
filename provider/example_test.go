package provider_test

import (
	"context"
	"fmt"
	"log"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/vexilhq/vexil/provider"
)

// The file resolver evaluates a local flag file; it follows the file's
// changes.
func Example() {
	p, err := provider.New(
		provider.WithResolver(provider.ResolverFile),
		provider.WithOfflineFlagSourcePath("../examples/flags/demo.flags.json"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := openfeature.SetProviderWithContextAndWait(ctx, p); err != nil {
		log.Fatal(err)
	}
	defer openfeature.ShutdownWithContext(ctx)

	client := openfeature.NewClient("checkout")
	staff := openfeature.NewEvaluationContext("user-1", map[string]any{"email": "ana@vexil.example"})
	guest := openfeature.NewEvaluationContext("user-2", map[string]any{"email": "bo@example.com"})
	fmt.Println(client.BooleanValue(ctx, "new-checkout", false, staff))
	fmt.Println(client.BooleanValue(ctx, "new-checkout", false, guest))
	fmt.Println(client.StringValue(ctx, "welcome-message", "Hello", guest))
	// Output:
	// true <nil>
	// false <nil>
	// Welcome! <nil>
}

// The rpc resolver (the default) evaluates with a daemon, here at
// localhost:8013; FLAGD_HOST, FLAGD_PORT and the other FLAGD_* variables
// configure what the options do not.
func ExampleNew_rpc() {
	p, err := provider.New(provider.WithHost("localhost"), provider.WithPort(8013))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := openfeature.SetProviderWithContextAndWait(ctx, p); err != nil {
		log.Printf("not ready yet, the provider keeps trying: %v", err)
	}
	defer openfeature.ShutdownWithContext(ctx)
	client := openfeature.NewClient("app")
	enabled, _ := client.BooleanValue(ctx, "new-checkout", false, openfeature.EvaluationContext{})
	fmt.Println(enabled)
}

// The in-process resolver receives the flags from the daemon's sync
// service and evaluates them locally; the selector picks a flag set.
func ExampleNew_inProcess() {
	p, err := provider.New(
		provider.WithResolver(provider.ResolverInProcess),
		provider.WithHost("localhost"), provider.WithPort(8015),
		provider.WithSelector("flagSetId=demo"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := openfeature.SetProviderWithContextAndWait(ctx, p); err != nil {
		log.Printf("not ready yet, the provider keeps trying: %v", err)
	}
	defer openfeature.ShutdownWithContext(ctx)
	_ = openfeature.NewClient("app")
}

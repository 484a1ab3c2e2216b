package kubesource_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"

	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/kubesource"
)

// testRESTConfig points at a server that is never contacted.
var testRESTConfig = &rest.Config{Host: "https://127.0.0.1:1"}

func Example() {
	cfg, err := kubesource.FromURI("core.openfeature.dev/default/my-flags")
	if err != nil {
		panic(err)
	}
	// Nil uses $KUBECONFIG, ~/.kube/config or the in-cluster service
	// account; here, an explicit configuration.
	cfg.RESTConfig = &rest.Config{Host: "https://127.0.0.1:6443", BearerToken: "TOKEN"}
	src, err := kubesource.New(cfg)
	if err != nil {
		panic(err)
	}
	fmt.Println(src.Name())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := make(chan syncsources.Update)
	go func() { _ = src.Run(ctx, updates) }()
	_ = updates // receive: a snapshot, an outage, or Removed when the object is deleted
	// Output: default/my-flags
}

package grpcsource_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"google.golang.org/grpc"

	syncv1 "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	"github.com/vexilhq/vexil/syncsources"
	"github.com/vexilhq/vexil/syncsources/grpcsource"
)

// exampleServer serves a FlagSyncService whose SyncFlags sends one
// document and waits, standing for flagd or another Vexil daemon.
func exampleServer() (*grpc.Server, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "flagd.sync.v1.FlagSyncService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "SyncFlags",
			ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				var req syncv1.SyncFlagsRequest
				if err := ss.RecvMsg(&req); err != nil {
					return err
				}
				conf := fmt.Sprintf(`{"flags":{},"selector":%q}`, req.GetSelector())
				if err := ss.SendMsg(&syncv1.SyncFlagsResponse{FlagConfiguration: conf}); err != nil {
					return err
				}
				<-ss.Context().Done()
				return nil
			},
		}},
	}, nil)
	go func() { _ = srv.Serve(ln) }()
	return srv, ln.Addr().String()
}

func ExampleNew() {
	srv, addr := exampleServer()
	defer srv.Stop()

	// As from --sources '[{"uri":"grpc://...","selector":"flagSetId=team-a"}]'.
	cfg, err := grpcsource.FromURI("grpc://" + addr)
	if err != nil {
		log.Fatal(err)
	}
	cfg.Selector = "flagSetId=team-a"
	cfg.ProviderID = "vexil-edge-1"
	src, err := grpcsource.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan syncsources.Update)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()

	u := <-updates // the first snapshot
	fmt.Println(string(u.Data))

	cancel()
	fmt.Println(<-done)
	// Output:
	// {"flags":{},"selector":"flagSetId=team-a"}
	// context canceled
}

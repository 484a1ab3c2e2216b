package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	evaluationv2 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2/evaluationv2connect"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// refusingGRPC serves every gRPC method with the given status code.
func refusingGRPC(t *testing.T, c codes.Code) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
		return status.Error(c, "refused")
	}))
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

type refusingEval struct {
	evaluationv2connect.UnimplementedServiceHandler
	code connect.Code
}

func (r refusingEval) EventStream(context.Context, *connect.Request[evaluationv2.EventStreamRequest], *connect.ServerStream[evaluationv2.EventStreamResponse]) error {
	return connect.NewError(r.code, errors.New("refused"))
}

// refusingConnect serves flagd.evaluation.v2 with every event stream
// refused with the given code.
func refusingConnect(t *testing.T, c connect.Code) int {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(evaluationv2connect.NewServiceHandler(refusingEval{code: c}))
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

func TestFatalStatusCodes(t *testing.T) {
	servers := map[Resolver]func(t *testing.T) int{
		ResolverInProcess: func(t *testing.T) int { return refusingGRPC(t, codes.PermissionDenied) },
		ResolverRPC:       func(t *testing.T) int { return refusingConnect(t, connect.CodePermissionDenied) },
	}
	for mode, serve := range servers {
		t.Run(string(mode), func(t *testing.T) {
			port := serve(t)
			p := newUninitialized(t, WithResolver(mode), WithHost("127.0.0.1"), WithPort(port),
				WithFatalStatusCodes("UNAVAILABLE", "PERMISSION_DENIED"), WithDeadline(20*time.Second))
			err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{})
			var ie *openfeature.ProviderInitError
			if !errors.As(err, &ie) || ie.ErrorCode != openfeature.ProviderFatalCode {
				t.Fatalf("Init: %v, want a fatal ProviderInitError", err)
			}
			if p.State() != openfeature.FatalState {
				t.Errorf("state %s", p.State())
			}
		})
		t.Run(string(mode)+"/not fatal", func(t *testing.T) {
			port := serve(t)
			p := newUninitialized(t, WithResolver(mode), WithHost("127.0.0.1"), WithPort(port),
				WithFatalStatusCodes("UNAVAILABLE"), WithDeadline(200e6))
			err := p.InitWithContext(context.Background(), openfeature.EvaluationContext{})
			var ie *openfeature.ProviderInitError
			if err == nil || errors.As(err, &ie) {
				t.Fatalf("Init: %v, want a plain error", err)
			}
			if p.State() != openfeature.ErrorState {
				t.Errorf("state %s", p.State())
			}
		})
	}
	t.Run("unknown code", func(t *testing.T) {
		if _, err := New(WithLookupEnv(nil), WithFatalStatusCodes("NOPE")); err == nil {
			t.Error("New accepted an unknown status code")
		}
	})
}

// TestFatalThroughSDK checks that the SDK sees the provider FATAL.
func TestFatalThroughSDK(t *testing.T) {
	port := refusingGRPC(t, codes.Unavailable)
	p, err := New(WithLookupEnv(nil), WithResolver(ResolverInProcess), WithHost("127.0.0.1"), WithPort(port),
		WithFatalStatusCodes("UNAVAILABLE"), WithDeadline(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	api := isolated.NewAPI()
	t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
	errCh := make(chan openfeature.EventDetails, 1)
	handler := func(d openfeature.EventDetails) {
		select {
		case errCh <- d:
		default:
		}
	}
	api.AddHandler(openfeature.ProviderError, &handler)
	if err := api.SetProviderAndWait(context.Background(), p); err == nil {
		t.Fatal("SetProviderAndWait succeeded")
	}
	client := api.NewClient()
	if client.State() != openfeature.FatalState {
		t.Errorf("client state %s, want FATAL", client.State())
	}
	// The SDK passes on the message (its state says FATAL).
	if d := <-errCh; d.Message == "" {
		t.Errorf("error event without a message: %+v", d)
	}
}

// TestNoDaemon checks that, with nothing listening, initialization fails
// naming the mode, the address and the refused connection, whether the
// provider is set through the SDK or initialized directly.
func TestNoDaemon(t *testing.T) {
	for _, mode := range []Resolver{ResolverRPC, ResolverInProcess} {
		for _, how := range []string{"SetProviderAndWait", "Init"} {
			t.Run(string(mode)+"/"+how, func(t *testing.T) {
				port := freePort(t)
				addr := "localhost:" + strconv.Itoa(port)
				p, err := New(WithLookupEnv(nil), WithResolver(mode), WithPort(port))
				if err != nil {
					t.Fatal(err)
				}
				switch how {
				case "SetProviderAndWait":
					api := isolated.NewAPI()
					t.Cleanup(func() { _ = api.Shutdown(context.Background()) })
					err = api.SetProviderAndWait(context.Background(), p)
				default:
					t.Cleanup(p.Shutdown)
					err = p.Init(openfeature.EvaluationContext{})
				}
				if err == nil {
					t.Fatal("initialized with no daemon")
				}
				t.Log(err)
				for _, want := range []string{string(mode) + ": " + addr + ":", "connection refused"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			})
		}
	}
}

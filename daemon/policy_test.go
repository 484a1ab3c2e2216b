package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpchealthsrv "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type who struct{}

// bearerOK lets through the requests with "Authorization: Bearer ok".
func bearerOK(ctx context.Context, c caller) (context.Context, error) {
	if c.Header.Get("Authorization") != "Bearer ok" {
		return nil, errors.New("no token")
	}
	return context.WithValue(ctx, who{}, c.Procedure), nil
}

// TestAuthenticatorSlot: a policy's authenticator sees each request before
// its handler, passes its context on, and refuses with Unauthenticated (401
// outside the RPC protocols).
func TestAuthenticatorSlot(t *testing.T) {
	p := policy{authenticate: bearerOK}
	h := p.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Context().Value(who{}).(string)))
	}))
	for _, tc := range []struct {
		path, contentType, auth string
		status                  int
		body                    string
	}{
		{"/ofrep/v1/evaluate/flags", "application/json", "Bearer ok", http.StatusOK, "/ofrep/v1/evaluate/flags"},
		{"/ofrep/v1/evaluate/flags", "application/json", "", http.StatusUnauthorized, "no token"},
		{"/flagd.evaluation.v1.Service/ResolveAll", "application/json", "", http.StatusUnauthorized, `"code":"unauthenticated"`},
	} {
		r := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader("{}"))
		r.Header.Set("Content-Type", tc.contentType)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %q: %d %q, want %d with %q", tc.path, tc.auth, w.Code, w.Body, tc.status, tc.body)
		}
	}
}

// TestAuthenticatorSlotGRPC: the same authenticator refuses grpc-go calls
// with Unauthenticated.
func TestAuthenticatorSlotGRPC(t *testing.T) {
	srv := grpc.NewServer(policy{authenticate: bearerOK}.grpcOptions(false)...)
	healthpb.RegisterHealthServer(srv, grpchealthsrv.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	for _, tc := range []struct {
		auth string
		want codes.Code
	}{{"", codes.Unauthenticated}, {"Bearer ok", codes.OK}} {
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", tc.auth)
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != tc.want {
			t.Errorf("authorization %q: %v, want %v", tc.auth, err, tc.want)
		}
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	rec := httptest.NewRecorder()
	handle(rec, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(`{"flagKey":"a"}`)))
	if rec.Code != 200 || rec.Body.String() != "{}" {
		t.Errorf("JSON: %d %q", rec.Code, rec.Body.String())
	}

	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc+proto")
	handle(rec, req)
	if rec.Body.Len() != 5 || rec.Header().Get("Content-Type") != "application/grpc" {
		t.Errorf("gRPC: %q %v", rec.Body.String(), rec.Header())
	}
	if got := rec.Result().Trailer.Get("Grpc-Status"); got != "0" {
		t.Errorf("gRPC status trailer = %q", got)
	}
}

package tlsreload_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vexilhq/vexil/daemon/internal/tlsreload"
	"github.com/vexilhq/vexil/internal/testcerts"
)

// writeAtomic replaces path by a rename, as editors and Secret updates do.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedCN dials a TLS listener that uses r and returns the common name of
// the certificate it presents.
func servedCN(t *testing.T, r *tlsreload.Reloader) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: r.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	conn.Close()
	<-done
	return cn
}

func TestReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	a, b := testcerts.New(t, "pair-a"), testcerts.New(t, "pair-b")
	certPath, keyPath := a.Write(t, dir)

	reloaded := make(chan string, 10)
	failed := make(chan error, 10)
	r, err := tlsreload.New(tlsreload.Config{
		CertPath: certPath, KeyPath: keyPath, Debounce: time.Millisecond,
		OnReload: func(c *tls.Certificate) { reloaded <- c.Leaf.Subject.CommonName },
		OnError:  func(err error) { failed <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}()
	if got := servedCN(t, r); got != "pair-a" {
		t.Fatalf("serving %q, want pair-a", got)
	}

	// A certificate without its key does not load: pair-a keeps serving.
	writeAtomic(t, certPath, b.CertPEM)
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "previous one keeps serving") {
			t.Errorf("error %q does not say the previous pair serves", err)
		}
	case cn := <-reloaded:
		t.Fatalf("reloaded %q from a mismatched pair", cn)
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported for a mismatched pair")
	}
	if got := servedCN(t, r); got != "pair-a" {
		t.Fatalf("after a mismatched pair, serving %q, want pair-a", got)
	}

	// The key arrives: pair-b serves.
	writeAtomic(t, keyPath, b.KeyPEM)
	select {
	case cn := <-reloaded:
		if cn != "pair-b" {
			t.Fatalf("reloaded %q, want pair-b", cn)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("pair-b was not loaded")
	}
	if got := servedCN(t, r); got != "pair-b" {
		t.Fatalf("serving %q, want pair-b", got)
	}

	// A deleted key is reported and changes nothing.
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("no error reported for a deleted key")
	}
	if got := servedCN(t, r); got != "pair-b" {
		t.Fatalf("after the key was deleted, serving %q, want pair-b", got)
	}
}

func TestNewFails(t *testing.T) {
	dir := t.TempDir()
	a, b := testcerts.New(t, "a"), testcerts.New(t, "b")
	certPath, keyPath := a.Write(t, dir)
	if err := os.WriteFile(keyPath, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, cert, key, want string }{
		{"no key", certPath, "", "both a certificate and a key"},
		{"mismatch", certPath, keyPath, "private key does not match"},
		{"missing", filepath.Join(dir, "nope.pem"), keyPath, "nope.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tlsreload.New(tlsreload.Config{CertPath: tc.cert, KeyPath: tc.key})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

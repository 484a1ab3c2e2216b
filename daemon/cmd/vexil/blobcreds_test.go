package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	evaluationv1 "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	"github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1/evaluationv1connect"
)

// TestBlobSourceUnloadableCredentials: a gs:// source whose credentials
// cannot be used (GOOGLE_APPLICATION_CREDENTIALS names a service account
// file whose private key does not parse) is reported on /readyz by its name, with the cause,
// and the flags of the other source are served meanwhile. (No GCS
// emulator checks credentials: fake-gcs-server accepts any; what can be
// tested for real is credentials the client cannot load.)
func TestBlobSourceUnloadableCredentials(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(creds, []byte(`{"type": "service_account", "client_email": "vexil@example.iam.gserviceaccount.com", "private_key": "not a key", "token_uri": "https://oauth2.googleapis.com/token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", creds)
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	flags := filepath.Join(dir, "flags.json")
	if err := os.WriteFile(flags, []byte(`{"flags":{"my-flag":{"state":"ENABLED","variants":{"on":true},"defaultVariant":"on"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const gs = "gs://vexil-bucket/flags.json"
	_, addrs, lines := startProcess(t, "start", "-f", "file:"+flags, "-f", gs, "--bind-address", "127.0.0.1",
		"-p", "0", "-m", "0", "-g", "0", "-r", "0", "-z", "json")
	go func() {
		for range lines {
		}
	}()

	type source struct {
		Name      string `json:"name"`
		State     string `json:"state"`
		LastError string `json:"lastError"`
	}
	var report struct {
		Ready   bool     `json:"ready"`
		Sources []source `json:"sources"`
	}
	var bad source
	deadline := time.Now().Add(30 * time.Second)
	for bad.LastError == "" {
		req, err := http.NewRequest(http.MethodGet, "http://"+addrs["management"]+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&report)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range report.Sources {
			if s.Name == gs {
				bad = s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz reports no error for %s: %+v", gs, report)
		}
		time.Sleep(20 * time.Millisecond) // a poll of the report, which has no event to await
	}
	t.Logf("/readyz: %+v", report)
	for _, want := range []string{gs, "credentials"} {
		if !strings.Contains(bad.LastError, want) {
			t.Errorf("lastError %q does not say %q", bad.LastError, want)
		}
	}

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := evaluationv1connect.NewServiceClient(&http.Client{Transport: tr}, "http://"+addrs["evaluation"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if resp, err := client.ResolveBoolean(ctx, connect.NewRequest(&evaluationv1.ResolveBooleanRequest{FlagKey: "my-flag"})); err != nil || !resp.Msg.GetValue() {
		t.Fatalf("the file source's flag, while the gs:// source fails: %v, %v", resp, err)
	}
}

package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		expr     string
		want     Selector
		wantErr  bool
		wantText string
	}{
		{expr: "", want: Selector{}, wantText: ""},
		{expr: "flagSetId=set-1", want: FlagSetSelector("set-1"), wantText: "flagSetId=set-1"},
		{expr: "flagSetId=", want: FlagSetSelector(""), wantText: "flagSetId="},
		{expr: "source=flags/a.json", want: SourceSelector("flags/a.json"), wantText: "source=flags/a.json"},
		{expr: "source=", want: SourceSelector(""), wantText: "source="},
		// A value without "=" is a source (flagd's backwards compatibility).
		{expr: "rawflags/selector-flags.json", want: SourceSelector("rawflags/selector-flags.json"), wantText: "source=rawflags/selector-flags.json"},
		// Split at the first "=" only; one pair only.
		{expr: "source=http://x/?a=b", want: SourceSelector("http://x/?a=b"), wantText: "source=http://x/?a=b"},
		{expr: "flagSetId=a,source=b", want: FlagSetSelector("a,source=b"), wantText: "flagSetId=a,source=b"},
		// Keys are exact.
		{expr: "flagsetid=x", wantErr: true},
		{expr: "flagSetID=x", wantErr: true},
		{expr: " flagSetId=x", wantErr: true},
		{expr: "key=x", wantErr: true},
		{expr: "=x", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ParseSelector(tt.expr)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidSelector) {
					t.Fatalf("ParseSelector(%q) error = %v, want ErrInvalidSelector", tt.expr, err)
				}
				// flagd's message, which its gRPC and Connect services answer.
				key, _, _ := strings.Cut(tt.expr, "=")
				if want := fmt.Sprintf(`invalid selector key %q, valid keys: "flagSetId", "source"`, key); err.Error() != want {
					t.Errorf("ParseSelector(%q) error = %q, want %q", tt.expr, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSelector(%q) = %#v, want %#v", tt.expr, got, tt.want)
			}
			if got.String() != tt.wantText {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantText)
			}
			back, err := ParseSelector(got.String())
			if err != nil || back != got {
				t.Errorf("ParseSelector(String()) = %#v, %v; want %#v", back, err, got)
			}
		})
	}
}

func TestSelectorAccessors(t *testing.T) {
	if !(Selector{}).IsZero() || FlagSetSelector("").IsZero() || SourceSelector("").IsZero() {
		t.Error("IsZero")
	}
	if id, ok := FlagSetSelector("x").FlagSetID(); !ok || id != "x" {
		t.Error("FlagSetID")
	}
	if _, ok := FlagSetSelector("x").Source(); ok {
		t.Error("Source of a flag-set selector")
	}
	if src, ok := SourceSelector("s").Source(); !ok || src != "s" {
		t.Error("Source")
	}
}

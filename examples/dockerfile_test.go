package examples_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerBuild returns the environment assignments and the arguments of the
// Dockerfile's `RUN ... go build ...` line (words split as the shell
// does for this line: spaces, and double quotes around a word's part).
func dockerBuild(t *testing.T, dockerfile []byte) (env, args []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(dockerfile))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "RUN ")
		if !ok || !strings.Contains(rest, "go build") {
			continue
		}
		words := splitWords(t, rest)
		i := 0
		for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
			env = append(env, words[i])
		}
		if i+1 >= len(words) || words[i] != "go" || words[i+1] != "build" {
			t.Fatalf("the build line %q is not [ENV=VALUE...] go build ...", rest)
		}
		return env, words[i+2:]
	}
	t.Fatal("the Dockerfile has no RUN ... go build line")
	return nil, nil
}

func splitWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '\'' || r == '\\' || r == '$' || r == '&' || r == ';' || r == '|':
			t.Fatalf("the build line %q has shell syntax this test does not follow (%q)", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestDockerfileBasesPinned: every FROM names its image by digest.
func TestDockerfileBasesPinned(t *testing.T) {
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(dockerfile)) {
		if f := strings.Fields(line); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			n++
			if !strings.Contains(f[1], "@sha256:") {
				t.Errorf("%s: the base image is not pinned by digest", strings.TrimSpace(line))
			}
		}
	}
	if n == 0 {
		t.Error("the Dockerfile has no FROM")
	}
}

// TestDockerfileBuild builds the image's binary the way the Dockerfile
// does (its environment and go build flags, from the module's root, only
// the output path changed), and checks that it is static, as distroless's
// static image needs, and runs.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	dockerfile, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env, args := dockerBuild(t, dockerfile)
	for _, want := range []string{"CGO_ENABLED=0"} {
		if !strings.Contains(strings.Join(env, " "), want) {
			t.Errorf("the build's environment %q lacks %s", env, want)
		}
	}
	for _, want := range []string{"-trimpath", "-ldflags=-s -w"} {
		if !strings.Contains(strings.Join(args, "\x00"), want) {
			t.Errorf("the build's arguments %q lack %q", args, want)
		}
	}
	out := filepath.Join(t.TempDir(), "vexil")
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = out
		}
	}
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %q: %v\n%s", args, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked: distroless/static has no loader")
		}
	}
	if s := f.Section(".debug_info"); s != nil {
		t.Error("the binary has DWARF debug information: -ldflags -s -w should strip it")
	}

	for _, run := range [][]string{{"--help"}, {"start", "--help"}} {
		b, err := exec.Command(out, run...).CombinedOutput()
		if err != nil || !bytes.Contains(b, []byte("Usage")) {
			t.Errorf("vexil %s: %v\n%s", strings.Join(run, " "), err, b)
		}
	}
}

package gen_test

import (
	"context"
	"fmt"
	"github.com/vexilhq/vexil/internal/testenv"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// Registers our descriptors in protoregistry.GlobalFiles.
	_ "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v1"
	_ "github.com/vexilhq/vexil/schemas/gen/flagd/evaluation/v2"
	_ "github.com/vexilhq/vexil/schemas/gen/flagd/sync/v1"
	_ "github.com/vexilhq/vexil/schemas/gen/schema/v1"
)

// referenceDir finds the flagd-schemas checkout: $FLAGD_SCHEMAS_DIR, or the
// project's shared/ folder beside the repository. It skips the test when
// the variable is unset and the default is absent, and fails it when the
// variable names a folder that does not exist.
func referenceDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.Schemas.Path(t), "protobuf")
}

// notGenerated are the reference's files we leave out on purpose, and why.
var notGenerated = map[string]string{
	"sync/v1/sync_service.proto": "flagd's deprecated first sync contract: nothing serves or calls it",
}

// TestWireCompatibility compiles every .proto file of the flagd reference
// and checks that our generated descriptors declare the same files,
// messages, fields, enums and services, identically on the wire, and no
// more of them; the files of notGenerated must be absent.
func TestWireCompatibility(t *testing.T) {
	root := referenceDir(t)
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".proto") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no .proto files under %s", root)
	}
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{root}}),
	}
	files, err := compiler.Compile(context.Background(), paths...)
	if err != nil {
		t.Fatalf("compiling the reference: %v", err)
	}
	for _, ref := range files {
		t.Run(ref.Path(), func(t *testing.T) {
			if why, skip := notGenerated[ref.Path()]; skip {
				if _, err := protoregistry.GlobalFiles.FindFileByPath(ref.Path()); err == nil {
					t.Errorf("%s is generated, though left out (%s)", ref.Path(), why)
				}
				return
			}
			ours, err := protoregistry.GlobalFiles.FindFileByPath(ref.Path())
			if err != nil {
				t.Fatalf("we have no %s: %v", ref.Path(), err)
			}
			for _, d := range compareFiles(ref, ours) {
				t.Error(d)
			}
		})
	}
}

// TestComparatorFindsDifferences makes sure compareFiles is not vacuous: a
// file compared with a different one must differ.
func TestComparatorFindsDifferences(t *testing.T) {
	v1, err := protoregistry.GlobalFiles.FindFileByPath("flagd/evaluation/v1/evaluation.proto")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := protoregistry.GlobalFiles.FindFileByPath("flagd/evaluation/v2/evaluation.proto")
	if err != nil {
		t.Fatal(err)
	}
	diffs := compareFiles(v1, v2)
	for _, want := range []string{
		"package",
		"flagd.evaluation.v1.ResolveAllRequest: missing",
		"flagd.evaluation.v1.ResolveBooleanResponse.value: presence",
	} {
		if !slices.ContainsFunc(diffs, func(d string) bool { return strings.Contains(d, want) }) {
			t.Errorf("no difference mentions %q; got:\n%s", want, strings.Join(diffs, "\n"))
		}
	}
	if d := compareFiles(v1, v1); len(d) != 0 {
		t.Errorf("a file differs from itself:\n%s", strings.Join(d, "\n"))
	}
}

// compareFiles lists how ours differs from ref. Names are compared relative
// to each file's package, so that two different files can be compared too.
func compareFiles(ref, ours protoreflect.FileDescriptor) []string {
	c := &comparer{refPkg: ref.Package(), ourPkg: ours.Package()}
	if ref.Package() != ours.Package() {
		c.add("package: reference %q, ours %q", ref.Package(), ours.Package())
	}
	if ref.Syntax() != ours.Syntax() {
		c.add("syntax: reference %v, ours %v", ref.Syntax(), ours.Syntax())
	}
	if a, b := deprecated(ref.Options()), deprecated(ours.Options()); a != b {
		c.add("file deprecated: reference %v, ours %v", a, b)
	}
	c.messages(string(ref.Package()), ref.Messages(), ours.Messages())
	c.enums(string(ref.Package()), ref.Enums(), ours.Enums())
	c.services(ref.Services(), ours.Services())
	return c.diffs
}

type comparer struct {
	refPkg, ourPkg protoreflect.FullName
	diffs          []string
}

func (c *comparer) add(format string, args ...any) {
	c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
}

// rel turns a full name into one relative to its file's package, so that
// names in ref and ours can be compared even across packages.
func (c *comparer) rel(n protoreflect.FullName, ref bool) string {
	pkg := c.ourPkg
	if ref {
		pkg = c.refPkg
	}
	if s, ok := strings.CutPrefix(string(n), string(pkg)+"."); ok && pkg != "" {
		return "." + s
	}
	return string(n)
}

func (c *comparer) messages(scope string, ref, ours protoreflect.MessageDescriptors) {
	for i := 0; i < ref.Len(); i++ {
		r := ref.Get(i)
		name := scope + "." + string(r.Name())
		o := ours.ByName(r.Name())
		if o == nil {
			c.add("%s: missing", name)
			continue
		}
		if r.IsMapEntry() != o.IsMapEntry() {
			c.add("%s: map entry: reference %v, ours %v", name, r.IsMapEntry(), o.IsMapEntry())
		}
		if a, b := deprecated(r.Options()), deprecated(o.Options()); a != b {
			c.add("%s: deprecated: reference %v, ours %v", name, a, b)
		}
		c.fields(name, r.Fields(), o.Fields())
		c.oneofs(name, r.Oneofs(), o.Oneofs())
		if a, b := rangesString(r.ReservedRanges()), rangesString(o.ReservedRanges()); a != b {
			c.add("%s: reserved numbers: reference %s, ours %s", name, a, b)
		}
		if a, b := namesString(r.ReservedNames()), namesString(o.ReservedNames()); a != b {
			c.add("%s: reserved names: reference %s, ours %s", name, a, b)
		}
		c.messages(name, r.Messages(), o.Messages())
		c.enums(name, r.Enums(), o.Enums())
	}
	for i := 0; i < ours.Len(); i++ {
		if ref.ByName(ours.Get(i).Name()) == nil {
			c.add("%s.%s: ours only", scope, ours.Get(i).Name())
		}
	}
}

func (c *comparer) fields(msg string, ref, ours protoreflect.FieldDescriptors) {
	for i := 0; i < ref.Len(); i++ {
		r := ref.Get(i)
		name := msg + "." + string(r.Name())
		o := ours.ByName(r.Name())
		if o == nil {
			c.add("%s: missing", name)
			continue
		}
		check := func(what string, a, b any) {
			if a != b {
				c.add("%s: %s: reference %v, ours %v", name, what, a, b)
			}
		}
		check("number", r.Number(), o.Number())
		check("type", r.Kind(), o.Kind())
		check("label", r.Cardinality(), o.Cardinality())
		check("json name", r.JSONName(), o.JSONName())
		check("presence", r.HasPresence(), o.HasPresence())
		check("proto3 optional", r.HasOptionalKeyword(), o.HasOptionalKeyword())
		check("map", r.IsMap(), o.IsMap())
		check("packed", r.IsPacked(), o.IsPacked())
		check("oneof", oneofName(r), oneofName(o))
		check("deprecated", deprecated(r.Options()), deprecated(o.Options()))
		if r.Message() != nil && o.Message() != nil {
			check("message type", c.rel(r.Message().FullName(), true), c.rel(o.Message().FullName(), false))
		}
		if r.Enum() != nil && o.Enum() != nil {
			check("enum type", c.rel(r.Enum().FullName(), true), c.rel(o.Enum().FullName(), false))
		}
		// The order of declaration fixes the order of fields in JSON.
		check("declaration index", r.Index(), o.Index())
	}
	for i := 0; i < ours.Len(); i++ {
		if ref.ByName(ours.Get(i).Name()) == nil {
			c.add("%s.%s: ours only", msg, ours.Get(i).Name())
		}
	}
}

func (c *comparer) oneofs(msg string, ref, ours protoreflect.OneofDescriptors) {
	names := func(ds protoreflect.OneofDescriptors) []string {
		var out []string
		for i := 0; i < ds.Len(); i++ {
			d := ds.Get(i)
			var fields []string
			for j := 0; j < d.Fields().Len(); j++ {
				fields = append(fields, string(d.Fields().Get(j).Name()))
			}
			out = append(out, fmt.Sprintf("%s(synthetic=%v)%v", d.Name(), d.IsSynthetic(), fields))
		}
		return out
	}
	if a, b := names(ref), names(ours); !slices.Equal(a, b) {
		c.add("%s: oneofs: reference %v, ours %v", msg, a, b)
	}
}

func (c *comparer) enums(scope string, ref, ours protoreflect.EnumDescriptors) {
	for i := 0; i < ref.Len(); i++ {
		r := ref.Get(i)
		name := scope + "." + string(r.Name())
		o := ours.ByName(r.Name())
		if o == nil {
			c.add("%s: missing", name)
			continue
		}
		for j := 0; j < r.Values().Len(); j++ {
			rv := r.Values().Get(j)
			ov := o.Values().ByName(rv.Name())
			if ov == nil {
				c.add("%s.%s: missing", name, rv.Name())
				continue
			}
			if rv.Number() != ov.Number() {
				c.add("%s.%s: number: reference %d, ours %d", name, rv.Name(), rv.Number(), ov.Number())
			}
		}
		for j := 0; j < o.Values().Len(); j++ {
			if r.Values().ByName(o.Values().Get(j).Name()) == nil {
				c.add("%s.%s: ours only", name, o.Values().Get(j).Name())
			}
		}
	}
	for i := 0; i < ours.Len(); i++ {
		if ref.ByName(ours.Get(i).Name()) == nil {
			c.add("%s.%s: ours only", scope, ours.Get(i).Name())
		}
	}
}

func (c *comparer) services(ref, ours protoreflect.ServiceDescriptors) {
	for i := 0; i < ref.Len(); i++ {
		r := ref.Get(i)
		name := string(c.refPkg) + "." + string(r.Name())
		o := ours.ByName(r.Name())
		if o == nil {
			c.add("%s: missing", name)
			continue
		}
		for j := 0; j < r.Methods().Len(); j++ {
			rm := r.Methods().Get(j)
			mname := name + "/" + string(rm.Name())
			om := o.Methods().ByName(rm.Name())
			if om == nil {
				c.add("%s: missing", mname)
				continue
			}
			check := func(what string, a, b any) {
				if a != b {
					c.add("%s: %s: reference %v, ours %v", mname, what, a, b)
				}
			}
			check("input", c.rel(rm.Input().FullName(), true), c.rel(om.Input().FullName(), false))
			check("output", c.rel(rm.Output().FullName(), true), c.rel(om.Output().FullName(), false))
			check("client streaming", rm.IsStreamingClient(), om.IsStreamingClient())
			check("server streaming", rm.IsStreamingServer(), om.IsStreamingServer())
			check("deprecated", deprecated(rm.Options()), deprecated(om.Options()))
		}
		for j := 0; j < o.Methods().Len(); j++ {
			if r.Methods().ByName(o.Methods().Get(j).Name()) == nil {
				c.add("%s/%s: ours only", name, o.Methods().Get(j).Name())
			}
		}
	}
	for i := 0; i < ours.Len(); i++ {
		if ref.ByName(ours.Get(i).Name()) == nil {
			c.add("%s.%s: ours only", c.refPkg, ours.Get(i).Name())
		}
	}
}

func oneofName(f protoreflect.FieldDescriptor) string {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return string(o.Name())
	}
	return ""
}

func rangesString(r protoreflect.FieldRanges) string {
	var parts []string
	for i := 0; i < r.Len(); i++ {
		rg := r.Get(i)
		parts = append(parts, fmt.Sprintf("%d-%d", rg[0], rg[1]-1))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func namesString(n protoreflect.Names) string {
	var parts []string
	for i := 0; i < n.Len(); i++ {
		parts = append(parts, string(n.Get(i)))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// deprecated reads the deprecated option of a file, message, field or
// method.
func deprecated(opts protoreflect.ProtoMessage) bool {
	switch o := opts.(type) {
	case *descriptorpb.FileOptions:
		return o.GetDeprecated()
	case *descriptorpb.MessageOptions:
		return o.GetDeprecated()
	case *descriptorpb.FieldOptions:
		return o.GetDeprecated()
	case *descriptorpb.MethodOptions:
		return o.GetDeprecated()
	case *descriptorpb.EnumOptions:
		return o.GetDeprecated()
	}
	return false
}

// Package schemas holds Vexil's JSON Schemas for flag definitions and
// validates decoded documents against them.
//
// Three schemas (JSON Schema 2020-12) are embedded under json/:
//
//   - flagd.json: the daemon's flag configuration, where "flags" is either an
//     object keyed by flag key or an array of flags that carry a "key".
//   - flags.json: the provider's flag configuration, where "flags" must be an
//     object keyed by flag key.
//   - targeting.json: one targeting rule (JSONLogic plus the flagd operators
//     fractional, sem_ver, starts_with and ends_with, and {"$ref": name}
//     references to shared rules).
//
// They accept and reject the same documents as the flagd schemas
// (https://flagd.dev/schema/v0/) they are compatible with; the tests check
// this against a copy of those schemas. They are laid out differently, to
// keep validation fast: see the $comment members in the files.
//
// A [Validator] compiles the schemas once and reports every problem in a
// document as a JSON pointer plus a short, readable message.
package schemas

import (
	"embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FS holds the schema files as json/flagd.json, json/flags.json and
// json/targeting.json, for instance to serve them over HTTP. The files refer
// to each other by relative URI, so they belong side by side.
//
//go:embed json/*.json
var FS embed.FS

// baseURI is where the schema files live; a file's $id is baseURI + name.
const baseURI = "https://vexil.dev/schemas/v0/"

// Kind selects the schema a document is validated against.
type Kind int

const (
	// KindFlagd is the daemon configuration (json/flagd.json): "flags" may be
	// an object keyed by flag key or an array of flags, each with a
	// non-empty string "key".
	KindFlagd Kind = iota
	// KindFlags is the provider configuration (json/flags.json): "flags" must
	// be an object keyed by flag key.
	KindFlags
	// KindTargeting is a single targeting rule (json/targeting.json): the
	// value of a flag's "targeting" member or of an "$evaluators" entry.
	KindTargeting
)

var kindFiles = [...]string{
	KindFlagd:     "flagd.json",
	KindFlags:     "flags.json",
	KindTargeting: "targeting.json",
}

// String returns the name of the schema file of k, such as "flags.json".
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindFiles) {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindFiles[k]
}

// Problem is one reason why a document does not conform to its schema.
type Problem struct {
	// Pointer is the RFC 6901 JSON pointer of the offending value in the
	// document, such as "/flags/new-checkout/variants"; "" is the document
	// itself. It has no leading "#".
	Pointer string
	// Message says what is wrong, starting with the name of the member or
	// element concerned: `state: must be "ENABLED" or "DISABLED"`.
	Message string
}

// String formats p as "pointer: message", writing the document root's
// pointer as "/".
func (p Problem) String() string {
	ptr := p.Pointer
	if ptr == "" {
		ptr = "/"
	}
	return ptr + ": " + p.Message
}

// Validator checks documents against the embedded schemas. It is safe for
// concurrent use.
type Validator struct {
	schemas [len(kindFiles)]*jsonschema.Schema
}

// NewValidator compiles the embedded schemas. It fails only if the embedded
// files are broken.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	for _, name := range kindFiles {
		f, err := FS.Open("json/" + name)
		if err != nil {
			return nil, fmt.Errorf("schemas: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("schemas: decoding %s: %w", name, err)
		}
		if err := c.AddResource(baseURI+name, doc); err != nil {
			return nil, fmt.Errorf("schemas: adding %s: %w", name, err)
		}
	}
	v := &Validator{}
	for k, name := range kindFiles {
		sch, err := c.Compile(baseURI + name)
		if err != nil {
			return nil, fmt.Errorf("schemas: compiling %s: %w", name, err)
		}
		v.schemas[k] = sch
	}
	return v, nil
}

// noLoader keeps the compiler off the file system and the network: all the
// schemas refer to is embedded or built into the library.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas: not loading %s: only the embedded schemas are available", url)
}

// Validate checks doc against the schema selected by kind and returns every
// problem found, without duplicates, sorted by pointer (array indexes in
// numeric order) and then by message. It returns nil when doc conforms.
//
// doc is a value as encoding/json decodes it into an any: map[string]any,
// []any, string, bool, nil, and numbers as float64 (the default) or as
// json.Number (Decoder.UseNumber). Both number forms are used as they are,
// without conversion. A json.Number is exact while a float64 was rounded when
// decoded, which can matter only for the integer check of fractional weights
// (2.0000000000000001 decodes to the float64 2). Go integer types are taken
// as numbers too; values of any other Go type are reported as problems.
//
// Validate runs on the calling goroutine and starts none. Flags and shared
// rules of common shapes are recognised as valid by a fast hand-written
// check (see fast.go); only the others, with the document's remaining
// members, are checked with the schemas. That gives the same problems as
// checking the whole document with the schemas, because the schemas
// constrain flags and shared rules one at a time.
func (v *Validator) Validate(kind Kind, doc any) []Problem {
	return v.validate(kind, doc, true)
}

// validate is Validate with a switch for the fast path, which the tests turn
// off to compare.
func (v *Validator) validate(kind Kind, doc any, fast bool) []Problem {
	if kind < 0 || int(kind) >= len(v.schemas) {
		return []Problem{{Message: "unknown schema kind " + kind.String()}}
	}
	rest, index := doc, []int(nil)
	if fast {
		if kind == KindTargeting && quickValidRule(doc) {
			return nil
		}
		rest, index = reduce(kind, doc)
	}
	c := newCollector(doc, index)
	c.check(v.schemas[kind], rest)
	sortProblems(c.problems)
	return c.problems
}

// check validates doc against sch and records the problems found.
func (c *collector) check(sch *jsonschema.Schema, doc any) {
	err := sch.Validate(doc)
	if err == nil {
		return
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		c.keep(Problem{Message: err.Error()})
		return
	}
	c.walk(verr)
}

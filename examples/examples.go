// Package examples bundles the example flag files, so that the daemon and
// the command line can run on them with no file of their own.
package examples

import "embed"

// Flags holds the example flag documents under flags/.
//
//go:embed flags/*.json
var Flags embed.FS

// DefaultFlagsPath is the document served when no source is given.
const DefaultFlagsPath = "flags/demo.flags.json"

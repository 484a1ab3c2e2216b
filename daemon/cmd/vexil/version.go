package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what vexil version and vexil --version print, as flagd
// prints its own ("flagd: VERSION (COMMIT), built at: DATE"): the module
// version, the VCS revision and its time as the Go toolchain recorded them
// in the binary (runtime/debug.ReadBuildInfo). What was not recorded reads
// as flagd's defaults: "dev", "HEAD" and "unknown"; a revision with
// uncommitted changes is marked "-dirty".
func buildVersion(info *debug.BuildInfo, ok bool) string {
	version, commit, date := "dev", "HEAD", "unknown"
	if ok && info != nil {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				date = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && commit != "HEAD" {
			commit += "-dirty"
		}
	}
	return fmt.Sprintf("vexil: %s (%s), built at: %s", version, commit, date)
}

// currentVersion is buildVersion of this binary.
func currentVersion() string {
	return buildVersion(debug.ReadBuildInfo())
}

// newVersionCmd builds vexil version.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Vexil's version, commit and build date",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("version takes no arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), currentVersion())
			return err
		},
	}
}

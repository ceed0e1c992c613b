package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at release with -ldflags "-X main.version=... -X main.commit=... -X main.date=..."
// (scripts/release). A plain go build or go install leaves them empty, and versionInfo falls
// back to what the Go toolchain recorded.
var (
	version string
	commit  string
	date    string
)

// buildVersion is what `conexor version` prints.
type buildVersion struct {
	Version, Commit, Date string
}

// versionInfo resolves the version: the release's -X values first, then the module version
// (go install ...@v1.2.3) and the VCS stamp (a build inside a git checkout), else "dev" and
// "unknown".
func versionInfo(info *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Date: date}
	if ok {
		if v.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v.Version = info.Main.Version
		}
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.time":
				if v.Date == "" {
					v.Date = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && commit == "" && v.Commit != "" {
			v.Commit += "-dirty"
		}
	}
	if v.Version == "" {
		v.Version = "dev"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	if v.Date == "" {
		v.Date = "unknown"
	}
	return v
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo(debug.ReadBuildInfo())
			_, err := fmt.Fprintf(g.out, "conexor %s\ncommit  %s\nbuilt   %s\ngo      %s %s/%s\nsqlite  %s\n",
				v.Version, v.Commit, v.Date, runtime.Version(), runtime.GOOS, runtime.GOARCH, sqliteSupport)
			return err
		},
	}
}

package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// setVersion sets the -ldflags -X variables for one test.
func setVersion(t *testing.T, v, c, d string) {
	t.Helper()
	old := [3]string{version, commit, date}
	version, commit, date = v, c, d
	t.Cleanup(func() { version, commit, date = old[0], old[1], old[2] })
}

func TestVersionInfo(t *testing.T) {
	vcs := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/conexor/conexor", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"},
			{Key: "vcs.time", Value: "2026-11-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	devel := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
	for _, tt := range []struct {
		name            string
		ldflags         [3]string
		info            *debug.BuildInfo
		ok              bool
		version, commit string
		date            string
	}{
		{"release ldflags win", [3]string{"v2.0.0", "feedbeef", "2026-11-30T19:00:00Z"}, vcs, true, "v2.0.0", "feedbeef", "2026-11-30T19:00:00Z"},
		{"go install and vcs stamp", [3]string{}, vcs, true, "v1.2.3", "0123abcd-dirty", "2026-11-01T10:00:00Z"},
		{"plain build", [3]string{}, devel, true, "dev", "unknown", "unknown"},
		{"no build info", [3]string{}, nil, false, "dev", "unknown", "unknown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setVersion(t, tt.ldflags[0], tt.ldflags[1], tt.ldflags[2])
			got := versionInfo(tt.info, tt.ok)
			want := buildVersion{Version: tt.version, Commit: tt.commit, Date: tt.date}
			if got != want {
				t.Errorf("versionInfo = %+v, want %+v", got, want)
			}
		})
	}
}

// conexor version prints the three values, and needs no configuration or database.
func TestVersionCommand(t *testing.T) {
	setVersion(t, "v9.8.7", "c0ffee", "2026-11-30T19:00:00Z")
	t.Setenv("CONEXOR_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
	out, _, err := run(t, "", "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	for _, want := range []string{"conexor v9.8.7\n", "commit  c0ffee\n", "built   2026-11-30T19:00:00Z\n", "sqlite  "} {
		if !strings.Contains(out, want) {
			t.Errorf("version output %q lacks %q", out, want)
		}
	}
}

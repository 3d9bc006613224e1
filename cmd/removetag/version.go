package main

import (
	"fmt"
	"runtime/debug"
)

// version says which build this is: the module's version (a tag for `go
// install …@vX`, "(devel)" for a build in a clone) and the commit it was built
// from, from the build information the Go toolchain stamps in the binary.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "removetag (no build information)"
	}
	return describeBuild(info)
}

// describeBuild formats a build's version line.
func describeBuild(info *debug.BuildInfo) string {
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	v := fmt.Sprintf("removetag %s", info.Main.Version)
	switch rev := settings["vcs.revision"]; {
	case rev != "":
		v += " commit " + rev
		if settings["vcs.modified"] == "true" {
			v += " (modified)"
		}
		if t := settings["vcs.time"]; t != "" {
			v += " " + t
		}
	default:
		v += " commit unknown (built without version control information)"
	}
	return v + ", " + info.GoVersion
}

package main

import (
	"runtime/debug"
)

// version is the module version smtpprobe was built from: "v1.2.3" when
// installed with go install …@v1.2.3, "(devel)" when built from a
// checkout, "unknown" without build information.
func version() string {
	info, ok := debug.ReadBuildInfo()
	switch {
	case !ok:
		return "unknown"
	case info.Main.Version == "":
		return "(devel)" // a test binary, or a build without module information
	}
	return info.Main.Version
}

// Command atelier is the Atelier platform in one binary: `atelier server`
// runs the platform, every other subcommand is a client of it built on the Go
// SDK (sdk/go/atelier).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

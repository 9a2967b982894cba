// Command strowger runs a Strowger node. See README.md.
package main

import (
	"os"

	"github.com/strowger/strowger/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

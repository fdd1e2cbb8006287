// Command grain reads the files inside virtual machine disk images (VHD,
// VHDX and differencing chains), read-only, without mounting them.
package main

import (
	"os"

	"github.com/grainvm/grain/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

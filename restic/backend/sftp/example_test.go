package sftp_test

import (
	"fmt"

	"github.com/grainvm/grain/restic/backend/sftp"
)

// The command line grain runs for restic's sftp locations.
func ExampleParseConfig() {
	for _, loc := range []string{"sftp:alice@backup:/srv/repo", "sftp://alice@backup:2222/relative"} {
		cfg, err := sftp.ParseConfig(loc)
		if err != nil {
			panic(err)
		}
		fmt.Println(cfg.Path, cfg.SSHCommand())
	}
	// Output:
	// /srv/repo [ssh backup -l alice -s sftp]
	// relative [ssh backup -p 2222 -l alice -s sftp]
}

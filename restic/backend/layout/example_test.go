package layout_test

import (
	"fmt"

	"github.com/grainvm/grain/restic"
	"github.com/grainvm/grain/restic/backend/layout"
)

func ExampleFilename() {
	for _, h := range []restic.Handle{
		{Type: restic.ConfigFile},
		{Type: restic.PackFile, Name: "4a5b6c"},
		{Type: restic.KeyFile, Name: "0123"},
		{Type: restic.IndexFile, Name: "../escape"},
	} {
		fmt.Println(layout.Filename("/srv/repo", h))
	}
	// Output:
	// /srv/repo/config <nil>
	// /srv/repo/data/4a/4a5b6c <nil>
	// /srv/repo/keys/0123 <nil>
	//  invalid file name "../escape"
}

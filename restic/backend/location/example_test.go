package location_test

import (
	"fmt"

	"github.com/grainvm/grain/restic/backend/location"
)

// Parse restic repository locations as --repo or RESTIC_REPOSITORY give
// them.
func ExampleParse() {
	for _, s := range []string{
		"/srv/restic-repo",
		"sftp:user@host:/srv/restic-repo",
		"sftp://user@host:2222//srv/restic-repo",
		"rest:https://user:secret@backup.example.com/repo",
		"s3:s3.amazonaws.com/bucket/prefix",
		"b2:bucket:path",
	} {
		l, err := location.Parse(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		switch l.Scheme {
		case "local":
			fmt.Println("local", l.Local)
		case "sftp":
			fmt.Printf("sftp user %s host %s port %q path %s\n", l.SFTP.User, l.SFTP.Host, l.SFTP.Port, l.SFTP.Path)
		case "rest":
			fmt.Println("rest", l)
		case "s3":
			fmt.Printf("s3 endpoint %s bucket %s prefix %s\n", l.S3.Endpoint, l.S3.Bucket, l.S3.Prefix)
		}
	}
	// Output:
	// local /srv/restic-repo
	// sftp user user host host port "" path /srv/restic-repo
	// sftp user user host host port "2222" path /srv/restic-repo
	// rest rest:https://user:xxxxx@backup.example.com/repo/
	// s3 endpoint s3.amazonaws.com bucket bucket prefix prefix
	// error: location: restic's b2 backend is not supported by grain (use local, sftp, rest or s3)
}

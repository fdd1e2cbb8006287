package rest_test

import (
	"fmt"

	"github.com/grainvm/grain/restic/backend/rest"
)

func ExampleParseConfig() {
	cfg, err := rest.ParseConfig("rest:https://user:secret@backup.example.com:8000/repo")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.URL.Redacted())
	// Output: https://user:xxxxx@backup.example.com:8000/repo/
}

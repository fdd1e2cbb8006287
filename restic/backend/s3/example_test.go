package s3_test

import (
	"fmt"

	"github.com/grainvm/grain/restic/backend/s3"
)

func ExampleParseConfig() {
	cfg, err := s3.ParseConfig("s3:http://127.0.0.1:9000/bucket/hosts/a")
	if err != nil {
		panic(err)
	}
	cfg.FromEnv(func(k string) string { return map[string]string{"AWS_DEFAULT_REGION": "eu-west-1"}[k] })
	fmt.Println(cfg.Endpoint, cfg.UseHTTP, cfg.Bucket, cfg.Prefix, cfg.Region)
	// Output: 127.0.0.1:9000 true bucket hosts/a eu-west-1
}

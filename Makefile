# grain: the two commands of the README, and the benchmark.
export CGO_ENABLED = 0
GO ?= go

.PHONY: build demo test bench

build:
	$(GO) build -trimpath -o grain ./cmd/grain

# Builds grain and shows what it reads in the sample image that ships with
# the repository.
demo: build
	@mkdir -p .cache && gzip -dc testdata/demo.vhdx.gz > .cache/demo.vhdx
	./grain info .cache/demo.vhdx
	./grain ls -l -R .cache/demo.vhdx /

test:
	scripts/test

bench: build
	scripts/bench

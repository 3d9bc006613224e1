# Build the deployment packages reproducibly: -trimpath, no cgo, stripped, no build id,
# and zips with fixed time stamps (internal/mkzip).
GO      ?= go
LDFLAGS := -s -w -buildid=
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'

.PHONY: package scf lambda test demo bench clean
package: scf lambda
	@ls -l dist/scf/main.zip dist/lambda/bootstrap.zip

# Tencent SCF, runtime Go1: a linux/amd64 binary named main at the zip's root.
scf:
	@mkdir -p dist/scf
	GOOS=linux GOARCH=amd64 $(BUILD) -o dist/scf/main ./functions/removetag
	$(GO) run ./internal/mkzip dist/scf/main.zip dist/scf/main

# AWS Lambda, runtime provided.al2023 on arm64: a binary named bootstrap, without the RPC mode.
lambda:
	@mkdir -p dist/lambda
	GOOS=linux GOARCH=arm64 $(BUILD) -tags lambda.norpc -o dist/lambda/bootstrap ./functions/removetag
	$(GO) run ./internal/mkzip dist/lambda/bootstrap.zip dist/lambda/bootstrap

# SAM's "makefile" build method calls build-<LogicalId> with ARTIFACTS_DIR set.
build-RemoveTagFunction:
	GOOS=linux GOARCH=arm64 $(BUILD) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/removetag

test:
	$(GO) test -race ./...

demo:
	$(GO) run ./cmd/removetag run examples/accounts.csv

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./pkg/imapi/

clean:
	rm -rf dist

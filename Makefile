# Build the deployment packages reproducibly: -trimpath, no cgo, stripped, no build id,
# and zips with fixed time stamps (internal/mkzip).
GO      ?= go
LDFLAGS := -s -w -buildid=
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags '$(LDFLAGS)'

.PHONY: package scf lambda deploy-scf check-scf-env build-RemoveTagFunction install test demo bench clean
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

# Deploy to SCF with the Serverless Cloud Framework. serverless.yml reads these variables as
# ${env:NAME}; the framework deploys an unset one as empty or as the text "undefined" (a function
# named removetag-undefined, REMOVETAG_BUCKETS=cos://undefined), so the deploy refuses to start
# until each is set, in the shell or in .env. SCF=echo shows the command instead of running it.
SCF_DEPLOY_VARS := STAGE REGION SCF_ROLE COS_BUCKET IM_SDKAPPID SSM_SECRET IM_REGION
SCF ?= scf

deploy-scf: check-scf-env scf
	$(SCF) deploy

check-scf-env:
	@set -a; if [ -f .env ]; then . ./.env; fi; set +a; missing=""; \
	for v in $(SCF_DEPLOY_VARS); do [ -n "$$(printenv $$v)" ] || missing="$$missing $$v"; done; \
	if [ -n "$$missing" ]; then \
		echo "deploy-scf: not set:$$missing (serverless.yml reads them; see README, Tencent SCF)" >&2; exit 1; \
	fi

# SAM's "makefile" build method calls build-<LogicalId> with ARTIFACTS_DIR set; without it
# (make run by hand) the binary would go to /bootstrap, so it refuses: use `make lambda`.
build-RemoveTagFunction:
	@if [ -z "$(ARTIFACTS_DIR)" ]; then \
		echo "build-RemoveTagFunction: ARTIFACTS_DIR is not set: sam build sets it; by hand, run make lambda (dist/lambda/bootstrap)" >&2; exit 2; \
	fi
	GOOS=linux GOARCH=arm64 $(BUILD) -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/removetag

# The command-line tool, into $(go env GOPATH)/bin.
install:
	$(GO) install ./cmd/removetag

test:
	$(GO) test -race ./...

demo:
	$(GO) run ./cmd/removetag run --emulator examples/accounts.csv

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./pkg/imapi/

clean:
	rm -rf dist

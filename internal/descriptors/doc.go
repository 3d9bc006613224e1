// Package descriptors holds the tests that keep the deployment descriptors
// (serverless.yml for Tencent's Serverless Cloud Framework, template.yaml for AWS
// SAM), the Makefile's packaging, the README and the code in agreement.
package descriptors

package secrets

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/removetag/removetag/internal/lazy"
)

// NewAWSClient makes a Secrets Manager client with the SDK's default chain
// (the Lambda role's credentials, AWS_REGION); its standard endpoint
// resolution honours AWS_ENDPOINT_URL_SECRETS_MANAGER (and AWS_ENDPOINT_URL),
// which point it at a local stand-in.
func NewAWSClient(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return secretsmanager.NewFromConfig(cfg), nil
}

// NewAWS returns a Reader of the secret ref on AWS Secrets Manager through
// client, with GetSecretValue on its current version (AWSCURRENT). With a
// nil client, the reader makes its own with [NewAWSClient] at its first
// read (a failure is tried again at the next). The role needs
// secretsmanager:GetSecretValue on that secret.
func NewAWS(client *secretsmanager.Client, ref Ref) Reader {
	return &awsReader{ref: ref, client: lazy.New(func(ctx context.Context) (*secretsmanager.Client, error) {
		if client != nil {
			return client, nil
		}
		return NewAWSClient(ctx)
	})}
}

type awsReader struct {
	client *lazy.Value[*secretsmanager.Client]
	ref    Ref
}

// Read returns the secret's current values.
func (a *awsReader) Read(ctx context.Context) (Values, error) {
	client, err := a.client.Get(ctx)
	if err != nil {
		return Values{}, &Error{Secret: a.ref, Err: err}
	}
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(a.ref.Name)})
	if err != nil {
		return Values{}, &Error{Secret: a.ref, Err: fmt.Errorf("GetSecretValue: %w", err)}
	}
	if out.SecretString == nil {
		return Values{}, &Error{Secret: a.ref, Err: errNoString}
	}
	v, err := decodeValues(*out.SecretString)
	if err != nil {
		return Values{}, &Error{Secret: a.ref, Err: err}
	}
	return v, nil
}

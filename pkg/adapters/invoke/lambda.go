package invoke

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/removetag/removetag/internal/lazy"
)

// NewLambdaClient makes a Lambda client from the SDK's default configuration
// chain (environment, shared files, the function's role). The SDK honours
// AWS_ENDPOINT_URL_LAMBDA (and AWS_ENDPOINT_URL) to reach a stand-in.
func NewLambdaClient(ctx context.Context) (*lambda.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return lambda.NewFromConfig(cfg), nil
}

// NewLambda returns the invoker that invokes the Lambda function functionName
// (a name, an ARN, either with a :version or :alias suffix) with the Event
// invocation type, through client; with a nil client, through one it makes
// with [NewLambdaClient] at its first invocation (a failure is tried again at
// the next).
func NewLambda(client *lambda.Client, functionName string) *Lambda {
	return &Lambda{function: functionName, client: lazy.New(func(ctx context.Context) (*lambda.Client, error) {
		if client != nil {
			return client, nil
		}
		return NewLambdaClient(ctx)
	})}
}

// Lambda invokes a Lambda function asynchronously.
type Lambda struct {
	client   *lazy.Value[*lambda.Client]
	function string
}

// InvokeAsync queues payload, a JSON event of at most [MaxLambdaPayload]
// bytes, for a new invocation of the function.
func (l *Lambda) InvokeAsync(ctx context.Context, payload []byte) error {
	if l.function == "" {
		return errors.New("invoke Lambda function: no function name")
	}
	if err := checkPayload(payload, MaxLambdaPayload); err != nil {
		return fmt.Errorf("invoke Lambda function %s: %w", l.function, err)
	}
	client, err := l.client.Get(ctx)
	if err != nil {
		return fmt.Errorf("invoke Lambda function %s: %w", l.function, err)
	}
	out, err := client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke Lambda function %s asynchronously: %w", l.function, err)
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invoke Lambda function %s asynchronously: status %d, want %d", l.function, out.StatusCode, http.StatusAccepted)
	}
	return nil
}

package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"

	"github.com/removetag/removetag/pkg/adapters/tencentapi"
)

// The SCF API action this package calls.
const (
	scfService = "scf"
	scfVersion = "2018-04-16"
	scfAction  = "Invoke"
)

// SCFConfig says which SCF function to invoke, and how.
type SCFConfig struct {
	// SecretID, SecretKey and SessionToken sign the call (TC3-HMAC-SHA256).
	// On SCF the function's role gives them in TENCENTCLOUD_SECRETID,
	// TENCENTCLOUD_SECRETKEY and TENCENTCLOUD_SESSIONTOKEN.
	SecretID, SecretKey, SessionToken string
	// Region is the function's region, e.g. ap-guangzhou (TENCENTCLOUD_REGION).
	Region string
	// Namespace is the function's namespace; "default" if empty.
	Namespace string
	// FunctionName is the function's name (SCF_FUNCTIONNAME).
	FunctionName string
	// Qualifier is the version or alias to invoke; "$LATEST" if empty.
	Qualifier string
	// Endpoint overrides the API's URL, e.g. "http://127.0.0.1:1234";
	// "https://scf.tencentcloudapi.com" if empty.
	Endpoint string
}

// NewSCF returns the invoker that calls SCF's Invoke action (API version
// 2018-04-16) with the Event invocation type, the payload as ClientContext.
func NewSCF(cfg SCFConfig) (*SCF, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"SecretID", cfg.SecretID},
		{"SecretKey", cfg.SecretKey},
		{"Region", cfg.Region},
		{"FunctionName", cfg.FunctionName},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("SCF invoker: missing %s", strings.Join(missing, ", "))
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Qualifier == "" {
		cfg.Qualifier = "$LATEST"
	}
	prof, err := tencentapi.Profile(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("SCF invoker: %w", err)
	}
	cred := common.NewTokenCredential(cfg.SecretID, cfg.SecretKey, cfg.SessionToken)
	return &SCF{cfg: cfg, client: common.NewCommonClient(cred, cfg.Region, prof)}, nil
}

// SCF invokes an SCF function asynchronously.
type SCF struct {
	cfg    SCFConfig
	client *common.Client
}

// scfResponse is the answer to Invoke; errors are decoded by the SDK.
type scfResponse struct {
	Response struct {
		Result struct {
			FunctionRequestID string `json:"FunctionRequestId"`
			InvokeResult      *int64 `json:"InvokeResult"`
			ErrMsg            string `json:"ErrMsg"`
		} `json:"Result"`
		RequestID string `json:"RequestId"`
	} `json:"Response"`
}

// scfNamespaceKey is the context key of WithSCFNamespace.
type scfNamespaceKey struct{}

// WithSCFNamespace returns ctx carrying the namespace of the invocation being
// served, as SCF's runtime hands it over: an SCF invoker uses it in place of the
// configured one, so a function in any namespace invokes itself there.
func WithSCFNamespace(ctx context.Context, namespace string) context.Context {
	if namespace == "" {
		return ctx
	}
	return context.WithValue(ctx, scfNamespaceKey{}, namespace)
}

// InvokeAsync queues payload, a JSON event of at most [MaxSCFPayload] bytes,
// for a new invocation of the function (in the namespace of [WithSCFNamespace]
// if ctx carries one).
func (s *SCF) InvokeAsync(ctx context.Context, payload []byte) error {
	namespace := s.cfg.Namespace
	if ns, ok := ctx.Value(scfNamespaceKey{}).(string); ok {
		namespace = ns
	}
	fail := func(err error) error {
		return fmt.Errorf("invoke SCF function %s (namespace %s, qualifier %s) asynchronously: %w",
			s.cfg.FunctionName, namespace, s.cfg.Qualifier, err)
	}
	if err := checkPayload(payload, MaxSCFPayload); err != nil {
		return fail(err)
	}
	req := tchttp.NewCommonRequest(scfService, scfVersion, scfAction)
	req.SetContext(ctx)
	err := req.SetActionParameters(map[string]interface{}{
		"FunctionName":   s.cfg.FunctionName,
		"InvocationType": "Event",
		"ClientContext":  string(payload),
		"Namespace":      namespace,
		"Qualifier":      s.cfg.Qualifier,
	})
	if err != nil {
		return fail(err)
	}
	resp := tchttp.NewCommonResponse()
	// The SDK turns Response.Error{Code,Message} into a
	// *errors.TencentCloudSDKError, which errors.As finds.
	if err := s.client.Send(req, resp); err != nil {
		return fail(err)
	}
	var out scfResponse
	if err := json.Unmarshal(resp.GetBody(), &out); err != nil {
		return fail(fmt.Errorf("decode the answer: %w", err))
	}
	if r := out.Response.Result; r.InvokeResult != nil && *r.InvokeResult != 0 {
		return fail(fmt.Errorf("InvokeResult %d (request %s): %s", *r.InvokeResult, out.Response.RequestID, r.ErrMsg))
	}
	if out.Response.Result.FunctionRequestID == "" && out.Response.RequestID == "" {
		return fail(errors.New("the answer has no request id"))
	}
	return nil
}

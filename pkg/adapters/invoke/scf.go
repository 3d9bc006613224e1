package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	"github.com/tencentyun/scf-go-lib/functioncontext"

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
	// SecretID, SecretKey and SessionToken sign every call (TC3-HMAC-SHA256),
	// unless Credentials is set.
	SecretID, SecretKey, SessionToken string
	// Credentials, if set, gives the credentials of the moment, read at each
	// call in place of SecretID, SecretKey and SessionToken: on SCF the
	// function's role gives them in TENCENTCLOUD_SECRETID,
	// TENCENTCLOUD_SECRETKEY and TENCENTCLOUD_SESSIONTOKEN, and renews them
	// while the process lives.
	Credentials tencentapi.Credentials
	// Region is the function's region, e.g. ap-guangzhou (TENCENTCLOUD_REGION).
	Region string
	// Namespace is the function's namespace, where continuations go unless
	// the invocation being served names its own (see [SCF.InvokeAsync]);
	// "default" if empty.
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
	for _, f := range []struct {
		name, value string
		needed      bool
	}{
		{"SecretID", cfg.SecretID, cfg.Credentials == nil},
		{"SecretKey", cfg.SecretKey, cfg.Credentials == nil},
		{"Region", cfg.Region, true},
		{"FunctionName", cfg.FunctionName, true},
	} {
		if f.needed && f.value == "" {
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
	s := &SCF{cfg: cfg, prof: prof}
	if cfg.Credentials == nil {
		cred := common.NewTokenCredential(cfg.SecretID, cfg.SecretKey, cfg.SessionToken)
		s.fixed = common.NewCommonClient(cred, cfg.Region, prof)
	}
	return s, nil
}

// SCF invokes an SCF function asynchronously.
type SCF struct {
	cfg   SCFConfig
	prof  *profile.ClientProfile
	fixed *common.Client // the client of fixed credentials; nil: made at each call
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

// namespace is where a continuation goes: the namespace of the invocation
// being served, if ctx is one of SCF's, else the configured one. SCF's
// runtime passes the namespace with each invocation (InvokeRequest.Namespace)
// and scf-go-lib hands it to the handler in the invocation's context
// (functioncontext.FunctionContext.Namespace, set in cloudfunction/function.go
// of scf-go-lib v0.0.0-20230904103145-13c9a7eeca80; read 2026-12-01). The
// environment SCF sets in every function (SCF_FUNCTIONNAME,
// SCF_FUNCTIONVERSION, TENCENTCLOUD_REGION, the role's credentials: SCF's
// "环境变量" page, product 583, as the project's platform notes record it)
// names no namespace: SCF_NAMESPACE, where present, is only the fallback.
func (s *SCF) namespace(ctx context.Context) string {
	if fc, ok := functioncontext.FromContext(ctx); ok && fc.Namespace != "" {
		return fc.Namespace
	}
	return s.cfg.Namespace
}

// client returns the client to send a call with: signed with the credentials
// of the moment when they come from SCFConfig.Credentials.
func (s *SCF) client() (*common.Client, error) {
	if s.fixed != nil {
		return s.fixed, nil
	}
	return tencentapi.Client(s.cfg.Credentials, s.cfg.Region, s.prof)
}

// InvokeAsync queues payload, a JSON event of at most [MaxSCFPayload] bytes,
// for a new invocation of the function: in the namespace of the invocation
// being served when ctx is one of SCF's invocations, else in the configured
// one.
func (s *SCF) InvokeAsync(ctx context.Context, payload []byte) error {
	namespace := s.namespace(ctx)
	fail := func(err error) error {
		return fmt.Errorf("invoke SCF function %s (namespace %s, qualifier %s) asynchronously: %w",
			s.cfg.FunctionName, namespace, s.cfg.Qualifier, err)
	}
	if err := checkPayload(payload, MaxSCFPayload); err != nil {
		return fail(err)
	}
	client, err := s.client()
	if err != nil {
		return fail(err)
	}
	req := tchttp.NewCommonRequest(scfService, scfVersion, scfAction)
	req.SetContext(ctx)
	err = req.SetActionParameters(map[string]interface{}{
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
	if err := client.Send(req, resp); err != nil {
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

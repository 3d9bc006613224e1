package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"

	"github.com/removetag/removetag/pkg/adapters/tencentapi"
)

// The Tencent Cloud SSM API this package calls: version 2019-09-23,
// ListSecretVersionIds and GetSecretValue (Tencent Cloud API documents
// 1140/40522 and 1078/38649, 1078/38647: GetSecretValue requires a VersionId
// for a user-defined secret, so the newest version is listed first).
const (
	ssmService = "ssm"
	ssmVersion = "2019-09-23"
)

// TencentConfig says how to reach Tencent Cloud SSM.
type TencentConfig struct {
	// Region is the secret's region, e.g. ap-guangzhou (TENCENTCLOUD_REGION). Required.
	Region string
	// Endpoint overrides the API's URL, e.g. "http://127.0.0.1:1234";
	// "https://ssm.tencentcloudapi.com" if empty.
	Endpoint string
	// Credentials returns the credentials of the moment (SCF renews the
	// role's): TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
	// TENCENTCLOUD_SESSIONTOKEN on SCF. Required.
	Credentials tencentapi.Credentials
}

// NewTencent returns a Reader of the secret ref on Tencent Cloud SSM: the
// newest of its versions (ListSecretVersionIds, then GetSecretValue), each
// read signed with the credentials of the moment. The role needs
// ssm:ListSecretVersionIds and ssm:GetSecretValue on that secret.
func NewTencent(cfg TencentConfig, ref Ref) (Reader, error) {
	if cfg.Region == "" || cfg.Credentials == nil {
		return nil, &Error{Secret: ref, Err: errors.New("Tencent Cloud SSM needs a region and the role's credentials")}
	}
	prof, err := tencentapi.Profile(cfg.Endpoint)
	if err != nil {
		return nil, &Error{Secret: ref, Err: fmt.Errorf("SSM %w", err)}
	}
	return &tencentReader{cfg: cfg, ref: ref, prof: prof}, nil
}

type tencentReader struct {
	cfg  TencentConfig
	ref  Ref
	prof *profile.ClientProfile
}

// Read returns the values of the secret's newest version.
func (t *tencentReader) Read(ctx context.Context) (Values, error) {
	client, err := tencentapi.Client(t.cfg.Credentials, t.cfg.Region, t.prof)
	if err != nil {
		return Values{}, &Error{Secret: t.ref, Err: err}
	}

	var versions struct {
		Response struct {
			Versions []struct {
				VersionID  string `json:"VersionId"`
				CreateTime int64  `json:"CreateTime"`
			} `json:"Versions"`
		} `json:"Response"`
	}
	if err := t.send(ctx, client, "ListSecretVersionIds", map[string]any{"SecretName": t.ref.Name}, &versions); err != nil {
		return Values{}, err
	}
	newest, at := "", int64(-1)
	for _, v := range versions.Response.Versions {
		if v.CreateTime > at || (v.CreateTime == at && v.VersionID > newest) {
			newest, at = v.VersionID, v.CreateTime
		}
	}
	if newest == "" {
		return Values{}, &Error{Secret: t.ref, Err: errors.New("it has no version")}
	}

	var value struct {
		Response struct {
			SecretString string `json:"SecretString"`
		} `json:"Response"`
	}
	if err := t.send(ctx, client, "GetSecretValue", map[string]any{"SecretName": t.ref.Name, "VersionId": newest}, &value); err != nil {
		return Values{}, err
	}
	if value.Response.SecretString == "" {
		return Values{}, &Error{Secret: t.ref, Err: errNoString}
	}
	v, err := decodeValues(value.Response.SecretString)
	if err != nil {
		return Values{}, &Error{Secret: t.ref, Err: fmt.Errorf("version %s: %w", newest, err)}
	}
	return v, nil
}

// send calls action and decodes its answer into out. The SDK turns an answer
// Response.Error{Code,Message} into a *errors.TencentCloudSDKError.
func (t *tencentReader) send(ctx context.Context, client *common.Client, action string, params map[string]any, out any) error {
	req := tchttp.NewCommonRequest(ssmService, ssmVersion, action)
	req.SetContext(ctx)
	if err := req.SetActionParameters(params); err != nil {
		return &Error{Secret: t.ref, Err: fmt.Errorf("%s: %w", action, err)}
	}
	resp := tchttp.NewCommonResponse()
	if err := client.Send(req, resp); err != nil {
		return &Error{Secret: t.ref, Err: fmt.Errorf("%s: %w", action, err)}
	}
	if err := json.Unmarshal(resp.GetBody(), out); err != nil {
		// Not wrapped: a JSON error quotes the answer, which may hold the secret.
		return &Error{Secret: t.ref, Err: fmt.Errorf("%s: the answer is not the API's JSON (not shown)", action)}
	}
	return nil
}

// Package tencentapi holds what the adapters calling Tencent Cloud's common API
// (SCF's Invoke, SSM's secrets) share: the client profile of an endpoint, and
// a client signed with the credentials of the moment.
package tencentapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

// Credentials returns the credentials of the moment. On SCF they are the
// function's role's, which the platform renews while the process lives: read
// them at each use (TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
// TENCENTCLOUD_SESSIONTOKEN), never keep them.
type Credentials func() (secretID, secretKey, token string)

// ErrNoCredentials is returned (wrapped) by [Client] when Credentials give no
// SecretID or SecretKey.
var ErrNoCredentials = errors.New("no credentials to sign with: the function's role gives them in TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY")

// Client returns a client of the common API in region, sending to prof's
// endpoint, signed (TC3-HMAC-SHA256) with the credentials creds gives now.
func Client(creds Credentials, region string, prof *profile.ClientProfile) (*common.Client, error) {
	if creds == nil {
		return nil, ErrNoCredentials
	}
	id, key, token := creds()
	if id == "" || key == "" {
		return nil, ErrNoCredentials
	}
	return common.NewCommonClient(common.NewTokenCredential(id, key, token), region, prof), nil
}

// Profile returns the client profile that sends requests to endpoint, an
// http(s)://host[:port][/path] URL (a private endpoint, or a local stand-in);
// the SDK's default endpoint for the product if endpoint is empty.
func Profile(endpoint string) (*profile.ClientProfile, error) {
	prof := profile.NewClientProfile()
	if endpoint == "" {
		return prof, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("endpoint %q: want http(s)://host[:port][/path]", endpoint)
	}
	prof.HttpProfile.Scheme = strings.ToUpper(u.Scheme)
	prof.HttpProfile.Endpoint = u.Host + strings.TrimSuffix(u.Path, "/")
	return prof, nil
}

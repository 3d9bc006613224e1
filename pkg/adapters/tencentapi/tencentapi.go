// Package tencentapi holds what the adapters calling Tencent Cloud's common API
// (SCF's Invoke, SSM's secrets) share: the client profile of an endpoint.
package tencentapi

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
)

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

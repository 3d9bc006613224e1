package imapi_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// newEmulator starts an emulator and a client for it.
func newEmulator(t testing.TB, cfg emulator.Config) (*emulator.Server, *imapi.Client) {
	t.Helper()
	srv := emulator.NewServer(cfg)
	t.Cleanup(srv.Close)
	c := srv.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, SecretKey: c.Key, Admin: c.Admin, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

func TestClientRemovesTags(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	srv.SetTags("u1", "a", "b", "keep")
	srv.SetTags("u2", "a")
	err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{
		{Account: "u1", Tags: []string{"a", "b"}},
		{Account: "u2", Tags: []string{"a", "absent"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Tags("u1"); len(got) != 1 || got[0] != "keep" {
		t.Errorf("u1 tags = %v, want [keep]", got)
	}
	if got := srv.Tags("u2"); len(got) != 0 {
		t.Errorf("u2 tags = %v, want none", got)
	}
	if st := client.Stats(); st.Requests != 1 || st.Renewals != 0 {
		t.Errorf("stats = %+v, want 1 request, 0 renewals", st)
	}
}

func TestClientRefusesOversizedCall(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	recs := make([]records.Record, imapi.MaxAccountsPerCall+1)
	for i := range recs {
		recs[i] = records.Record{Account: "u" + strings.Repeat("x", i%30), Tags: []string{"t"}}
	}
	if err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), recs); err == nil {
		t.Fatal("101 accounts accepted")
	}
	if srv.Stats().Requests != 0 {
		t.Error("an oversized call was sent")
	}
}

func TestClientClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name      string
		fault     emulator.Fault
		wantClass imapi.Class
		wantType  any
		wantCode  int
		unknown   bool
	}{
		{"internal error", emulator.Fault{Code: 91000}, imapi.Retryable, &imapi.APIError{}, 91000, false},
		{"rate limited", emulator.Fault{Code: 60018}, imapi.Retryable, &imapi.APIError{}, 60018, false},
		{"server timeout", emulator.Fault{Code: 70169}, imapi.Retryable, &imapi.APIError{}, 70169, false},
		{"bad gateway", emulator.Fault{HTTPStatus: 502}, imapi.Retryable, &imapi.HTTPError{}, 0, false},
		{"dropped connection", emulator.Fault{Drop: true}, imapi.Retryable, &imapi.TransportError{}, 0, true},
		{"bad JSON", emulator.Fault{Code: 90001}, imapi.Permanent, &imapi.APIError{}, 90001, false},
		{"too many accounts", emulator.Fault{Code: 90018}, imapi.Permanent, &imapi.APIError{}, 90018, false},
		{"wrong region", emulator.Fault{Code: 70016}, imapi.Fatal, &imapi.APIError{}, 70016, false},
		{"not admin", emulator.Fault{Code: 90009}, imapi.Fatal, &imapi.APIError{}, 90009, false},
		{"unknown code", emulator.Fault{Code: 12345}, imapi.Permanent, &imapi.APIError{}, 12345, false},
		{"not found", emulator.Fault{HTTPStatus: 404}, imapi.Permanent, &imapi.HTTPError{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, client := newEmulator(t, emulator.Config{})
			srv.Script(tt.fault)
			err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}})
			if err == nil {
				t.Fatal("no error")
			}
			if got := imapi.Classify(err); got != tt.wantClass {
				t.Errorf("class = %v, want %v (%v)", got, tt.wantClass, err)
			}
			if got := imapi.ErrorCode(err); got != tt.wantCode {
				t.Errorf("code = %d, want %d", got, tt.wantCode)
			}
			if got := outcomeUnknown(err); got != tt.unknown {
				t.Errorf("outcome unknown = %v, want %v", got, tt.unknown)
			}
			switch tt.wantType.(type) {
			case *imapi.APIError:
				var ae *imapi.APIError
				if !errors.As(err, &ae) || ae.ActionStatus != "FAIL" || ae.ErrorInfo == "" {
					t.Errorf("want *APIError with status and info, got %#v", err)
				}
			case *imapi.HTTPError:
				var he *imapi.HTTPError
				if !errors.As(err, &he) || he.StatusCode != tt.fault.HTTPStatus {
					t.Errorf("want *httpError %d, got %#v", tt.fault.HTTPStatus, err)
				}
			case *imapi.TransportError:
				var te *imapi.TransportError
				if !errors.As(err, &te) {
					t.Errorf("want *transportError, got %#v", err)
				}
			}
			if strings.Contains(err.Error(), "usersig") {
				t.Errorf("error text carries the UserSig: %v", err)
			}
		})
	}
}

func TestClientRenewsSignatureOnce(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	srv.SetTags("u1", "a")
	srv.Script(emulator.Fault{Code: emulator.CodeSigExpired})
	if err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}}); err != nil {
		t.Fatalf("after one 70001: %v", err)
	}
	if st := client.Stats(); st.Requests != 2 || st.Renewals != 1 {
		t.Errorf("stats = %+v, want 2 requests, 1 renewal", st)
	}
	if len(srv.Tags("u1")) != 0 {
		t.Error("tags not removed after renewal")
	}

	// Twice in a row: renew once, then give the error back.
	srv.Script(emulator.Fault{Code: emulator.CodeSigExpired}, emulator.Fault{Code: emulator.CodeSigExpired})
	err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}})
	if imapi.ErrorCode(err) != emulator.CodeSigExpired {
		t.Fatalf("err = %v, want 70001", err)
	}
	if st := client.Stats(); st.Requests != 4 {
		t.Errorf("requests = %d, want 4", st.Requests)
	}
}

func TestClientExpiredSignatureByClock(t *testing.T) {
	var offset atomic.Int64
	_, client := newEmulator(t, emulator.Config{Now: func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }})
	rec := []records.Record{{Account: "u1", Tags: []string{"a"}}}
	if err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), rec); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(48 * time.Hour)) // the emulator's clock is past the client's 24-hour signature
	err := client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), rec)
	if imapi.ErrorCode(err) != emulator.CodeSigExpired {
		t.Fatalf("err = %v, want 70001", err)
	}
	if st := client.Stats(); st.Renewals != 1 {
		t.Errorf("renewals = %d, want 1", st.Renewals)
	}
}

func TestClientTimeoutIsOutcomeUnknown(t *testing.T) {
	srv := emulator.NewServer(emulator.Config{Latency: 2 * time.Second})
	defer srv.Close()
	c := srv.Config()
	client, err := imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, SecretKey: c.Key, BaseURL: srv.URL(), CallTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = client.Call(context.Background(), imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}})
	if !outcomeUnknown(err) || imapi.Classify(err) != imapi.Retryable {
		t.Fatalf("err = %v, want a retryable unknown outcome", err)
	}
	if time.Since(start) > time.Second {
		t.Error("the call timeout did not apply")
	}
	// The caller's deadline, when shorter, wins.
	client, _ = imapi.NewClient(imapi.Config{SDKAppID: c.SDKAppID, SecretKey: c.Key, BaseURL: srv.URL()})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := client.Call(ctx, imapi.AllMemberPush.RemoveTag(), []records.Record{{Account: "u1", Tags: []string{"a"}}}); !outcomeUnknown(err) {
		t.Fatalf("err = %v, want unknown outcome", err)
	}
	if time.Since(start) > time.Second {
		t.Error("the caller's deadline did not apply")
	}
}

func TestNewClientConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     imapi.Config
		wantErr string
	}{
		{"no app id", imapi.Config{SecretKey: "k"}, "SDKAppID"},
		{"no key", imapi.Config{SDKAppID: 1}, "SecretKey"},
		{"bad base URL", imapi.Config{SDKAppID: 1, SecretKey: "k", BaseURL: "ftp://x"}, "BaseURL"},
		{"unknown region", imapi.Config{SDKAppID: 1, SecretKey: "k", Region: "mars"}, "region"},
		{"region", imapi.Config{SDKAppID: 1, SecretKey: "k", Region: imapi.Region("singapore")}, ""},
		{"default region", imapi.Config{SDKAppID: 1, SecretKey: "k"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := imapi.NewClient(tt.cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestRegions(t *testing.T) {
	tests := []struct {
		in     string
		want   imapi.Region
		domain string
	}{
		{"", imapi.RegionChina, "console.tim.qq.com"},
		{"China", imapi.RegionChina, "console.tim.qq.com"},
		{"sgp", imapi.Region("singapore"), "adminapisgp.im.qcloud.com"},
		{"ap-seoul", imapi.Region("seoul"), "adminapikr.im.qcloud.com"},
		{"frankfurt", imapi.Region("frankfurt"), "adminapiger.im.qcloud.com"},
		{"usa", imapi.Region("siliconvalley"), "adminapiusa.im.qcloud.com"},
		{"jakarta", imapi.Region("jakarta"), "adminapiidn.im.qcloud.com"},
		{"tokyo", imapi.Region("tokyo"), "adminapijpn.im.qcloud.com"},
		{"ind", imapi.Region("mumbai"), "adminapiind.im.qcloud.com"},
	}
	for _, tt := range tests {
		got, err := imapi.ParseRegion(tt.in)
		if err != nil || got != tt.want || got.Domain() != tt.domain {
			t.Errorf("ParseRegion(%q) = %q (%q), %v; want %q (%q)", tt.in, got, got.Domain(), err, tt.want, tt.domain)
		}
	}
	if _, err := imapi.ParseRegion("atlantis"); err == nil || !strings.Contains(err.Error(), "singapore") {
		t.Errorf("unknown region error = %v, want one listing the regions", err)
	}
}

// TestClientGetTags reads tags back through im_get_tag, and its errors name
// that API, not im_remove_tag.
func TestClientGetTags(t *testing.T) {
	srv, client := newEmulator(t, emulator.Config{})
	srv.SetTags("u1", "a", "b")
	got, _, err := client.GetTags(context.Background(), imapi.AllMemberPush, []string{"u1"})
	if err != nil || len(got) != 1 || got[0].Account != "u1" || strings.Join(got[0].Tags, ",") != "a,b" {
		t.Fatalf("GetTags = %+v, %v", got, err)
	}
	srv.SetPushToAll(false)
	_, _, err = client.GetTags(context.Background(), imapi.AllMemberPush, []string{"u1"})
	var apiErr *imapi.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 90045 || !strings.HasPrefix(err.Error(), "im_get_tag: ErrorCode 90045") {
		t.Errorf("GetTags with the feature off: %v", err)
	}
	if _, _, err := client.GetTags(context.Background(), imapi.AllMemberPush, nil); err == nil {
		t.Error("GetTags of no account: no error")
	}
}

// outcomeUnknown reports whether err leaves it unknown if the call was applied:
// a *transportError, whose records an engine keeps pending, not failed.
func outcomeUnknown(err error) bool {
	var te *imapi.TransportError
	return errors.As(err, &te)
}

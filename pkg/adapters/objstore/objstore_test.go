package objstore_test

import (
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore"
)

func TestCOSRegion(t *testing.T) {
	tests := map[string]string{
		"gz":           "ap-guangzhou",
		"sh":           "ap-shanghai",
		"bj":           "ap-beijing",
		"cd":           "ap-chengdu",
		"cq":           "ap-chongqing",
		"hk":           "ap-hongkong",
		"sg":           "ap-singapore",
		"sgp":          "ap-singapore",
		"tj":           "ap-beijing-1",
		"nj":           "ap-nanjing",
		"szjr":         "ap-shenzhen-fsi",
		"ca":           "na-toronto",
		"jp":           "ap-tokyo",
		"GZ":           "ap-guangzhou",
		"ap-guangzhou": "ap-guangzhou",
		"eu-frankfurt": "eu-frankfurt",
		"xx":           "xx",
		"":             "",
	}
	for code, want := range tests {
		if got := objstore.COSRegion(code); got != want {
			t.Errorf("COSRegion(%q) = %q, want %q", code, got, want)
		}
	}
}

func TestCOSBucketURL(t *testing.T) {
	tests := []struct {
		template, bucket, region string
		want, wantErr            string
	}{
		{"", "accounts-1250000000", "gz", "https://accounts-1250000000.cos.ap-guangzhou.myqcloud.com", ""},
		{"", "accounts-1250000000", "ap-chengdu", "https://accounts-1250000000.cos.ap-chengdu.myqcloud.com", ""},
		{"https://{bucket}.cos-internal.{region}.tencentcos.cn", "a-1", "sh", "https://a-1.cos-internal.ap-shanghai.tencentcos.cn", ""},
		{"http://127.0.0.1:9000/{bucket}", "a-1", "", "http://127.0.0.1:9000/a-1", ""},
		{"", "accounts-1250000000", "", "", "needs a region"},
		{"", "accounts", "gz", "", "name-appid"},
		{"https://fixed.example.com", "a-1", "gz", "", "no {bucket}"},
		{"ftp://{bucket}.example.com", "a-1", "gz", "", "http or https"},
		{"http:///{bucket}", "a-1", "gz", "", "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.template+" "+tt.bucket+" "+tt.region, func(t *testing.T) {
			got, err := objstore.COSBucketURL(tt.template, tt.bucket, tt.region)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("COSBucketURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewCOSErrors(t *testing.T) {
	for _, u := range []string{"", "not a url\x7f", "ftp://b-1.example.com", "https://"} {
		if _, err := objstore.NewCOS(u, objstore.COSCredentials{}, nil); err == nil {
			t.Errorf("NewCOS(%q) succeeded, want an error", u)
		}
	}
	s, err := objstore.NewCOS("https://accounts-1250000000.cos.ap-guangzhou.myqcloud.com", objstore.COSCredentials{}, nil)
	if err != nil || s.Name() != "cos://accounts-1250000000" {
		t.Errorf("NewCOS = %v, %v; want cos://accounts-1250000000", s, err)
	}
}

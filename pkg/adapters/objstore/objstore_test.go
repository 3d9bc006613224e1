package objstore_test

import (
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/objstore"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    objstore.Location
		wantErr string
	}{
		{"s3://bucket/key.csv", objstore.Location{Scheme: "s3", Bucket: "bucket", Key: "key.csv"}, ""},
		{"s3://my.bucket-1/dir/sub/key with space+plus.csv", objstore.Location{Scheme: "s3", Bucket: "my.bucket-1", Key: "dir/sub/key with space+plus.csv"}, ""},
		{"s3://bucket", objstore.Location{Scheme: "s3", Bucket: "bucket"}, ""},
		{"s3://bucket/", objstore.Location{Scheme: "s3", Bucket: "bucket"}, ""},
		{"cos://accounts-1250000000/in/a.jsonl", objstore.Location{Scheme: "cos", Bucket: "accounts-1250000000", Key: "in/a.jsonl"}, ""},
		{"cos://my-accounts-1250000000", objstore.Location{Scheme: "cos", Bucket: "my-accounts-1250000000"}, ""},
		{"cos://accounts-1250000000/账号.csv", objstore.Location{Scheme: "cos", Bucket: "accounts-1250000000", Key: "账号.csv"}, ""},
		{"gs://bucket/key", objstore.Location{}, "unknown scheme"},
		{"bucket/key", objstore.Location{}, "want s3://bucket/key"},
		{"", objstore.Location{}, "want s3://bucket/key"},
		{"s3:///key", objstore.Location{}, "empty bucket"},
		{"cos:///key", objstore.Location{}, "empty bucket"},
		{"cos://accounts/key", objstore.Location{}, "name-appid"},
		{"cos://accounts-abc/key", objstore.Location{}, "name-appid"},
		{"cos://Accounts-125/key", objstore.Location{}, "name-appid"},
		{"s3://Bucket/key", objstore.Location{}, "invalid S3 bucket"},
		{"s3://ab/key", objstore.Location{}, "invalid S3 bucket"},
		{"s3://a..b/key", objstore.Location{}, "invalid S3 bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := objstore.ParseLocation(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseLocation(%q) error = %v, want one saying %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLocation(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseLocation(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			back, err := objstore.ParseLocation(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLocation(String()) = %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  objstore.Location
		want string
	}{
		{objstore.Location{Scheme: "s3", Bucket: "b", Key: "k/x"}, "s3://b/k/x"},
		{objstore.Location{Scheme: "cos", Bucket: "b-1"}, "cos://b-1"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

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

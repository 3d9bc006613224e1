package storage_test

import (
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/job/storage"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    storage.Location
		wantErr string
	}{
		{"s3://bucket/key.csv", storage.Location{Scheme: "s3", Bucket: "bucket", Key: "key.csv"}, ""},
		{"s3://my.bucket-1/dir/sub/key with space+plus.csv", storage.Location{Scheme: "s3", Bucket: "my.bucket-1", Key: "dir/sub/key with space+plus.csv"}, ""},
		{"s3://bucket", storage.Location{Scheme: "s3", Bucket: "bucket"}, ""},
		{"s3://bucket/", storage.Location{Scheme: "s3", Bucket: "bucket"}, ""},
		{"cos://accounts-1250000000/in/a.jsonl", storage.Location{Scheme: "cos", Bucket: "accounts-1250000000", Key: "in/a.jsonl"}, ""},
		{"cos://my-accounts-1250000000", storage.Location{Scheme: "cos", Bucket: "my-accounts-1250000000"}, ""},
		{"cos://accounts-1250000000/账号.csv", storage.Location{Scheme: "cos", Bucket: "accounts-1250000000", Key: "账号.csv"}, ""},
		{"gs://bucket/key", storage.Location{}, "unknown scheme"},
		{"bucket/key", storage.Location{}, "want s3://bucket/key"},
		{"", storage.Location{}, "want s3://bucket/key"},
		{"s3:///key", storage.Location{}, "empty bucket"},
		{"cos:///key", storage.Location{}, "empty bucket"},
		{"cos://accounts/key", storage.Location{}, "name-appid"},
		{"cos://accounts-abc/key", storage.Location{}, "name-appid"},
		{"cos://Accounts-125/key", storage.Location{}, "name-appid"},
		{"s3://Bucket/key", storage.Location{}, "invalid S3 bucket"},
		{"s3://ab/key", storage.Location{}, "invalid S3 bucket"},
		{"s3://a..b/key", storage.Location{}, "invalid S3 bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := storage.ParseLocation(tt.in)
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
			back, err := storage.ParseLocation(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLocation(String()) = %+v, %v; want %+v", back, err, got)
			}
		})
	}
}

func TestLocationString(t *testing.T) {
	tests := []struct {
		loc  storage.Location
		want string
	}{
		{storage.Location{Scheme: "s3", Bucket: "b", Key: "k/x"}, "s3://b/k/x"},
		{storage.Location{Scheme: "cos", Bucket: "b-1"}, "cos://b-1"},
	}
	for _, tt := range tests {
		if got := tt.loc.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.loc, got, tt.want)
		}
	}
}

func TestTrimETag(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`:   "abc",
		`W/"abc"`: "abc",
		"abc":     "abc",
		`""`:      "",
	} {
		if got := storage.TrimETag(in); got != want {
			t.Errorf("TrimETag(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestCondition(t *testing.T) {
	tests := []struct {
		c       storage.Condition
		want    string
		wantErr bool
	}{
		{storage.IfAbsent(), "create-only", false},
		{storage.IfMatch("abc"), `if-match "abc"`, false},
		{storage.IfMatch(`W/"abc"`), `if-match "abc"`, false},
		{storage.Condition{}, `invalid condition (create false, if-match "")`, true},
		{storage.Condition{Create: true, IfMatch: "abc"}, `invalid condition (create true, if-match "abc")`, true},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.c, got, tt.want)
		}
		if err := tt.c.Validate(); (err != nil) != tt.wantErr {
			t.Errorf("%#v.Validate() = %v, want an error: %v", tt.c, err, tt.wantErr)
		}
	}
}

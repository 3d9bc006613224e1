// Package secretstest runs local stand-ins of the two secret stores package
// secrets reads, for tests and local runs:
//
//   - [NewAWS]: AWS Secrets Manager's GetSecretValue, in the AWS JSON 1.1
//     protocol the SDK speaks (POST /, X-Amz-Target:
//     secretsmanager.GetSecretValue, {"SecretId":…} → {"ARN","Name",
//     "SecretString","VersionId"}; errors as {"__type","message"} with HTTP
//     400), as the Secrets Manager API reference describes it. Point the SDK
//     at URL() with AWS_ENDPOINT_URL_SECRETS_MANAGER.
//   - [NewTencent]: Tencent Cloud SSM's ListSecretVersionIds and
//     GetSecretValue (API 2019-09-23) in the common API's JSON (X-TC-Action
//     header; {"Response":{…,"RequestId"}}; errors as
//     {"Response":{"Error":{"Code","Message"}}}), as Tencent's API documents
//     1078/38647 and 1078/38649 describe them. Signatures are not checked.
//
// Each secret has versions; Put adds one and makes it current, as a rotation does.
package secretstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Store is a running stand-in. Its methods are safe for concurrent use.
type Store struct {
	srv *httptest.Server

	mu      sync.Mutex
	secrets map[string][]string // name → values, oldest first
	refuse  string              // error code answered to every read; "" none
	reads   int
}

// NewAWS starts a stand-in of AWS Secrets Manager. The caller must Close it.
func NewAWS() *Store {
	s := &Store{secrets: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveAWS))
	return s
}

// NewTencent starts a stand-in of Tencent Cloud SSM. The caller must Close it.
func NewTencent() *Store {
	s := &Store{secrets: map[string][]string{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveTencent))
	return s
}

// URL returns the stand-in's base URL.
func (s *Store) URL() string { return s.srv.URL }

// Close stops the stand-in: from then on, reads fail to connect (a store down).
func (s *Store) Close() { s.srv.Close() }

// Put stores value as the secret name's new current version.
func (s *Store) Put(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[name] = append(s.secrets[name], value)
}

// PutKeys stores {"IM_SECRET_KEY":key,"HTTP_TOKEN":token} as the secret name's new current version.
func (s *Store) PutKeys(name, key, token string) {
	b, _ := json.Marshal(map[string]string{"IM_SECRET_KEY": key, "HTTP_TOKEN": token})
	s.Put(name, string(b))
}

// Refuse makes every read answer the error code (e.g. "AccessDeniedException"
// on AWS, "AuthFailure.UnauthorizedOperation" on Tencent); "" ends it.
func (s *Store) Refuse(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = code
}

// Reads returns the number of read requests answered, refused ones included.
func (s *Store) Reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// lookup returns the secret's versions, or an error code.
func (s *Store) lookup(name string) ([]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.refuse != "" {
		return nil, s.refuse
	}
	return s.secrets[name], ""
}

func (s *Store) serveAWS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(code, msg string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		fail("InvalidRequestException", "only secretsmanager.GetSecretValue is served")
		return
	}
	var in struct{ SecretId string }
	if b, _ := io.ReadAll(r.Body); json.Unmarshal(b, &in) != nil || in.SecretId == "" {
		fail("InvalidParameterException", "SecretId is required")
		return
	}
	versions, code := s.lookup(in.SecretId)
	switch {
	case code != "":
		fail(code, "refused by the stand-in")
	case len(versions) == 0:
		fail("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	default:
		name := in.SecretId
		if i := strings.LastIndex(name, ":secret:"); i >= 0 {
			name = name[i+len(":secret:"):]
		}
		json.NewEncoder(w).Encode(map[string]any{
			"ARN":           "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + name,
			"Name":          name,
			"SecretString":  versions[len(versions)-1],
			"VersionId":     fmt.Sprintf("v%d", len(versions)),
			"VersionStages": []string{"AWSCURRENT"},
		})
	}
}

func (s *Store) serveTencent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	answer := func(resp map[string]any) {
		resp["RequestId"] = "stand-in"
		json.NewEncoder(w).Encode(map[string]any{"Response": resp})
	}
	fail := func(code, msg string) {
		answer(map[string]any{"Error": map[string]string{"Code": code, "Message": msg}})
	}
	var in struct{ SecretName, VersionId string }
	if b, _ := io.ReadAll(r.Body); json.Unmarshal(b, &in) != nil || in.SecretName == "" {
		fail("InvalidParameter", "SecretName is required")
		return
	}
	action := r.Header.Get("X-TC-Action")
	if r.Header.Get("X-TC-Version") != "2019-09-23" {
		fail("InvalidParameter", "X-TC-Version must be 2019-09-23")
		return
	}
	versions, code := s.lookup(in.SecretName)
	switch {
	case code != "":
		fail(code, "refused by the stand-in")
	case len(versions) == 0:
		fail("ResourceNotFound", "the secret does not exist")
	case action == "ListSecretVersionIds":
		list := make([]map[string]any, len(versions))
		for i := range versions {
			list[i] = map[string]any{"VersionId": fmt.Sprintf("v%d", i+1), "CreateTime": 1700000000 + i}
		}
		answer(map[string]any{"SecretName": in.SecretName, "Versions": list})
	case action == "GetSecretValue":
		var n int
		if _, err := fmt.Sscanf(in.VersionId, "v%d", &n); err != nil || n < 1 || n > len(versions) {
			fail("ResourceNotFound", "no such version")
			return
		}
		answer(map[string]any{"SecretName": in.SecretName, "VersionId": in.VersionId, "SecretString": versions[n-1]})
	default:
		fail("InvalidAction", "only ListSecretVersionIds and GetSecretValue are served")
	}
}

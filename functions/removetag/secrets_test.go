package main_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/removetag/removetag/pkg/adapters/secrets/secretstest"
)

// rotatedKey is the IM key after a rotation: it must not reach a log either.
const rotatedKey = "e2e-im-rotated-key-4c2b9e7f"

// TestSecretStore runs the built function with its IM key and HTTP token in a
// secret store (AWS Secrets Manager under Lambda, Tencent SSM under SCF, each
// a local stand-in) and neither in its environment: an HTTP job authorised by
// the secret's token; then the key is rotated at IM and in the store, and the
// next job finishes without a failed record; no value read from the secret is
// in any log line or answer.
func TestSecretStore(t *testing.T) {
	binaries(t)
	for _, p := range []*platform{lambdaPlatform, scfPlatform} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			st, ref, endpoint := secretstest.NewAWS(), "secretsmanager:removetag", "AWS_ENDPOINT_URL_SECRETS_MANAGER="
			if p == scfPlatform {
				st, ref, endpoint = secretstest.NewTencent(), "ssm:removetag", "REMOVETAG_SSM_ENDPOINT="
			}
			t.Cleanup(st.Close)
			st.PutKeys("removetag", imKey, httpToken)
			w := newWorld(t, p, func(env []string) []string {
				env = slices.DeleteFunc(env, func(v string) bool {
					return strings.HasPrefix(v, "IM_SECRET_KEY=") || strings.HasPrefix(v, "REMOVETAG_HTTP_TOKEN=")
				})
				return append(env, "REMOVETAG_SECRET="+ref, endpoint+st.URL())
			})
			job := func(name string) {
				t.Helper()
				accs := w.accounts(name, 3)
				a := w.invoke(t, p.http("POST", map[string]string{"Authorization": "Bearer " + httpToken}, userTags(accs)))
				if status, body := p.httpAnswer(t, a); status != http.StatusOK {
					t.Fatalf("%s: status %d: %.300s", name, status, body)
				}
				if n := w.vipLeft(accs); n != 0 {
					t.Errorf("%s: %d accounts keep the tag", name, n)
				}
			}
			job("before")
			w.im.SetKey(rotatedKey)
			st.PutKeys("removetag", rotatedKey, httpToken)
			job("rotated")
			if st.Reads() < 2 {
				t.Errorf("the secret was read %d times: the rotation did not make the function read it again", st.Reads())
			}
			checkLogs(t, w)
			if strings.Contains(w.out.String(), rotatedKey) {
				t.Error("the rotated key is in the logs")
			}
		})
	}
}

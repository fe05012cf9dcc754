package lambdaenv_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/tripsense/tripsense"
	"github.com/tripsense/tripsense/auth"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv"
	"github.com/tripsense/tripsense/cmd/internal/lambdaenv/lambdaenvtest"
)

const (
	paramName   = "/tripsense/dev/token-secret"
	paramSecret = "ssm-secret-0123456789abcdef0123456789abcdef"
	// reference is what serverless.yml used to put into the environment,
	// and what `osls deploy function` delivered to the function verbatim.
	reference = "{{resolve:ssm:/tripsense/dev/token-secret}}"
)

// fakeSSM is a ParameterReader that records each request and answers with
// out or err.
type fakeSSM struct {
	out  *ssm.GetParameterOutput
	err  error
	reqs []*ssm.GetParameterInput
	// block makes GetParameter wait for its context.
	block    bool
	deadline time.Duration
}

func (f *fakeSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.reqs = append(f.reqs, in)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.out, f.err
}

func secure(v string, typ types.ParameterType) *ssm.GetParameterOutput {
	return &ssm.GetParameterOutput{Parameter: &types.Parameter{Name: aws.String(paramName), Type: typ, Value: aws.String(v)}}
}

func TestReadTokenSecret(t *testing.T) {
	t.Parallel()
	f := &fakeSSM{out: secure(paramSecret, types.ParameterTypeSecureString)}
	got, err := lambdaenv.ReadTokenSecret(context.Background(), f, paramName)
	if err != nil || got != paramSecret {
		t.Fatalf("ReadTokenSecret = %q, %v", got, err)
	}
	// The request shape: exactly one GetParameter of that name, decrypted,
	// bounded in time.
	if len(f.reqs) != 1 || aws.ToString(f.reqs[0].Name) != paramName || f.reqs[0].WithDecryption == nil || !*f.reqs[0].WithDecryption {
		t.Fatalf("requests %+v, want one GetParameter of %s WithDecryption=true", f.reqs, paramName)
	}
	if f.deadline <= 0 || f.deadline > lambdaenv.SecretTimeout {
		t.Fatalf("GetParameter ran with deadline %v, want within %v", f.deadline, lambdaenv.SecretTimeout)
	}

	cases := []struct {
		name    string
		f       *fakeSSM
		wantErr string
	}{
		{"not found", &fakeSSM{err: &types.ParameterNotFound{Message: aws.String("nope")}}, "does not exist; create it as a SecureString"},
		{"access denied", &fakeSSM{err: errors.New("AccessDeniedException: not authorized to perform ssm:GetParameter")}, "ssm:GetParameter"},
		{"plain String", &fakeSSM{out: secure(paramSecret, types.ParameterTypeString)}, `of type "String"`},
		{"a reference", &fakeSSM{out: secure(reference, types.ParameterTypeSecureString)}, "unresolved reference"},
		{"too short", &fakeSSM{out: secure("short", types.ParameterTypeSecureString)}, "at least 32 bytes"},
		{"no parameter", &fakeSSM{out: &ssm.GetParameterOutput{}}, "without a value"},
		{"no output", &fakeSSM{}, "without a value"},
	}
	for _, tc := range cases {
		got, err := lambdaenv.ReadTokenSecret(context.Background(), tc.f, paramName)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), paramName) || got != "" {
			t.Errorf("%s: %q, %v; want an error naming %s and containing %q", tc.name, got, err, paramName, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), paramSecret) {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}

	// A parameter store that never answers costs at most SecretTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lambdaenv.ReadTokenSecret(ctx, &fakeSSM{block: true}, paramName); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked read: %v", err)
	}
}

// ssmServer stands in for the SSM endpoint on 127.0.0.1: it answers
// GetParameter (AWS JSON 1.1) for one SecureString and records each
// request's target and body.
type ssmServer struct {
	*httptest.Server
	value string

	mu     sync.Mutex
	target []string
	bodies []map[string]any
}

func newSSMServer(t *testing.T, value string) *ssmServer {
	s := &ssmServer{value: value}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		s.mu.Lock()
		s.target = append(s.target, r.Header.Get("X-Amz-Target"))
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if body["Name"] != paramName {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ParameterNotFound","message":"no such parameter"}`))
			return
		}
		out, _ := json.Marshal(map[string]any{"Parameter": map[string]any{"Name": paramName, "Type": "SecureString", "Value": s.value, "Version": 1}})
		_, _ = w.Write(out)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestColdStartReadsSecretFromSSM runs the cold start as serverless.yml
// configures it (only the parameter's name in the environment) with the
// real SDK client against the SSM stand-in: one decrypted GetParameter on
// the wire, and the Authenticator verifies tokens of the parameter's
// value, not of anything in the environment.
func TestColdStartReadsSecretFromSSM(t *testing.T) {
	t.Parallel()
	srv := newSSMServer(t, paramSecret)
	var logs bytes.Buffer
	env := map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": paramName, "TRIPSENSE_SSM_ENDPOINT": srv.URL}
	b, err := function.Init(context.Background(), lambdaenvtest.BaseTables(t, env), &logs, lambdaenvtest.StaticCreds)
	if err != nil {
		t.Fatalf("Init: %v\n%s", err, logs.String())
	}
	srv.mu.Lock()
	if len(srv.target) != 1 || srv.target[0] != "AmazonSSM.GetParameter" || srv.bodies[0]["Name"] != paramName || srv.bodies[0]["WithDecryption"] != true {
		t.Errorf("SSM saw %v %v, want one AmazonSSM.GetParameter of %s with WithDecryption true", srv.target, srv.bodies, paramName)
	}
	srv.mu.Unlock()
	if !strings.Contains(logs.String(), `"token_secret":"ssm:`+paramName+`"`) || strings.Contains(logs.String(), paramSecret) {
		t.Errorf("ready record: %s", logs.String())
	}
	mint := func(secret string) string {
		tk, err := auth.NewToken(secret)
		if err != nil {
			// The reference is refused by NewToken now; sign with it
			// directly, as an attacker reading serverless.yml would.
			tk = &auth.Token{Secret: []byte(secret)}
		}
		s, err := tk.Mint("uuid1", time.Hour, true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if p, err := b.Auth.Authenticate(context.Background(), tripsense.Credentials{Token: mint(paramSecret)}); err != nil || p.UserID != "uuid1" {
		t.Errorf("token of the SSM secret: %+v, %v", p, err)
	}
	if _, err := b.Auth.Authenticate(context.Background(), tripsense.Credentials{Token: mint(reference)}); tripsense.ErrorCode(err) != tripsense.EUNAUTHORIZED {
		t.Errorf("token signed with the public reference: %v, want unauthorized", err)
	}

	// A parameter that does not exist, or holds a reference, fails the
	// cold start with a clear error.
	for name, e := range map[string]map[string]string{
		"missing":   {"TRIPSENSE_TOKEN_SECRET_PARAM": "/tripsense/dev/other"},
		"reference": {"TRIPSENSE_SSM_ENDPOINT": newSSMServer(t, reference).URL},
	} {
		logs.Reset()
		env := map[string]string{"TRIPSENSE_TOKEN_SECRET": "", "TRIPSENSE_TOKEN_SECRET_PARAM": paramName, "TRIPSENSE_SSM_ENDPOINT": srv.URL}
		for k, v := range e {
			env[k] = v
		}
		if _, err := function.Init(context.Background(), lambdaenvtest.Getenv(env), &logs, lambdaenvtest.StaticCreds); err == nil {
			t.Errorf("%s: cold start succeeded", name)
		}
		if !strings.Contains(logs.String(), `"msg":"init failed"`) || !strings.Contains(logs.String(), "TRIPSENSE_TOKEN_SECRET_PARAM") {
			t.Errorf("%s: logs %s", name, logs.String())
		}
	}
}

// TestColdStartRefusesReferenceInEnvironment is the hole itself: before,
// a function whose environment held the unresolved dynamic reference (as
// after `osls deploy function`) started and accepted admin tokens signed
// with that public string.
func TestColdStartRefusesReferenceInEnvironment(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	b, err := function.Init(context.Background(), lambdaenvtest.Getenv(map[string]string{"TRIPSENSE_TOKEN_SECRET": reference}), &logs, lambdaenvtest.StaticCreds)
	if err == nil {
		tk := &auth.Token{Secret: []byte(reference)}
		s, _ := tk.Mint("ops", time.Hour, true)
		p, aerr := b.Auth.Authenticate(context.Background(), tripsense.Credentials{Token: s})
		t.Fatalf("cold start with the reference as secret succeeded; a token signed with it authenticates as %+v (%v)", p, aerr)
	}
	if !strings.Contains(logs.String(), "unresolved reference") {
		t.Fatalf("logs %s", logs.String())
	}
}

package test

// Template checks of the token secret and the hardening of issue 9: no
// secret and no unresolved reference in any function's environment, SSM
// (and KMS) permissions scoped to the one parameter, SourceArn on every
// API Gateway permission, the management endpoint set explicitly, the
// framework's major version pinned.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws/apigw"
)

// tokenSecretParam is the default parameter name of stage dev.
const tokenSecretParam = "/tripsense/dev/token-secret"

// Stage parameters of the second packaging: a customer-managed key and a
// custom domain's management endpoint.
const (
	kmsKeyID         = "1234abcd-12ab-34cd-56ef-1234567890ab"
	customWSEndpoint = "https://chat.example.com/dev"
)

var (
	keyedOnce sync.Once
	keyedJSON map[string]any
	keyedErr  error
)

// keyedTemplate is the template packaged with tokenSecretKmsKeyId and
// wsManagementEndpoint set.
func keyedTemplate(t testing.TB) map[string]any {
	t.Helper()
	keyedOnce.Do(func() {
		keyedJSON, keyedErr = packageTemplate("tokenSecretKmsKeyId="+kmsKeyID, "wsManagementEndpoint="+customWSEndpoint)
	})
	if keyedErr != nil {
		t.Fatal(keyedErr)
	}
	return keyedJSON
}

// pseudo are the values evalString gives the pseudo parameters and the
// stack's APIs.
var pseudo = map[string]string{
	"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::URLSuffix": "amazonaws.com",
	"WebsocketsApi": "wsapi123", "HttpApi": "httpapi456",
}

// evalString evaluates a string, a Ref of pseudo, or an Fn::Join of those;
// ok is false for anything else.
func evalString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			s, ok := pseudo[r]
			return s, ok
		}
		j, ok := v["Fn::Join"].([]any)
		if !ok || len(j) != 2 {
			return "", false
		}
		sep, ok := j[0].(string)
		if !ok {
			return "", false
		}
		var parts []string
		for _, p := range asList(j[1]) {
			s, ok := evalString(p)
			if !ok {
				return "", false
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, sep), true
	}
	return "", false
}

// parameterARN is the ARN of parameter name in pseudo's account and region.
func parameterARN(name string) string {
	return "arn:aws:ssm:eu-west-1:123456789012:parameter" + name
}

// isParameterARN reports whether r is built as the ARN of parameter name
// of the stack's own account and region.
func isParameterARN(r any, name string) bool {
	s, ok := evalString(r)
	return ok && s == parameterARN(name)
}

func functionEnv(t *testing.T, fn cfn) map[string]any {
	t.Helper()
	e, _ := fn.props()["Environment"].(map[string]any)
	v, _ := e["Variables"].(map[string]any)
	return v
}

// TestAWSTemplateNoSecretInEnvironment: `osls deploy function` sends a
// function's environment to Lambda without CloudFormation, so anything
// there must already be what the function should see. A dynamic reference
// would arrive as its public text (the token-forging hole of issue 9), and
// a secret value would be readable by anyone allowed
// lambda:GetFunctionConfiguration. Only the parameter's name may be there.
func TestAWSTemplateNoSecretInEnvironment(t *testing.T) {
	t.Parallel()
	for _, tmpl := range []map[string]any{awsTemplate(t), keyedTemplate(t)} {
		fns := resourcesOfType(tmpl, "AWS::Lambda::Function")
		if len(fns) == 0 {
			t.Fatal("no functions")
		}
		for id, fn := range fns {
			env := functionEnv(t, fn)
			raw := string(jsonBytes(env))
			if strings.Contains(raw, "{{resolve:") {
				t.Errorf("%s: a CloudFormation dynamic reference in the environment (deploy function would send it verbatim): %s", id, raw)
			}
			for k, v := range env {
				if strings.Contains(k, "SECRET") && !strings.HasSuffix(k, "_PARAM") {
					t.Errorf("%s: %s=%v: a secret in the environment; put its SSM parameter's name in %s_PARAM", id, k, v, k)
				}
			}
			if env["TRIPSENSE_AUTH"] == "token" && env["TRIPSENSE_TOKEN_SECRET_PARAM"] != tokenSecretParam {
				t.Errorf("%s: token mode without TRIPSENSE_TOKEN_SECRET_PARAM=%s: %s", id, tokenSecretParam, raw)
			}
		}
	}
}

// TestFrameworkVersionPinned: serverless.yml admits only the major version
// it is written for (the pinned osls is v3).
func TestFrameworkVersionPinned(t *testing.T) {
	t.Parallel()
	root, err := gateway.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	yml, err := os.ReadFile(filepath.Join(root, "serverless.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^frameworkVersion:\s*(.*)$`).FindSubmatch(yml)
	if m == nil || strings.Trim(strings.TrimSpace(string(m[1])), `'"`) != "3" {
		t.Fatalf("serverless.yml frameworkVersion %q, want '3'", m)
	}
	lock, err := os.ReadFile(filepath.Join(root, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	if v := l.Packages["node_modules/osls"].Version; !strings.HasPrefix(v, "3.") {
		t.Fatalf("package-lock.json pins osls %q, not a v3", v)
	}
}

// TestAWSTemplateLambdaPermissions: every permission that lets API Gateway
// invoke a function names the one API of this stack that may (SourceArn),
// so no other API, in any account, can invoke it.
func TestAWSTemplateLambdaPermissions(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	apis := resourcesOfType(tmpl, "AWS::ApiGatewayV2::Api")
	byFunction := map[string]string{}
	for id, p := range resourcesOfType(tmpl, "AWS::Lambda::Permission") {
		props := p.props()
		if props["Principal"] != "apigateway.amazonaws.com" {
			continue
		}
		fn := getAtt(props["FunctionName"], "Arn")
		arn, ok := evalString(props["SourceArn"])
		if !ok {
			t.Errorf("%s (function %s): SourceArn %s, want arn:...:execute-api:{region}:{account}:{this API}/*", id, fn, jsonBytes(props["SourceArn"]))
			continue
		}
		api := ""
		for aid := range apis {
			if strings.HasPrefix(arn, "arn:aws:execute-api:eu-west-1:123456789012:"+pseudo[aid]+"/") {
				api = aid
			}
		}
		if api == "" {
			t.Errorf("%s (function %s): SourceArn %s is not one of this stack's APIs in its account and region", id, fn, arn)
		}
		byFunction[fn] = api
	}
	for fn, api := range map[string]string{"WsLambdaFunction": "WebsocketsApi", "ApiLambdaFunction": "HttpApi"} {
		if byFunction[fn] != api {
			t.Errorf("%s may be invoked by API %q, want %s only", fn, byFunction[fn], api)
		}
	}
}

// TestAWSTemplateManagementEndpoint: the ws function gets its management
// endpoint from configuration, never from an event's domain name: by
// default the API's own execute-api URL (what ws/apigw derives for the
// default domain), or the stage parameter's, for a custom domain.
func TestAWSTemplateManagementEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tmpl map[string]any
		want string
	}{
		{"default", awsTemplate(t), apigw.EndpointFor(pseudo["WebsocketsApi"]+".execute-api.eu-west-1.amazonaws.com", "dev")},
		{"custom domain", keyedTemplate(t), customWSEndpoint},
	} {
		env := functionEnv(t, resources(tc.tmpl)["WsLambdaFunction"].(map[string]any))
		got, ok := evalString(resolveIf(t, tc.tmpl, env["TRIPSENSE_WS_ENDPOINT"]))
		if !ok || got != tc.want {
			t.Errorf("%s: TRIPSENSE_WS_ENDPOINT %s evaluates to %q, want %q", tc.name, jsonBytes(env["TRIPSENSE_WS_ENDPOINT"]), got, tc.want)
		}
	}
}

// TestAWSTemplateTokenSecretKey: with the AWS-managed key no KMS permission
// is granted; with a customer-managed key each function may kms:Decrypt
// with that key only, only through SSM and only for the token secret's
// parameter.
func TestAWSTemplateTokenSecretKey(t *testing.T) {
	t.Parallel()
	for _, fn := range []string{"ws", "api"} {
		_, stmts := functionRole(t, awsTemplate(t), fn)
		for _, s := range stmts {
			if strings.Contains(string(jsonBytes(s["Action"])), "kms:") {
				t.Errorf("%s: KMS permission without a customer-managed key: %s", fn, jsonBytes(s))
			}
		}
		role, stmts := functionRole(t, keyedTemplate(t), fn)
		var decrypt []cfn
		for _, s := range stmts {
			if strings.Contains(string(jsonBytes(s["Action"])), "kms:") {
				decrypt = append(decrypt, s)
			}
		}
		if len(decrypt) != 1 {
			t.Errorf("%s: %d KMS statements with tokenSecretKmsKeyId set, want 1", role, len(decrypt))
			continue
		}
		s := decrypt[0]
		equalJSON(t, role+" KMS actions", s["Action"], []any{"kms:Decrypt"})
		if key, ok := evalString(s["Resource"]); !ok || key != "arn:aws:kms:eu-west-1:123456789012:key/"+kmsKeyID {
			t.Errorf("%s: kms:Decrypt on %s, want the one key of this account and region", role, jsonBytes(s["Resource"]))
		}
		cond, _ := s["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if len(cond) != 1 || len(eq) != 2 {
			t.Errorf("%s: condition %s, want StringEquals on kms:ViaService and the parameter's encryption context", role, jsonBytes(cond))
		}
		if via, _ := evalString(eq["kms:ViaService"]); via != "ssm.eu-west-1.amazonaws.com" {
			t.Errorf("%s: kms:ViaService %q, want ssm.{region}.amazonaws.com", role, via)
		}
		if !isParameterARN(eq["kms:EncryptionContext:PARAMETER_ARN"], tokenSecretParam) {
			t.Errorf("%s: encryption context %s, want the token secret's parameter", role, jsonBytes(eq["kms:EncryptionContext:PARAMETER_ARN"]))
		}
	}
}

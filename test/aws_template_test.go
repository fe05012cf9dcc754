package test

// The deployment, checked offline: `osls package` (the pinned Serverless
// Framework v3 CLI) turns serverless.yml into the CloudFormation template,
// without AWS credentials, and the tests compare that template with the code:
// the tables with store/dynamo's TableSpecs, the WebSocket routes with
// ws/apigw's, the HTTP routes with the api router's, the runtime, and the IAM
// policies with what the code calls (aws_stack_test.go records every
// DynamoDB call of the end-to-end tests per function).

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripsense/tripsense/api"
	"github.com/tripsense/tripsense/store/dynamo"
	"github.com/tripsense/tripsense/test/gateway"
	"github.com/tripsense/tripsense/ws/apigw"
)

const stagePrefix = "tripsense-dev-"

var (
	templateOnce sync.Once
	templateJSON map[string]any
	templateErr  error
)

// awsTemplate packages serverless.yml once per test process and returns
// the CloudFormation template.
func awsTemplate(t testing.TB) map[string]any {
	t.Helper()
	templateOnce.Do(func() { templateJSON, templateErr = packageTemplate() })
	if templateErr != nil {
		t.Fatal(templateErr)
	}
	return templateJSON
}

// packageTemplate runs `osls package --stage dev` on a copy of
// serverless.yml in a temporary directory, with placeholder artifacts (the
// template does not depend on the zips' contents), no AWS variables and an
// empty HOME, so it also proves that packaging needs no credentials. It is
// bounded by a 2-minute deadline. params are stage parameters
// ("name=value", passed as --param).
func packageTemplate(params ...string) (map[string]any, error) {
	root, err := gateway.RepoRoot()
	if err != nil {
		return nil, err
	}
	osls := filepath.Join(root, "node_modules", ".bin", "osls")
	if _, err := os.Stat(osls); err != nil {
		return nil, fmt.Errorf("%s is missing (%v): run `npm ci` (or `make tools`) at the repository root", osls, err)
	}
	dir, err := os.MkdirTemp("", "tripsense-sls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	yml, err := os.ReadFile(filepath.Join(root, "serverless.yml"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), yml, 0o644); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "dist"), 0o755); err != nil {
		return nil, err
	}
	for _, fn := range []string{"lambda-ws", "lambda-api", "lambda-fanout", "lambda-webhook"} {
		if err := placeholderZip(filepath.Join(dir, "dist", fn+".zip")); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"package", "--stage", "dev", "--region", "eu-west-1"}
	for _, p := range params {
		args = append(args, "--param="+p)
	}
	cmd := exec.CommandContext(ctx, osls, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "SLS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+dir, "SLS_TELEMETRY_DISABLED=1", "SLS_NOTIFICATIONS_MODE=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("osls package: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".serverless", "cloudformation-template-update-stack.json"))
	if err != nil {
		return nil, err
	}
	var tmpl map[string]any
	return tmpl, json.Unmarshal(b, &tmpl)
}

func placeholderZip(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	w, err := zw.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("placeholder"))
	}
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// --- template navigation -------------------------------------------------

type cfn map[string]any

func resources(tmpl map[string]any) map[string]any { return tmpl["Resources"].(map[string]any) }

func resourcesOfType(tmpl map[string]any, typ string) map[string]cfn {
	out := map[string]cfn{}
	for id, r := range resources(tmpl) {
		if r.(map[string]any)["Type"] == typ {
			out[id] = r.(map[string]any)
		}
	}
	return out
}

func (r cfn) props() cfn { return r["Properties"].(map[string]any) }

func asList(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	default:
		return []any{v}
	}
}

// getAtt returns X of {"Fn::GetAtt": [X, attr]}.
func getAtt(v any, attr string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ga, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(ga) != 2 || ga[1] != attr {
		return ""
	}
	s, _ := ga[0].(string)
	return s
}

// tableResource resolves an IAM resource to "base" (a table of this stack)
// or "base/index/name"; ok is false for anything else.
func tableResource(tmpl map[string]any, v any) (string, bool) {
	if id := getAtt(v, "Arn"); id != "" {
		r, ok := resources(tmpl)[id].(map[string]any)
		if !ok || r["Type"] != "AWS::DynamoDB::Table" {
			return "", false
		}
		name, _ := cfn(r).props()["TableName"].(string)
		return strings.TrimPrefix(name, stagePrefix), strings.HasPrefix(name, stagePrefix)
	}
	if m, ok := v.(map[string]any); ok {
		if j, ok := m["Fn::Join"].([]any); ok && len(j) == 2 && j[0] == "/" {
			parts := asList(j[1])
			if len(parts) == 3 && parts[1] == "index" {
				base, ok := tableResource(tmpl, parts[0])
				name, _ := parts[2].(string)
				return base + "/index/" + name, ok && name != ""
			}
		}
	}
	return "", false
}

// functionRole returns the statements of the role of function fn ("ws" or
// "api"), and the role's logical id.
func functionRole(t testing.TB, tmpl map[string]any, fn string) (string, []cfn) {
	t.Helper()
	lid := strings.ToUpper(fn[:1]) + fn[1:] + "LambdaFunction"
	f, ok := resources(tmpl)[lid].(map[string]any)
	if !ok {
		t.Fatalf("no %s in the template", lid)
	}
	role := getAtt(cfn(f).props()["Role"], "Arn")
	r, ok := resources(tmpl)[role].(map[string]any)
	if !ok || r["Type"] != "AWS::IAM::Role" {
		t.Fatalf("%s has no role of this stack: %v", lid, cfn(f).props()["Role"])
	}
	var stmts []cfn
	for _, p := range asList(cfn(r).props()["Policies"]) {
		doc := p.(map[string]any)["PolicyDocument"].(map[string]any)
		for _, s := range asList(doc["Statement"]) {
			if s = resolveIf(t, tmpl, s); s != nil {
				stmts = append(stmts, s.(map[string]any))
			}
		}
	}
	return role, stmts
}

// resolveIf returns v, or for {"Fn::If": [cond, a, b]} the branch the
// template's condition selects (nil for AWS::NoValue). The packaged
// conditions only compare literals (Serverless has substituted the stage
// parameters), so condition evaluates them.
func resolveIf(t testing.TB, tmpl map[string]any, v any) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	args, ok := m["Fn::If"].([]any)
	if !ok {
		return v
	}
	if len(args) != 3 {
		t.Fatalf("malformed Fn::If %v", m)
	}
	conds, _ := tmpl["Conditions"].(map[string]any)
	name, _ := args[0].(string)
	def, ok := conds[name]
	if !ok {
		t.Fatalf("Fn::If names the unknown condition %q", name)
	}
	branch := args[2]
	if condition(t, def) {
		branch = args[1]
	}
	if r, ok := branch.(map[string]any); ok && r["Ref"] == "AWS::NoValue" {
		return nil
	}
	return resolveIf(t, tmpl, branch)
}

// condition evaluates Fn::Not and Fn::Equals of literal strings.
func condition(t testing.TB, v any) bool {
	t.Helper()
	m, _ := v.(map[string]any)
	if n, ok := m["Fn::Not"].([]any); ok && len(n) == 1 {
		return !condition(t, n[0])
	}
	if e, ok := m["Fn::Equals"].([]any); ok && len(e) == 2 {
		a, aok := e[0].(string)
		b, bok := e[1].(string)
		if aok && bok {
			return a == b
		}
	}
	t.Fatalf("condition %v: only Fn::Not and Fn::Equals of literals are evaluated here", v)
	return false
}

// allowedCalls returns "dynamodb:Op resource" for every allowed pair.
func allowedCalls(t testing.TB, tmpl map[string]any, fn string) map[string]bool {
	t.Helper()
	_, stmts := functionRole(t, tmpl, fn)
	out := map[string]bool{}
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			continue
		}
		for _, a := range asList(s["Action"]) {
			action := a.(string)
			if !strings.HasPrefix(action, "dynamodb:") {
				continue
			}
			for _, r := range asList(s["Resource"]) {
				if res, ok := tableResource(tmpl, r); ok {
					out[action+" "+res] = true
				}
			}
		}
	}
	return out
}

// checkCallsAllowed fails the test for every DynamoDB call the function
// made that its IAM policy would refuse in AWS.
func checkCallsAllowed(t *testing.T, fn string, calls map[string]int) {
	t.Helper()
	if len(calls) == 0 {
		return
	}
	allowed := allowedCalls(t, awsTemplate(t), fn)
	for call, n := range calls {
		if !allowed[call] {
			t.Errorf("function %s called %s (%d times), which its IAM policy in serverless.yml does not allow", fn, call, n)
		}
	}
}

// --- the template test ---------------------------------------------------

func TestAWSTemplateTables(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	tables := map[string]cfn{}
	for id, r := range resourcesOfType(tmpl, "AWS::DynamoDB::Table") {
		name, _ := r.props()["TableName"].(string)
		if !strings.HasPrefix(name, stagePrefix) {
			t.Errorf("table %s is named %q, not %s<base>", id, name, stagePrefix)
		}
		tables[strings.TrimPrefix(name, stagePrefix)] = r
	}
	specs := dynamo.TableSpecs()
	if len(tables) != len(specs) {
		t.Errorf("template has %d tables, dynamo.TableSpecs %d", len(tables), len(specs))
	}
	for _, spec := range specs {
		r, ok := tables[spec.Base]
		if !ok {
			t.Errorf("table %s%s missing", stagePrefix, spec.Base)
			continue
		}
		p := r.props()
		wantAttrs := map[string]string{}
		keys := func(h, rg dynamo.KeyAttr) []any {
			wantAttrs[h.Name] = h.Type
			ks := []any{map[string]any{"AttributeName": h.Name, "KeyType": "HASH"}}
			if rg.Name != "" {
				wantAttrs[rg.Name] = rg.Type
				ks = append(ks, map[string]any{"AttributeName": rg.Name, "KeyType": "RANGE"})
			}
			return ks
		}
		equalJSON(t, spec.Base+" KeySchema", p["KeySchema"], keys(spec.Hash, spec.Range))
		gotGSI := map[string]any{}
		for _, g := range asList(p["GlobalSecondaryIndexes"]) {
			g := g.(map[string]any)
			gotGSI[g["IndexName"].(string)] = g
		}
		if len(gotGSI) != len(spec.Indexes) {
			t.Errorf("%s: %d GSIs, spec %d", spec.Base, len(gotGSI), len(spec.Indexes))
		}
		for _, ix := range spec.Indexes {
			proj := map[string]any{"ProjectionType": ix.Projection}
			if len(ix.NonKeyAttributes) > 0 {
				nk := make([]any, len(ix.NonKeyAttributes))
				for i, a := range ix.NonKeyAttributes {
					nk[i] = a
				}
				proj["NonKeyAttributes"] = nk
			}
			want := map[string]any{"IndexName": ix.Name, "KeySchema": keys(ix.Hash, ix.Range), "Projection": proj}
			equalJSON(t, spec.Base+" GSI "+ix.Name, gotGSI[ix.Name], want)
		}
		gotAttrs := map[string]string{}
		for _, a := range asList(p["AttributeDefinitions"]) {
			a := a.(map[string]any)
			gotAttrs[a["AttributeName"].(string)] = a["AttributeType"].(string)
		}
		equalJSON(t, spec.Base+" AttributeDefinitions", gotAttrs, wantAttrs)
		if p["BillingMode"] != "PAY_PER_REQUEST" {
			t.Errorf("%s: BillingMode %v", spec.Base, p["BillingMode"])
		}
		equalJSON(t, spec.Base+" PITR", p["PointInTimeRecoverySpecification"], map[string]any{"PointInTimeRecoveryEnabled": true})
		if spec.TTLAttribute != "" {
			equalJSON(t, spec.Base+" TTL", p["TimeToLiveSpecification"], map[string]any{"AttributeName": spec.TTLAttribute, "Enabled": true})
		} else if p["TimeToLiveSpecification"] != nil {
			t.Errorf("%s: TTL %v, spec has none", spec.Base, p["TimeToLiveSpecification"])
		}
		if r["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, want Retain by default", spec.Base, r["DeletionPolicy"])
		}
	}
}

func TestAWSTemplateFunctionsAndRoutes(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	fns := resourcesOfType(tmpl, "AWS::Lambda::Function")
	if len(fns) != 4 {
		t.Fatalf("%d functions, want ws, api, fanout and webhook", len(fns))
	}
	for _, id := range []string{"WsLambdaFunction", "ApiLambdaFunction"} {
		p := fns[id].props()
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
			t.Errorf("%s: runtime %v handler %v", id, p["Runtime"], p["Handler"])
		}
		equalJSON(t, id+" Architectures", p["Architectures"], []any{"arm64"})
		if to, _ := p["Timeout"].(float64); to <= 0 || to > 29 {
			t.Errorf("%s: timeout %v, want <= 29 s (API Gateway's integration limit)", id, p["Timeout"])
		}
		env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env["TRIPSENSE_TABLE_PREFIX"] != stagePrefix || env["TRIPSENSE_AUTH"] != "token" {
			t.Errorf("%s: env %v", id, env)
		}
		if env["TRIPSENSE_RETENTION"] != "0" {
			t.Errorf("%s: TRIPSENSE_RETENTION is %v, want the retention param's default 0 (keep everything)", id, env["TRIPSENSE_RETENTION"])
		}
		if env["TRIPSENSE_TOKEN_SECRET_PARAM"] != tokenSecretParam {
			t.Errorf("%s: TRIPSENSE_TOKEN_SECRET_PARAM is %v, want the parameter's name %s", id, env["TRIPSENSE_TOKEN_SECRET_PARAM"], tokenSecretParam)
		}
	}
	for id, st := range resourcesOfType(tmpl, "AWS::ApiGatewayV2::Stage") {
		rs, _ := st.props()["DefaultRouteSettings"].(map[string]any)
		if r, _ := rs["ThrottlingRateLimit"].(float64); r <= 0 {
			t.Errorf("stage %s has no throttling: %v", id, rs)
		}
		if b, _ := rs["ThrottlingBurstLimit"].(float64); b <= 0 {
			t.Errorf("stage %s has no burst limit: %v", id, rs)
		}
	}
	for id, lg := range resourcesOfType(tmpl, "AWS::Logs::LogGroup") {
		if lg.props()["RetentionInDays"] != float64(30) {
			t.Errorf("%s: retention %v", id, lg.props()["RetentionInDays"])
		}
	}

	// WebSocket API: selection by action, every route to the ws function.
	wsAPI := resources(tmpl)["WebsocketsApi"].(map[string]any)
	if p := cfn(wsAPI).props(); p["ProtocolType"] != "WEBSOCKET" || p["RouteSelectionExpression"] != "$request.body.action" {
		t.Errorf("WebSocket API: %v", p)
	}
	wantWS := append([]string{apigw.RouteConnect, apigw.RouteDisconnect, apigw.RouteDefault}, apigw.Routes...)
	var wantHTTP []string
	for _, r := range api.Routes() {
		if !slices.Contains(api.LocalOnlyRoutes, r) { // single binary only
			wantHTTP = append(wantHTTP, r)
		}
	}
	var gotWS, gotHTTP []string
	for id, r := range resourcesOfType(tmpl, "AWS::ApiGatewayV2::Route") {
		p := r.props()
		apiRef := p["ApiId"].(map[string]any)["Ref"]
		target := string(jsonBytes(p["Target"]))
		integ := ""
		for iid := range resourcesOfType(tmpl, "AWS::ApiGatewayV2::Integration") {
			if strings.Contains(target, `"`+iid+`"`) {
				integ = string(jsonBytes(resources(tmpl)[iid]))
			}
		}
		switch apiRef {
		case "WebsocketsApi":
			gotWS = append(gotWS, p["RouteKey"].(string))
			if !strings.Contains(integ, `"WsLambdaFunction"`) {
				t.Errorf("route %s does not integrate the ws function: %s", id, integ)
			}
		case "HttpApi":
			gotHTTP = append(gotHTTP, p["RouteKey"].(string))
			if !strings.Contains(integ, `"ApiLambdaFunction"`) || !strings.Contains(integ, `"PayloadFormatVersion":"2.0"`) {
				t.Errorf("route %s does not integrate the api function with payload 2.0: %s", id, integ)
			}
		default:
			t.Errorf("route %s of unknown API %v", id, apiRef)
		}
	}
	sort.Strings(gotWS)
	sort.Strings(wantWS)
	equalJSON(t, "WebSocket routes", gotWS, wantWS)
	sort.Strings(gotHTTP)
	equalJSON(t, "HTTP API routes (vs the api router)", gotHTTP, wantHTTP)
}

func TestAWSTemplateIAM(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	roles := resourcesOfType(tmpl, "AWS::IAM::Role")
	if len(roles) != 4 {
		ids := make([]string, 0, len(roles))
		for id := range roles {
			ids = append(ids, id)
		}
		t.Errorf("roles %v: want exactly one per function (no shared default role)", ids)
	}
	indexes := map[string]bool{}
	for _, s := range dynamo.TableSpecs() {
		indexes[s.Base] = true
		for _, ix := range s.Indexes {
			indexes[s.Base+"/index/"+ix.Name] = true
		}
	}
	usedActions := []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
		"dynamodb:Query", "dynamodb:BatchWriteItem", "logs:CreateLogStream", "logs:PutLogEvents", "execute-api:ManageConnections",
		"ssm:GetParameter",
		"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
	// The webhook consumer's event source mapping reads the messages
	// table's stream (and only that function, only that stream).
	streamActions := []string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
	for _, fn := range []string{"ws", "api", "fanout", "webhook"} {
		role, stmts := functionRole(t, tmpl, fn)
		manage, ssmReads, describes := 0, 0, 0
		for _, s := range stmts {
			if s["Effect"] != "Allow" {
				t.Errorf("%s: statement %v is not an Allow", role, s)
			}
			if s["NotAction"] != nil || s["NotResource"] != nil {
				t.Errorf("%s: NotAction/NotResource in %v", role, s)
			}
			for _, a := range asList(s["Action"]) {
				action := a.(string)
				if slices.Contains(streamActions, action) {
					if fn != "webhook" {
						t.Errorf("%s allows %s: only the webhook consumer reads the stream", role, action)
					}
					for _, r := range asList(s["Resource"]) {
						if getAtt(r, "StreamArn") != "MessagesTable" {
							t.Errorf("%s: %s on %s, want the messages table's stream only", role, action, jsonBytes(r))
						}
					}
					continue
				}
				if action == "dynamodb:DescribeTable" {
					// The store epoch (store/dynamo Epoch): the messages
					// table's TableId, read by the functions that answer
					// sync (ws, api).
					describes++
					if fn != "ws" && fn != "api" {
						t.Errorf("%s allows %s: only ws and api read the store epoch", role, action)
					}
					for _, r := range asList(s["Resource"]) {
						if getAtt(r, "Arn") != "MessagesTable" {
							t.Errorf("%s: %s on %s, want the messages table only", role, action, jsonBytes(r))
						}
					}
					continue
				}
				if !slices.Contains(usedActions, action) && !(action == "dynamodb:Scan" && fn == "api") {
					// The only Scans: the api's erasure (store/dynamo EraseUser), on the messages table
					// and on the delivered cursors (a named device's are keyed "user#device").
					t.Errorf("%s allows %s, which no code calls (wildcards and dynamodb:Scan included)", role, action)
				}
				if action == "dynamodb:Scan" {
					for _, r := range asList(s["Resource"]) {
						if res, _ := tableResource(tmpl, r); res != dynamo.BaseMessages && res != dynamo.BaseReadCursors {
							t.Errorf("%s: dynamodb:Scan on %s, want the messages and readCursors tables only", role, jsonBytes(r))
						}
					}
				}
				for _, r := range asList(s["Resource"]) {
					raw := string(jsonBytes(r))
					switch {
					case strings.HasPrefix(action, "dynamodb:"):
						res, ok := tableResource(tmpl, r)
						if !ok || !indexes[res] {
							t.Errorf("%s: %s on %s, not one of this stack's tables or indexes", role, action, raw)
						}
					case action == "execute-api:ManageConnections":
						manage++
						if !strings.Contains(raw, `{"Ref":"WebsocketsApi"}`) ||
							!(strings.HasSuffix(strings.TrimSpace(raw), `/dev/POST/@connections/*"]]}`) || strings.HasSuffix(strings.TrimSpace(raw), `/dev/DELETE/@connections/*"]]}`)) {
							t.Errorf("%s: ManageConnections on %s, want this WebSocket API's stage @connections only", role, raw)
						}
					case strings.HasPrefix(action, "sqs:") && fn == "webhook":
						if action != "sqs:SendMessage" || getAtt(r, "Arn") != "WebhookDeadLetterQueue" {
							t.Errorf("%s: %s on %s, want SendMessage to the WebhookDeadLetterQueue only (the stream's on-failure destination)", role, action, raw)
						}
					case strings.HasPrefix(action, "sqs:"):
						if getAtt(r, "Arn") != "FanoutQueue" {
							t.Errorf("%s: %s on %s, want the FanoutQueue only", role, action, raw)
						}
					case strings.HasPrefix(action, "logs:"):
						if want := strings.ToUpper(fn[:1]) + fn[1:] + "LogGroup"; getAtt(r, "Arn") != want {
							t.Errorf("%s: %s on %s, want its own log group %s", role, action, raw, want)
						}
					case action == "ssm:GetParameter" && fn == "webhook":
						ssmReads++
						if !isParameterARN(r, webhookSecretParam) {
							t.Errorf("%s: ssm:GetParameter on %s, want only the webhook secret's parameter %s", role, raw, webhookSecretParam)
						}
					case action == "ssm:GetParameter":
						ssmReads++
						if !isParameterARN(r, tokenSecretParam) {
							t.Errorf("%s: ssm:GetParameter on %s, want only the token secret's parameter %s of this account and region", role, raw, tokenSecretParam)
						}
					}
				}
			}
		}
		switch {
		case fn == "ws" && manage != 2:
			t.Errorf("ws role: %d ManageConnections resources, want POST and DELETE", manage)
		case fn == "api" && manage != 2:
			// PUT .../cursor (receipts) and membership changes (member
			// frames) post to connections; an erasure closes the user's.
			t.Errorf("api role: %d ManageConnections resources, want POST and DELETE", manage)
		case fn == "fanout" && manage != 1:
			t.Errorf("fanout role: %d ManageConnections resources, want POST only", manage)
		case fn == "webhook" && manage != 0:
			t.Errorf("webhook role: %d ManageConnections resources, want none (it pushes to no connection)", manage)
		}
		// ws and api read the token secret at cold start; the fanout
		// function authenticates nobody and may not read it.
		if want := map[string]int{"ws": 1, "api": 1, "fanout": 0, "webhook": 1}[fn]; ssmReads != want {
			t.Errorf("%s: %d ssm:GetParameter resources, want %d (the token secret's parameter, read at cold start by ws and api only)", role, ssmReads, want)
		}
		if want := map[string]int{"ws": 1, "api": 1}[fn]; describes != want {
			t.Errorf("%s: %d dynamodb:DescribeTable statements, want %d (the store epoch, read at cold start by ws and api)", role, describes, want)
		}
	}
}

// equalJSON compares two values by their JSON encoding.
func equalJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := jsonBytes(got), jsonBytes(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// webhookSecretParam is the default webhook secret parameter of stage dev.
const webhookSecretParam = "/tripsense/dev/webhook-secret"

// TestAWSTemplateWebhooks: the messages table streams its keys; the
// webhook consumer reads that stream with partial batch failures, retries
// a record for the stream's 24 h and then describes it in its dead-letter
// queue, and names the secret's parameter, never the secret.
func TestAWSTemplateWebhooks(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	msgs := cfn(resources(tmpl)["MessagesTable"].(map[string]any)).props()
	equalJSON(t, "messages stream", msgs["StreamSpecification"], map[string]any{"StreamViewType": "KEYS_ONLY"})
	var found int
	for id, m := range resourcesOfType(tmpl, "AWS::Lambda::EventSourceMapping") {
		p := m.props()
		if getAtt(p["EventSourceArn"], "StreamArn") != "MessagesTable" {
			continue
		}
		found++
		if fn := string(jsonBytes(p["FunctionName"])); !strings.Contains(fn, "WebhookLambdaFunction") {
			t.Errorf("%s: stream consumed by %s", id, fn)
		}
		equalJSON(t, id+" FunctionResponseTypes", p["FunctionResponseTypes"], []any{"ReportBatchItemFailures"})
		if p["MaximumRecordAgeInSeconds"] != float64(86400) || p["MaximumRetryAttempts"] != float64(-1) || p["BisectBatchOnFunctionError"] != true {
			t.Errorf("%s: retries %v %v %v", id, p["MaximumRecordAgeInSeconds"], p["MaximumRetryAttempts"], p["BisectBatchOnFunctionError"])
		}
		dest := string(jsonBytes(p["DestinationConfig"]))
		if !strings.Contains(dest, "WebhookDeadLetterQueue") {
			t.Errorf("%s: on-failure destination %s, want the WebhookDeadLetterQueue", id, dest)
		}
	}
	if found != 1 {
		t.Fatalf("%d event source mappings on the messages stream, want 1", found)
	}
	fn := resourcesOfType(tmpl, "AWS::Lambda::Function")["WebhookLambdaFunction"].props()
	env := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["TRIPSENSE_WEBHOOK_SECRET_PARAM"] != webhookSecretParam || env["TRIPSENSE_WEBHOOK_SECRET"] != nil {
		t.Errorf("webhook env %v", env)
	}
	dlq := cfn(resources(tmpl)["WebhookDeadLetterQueue"].(map[string]any)).props()
	if dlq["MessageRetentionPeriod"] != float64(1209600) {
		t.Errorf("webhook DLQ keeps messages %v s, want 14 days", dlq["MessageRetentionPeriod"])
	}
}

// TestAWSTemplateAPIAppends: the api function appends to room logs (the
// HTTP send, membership entries, user-created rooms' metadata in
// messageDedupe), so its role may write both tables like the ws role.
func TestAWSTemplateAPIAppends(t *testing.T) {
	t.Parallel()
	tmpl := awsTemplate(t)
	for _, fn := range []string{"ws", "api"} {
		role, stmts := functionRole(t, tmpl, fn)
		allowed := map[string]bool{}
		for _, s := range stmts {
			for _, r := range asList(s["Resource"]) {
				res, ok := tableResource(tmpl, r)
				if !ok {
					continue
				}
				for _, a := range asList(s["Action"]) {
					allowed[res+" "+a.(string)] = true
				}
			}
		}
		for _, want := range []string{"messages dynamodb:PutItem", "messages dynamodb:GetItem", "messages dynamodb:Query",
			"messageDedupe dynamodb:GetItem", "messageDedupe dynamodb:PutItem", "messageDedupe dynamodb:UpdateItem"} {
			if !allowed[want] {
				t.Errorf("%s: no %s (appends, idempotent sends, room metadata)", role, want)
			}
		}
	}
}

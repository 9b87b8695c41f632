package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// The stacks are synthesized once per test binary (TestMain): the AWS shape
// and the LocalStack shape, both with cdk.json's context so the tests see
// the feature flags `cdk synth` sees.
var (
	awsTemplate, localTemplate assertions.Template
	awsJSON, localJSON         cfnTemplate
	contextKeys                int
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	defer jsii.Close()
	dist, err := fakeDist()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dist)
	ctx, err := cdkContext("../cdk.json")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	contextKeys = len(ctx)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	awsStack, err := NewKitaruStack(app, "Kitaru", KitaruStackProps{DistDir: dist})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	localStack, err := NewKitaruStack(app, "KitaruLocal", LocalStackProps(KitaruStackProps{DistDir: dist}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	awsTemplate = assertions.Template_FromStack(awsStack, nil)
	localTemplate = assertions.Template_FromStack(localStack, nil)
	if awsJSON, err = toCfn(awsTemplate); err == nil {
		localJSON, err = toCfn(localTemplate)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fakeDist lays out what `make build` writes, with placeholder files, so the
// tests need no cross-compilation.
func fakeDist() (string, error) {
	dir, err := os.MkdirTemp("", "kitaru-dist-")
	if err != nil {
		return "", err
	}
	files := []string{filepath.Join("runner", "runner.py")}
	for _, f := range goFunctions {
		files = append(files, filepath.Join(f.name, "bootstrap"))
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte("placeholder "+f), 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// cdkContext reads the "context" of cdk.json.
func cdkContext(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read cdk.json: %w", err)
	}
	var cfg struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return cfg.Context, nil
}

// check runs an assertion; the assertions library panics on failure, which
// would end the whole test binary, so a panic becomes a test error.
func check(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assert()
}

// cfnTemplate is the synthesized template as plain JSON values.
type cfnTemplate struct {
	Resources map[string]cfnResource `json:"Resources"`
	Outputs   map[string]any         `json:"Outputs"`
}

type cfnResource struct {
	Type                string         `json:"Type"`
	Properties          map[string]any `json:"Properties"`
	DeletionPolicy      string         `json:"DeletionPolicy"`
	UpdateReplacePolicy string         `json:"UpdateReplacePolicy"`
}

func toCfn(tmpl assertions.Template) (cfnTemplate, error) {
	data, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		return cfnTemplate{}, err
	}
	var c cfnTemplate
	return c, json.Unmarshal(data, &c)
}

// ofType returns the logical ids of the resources of one type, sorted.
func (c cfnTemplate) ofType(typ string) []string {
	var ids []string
	for id, r := range c.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// function finds a Lambda function by the name under functions/ its description carries.
func (c cfnTemplate) function(t *testing.T, name string) (string, cfnResource) {
	t.Helper()
	for _, id := range c.ofType("AWS::Lambda::Function") {
		if strings.Contains(fmt.Sprint(c.Resources[id].Properties["Description"]), "(functions/"+name+")") {
			return id, c.Resources[id]
		}
	}
	t.Fatalf("no Lambda function for functions/%s", name)
	return "", cfnResource{}
}

// roleStatements returns the statements of every inline policy attached to
// the role with this logical id.
func (c cfnTemplate) roleStatements(roleID string) []map[string]any {
	var out []map[string]any
	for _, id := range c.ofType("AWS::IAM::Policy") {
		p := c.Resources[id].Properties
		if !slices.ContainsFunc(asList(p["Roles"]), func(r any) bool { return reflect.DeepEqual(r, ref(roleID)) }) {
			continue
		}
		out = append(out, statements(p["PolicyDocument"])...)
	}
	return out
}

// functionRole is the logical id of a function's execution role.
func functionRole(fn cfnResource) string {
	return asList(asMap(fn.Properties["Role"])["Fn::GetAtt"])[0].(string)
}

func statements(doc any) []map[string]any {
	var out []map[string]any
	for _, s := range asList(asMap(doc)["Statement"]) {
		out = append(out, asMap(s))
	}
	return out
}

func actions(st map[string]any) []string {
	var out []string
	for _, a := range asList(st["Action"]) {
		out = append(out, a.(string))
	}
	return out
}

// asList treats a single value as a one-element list (IAM allows both).
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }
func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

func TestContextFromCDKJSONIsLoaded(t *testing.T) {
	if contextKeys < 10 {
		t.Fatalf("cdk.json has %d context keys; want the recommended feature flags", contextKeys)
	}
}

func TestTableIsOnDemandWithPITRAndTTLAndRetained(t *testing.T) {
	check(t, "table properties", func() {
		awsTemplate.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"KeySchema": []any{
					map[string]any{"AttributeName": "PK", "KeyType": "HASH"},
					map[string]any{"AttributeName": "SK", "KeyType": "RANGE"},
				},
				"AttributeDefinitions": []any{
					map[string]any{"AttributeName": "PK", "AttributeType": "S"},
					map[string]any{"AttributeName": "SK", "AttributeType": "S"},
				},
				"BillingMode":                      "PAY_PER_REQUEST",
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"TimeToLiveSpecification":          map[string]any{"AttributeName": "expires_at", "Enabled": true},
				"DeletionProtectionEnabled":        true,
			},
		})
	})
	check(t, "one table", func() { awsTemplate.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
}

func TestDevStackDestroysItsData(t *testing.T) {
	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"} {
		for _, id := range localJSON.ofType(typ) {
			if got := localJSON.Resources[id].DeletionPolicy; got != "Delete" {
				t.Errorf("LocalStack stack: %s %s has DeletionPolicy %q, want Delete", typ, id, got)
			}
		}
		for _, id := range awsJSON.ofType(typ) {
			if got := awsJSON.Resources[id].DeletionPolicy; got != "Retain" {
				t.Errorf("AWS stack: %s %s has DeletionPolicy %q, want Retain", typ, id, got)
			}
		}
	}
}

func TestNoHardCodedPhysicalNames(t *testing.T) {
	names := map[string]string{
		"AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "AWS::Lambda::Function": "FunctionName",
		"AWS::StepFunctions::StateMachine": "StateMachineName", "AWS::SecretsManager::Secret": "Name",
		"AWS::Logs::LogGroup": "LogGroupName", "AWS::IAM::Role": "RoleName",
	}
	for typ, prop := range names {
		for _, id := range awsJSON.ofType(typ) {
			if v, ok := awsJSON.Resources[id].Properties[prop]; ok {
				t.Errorf("%s %s sets %s = %v; let CloudFormation name it", typ, id, prop, v)
			}
		}
	}
}

func TestBucketIsEncryptedPrivateTLSOnlyWithLifecycle(t *testing.T) {
	check(t, "bucket properties", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
			}},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{
				map[string]any{"Id": "abort-incomplete-uploads", "Status": "Enabled",
					"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1}},
				map[string]any{"Id": "expire-results", "Status": "Enabled", "Prefix": "results/", "ExpirationInDays": resultsDays},
				map[string]any{"Id": "expire-logs", "Status": "Enabled", "Prefix": "logs/", "ExpirationInDays": resultsDays},
			})},
		})
	})
	check(t, "bucket policy denies plain HTTP", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
				assertions.Match_ObjectLike(&map[string]any{
					"Effect":    "Deny",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				}),
			})},
		})
	})
	// autoDeleteObjects would add a custom resource LocalStack cannot run.
	for _, r := range awsJSON.Resources {
		if strings.HasPrefix(r.Type, "Custom::") {
			t.Errorf("the stack has a custom resource %s; LocalStack's free plan skips those", r.Type)
		}
	}
}

func TestSigningSecretIsGenerated64Chars(t *testing.T) {
	check(t, "secret", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"GenerateSecretString": map[string]any{"PasswordLength": 64, "ExcludePunctuation": true},
		})
	})
}

func TestGoFunctions(t *testing.T) {
	tableID := awsJSON.ofType("AWS::DynamoDB::Table")[0]
	for _, f := range goFunctions {
		t.Run(f.name, func(t *testing.T) {
			id, fn := awsJSON.function(t, f.name)
			check(t, "function properties", func() {
				awsTemplate.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"Description":   fn.Properties["Description"],
					"Runtime":       "provided.al2023",
					"Architectures": []any{"arm64"},
					"Handler":       "bootstrap",
					"MemorySize":    f.memoryMB,
					"Timeout":       f.timeout,
					"Environment": map[string]any{"Variables": assertions.Match_ObjectLike(&map[string]any{
						"KITARU_TABLE": ref(tableID),
					})},
				})
			})
			env := asMap(asMap(fn.Properties["Environment"])["Variables"])
			if _, ok := env["KITARU_STACKS"]; ok != f.apiRoutes {
				t.Errorf("%s: KITARU_STACKS set = %v, want %v (API functions only)", id, ok, f.apiRoutes)
			}
			if f.apiRoutes && env["KITARU_STACKS"] != "aws" {
				t.Errorf("%s: KITARU_STACKS = %v, want aws", id, env["KITARU_STACKS"])
			}
			if _, ok := env["KITARU_VERIFY_BEARER"]; ok {
				t.Errorf("%s: KITARU_VERIFY_BEARER is set on AWS, where the authorizer runs", id)
			}
			if _, ok := env["KITARU_SIGNING_SECRET_ARN"]; ok != f.secret {
				t.Errorf("%s: KITARU_SIGNING_SECRET_ARN set = %v, want %v", id, ok, f.secret)
			}
		})
	}
	_, invoke := awsJSON.function(t, "invoke")
	env := asMap(asMap(invoke.Properties["Environment"])["Variables"])
	smID := awsJSON.ofType("AWS::StepFunctions::StateMachine")[0]
	if !reflect.DeepEqual(env["KITARU_STATE_MACHINE_ARN"], ref(smID)) {
		t.Errorf("invoke KITARU_STATE_MACHINE_ARN = %v, want this state machine", env["KITARU_STATE_MACHINE_ARN"])
	}
	for _, name := range []string{"deploy", "invoke", "finish", "reaper"} {
		_, fn := awsJSON.function(t, name)
		if !reflect.DeepEqual(asMap(asMap(fn.Properties["Environment"])["Variables"])["KITARU_BUCKET"], ref(awsJSON.ofType("AWS::S3::Bucket")[0])) {
			t.Errorf("%s has no KITARU_BUCKET naming the bucket", name)
		}
	}
}

func TestRunnerIsANewPythonWithTheWorkflowTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tmpl    assertions.Template
		runtime string
	}{
		{"aws", awsTemplate, "python3.14"},
		{"localstack", localTemplate, "python3.12"},
	} {
		check(t, tc.name+" runner", func() {
			tc.tmpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
				"Runtime": tc.runtime, "Handler": "runner.handler", "Architectures": []any{"arm64"},
				"Timeout": workflow.Default().Run.TimeoutSeconds,
			})
		})
	}
	check(t, "eight functions", func() {
		awsTemplate.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(float64(len(goFunctions)+1)))
	})
}

func TestEveryFunctionLogsToItsOwnLogGroupWithRetention(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range awsJSON.ofType("AWS::Lambda::Function") {
		lg := asMap(asMap(awsJSON.Resources[id].Properties["LoggingConfig"])["LogGroup"])
		lgID, _ := asMap(lg)["Ref"].(string)
		if lgID == "" || awsJSON.Resources[lgID].Type != "AWS::Logs::LogGroup" {
			t.Errorf("function %s has no explicit log group (LoggingConfig.LogGroup = %v)", id, lg)
			continue
		}
		if seen[lgID] {
			t.Errorf("log group %s is shared by two functions", lgID)
		}
		seen[lgID] = true
	}
	for _, id := range awsJSON.ofType("AWS::Logs::LogGroup") {
		if awsJSON.Resources[id].Properties["RetentionInDays"] == nil {
			t.Errorf("log group %s keeps logs forever; set a retention", id)
		}
	}
}

// resourcePaths maps each AWS::ApiGateway::Resource to its full path.
func resourcePaths(c cfnTemplate) map[string]string {
	paths := map[string]string{}
	var pathOf func(id string) string
	pathOf = func(id string) string {
		if p, ok := paths[id]; ok {
			return p
		}
		r := c.Resources[id]
		parent := asMap(r.Properties["ParentId"])
		prefix := ""
		if pid, ok := parent["Ref"].(string); ok {
			prefix = pathOf(pid)
		}
		paths[id] = prefix + "/" + r.Properties["PathPart"].(string)
		return paths[id]
	}
	for _, id := range c.ofType("AWS::ApiGateway::Resource") {
		pathOf(id)
	}
	return paths
}

func TestEveryRouteHasOneMethodBehindTheAuthorizer(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    cfnTemplate
	}{{"aws", awsJSON}, {"localstack", localJSON}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			paths := resourcePaths(c)
			authID := c.ofType("AWS::ApiGateway::Authorizer")[0]
			validatorID := c.ofType("AWS::ApiGateway::RequestValidator")[0]
			if p := c.Resources[validatorID].Properties; p["ValidateRequestParameters"] != true || p["ValidateRequestBody"] != true {
				t.Errorf("request validator %s: %v; want parameters and bodies validated", validatorID, p)
			}
			methods := map[string]cfnResource{}
			for _, id := range c.ofType("AWS::ApiGateway::Method") {
				p := c.Resources[id].Properties
				rid, _ := asMap(p["ResourceId"])["Ref"].(string)
				methods[p["HttpMethod"].(string)+" "+paths[rid]] = c.Resources[id]
			}
			routes := httpapi.Routes()
			if len(methods) != len(routes) {
				t.Errorf("the API has %d methods; httpapi.Routes() has %d routes", len(methods), len(routes))
			}
			for _, r := range routes {
				m, ok := methods[r.Method+" "+r.Path]
				if !ok {
					t.Errorf("route %s %s has no method", r.Method, r.Path)
					continue
				}
				if m.Properties["AuthorizationType"] != "CUSTOM" || !reflect.DeepEqual(m.Properties["AuthorizerId"], ref(authID)) {
					t.Errorf("route %s %s is not behind the authorizer: %v %v", r.Method, r.Path, m.Properties["AuthorizationType"], m.Properties["AuthorizerId"])
				}
				if !reflect.DeepEqual(m.Properties["RequestValidatorId"], ref(validatorID)) {
					t.Errorf("route %s %s has request validator %v, want %s", r.Method, r.Path, m.Properties["RequestValidatorId"], validatorID)
				}
				wantParams := map[string]any{}
				for name, required := range *pathParameters(r.Path) {
					wantParams[name] = *required
				}
				if gotParams := asMap(m.Properties["RequestParameters"]); len(wantParams) > 0 && !reflect.DeepEqual(gotParams, wantParams) {
					t.Errorf("route %s %s declares parameters %v, want its path parameters %v", r.Method, r.Path, gotParams, wantParams)
				}
				in := asMap(m.Properties["Integration"])
				fnID, _ := c.function(t, FunctionForGroup(r.Group))
				uri, _ := json.Marshal(in["Uri"])
				if in["Type"] != "AWS_PROXY" || !strings.Contains(string(uri), `"`+fnID+`"`) {
					t.Errorf("route %s %s: integration %v %s, want AWS_PROXY to %s", r.Method, r.Path, in["Type"], uri, fnID)
				}
			}
		})
	}
}

func TestAuthorizerIsARequestAuthorizerOnBothHeaders(t *testing.T) {
	want := func(ttl int) map[string]any {
		return map[string]any{
			"Type":                         "REQUEST",
			"IdentitySource":               "method.request.header.Authorization,method.request.header.X-Kitaru-Project",
			"AuthorizerResultTtlInSeconds": ttl,
		}
	}
	check(t, "AWS authorizer caches 60 s, which bounds how long a revoked key still passes it", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::ApiGateway::Authorizer"), want(60))
	})
	check(t, "LocalStack authorizer does not cache", func() {
		localTemplate.HasResourceProperties(jsii.String("AWS::ApiGateway::Authorizer"), want(0))
	})
	authFn, _ := awsJSON.function(t, "authorizer")
	authID := awsJSON.ofType("AWS::ApiGateway::Authorizer")[0]
	uri, _ := json.Marshal(awsJSON.Resources[authID].Properties["AuthorizerUri"])
	if !strings.Contains(string(uri), `"`+authFn+`"`) {
		t.Errorf("the authorizer calls %s, want functions/authorizer (%s)", uri, authFn)
	}
}

func TestReaperRunsOnASchedule(t *testing.T) {
	reaperID, _ := awsJSON.function(t, "reaper")
	rules := awsJSON.ofType("AWS::Events::Rule")
	if len(rules) != 1 {
		t.Fatalf("%d EventBridge rules, want 1 (the reaper's schedule)", len(rules))
	}
	rule := awsJSON.Resources[rules[0]]
	if got := rule.Properties["ScheduleExpression"]; got != "rate(5 minutes)" {
		t.Errorf("reaper schedule %v, want rate(5 minutes)", got)
	}
	targets := asList(rule.Properties["Targets"])
	if len(targets) != 1 || !reflect.DeepEqual(asMap(targets[0])["Arn"], getAtt(reaperID, "Arn")) {
		t.Errorf("the schedule targets %v, want only the reaper function", targets)
	}
	var allowed bool
	for _, id := range awsJSON.ofType("AWS::Lambda::Permission") {
		p := awsJSON.Resources[id].Properties
		if p["Principal"] == "events.amazonaws.com" {
			if !reflect.DeepEqual(p["FunctionName"], getAtt(reaperID, "Arn")) || !reflect.DeepEqual(p["SourceArn"], getAtt(rules[0], "Arn")) {
				t.Errorf("EventBridge may invoke %v from %v; want the reaper from its rule only", p["FunctionName"], p["SourceArn"])
			}
			allowed = true
		}
	}
	if !allowed {
		t.Error("EventBridge may not invoke the reaper")
	}
}

func TestStageThrottlesAndWritesAccessLogs(t *testing.T) {
	check(t, "stage", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::ApiGateway::Stage"), map[string]any{
			"StageName": "api",
			"AccessLogSetting": map[string]any{
				"DestinationArn": assertions.Match_AnyValue(),
				"Format":         assertions.Match_StringLikeRegexp(jsii.String(`"requestId":"\$context.requestId"`)),
			},
			"MethodSettings": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
				"HttpMethod": "*", "ResourcePath": "/*", "ThrottlingRateLimit": DefaultThrottleRate, "ThrottlingBurstLimit": DefaultThrottleBurst,
			})}),
		})
	})
	check(t, "no account-wide CloudWatch role", func() {
		awsTemplate.ResourceCountIs(jsii.String("AWS::ApiGateway::Account"), jsii.Number(0))
	})
	if strings.Contains(accessLogFormat, "Authorization") || strings.Contains(accessLogFormat, "header") {
		t.Errorf("the access log format logs headers; credentials would reach the logs")
	}
}

func TestGatewayRefusalsUseTheErrorEnvelope(t *testing.T) {
	want := map[string]struct{ status, code, reason string }{
		"UNAUTHORIZED":                 {"401", "unauthenticated", registry.ReasonCredentialInvalid},
		"ACCESS_DENIED":                {"403", "permission_denied", ""},
		"MISSING_AUTHENTICATION_TOKEN": {"404", "not_found", registry.ReasonNoRoute},
		"THROTTLED":                    {"429", "rate_limited", ""},
	}
	got := map[string]bool{}
	for _, id := range awsJSON.ofType("AWS::ApiGateway::GatewayResponse") {
		p := awsJSON.Resources[id].Properties
		typ := p["ResponseType"].(string)
		got[typ] = true
		body := asMap(p["ResponseTemplates"])["application/json"]
		var env struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Details struct {
					Reason string `json:"reason"`
				} `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(body)), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
			t.Errorf("%s: body %v is not the error envelope (%v)", typ, body, err)
			continue
		}
		if w, ok := want[typ]; ok && (p["StatusCode"] != w.status || env.Error.Code != w.code || env.Error.Details.Reason != w.reason) {
			t.Errorf("%s: %v %q reason %q, want %s %q reason %q", typ, p["StatusCode"], env.Error.Code, env.Error.Details.Reason, w.status, w.code, w.reason)
		}
	}
	if len(got) != len(httpapi.GatewayRefusals) {
		t.Errorf("%d gateway responses, want one for each of the %d httpapi.GatewayRefusals", len(got), len(httpapi.GatewayRefusals))
	}
	for typ := range want {
		if !got[typ] {
			t.Errorf("no gateway response for %s", typ)
		}
	}
}

// definition reassembles the state machine's DefinitionString, putting
// names for the function ARNs it references.
func definition(t *testing.T, c cfnTemplate) map[string]any {
	t.Helper()
	sm := c.Resources[c.ofType("AWS::StepFunctions::StateMachine")[0]]
	runnerID, _ := c.function(t, "runner")
	finishID, _ := c.function(t, "finish")
	names := map[string]string{runnerID: "RUNNER", finishID: "FINISH"}
	var b strings.Builder
	switch d := sm.Properties["DefinitionString"].(type) {
	case string:
		b.WriteString(d)
	case map[string]any:
		parts := asList(d["Fn::Join"])
		for _, p := range asList(parts[1]) {
			if s, ok := p.(string); ok {
				b.WriteString(s)
				continue
			}
			att := asList(asMap(p)["Fn::GetAtt"])
			name, ok := names[fmt.Sprint(att[0])]
			if !ok || att[1] != "Arn" {
				t.Fatalf("the definition references %v; want only the runner and finish ARNs", p)
			}
			b.WriteString(name)
		}
	}
	var def map[string]any
	if err := json.Unmarshal([]byte(b.String()), &def); err != nil {
		t.Fatalf("the definition is not JSON: %v\n%s", err, b.String())
	}
	return def
}

func TestStateMachineRunsTheWorkflowDefinition(t *testing.T) {
	check(t, "state machine", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), map[string]any{
			"StateMachineType":     "STANDARD",
			"TracingConfiguration": map[string]any{"Enabled": true},
			"LoggingConfiguration": map[string]any{
				"Level": "ALL", "IncludeExecutionData": false,
				"Destinations": []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{
					"LogGroupArn": assertions.Match_AnyValue(),
				}}},
			},
		})
	})
	got := definition(t, awsJSON)
	asl, err := workflow.Default().ASL(workflow.Resources{RunnerFunction: "RUNNER", FinishFunction: "FINISH"})
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(asl, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the deployed definition differs from workflow.Default().ASL:\n got %v\nwant %v", got, want)
	}
	// Spelled out, so a change to the workflow that drops them shows here too.
	run := asMap(asMap(got["States"])[workflow.StateRun])
	retry := asMap(asList(run["Retry"])[0])
	if !slices.Contains(asList(retry["ErrorEquals"]), any(workflow.ErrorLambdaService)) || retry["MaxAttempts"] != float64(3) {
		t.Errorf("Run retries %v; want the Lambda service errors, 3 attempts", retry)
	}
	catch := asMap(asList(run["Catch"])[0])
	if !reflect.DeepEqual(catch["ErrorEquals"], []any{workflow.ErrorAll}) || catch["Next"] != workflow.StateRecordFailure {
		t.Errorf("Run catches %v; want States.ALL → RecordFailure", catch)
	}
	if asMap(asMap(run["Parameters"]))["FunctionName"] != "RUNNER" {
		t.Errorf("Run invokes %v, want the runner", asMap(run["Parameters"])["FunctionName"])
	}
	for _, s := range []string{workflow.StateRecordSuccess, workflow.StateRecordFailure} {
		st := asMap(asMap(got["States"])[s])
		if asMap(st["Parameters"])["FunctionName"] != "FINISH" || len(asList(st["Retry"])) == 0 {
			t.Errorf("%s: %v; want the finish function with retries", s, st)
		}
	}
}

func TestStateMachineMayInvokeOnlyTheRunnerAndFinish(t *testing.T) {
	sm := awsJSON.Resources[awsJSON.ofType("AWS::StepFunctions::StateMachine")[0]]
	roleID := asList(asMap(sm.Properties["RoleArn"])["Fn::GetAtt"])[0].(string)
	runnerID, _ := awsJSON.function(t, "runner")
	finishID, _ := awsJSON.function(t, "finish")
	var invokes []any
	for _, st := range awsJSON.roleStatements(roleID) {
		for _, a := range actions(st) {
			if strings.HasPrefix(a, "lambda:") {
				if a != "lambda:InvokeFunction" {
					t.Errorf("the state machine role may %s", a)
				}
				invokes = append(invokes, asList(st["Resource"])...)
			}
		}
	}
	want := []any{getAtt(runnerID, "Arn"), getAtt(finishID, "Arn")}
	if len(invokes) != 2 || !slices.ContainsFunc(invokes, func(v any) bool { return reflect.DeepEqual(v, want[0]) }) ||
		!slices.ContainsFunc(invokes, func(v any) bool { return reflect.DeepEqual(v, want[1]) }) {
		t.Errorf("the state machine may invoke %v; want exactly the runner and finish", invokes)
	}
}

func TestNoIAMWildcardActions(t *testing.T) {
	for name, c := range map[string]cfnTemplate{"aws": awsJSON, "localstack": localJSON} {
		for id, r := range c.Resources {
			var docs []any
			switch r.Type {
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				docs = append(docs, r.Properties["PolicyDocument"])
			case "AWS::IAM::Role":
				for _, p := range asList(r.Properties["Policies"]) {
					docs = append(docs, asMap(p)["PolicyDocument"])
				}
			}
			for _, d := range docs {
				for _, st := range statements(d) {
					if st["NotAction"] != nil {
						t.Errorf("%s %s: NotAction grants everything else", name, id)
					}
					for _, a := range actions(st) {
						if strings.Contains(a, "*") {
							t.Errorf("%s %s: action %q has a wildcard", name, id, a)
						}
					}
				}
			}
		}
	}
}

func TestOnlyInvokeTouchesExecutionsOfThisStateMachine(t *testing.T) {
	smID := awsJSON.ofType("AWS::StepFunctions::StateMachine")[0]
	invokeID, invoke := awsJSON.function(t, "invoke")
	for _, id := range awsJSON.ofType("AWS::Lambda::Function") {
		for _, st := range awsJSON.roleStatements(functionRole(awsJSON.Resources[id])) {
			for _, a := range actions(st) {
				if !strings.HasPrefix(a, "states:") {
					continue
				}
				if id != invokeID {
					t.Errorf("function %s may %s; only invoke may", id, a)
					continue
				}
				res, _ := json.Marshal(st["Resource"])
				switch a {
				case "states:StartExecution":
					if !reflect.DeepEqual(st["Resource"], ref(smID)) {
						t.Errorf("invoke may StartExecution on %s; want only this state machine", res)
					}
				case "states:DescribeExecution", "states:StopExecution":
					if !strings.Contains(string(res), ":execution:") || !strings.Contains(string(res), `"`+smID+`"`) {
						t.Errorf("invoke may %s on %s; want this state machine's executions", a, res)
					}
				default:
					t.Errorf("invoke may %s", a)
				}
			}
		}
	}
	got := map[string]bool{}
	for _, st := range awsJSON.roleStatements(functionRole(invoke)) {
		for _, a := range actions(st) {
			got[a] = true
		}
	}
	for _, a := range []string{"states:StartExecution", "states:DescribeExecution", "states:StopExecution"} {
		if !got[a] {
			t.Errorf("invoke lacks %s", a)
		}
	}
}

// s3Grants lists "action on key pattern" for a role's S3 statements.
func s3Grants(t *testing.T, c cfnTemplate, role string) []string {
	var out []string
	for _, st := range c.roleStatements(role) {
		for _, a := range actions(st) {
			if !strings.HasPrefix(a, "s3:") {
				continue
			}
			// A statement may name several resources (CDK merges statements
			// with the same actions).
			resources, ok := st["Resource"].([]any)
			if !ok {
				resources = []any{st["Resource"]}
			}
			for _, r := range resources {
				res, _ := json.Marshal(r)
				key := "bucket"
				if i := strings.Index(string(res), `"/`); i >= 0 {
					key = strings.Trim(string(res[i+2:]), `"]}`)
				}
				out = append(out, a+" "+key)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestS3AccessIsLeastPrivilege(t *testing.T) {
	want := map[string][]string{
		"deploy": {"s3:DeleteObject bundles/*", "s3:GetObject bundles/*", "s3:ListBucket bucket", "s3:PutObject bundles/*"},
		"invoke": {"s3:DeleteObject run-secrets/*", "s3:GetObject bundles/*", "s3:GetObject logs/*", "s3:GetObject run-secrets/*", "s3:ListBucket bucket", "s3:PutObject logs/*", "s3:PutObject results/*", "s3:PutObject run-secrets/*"},
		// An execution's end deletes its run object (workflow.RemovingRunObjects, reaper.Reaper.RunObjects).
		"finish": {"s3:DeleteObject run-secrets/*"},
		"reaper": {"s3:DeleteObject run-secrets/*"},
	}
	for _, id := range awsJSON.ofType("AWS::Lambda::Function") {
		name := strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(fmt.Sprint(awsJSON.Resources[id].Properties["Description"]), "(functions/", 2)[1], ""), ")")
		got := s3Grants(t, awsJSON, functionRole(awsJSON.Resources[id]))
		if !reflect.DeepEqual(got, want[name]) && (len(got) != 0 || len(want[name]) != 0) {
			t.Errorf("%s may %v; want %v", name, got, want[name])
		}
	}
	runnerID, runner := awsJSON.function(t, "runner")
	if st := awsJSON.roleStatements(functionRole(runner)); len(st) != 0 {
		t.Errorf("the runner %s has inline permissions %v; it uses presigned URLs only", runnerID, st)
	}
}

func TestTableAccessMatchesWhatEachFunctionDoes(t *testing.T) {
	tableID := awsJSON.ofType("AWS::DynamoDB::Table")[0]
	for _, f := range goFunctions {
		_, fn := awsJSON.function(t, f.name)
		var got []string
		for _, st := range awsJSON.roleStatements(functionRole(fn)) {
			for _, a := range actions(st) {
				if strings.HasPrefix(a, "dynamodb:") {
					got = append(got, a)
					if !reflect.DeepEqual(st["Resource"], getAtt(tableID, "Arn")) {
						t.Errorf("%s: %s on %v, want the table only (no indexes)", f.name, a, st["Resource"])
					}
				}
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(f.table))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s may %v; want %v", f.name, got, want)
		}
		if slices.Contains(got, "dynamodb:Scan") {
			t.Errorf("%s may Scan", f.name)
		}
	}
}

func TestOutputs(t *testing.T) {
	for _, o := range []string{"ApiUrl", "TableName", "StateMachineArn", "BucketName", "SigningSecretArn", "ApiId", "StageName"} {
		if _, ok := awsJSON.Outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
}

func TestLocalStackStageVerifiesBearersAndTalksToLocalStack(t *testing.T) {
	for _, f := range goFunctions {
		_, fn := localJSON.function(t, f.name)
		env := asMap(asMap(fn.Properties["Environment"])["Variables"])
		for _, k := range []string{"DYNAMODB_ENDPOINT", "S3_ENDPOINT", "STEPFUNCTIONS_ENDPOINT", "SECRETSMANAGER_ENDPOINT"} {
			if env[k] != LocalStackEndpoint {
				t.Errorf("%s: %s = %v, want %s", f.name, k, env[k], LocalStackEndpoint)
			}
		}
		if f.apiRoutes && (env["KITARU_VERIFY_BEARER"] != "true" || env["KITARU_SIGNING_SECRET_ARN"] == nil) {
			t.Errorf("%s: KITARU_VERIFY_BEARER = %v, secret %v; API functions must verify bearers on LocalStack", f.name, env["KITARU_VERIFY_BEARER"], env["KITARU_SIGNING_SECRET_ARN"])
		}
	}
	check(t, "stable API id", func() {
		localTemplate.HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]any{
			"Tags": assertions.Match_ArrayWith(&[]any{map[string]any{"Key": "_custom_id_", "Value": "kitaru"}}),
		})
	})
}

func TestMissingBuildNamesTheFix(t *testing.T) {
	app := awscdk.NewApp(nil)
	_, err := NewKitaruStack(app, "NoDist", KitaruStackProps{DistDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("err = %v; want one that says to run make build", err)
	}
}

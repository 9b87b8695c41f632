package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// secretsGrants lists "action on resource" for a role's Secrets Manager
// statements, the signing secret's read aside.
func secretsGrants(c cfnTemplate, role string) []string {
	var out []string
	for _, st := range c.roleStatements(role) {
		for _, a := range actions(st) {
			if !strings.HasPrefix(a, "secretsmanager:") {
				continue
			}
			res, _ := json.Marshal(st["Resource"])
			switch {
			case strings.Contains(string(res), "SigningSecret"):
				continue
			case strings.Contains(string(res), ":secret:kitaru/Kitaru/*"):
				out = append(out, a+" flow secrets")
			default:
				out = append(out, a+" "+string(res))
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestFlowSecretsAreScopedToTheStacksPrefix(t *testing.T) {
	want := map[string][]string{
		"deploy": {
			`secretsmanager:CreateSecret flow secrets`, `secretsmanager:DeleteSecret flow secrets`,
			`secretsmanager:DescribeSecret flow secrets`, `secretsmanager:ListSecrets "*"`,
			`secretsmanager:PutSecretValue flow secrets`, `secretsmanager:TagResource flow secrets`,
		},
		"invoke": {`secretsmanager:GetSecretValue flow secrets`},
	}
	for _, id := range awsJSON.ofType("AWS::Lambda::Function") {
		desc := awsJSON.Resources[id].Properties["Description"]
		parts := strings.SplitN(strings.TrimSuffix(asString(desc), ")"), "(functions/", 2)
		if len(parts) != 2 {
			continue
		}
		name := parts[1]
		got := secretsGrants(awsJSON, functionRole(awsJSON.Resources[id]))
		if !slices.Equal(got, want[name]) && (len(got) != 0 || len(want[name]) != 0) {
			t.Errorf("%s may %v; want %v", name, got, want[name])
		}
	}
	for _, name := range []string{"deploy", "invoke"} {
		_, fn := awsJSON.function(t, name)
		env := asMap(asMap(fn.Properties["Environment"])["Variables"])
		if env["KITARU_SECRETS_PREFIX"] != "kitaru/Kitaru/" {
			t.Errorf("%s has KITARU_SECRETS_PREFIX %v; want kitaru/Kitaru/", name, env["KITARU_SECRETS_PREFIX"])
		}
	}
}

// Run objects are deleted when their execution ends; the rule expires what
// a failed delete (or a start that died) left behind.
func TestRunObjectsExpireADayAfterTheirRun(t *testing.T) {
	check(t, "run-secrets lifecycle", func() {
		awsTemplate.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
			"LifecycleConfiguration": map[string]any{"Rules": assertions.Match_ArrayWith(&[]any{
				map[string]any{"Id": "expire-run-secrets", "Status": "Enabled", "Prefix": "run-secrets/", "ExpirationInDays": runSecretsDays},
			})},
		})
	})
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

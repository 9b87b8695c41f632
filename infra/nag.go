package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagSubjects are the constructs the cdk-nag suppressions attach to.
type nagSubjects struct {
	bucket           awss3.Bucket
	secret           awssecretsmanager.Secret
	api              awsapigateway.RestApi
	stateMachineRole awsiam.Role
	runner           awslambda.Function
	functions        map[string]awslambda.Function
}

// suppressNagFindings records, on the constructs concerned, why each cdk-nag
// AwsSolutions finding the stack keeps is accepted (the reasons land in the
// template's metadata). Everything else the pack finds is fixed in stack.go;
// TestAwsSolutionsChecksFindNothingUnsuppressed fails on any new finding.
// Granular rules (IAM4, IAM5) name exactly what they accept in appliesTo.
func suppressNagFindings(stack awscdk.Stack, props KitaruStackProps, s nagSubjects) {
	suppress := func(c any, children bool, sup ...*cdknag.NagPackSuppression) {
		cdknag.NagSuppressions_AddResourceSuppressions(c, &sup, jsii.Bool(children))
	}
	rule := func(id, reason string, appliesTo ...any) *cdknag.NagPackSuppression {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			s.AppliesTo = &appliesTo
		}
		return s
	}
	regex := func(re string) any { return map[string]any{"regex": re} }

	suppress(s.bucket, false, rule("AwsSolutions-S1",
		"only this stack's functions (prefix-scoped grants) and URLs presigned by invoke touch the bucket; "+
			"per-request S3 auditing is CloudTrail data events' job, and a log bucket would be a second retained bucket that cannot log itself"))
	suppress(s.secret, false, rule("AwsSolutions-SMG4",
		"the HS256 signing key: rotating it invalidates every issued token and the verifiers read one key, so rotation is a planned manual step, not a schedule"))

	suppress(s.api, true,
		rule("AwsSolutions-COG4", "the API authenticates with its own REQUEST authorizer (API keys and tokens of pkg/auth) by design, not Cognito"),
		rule("AwsSolutions-APIG3", "no WAF by default: every route is behind the authorizer and the stage throttles; a WAF web ACL is a per-account cost and choice, attachable to the stage"),
		rule("AwsSolutions-APIG6",
			"access logs record every request (status, error message, authorizer error); execution logs would go to a log group API Gateway creates outside the stack (API-Gateway-Execution-Logs_<id>/<stage>), without retention and not removed with the stack"),
	)
	if props.APIGatewayCloudWatchRole {
		suppress(s.api, true, rule("AwsSolutions-IAM4",
			"CDK's account-wide API Gateway logging role (kitaru:apiGatewayCloudWatchRole=true) uses the AWS policy made for it",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"))
	}

	basicExecution := "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
	for _, fn := range append([]awslambda.Function{s.runner}, values(s.functions)...) {
		suppress(fn, true, rule("AwsSolutions-IAM4",
			"CDK's default Lambda execution policy (CloudWatch Logs writes); each function logs to its own log group", basicExecution))
	}
	bundles := regex(`/^Resource::<Bucket[0-9A-F]+\.Arn>\/bundles\/\*$/`)
	suppress(s.functions["deploy"], true, rule("AwsSolutions-IAM5",
		"deploy reads and writes source bundles: the grant is the bundles/ prefix of this stack's bucket", bundles))
	suppress(s.functions["invoke"], true, rule("AwsSolutions-IAM5",
		"invoke presigns bundle GETs (bundles/ prefix), result PUTs (results/ prefix), log chunk PUTs and reads logs (logs/ prefix) and follows executions of this state machine only",
		bundles,
		regex(`/^Resource::<Bucket[0-9A-F]+\.Arn>\/results\/\*$/`),
		regex(`/^Resource::<Bucket[0-9A-F]+\.Arn>\/logs\/\*$/`),
		regex(`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*StateMachine[0-9A-F]+.*:\*$/`)))
	flowSecrets := regex(`/^Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:kitaru\/[^/]+\/\*$/`)
	suppress(s.functions["deploy"], true, rule("AwsSolutions-IAM5",
		"deploy serves /v1/secrets: it writes the flow secrets under this stack's kitaru/<stack>/ prefix, and ListSecrets has no resource-level permission (the store filters by the prefix)",
		flowSecrets, "Resource::*"))
	suppress(s.functions["invoke"], true, rule("AwsSolutions-IAM5",
		"invoke reads the flow secrets under this stack's kitaru/<stack>/ prefix and hands them to a run through the run-secrets/ prefix of this stack's bucket",
		flowSecrets, regex(`/^Resource::<Bucket[0-9A-F]+\.Arn>\/run-secrets\/\*$/`)))
	for _, name := range []string{"finish", "reaper"} {
		suppress(s.functions[name], true, rule("AwsSolutions-IAM5",
			name+" deletes the run object (secrets and log upload URLs) of an execution that ended: the grant is s3:DeleteObject on the run-secrets/ prefix of this stack's bucket",
			regex(`/^Resource::<Bucket[0-9A-F]+\.Arn>\/run-secrets\/\*$/`)))
	}
	suppress(s.stateMachineRole, true, rule("AwsSolutions-IAM5",
		"CDK's grants for log delivery (logs:*LogDelivery*, DescribeLogGroups, PutResourcePolicy...) and X-Ray tracing: those APIs have no resource-level permissions",
		"Resource::*"))

	runnerRuntimeReasons := map[string]string{
		*RunnerPython().Name(): "python3.15, the newest runtime aws-cdk-lib 2.276.0 defines, is not in CloudFormation's Lambda runtime list as cfn-lint 1.51.0 has it (E3030); " +
			*RunnerPython().Name() + " is the newest both accept",
		*LocalStackPython().Name(): "LocalStackProps: " + *LocalStackPython().Name() + " is the newest Python runtime known to run on LocalStack",
	}
	// Any other runtime has no reason here, so the test reports its L1 finding.
	if reason, ok := runnerRuntimeReasons[*props.RunnerRuntime.Name()]; ok {
		suppress(s.runner, false, rule("AwsSolutions-L1", reason))
	}
}

func values[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

package awslocal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// The account and region the emulators answer for (moto's defaults).
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// Clients are the AWS API clients provisioning uses: DynamoDB on the table's
// endpoint, the others on moto's server.
type Clients struct {
	DynamoDB       *dynamodb.Client
	S3             *s3.Client
	SecretsManager *secretsmanager.Client
	IAM            *iam.Client
	SFN            *sfn.Client
}

// Function is one Lambda function of the stack, created in moto's control
// plane and run under the runtime interface emulator.
type Function struct {
	LogicalID      string `json:"logical_id"`
	Name           string `json:"name"`
	ARN            string `json:"arn"`
	Runtime        string `json:"runtime"`
	Handler        string `json:"handler"`
	CodeDir        string `json:"code_dir"` // the asset directory in cdk.out
	TimeoutSeconds int    `json:"timeout_seconds"`
	MemoryMB       int    `json:"memory_mb"`
	// Env is the function's environment as the template sets it, resolved.
	Env map[string]string `json:"env"`
}

// Deployed is the stack as provisioned: the resolved values of every
// resource it created and its functions.
type Deployed struct {
	Values          Values
	Table           string
	Bucket          string
	SecretARN       string
	StateMachineARN string
	// Definition is the state machine's definition with its ARNs resolved.
	Definition string
	Functions  map[string]*Function // by logical id
}

// Provision creates the template's table, bucket, secret, roles, functions
// and state machine, named as CloudFormation would (<stack>-<logical id>-<suffix>).
func Provision(ctx context.Context, t *Template, stack, suffix string, c Clients) (*Deployed, error) {
	d := &Deployed{
		Values: Values{
			"AWS::Region": Region, "AWS::AccountId": AccountID, "AWS::Partition": "aws",
			"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": stack,
		},
		Functions: map[string]*Function{},
	}
	name := func(id string) string { return stack + "-" + id + "-" + suffix }
	steps := []func(context.Context, *Template, func(string) string, Clients) error{
		d.createTable, d.createBucket, d.createSecret, d.createRoles, d.createFunctions, d.createStateMachine,
	}
	for _, step := range steps {
		if err := step(ctx, t, name, c); err != nil {
			return nil, err
		}
	}
	for _, f := range d.Functions {
		env, err := functionEnv(t.Resources[f.LogicalID], d.Values)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w", f.LogicalID, err)
		}
		f.Env = env
	}
	return d, nil
}

func (d *Deployed) createTable(ctx context.Context, t *Template, name func(string) string, c Clients) error {
	id, err := t.one("AWS::DynamoDB::Table")
	if err != nil {
		return err
	}
	var props struct {
		KeySchema            []ddbtypes.KeySchemaElement
		AttributeDefinitions []ddbtypes.AttributeDefinition
	}
	if err := remarshal(t.Resources[id].Properties, &props); err != nil {
		return fmt.Errorf("table %s: %w", id, err)
	}
	d.Table = name(id)
	_, err = c.DynamoDB.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &d.Table, KeySchema: props.KeySchema, AttributeDefinitions: props.AttributeDefinitions,
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", d.Table, err)
	}
	d.Values[id], d.Values[id+".Arn"] = d.Table, fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", Region, AccountID, d.Table)
	return nil
}

func (d *Deployed) createBucket(ctx context.Context, t *Template, name func(string) string, c Clients) error {
	id, err := t.one("AWS::S3::Bucket")
	if err != nil {
		return err
	}
	d.Bucket = strings.ToLower(name(id))
	if _, err := c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &d.Bucket}); err != nil {
		return fmt.Errorf("create bucket %s: %w", d.Bucket, err)
	}
	d.Values[id], d.Values[id+".Arn"] = d.Bucket, "arn:aws:s3:::"+d.Bucket
	return nil
}

// createSecret creates the secret with a value generated as its
// GenerateSecretString asks.
func (d *Deployed) createSecret(ctx context.Context, t *Template, name func(string) string, c Clients) error {
	id, err := t.one("AWS::SecretsManager::Secret")
	if err != nil {
		return err
	}
	var props struct {
		GenerateSecretString struct {
			PasswordLength     int
			ExcludePunctuation bool
		}
	}
	if err := remarshal(t.Resources[id].Properties, &props); err != nil {
		return fmt.Errorf("secret %s: %w", id, err)
	}
	value, err := password(props.GenerateSecretString.PasswordLength, props.GenerateSecretString.ExcludePunctuation)
	if err != nil {
		return err
	}
	out, err := c.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name(id)), SecretString: &value})
	if err != nil {
		return fmt.Errorf("create secret %s: %w", name(id), err)
	}
	d.SecretARN = aws.ToString(out.ARN)
	d.Values[id] = d.SecretARN
	return nil
}

func password(length int, noPunctuation bool) (string, error) {
	if length == 0 {
		length = 32
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	if !noPunctuation {
		alphabet += "!#$%&()*+,-./:;<=>?@[]^_{|}~"
	}
	b := make([]byte, length)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

// createRoles creates every role the functions and the state machine name.
// Policies are not enforced by the emulators.
func (d *Deployed) createRoles(ctx context.Context, t *Template, name func(string) string, c Clients) error {
	for _, id := range t.OfType("AWS::IAM::Role") {
		doc, err := json.Marshal(t.Resources[id].Properties["AssumeRolePolicyDocument"])
		if err != nil {
			return err
		}
		out, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name(id)), AssumeRolePolicyDocument: aws.String(string(doc))})
		if err != nil {
			return fmt.Errorf("create role %s: %w", name(id), err)
		}
		d.Values[id], d.Values[id+".Arn"] = name(id), aws.ToString(out.Role.Arn)
	}
	return nil
}

// createFunctions names every function and points it at its code in
// cdk.out. They are not registered in moto's Lambda control plane: its
// Invoke reaches the launcher's router by name (scripts/awslocal/motoserver.py),
// and the code runs under RIE.
func (d *Deployed) createFunctions(_ context.Context, t *Template, name func(string) string, _ Clients) error {
	for _, id := range t.OfType("AWS::Lambda::Function") {
		var props struct {
			Code       struct{ S3Key string }
			Handler    string
			Runtime    string
			Timeout    int
			MemorySize int
		}
		if err := remarshal(t.Resources[id].Properties, &props); err != nil {
			return fmt.Errorf("function %s: %w", id, err)
		}
		dir, ok := t.Assets[props.Code.S3Key]
		if !ok {
			return fmt.Errorf("function %s: its code %s is not an asset of the assembly", id, props.Code.S3Key)
		}
		f := &Function{
			LogicalID: id, Name: name(id), Runtime: props.Runtime, Handler: props.Handler, CodeDir: dir,
			TimeoutSeconds: props.Timeout, MemoryMB: props.MemorySize,
		}
		if f.TimeoutSeconds == 0 {
			f.TimeoutSeconds = 3 // Lambda's default
		}
		if f.MemoryMB == 0 {
			f.MemoryMB = 128
		}
		f.ARN = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, AccountID, f.Name)
		d.Values[id], d.Values[id+".Arn"] = f.Name, f.ARN
		d.Functions[id] = f
	}
	return nil
}

func (d *Deployed) createStateMachine(ctx context.Context, t *Template, name func(string) string, c Clients) error {
	id, err := t.one("AWS::StepFunctions::StateMachine")
	if err != nil {
		return err
	}
	props := t.Resources[id].Properties
	definition, err := d.Values.String(props["DefinitionString"])
	if err != nil {
		return fmt.Errorf("state machine %s definition: %w", id, err)
	}
	role, err := d.Values.String(props["RoleArn"])
	if err != nil {
		return fmt.Errorf("state machine %s role: %w", id, err)
	}
	out, err := c.SFN.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(name(id)), Definition: &definition, RoleArn: &role, Type: sfntypes.StateMachineTypeStandard,
	})
	if err != nil {
		return fmt.Errorf("create state machine %s: %w", name(id), err)
	}
	d.StateMachineARN, d.Definition = aws.ToString(out.StateMachineArn), definition
	d.Values[id], d.Values[id+".Name"] = d.StateMachineARN, name(id)
	return nil
}

// functionEnv resolves a function's Environment.Variables.
func functionEnv(res Resource, vals Values) (map[string]string, error) {
	env := map[string]string{}
	vars, _ := res.Properties["Environment"].(map[string]any)
	raw, _ := vars["Variables"].(map[string]any)
	for k, v := range raw {
		s, err := vals.String(v)
		if err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", k, err)
		}
		env[k] = s
	}
	return env, nil
}

// remarshal decodes template properties into a typed struct.
func remarshal(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

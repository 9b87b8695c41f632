package awslocal

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/gateway"
	"github.com/kitaru/deployments/pkg/sdkbody"
)

// Config configures a local run of the stack.
type Config struct {
	// Assembly is the cloud assembly directory and Stack the stack in it.
	Assembly, Stack string
	// DynamoDBEndpoint serves the table (DynamoDB Local).
	DynamoDBEndpoint string
	// RIE runs the functions; RIE.LogDir also receives moto.log.
	RIE RIE
	// MotoLauncher is scripts/awslocal/motoserver.py, run with RIE.Python.
	MotoLauncher string
	// Addr is the API's listen address (port 0 picks one).
	Addr string
	// Logger receives the gateway's lines; nil discards.
	Logger *slog.Logger
}

// Stack is the stack running locally.
type Stack struct {
	// URL is the API's base URL, the stage included (KITARU_SERVER_URL).
	URL string
	// Deployed names what was provisioned.
	Deployed  *Deployed
	API       *API
	Instances map[string]*Instance // by function logical id
	// Moto is moto's endpoint (S3, Step Functions, Secrets Manager, IAM, Lambda's Invoke).
	Moto string
	// Endpoints are the endpoint variables every function gets.
	Endpoints map[string]string
	rie       RIE

	moto   *exec.Cmd
	server *http.Server
	served chan error
}

// State is what Start writes for scripts and tests (state.json).
type State struct {
	URL             string `json:"url"`
	Table           string `json:"table"`
	Bucket          string `json:"bucket"`
	SecretARN       string `json:"secret_arn"`
	StateMachineARN string `json:"state_machine_arn"`
	Moto            string `json:"moto"`
	// Endpoints are the endpoint variables every function gets.
	Endpoints map[string]string `json:"endpoints"`
	// RIE is how the functions were started (tests start variants).
	RIE RIE `json:"rie"`
	// Functions by logical id, with their RIE invoke URL.
	Functions map[string]FunctionState `json:"functions"`
}

// FunctionState is one running function.
type FunctionState struct {
	Function
	URL string `json:"url"`
}

// Start provisions the stack on the emulators and serves its API.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	t, err := LoadTemplate(cfg.Assembly, cfg.Stack)
	if err != nil {
		return nil, err
	}
	s := &Stack{Instances: map[string]*Instance{}, served: make(chan error, 1)}
	if err := s.start(ctx, cfg, t); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context, cfg Config, t *Template) error {
	routesFile := filepath.Join(cfg.RIE.LogDir, "lambda-routes.json")
	if err := writeJSON(routesFile, map[string]string{}); err != nil {
		return err
	}
	if err := s.startMoto(ctx, cfg, routesFile); err != nil {
		return err
	}
	clients, err := newClients(ctx, cfg.DynamoDBEndpoint, s.Moto)
	if err != nil {
		return err
	}
	suffix := strings.ToLower(rand.Text()[:8])
	if s.Deployed, err = Provision(ctx, t, cfg.Stack, suffix, clients); err != nil {
		return err
	}
	// The stack's clients reach the emulators through the same variables
	// the LocalStack stack sets (infra: ServiceEndpoint).
	s.Endpoints = map[string]string{
		"DYNAMODB_ENDPOINT": cfg.DynamoDBEndpoint, "S3_ENDPOINT": s.Moto,
		"STEPFUNCTIONS_ENDPOINT": s.Moto, "SECRETSMANAGER_ENDPOINT": s.Moto,
	}
	s.rie = cfg.RIE
	routes := map[string]string{}
	for id, f := range s.Deployed.Functions {
		in, err := cfg.RIE.Start(f, s.Endpoints)
		if err != nil {
			return err
		}
		s.Instances[id] = in
		routes[f.Name] = strings.TrimSuffix(in.URL, "/2015-03-31/functions/function/invocations")
	}
	if err := writeJSON(routesFile, routes); err != nil {
		return err
	}
	byARN := map[string]*Instance{}
	for _, in := range s.Instances {
		byARN[in.Function.ARN] = in
	}
	if s.API, err = NewAPI(t, s.Deployed, byARN); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.URL = "http://" + ln.Addr().String() + "/" + s.API.Stage
	gw := &gateway.Gateway{Backend: s.API, Stage: s.API.Stage, StageInPath: true, MaxBodyBytes: 10 << 20, Logger: cfg.Logger}
	s.server = &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.server.Serve(ln) }()
	return nil
}

// startMoto runs the moto launcher and waits for its "ready URL" line.
func (s *Stack) startMoto(ctx context.Context, cfg Config, routesFile string) error {
	log, err := os.Create(filepath.Join(cfg.RIE.LogDir, "moto.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(cfg.RIE.Python, cfg.MotoLauncher, "--host", "127.0.0.1", "--port", "0", "--lambda-routes", routesFile)
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cfg.MotoLauncher, err)
	}
	s.moto = cmd
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- url
				break
			}
		}
		close(ready)
		_, _ = io.Copy(log, out)
	}()
	select {
	case url, ok := <-ready:
		if !ok {
			return fmt.Errorf("the moto launcher exited before it was ready; see %s", log.Name())
		}
		s.Moto = url
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("the moto launcher was not ready within 60 s; see %s", log.Name())
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newClients(ctx context.Context, dynamoEndpoint, moto string) (Clients, error) {
	db, err := defaultconfig.NewClient(ctx, dynamoEndpoint)
	if err != nil {
		return Clients{}, err
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		return Clients{}, err
	}
	cfg.BaseEndpoint = aws.String(moto)
	cfg = sdkbody.Config(cfg)
	return Clients{
		DynamoDB:       db,
		S3:             s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		IAM:            iam.NewFromConfig(cfg),
		SFN:            sfn.NewFromConfig(cfg),
	}, nil
}

// State describes the running stack.
func (s *Stack) State() State {
	st := State{
		URL: s.URL, Table: s.Deployed.Table, Bucket: s.Deployed.Bucket, SecretARN: s.Deployed.SecretARN,
		StateMachineARN: s.Deployed.StateMachineARN, Moto: s.Moto, Endpoints: s.Endpoints, RIE: s.rie,
		Functions: map[string]FunctionState{},
	}
	for id, in := range s.Instances {
		st.Functions[id] = FunctionState{Function: *in.Function, URL: in.URL}
	}
	return st
}

// Close stops the API, the functions and moto.
func (s *Stack) Close() error {
	var err error
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.server.Shutdown(ctx)
		cancel()
		if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
	}
	for _, in := range s.Instances {
		err = errors.Join(err, in.Close())
	}
	if s.moto != nil && s.moto.Process != nil {
		_ = syscall.Kill(-s.moto.Process.Pid, syscall.SIGTERM)
		_ = s.moto.Wait()
	}
	return err
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteState writes st to path.
func WriteState(path string, st State) error { return writeJSON(path, st) }

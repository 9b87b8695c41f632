package awslocal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RIE starts functions under AWS's Lambda runtime interface emulator.
type RIE struct {
	// Path is the aws-lambda-rie binary.
	Path string `json:"path"`
	// Python is the interpreter for python3.x functions and PythonRuntime
	// the bootstrap that speaks the runtime API for them
	// (scripts/awslocal/python_runtime.py).
	Python        string `json:"python"`
	PythonRuntime string `json:"python_runtime"`
	// LogDir receives <function logical id>.log: what RIE and the function
	// print (their CloudWatch log stream).
	LogDir string `json:"log_dir"`
}

// Instance is one function running under its own RIE. RIE serves one
// invoke at a time, so Invoke serialises calls.
type Instance struct {
	Function *Function
	// URL is the invoke endpoint of RIE.
	URL string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *os.File
	client *http.Client
}

// Start runs f under RIE with the function's environment, the Lambda
// runtime's own variables and extra (endpoint overrides). The process gets
// nothing else of this process's environment, as on Lambda.
func (r RIE) Start(f *Function, extra map[string]string) (*Instance, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	api, rapid := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	args := []string{"--runtime-interface-emulator-address", api, "--runtime-api-address", rapid}
	switch {
	case f.Runtime == "provided.al2023" || f.Runtime == "provided.al2":
		args = append(args, filepath.Join(f.CodeDir, "bootstrap"))
	case strings.HasPrefix(f.Runtime, "python3"):
		if r.Python == "" || r.PythonRuntime == "" {
			return nil, fmt.Errorf("function %s runs %s: aws-local needs a python3 and scripts/awslocal/python_runtime.py", f.LogicalID, f.Runtime)
		}
		args = append(args, r.Python, r.PythonRuntime)
	default:
		return nil, fmt.Errorf("function %s: aws-local cannot run runtime %s", f.LogicalID, f.Runtime)
	}
	env := map[string]string{
		"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": ":UTC",
		"LAMBDA_TASK_ROOT": f.CodeDir, "_HANDLER": f.Handler,
		"AWS_LAMBDA_FUNCTION_NAME": f.Name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(f.TimeoutSeconds),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemoryMB),
		"AWS_REGION":                      Region, "AWS_DEFAULT_REGION": Region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	}
	for k, v := range f.Env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	log, err := os.Create(filepath.Join(r.LogDir, f.LogicalID+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(r.Path, args...)
	cmd.Dir = f.CodeDir
	cmd.Stdout, cmd.Stderr = log, log
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Its own process group, so Close also stops the runtime RIE started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start RIE for %s: %w", f.LogicalID, err)
	}
	in := &Instance{
		Function: f, URL: "http://" + api + "/2015-03-31/functions/function/invocations", cmd: cmd, log: log,
		client: &http.Client{Timeout: time.Duration(f.TimeoutSeconds+10) * time.Second},
	}
	if err := waitForListener(api, 10*time.Second); err != nil {
		return nil, errors.Join(fmt.Errorf("RIE for %s did not start (see %s): %w", f.LogicalID, log.Name(), err), in.Close())
	}
	return in, nil
}

// FunctionError is an invocation that ended in the function's error report
// ({"errorType", "errorMessage", …}), which Lambda answers with
// X-Amz-Function-Error: Unhandled. RIE answers it as a plain 200.
type FunctionError struct {
	Type, Message string
	Payload       []byte
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// Invoke runs the function once with payload and returns its answer, or a
// *FunctionError.
func (in *Instance) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", in.Function.LogicalID, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: read the answer: %w", in.Function.LogicalID, err)
	}
	// RIE answers a handler's error report with 200 and a runtime that died
	// (Runtime.ExitError) or failed to start with 502, both with the report.
	var report struct {
		ErrorType    *string `json:"errorType"`
		ErrorMessage *string `json:"errorMessage"`
	}
	isReport := json.Unmarshal(body, &report) == nil && report.ErrorType != nil && report.ErrorMessage != nil
	switch {
	case (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusBadGateway) && isReport:
		return nil, &FunctionError{Type: *report.ErrorType, Message: *report.ErrorMessage, Payload: body}
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("invoke %s: RIE answered %d: %s", in.Function.LogicalID, resp.StatusCode, body)
	}
	return body, nil
}

// Close stops RIE and the runtime it started.
func (in *Instance) Close() error {
	if in.cmd.Process != nil {
		_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = in.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-in.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	return in.log.Close()
}

// freePorts reserves n loopback ports and releases them for the caller.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitForListener(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package smsecrets_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitaru/deployments/pkg/secrets"
	"github.com/kitaru/deployments/pkg/secrets/secretstest"
	"github.com/kitaru/deployments/pkg/secrets/smsecrets"
)

// startMoto serves moto's Secrets Manager on a free 127.0.0.1 port for the
// test (python3 -m moto.server); the test skips where moto is not installed.
func startMoto(t *testing.T) string {
	t.Helper()
	if err := exec.Command("python3", "-c", "import moto.server").Run(); err != nil {
		t.Skipf("moto's server is not installed for python3: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto did not answer on %s: %v\n%s", url, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSecretsManagerStoreOnMoto(t *testing.T) {
	url := startMoto(t)
	api := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	var seq atomic.Int64
	secretstest.Run(t, func(t *testing.T) secrets.Store {
		// A prefix per subtest keeps the subtests apart on one server.
		return smsecrets.New(api, fmt.Sprintf("kitaru-test-%d/", seq.Add(1)))
	})
	t.Run("secrets are named under the prefix, project and name", func(t *testing.T) {
		s := smsecrets.New(api, "kitaru/")
		if _, err := s.Set(context.Background(), "team-a", "OPENAI_API_KEY", "v"); err != nil {
			t.Fatal(err)
		}
		d, err := api.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("kitaru/team-a/OPENAI_API_KEY")})
		if err != nil {
			t.Fatalf("the secret is not kitaru/team-a/OPENAI_API_KEY: %v", err)
		}
		if !strings.HasPrefix(aws.ToString(d.ARN), "arn:aws:secretsmanager:") {
			t.Errorf("ARN %q", aws.ToString(d.ARN))
		}
		if list, _ := s.List(context.Background(), "team"); len(list) != 0 {
			t.Errorf("project team lists team-a's secrets: %+v", list)
		}
	})
}

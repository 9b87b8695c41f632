package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// TestAwsSolutionsChecksFindNothingUnsuppressed applies cdk-nag's
// AwsSolutions pack to every shape of the stack. Each finding is fixed in
// stack.go or suppressed with its reason in nag.go; any other finding, and
// any other error or warning annotation (a deprecated API, a CDK warning),
// fails here.
func TestAwsSolutionsChecksFindNothingUnsuppressed(t *testing.T) {
	dist, err := fakeDist()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dist)
	for _, tc := range []struct {
		name  string
		props KitaruStackProps
	}{
		{"aws", KitaruStackProps{DistDir: dist}},
		{"aws with the API Gateway CloudWatch role", KitaruStackProps{DistDir: dist, APIGatewayCloudWatchRole: true}},
		{"localstack", LocalStackProps(KitaruStackProps{DistDir: dist})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if findings := nagFindings(t, tc.props, nil); len(findings) > 0 {
				t.Errorf("%d unsuppressed findings: fix them in stack.go or suppress them with a reason in nag.go:\n%s",
					len(findings), strings.Join(findings, "\n"))
			}
		})
	}
	t.Run("a new finding is reported", func(t *testing.T) {
		findings := nagFindings(t, KitaruStackProps{DistDir: dist}, func(stack awscdk.Stack) {
			awss3.NewBucket(stack, jsii.String("Unchecked"), nil)
		})
		if !slices.ContainsFunc(findings, func(f string) bool {
			return strings.Contains(f, "/Unchecked/") && strings.Contains(f, "AwsSolutions-S10")
		}) {
			t.Errorf("a bucket without TLS enforcement went unreported; the findings were:\n%s", strings.Join(findings, "\n"))
		}
	})
}

// nagFindings synthesizes the stack (with cdk.json's context, plus whatever
// extra adds) under AwsSolutionsChecks and returns every error and warning
// annotation. Synthesis reports annotations instead of failing on them
// (failSynthOnValidationErrors=false), so all of them are listed at once.
func nagFindings(t *testing.T, props KitaruStackProps, extra func(awscdk.Stack)) []string {
	t.Helper()
	ctx, err := cdkContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	ctx["@aws-cdk/core:failSynthOnValidationErrors"] = false
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stack, err := NewKitaruStack(app, "Nagged", props)
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(stack)
	}
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	var findings []string
	check(t, "annotations", func() {
		a := assertions.Annotations_FromStack(stack)
		for _, m := range *a.FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			findings = append(findings, describeMessage("error  ", m))
		}
		for _, m := range *a.FindWarning(jsii.String("*"), assertions.Match_AnyValue()) {
			findings = append(findings, describeMessage("warning", m))
		}
	})
	return findings
}

// describeMessage is one finding line: level, rule id, message.
// Annotations.Find* returns only the deprecated cxapi.SynthesisMessage in
// aws-cdk-go v2.276.0; its replacement (@aws-cdk/cloud-assembly-api) has no
// Go binding, so this one function reads it.
//
//lint:ignore SA1019 no non-deprecated way to read an annotation's id and data
func describeMessage(level string, m *cxapi.SynthesisMessage) string {
	//lint:ignore SA1019 as above
	return level + " " + *m.Id + ": " + fmt.Sprint(m.Entry.Data)
}

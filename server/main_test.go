package main

import (
	"io"
	"slices"
	"testing"
)

// The Temporal TypeScript SDK's TestWorkflowEnvironment.createLocal with an existing binary runs
// it with exactly this command line (sdk-core's ephemeral_server, SDK 1.24.0).
var sdkArgs = []string{
	"server", "start-dev", "--port", "33117", "--namespace", "default", "--ip", "127.0.0.1",
	"--log-format", "pretty", "--log-level", "warn",
	"--dynamic-config-value", "frontend.enableServerVersionCheck=false",
	"--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
	"--dynamic-config-value", "frontend.enableUpdateWorkflowExecutionAsyncAccepted=true",
	"--headless", "--search-attribute", "MloModel=Keyword", "--log-level", "error",
}

func TestCliArgsAcceptsTheSdkCommandLine(t *testing.T) {
	f, err := parseFlags(sdkArgs, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags: %v", err)
	}
	if f.port != 33117 || f.ip != "127.0.0.1" || !f.headless || f.logFormat != "text" || f.logLevel != "error" {
		t.Fatalf("unexpected flags: port %d ip %s headless %v format %s level %s", f.port, f.ip, f.headless, f.logFormat, f.logLevel)
	}
	if len(f.dynConfig) != 3 || !slices.Equal(f.searchAttrs, listFlag{"MloModel=Keyword"}) || f.authOn {
		t.Fatalf("unexpected flags: dynamic config %v, search attributes %v, auth %v", f.dynConfig, f.searchAttrs, f.authOn)
	}
	if _, err := dynamicConfig(f.dynConfig); err != nil {
		t.Fatalf("dynamic config: %v", err)
	}
}

func TestCliArgs(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"--port", "1"}, []string{"--port", "1"}},
		{[]string{"server", "start-dev"}, []string{}},
		{[]string{"--log-format=pretty"}, []string{"--log-format=text"}},
		{[]string{"--log-format", "json"}, []string{"--log-format", "json"}},
		// only a leading `server start-dev` is the CLI's; anywhere else it stays (and is refused)
		{[]string{"--port", "1", "server", "start-dev"}, []string{"--port", "1", "server", "start-dev"}},
	}
	for _, c := range cases {
		if got := cliArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("cliArgs(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if _, err := parseFlags([]string{"server", "start-dev", "extra"}, io.Discard); err == nil {
		t.Error("a positional argument after `server start-dev` must be refused")
	}
}

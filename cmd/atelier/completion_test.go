package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/httpapi"
	"github.com/atelier-dev/atelier/mock"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// complete runs `atelier __complete args…` (what the shell scripts call)
// and returns the candidates and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, "", append([]string{"__complete"}, args...)...)
	if code != exitOK {
		t.Fatalf("__complete %s: exit %d, %s", strings.Join(args, " "), code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	return lines[:len(lines)-1], lines[len(lines)-1]
}

// TestShellCompletion: `atelier completion bash|zsh|fish` print scripts,
// and the hidden `atelier __complete` they call completes -o values,
// bucket names and the paths under them, job ids and profile names.
func TestShellCompletion(t *testing.T) {
	mustIsolate(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := runCLI(t, "", "completion", shell)
		if code != exitOK || !strings.Contains(stdout, "__complete") {
			t.Errorf("completion %s: exit %d, %d bytes, %s", shell, code, len(stdout), stderr)
		}
	}
	if got, _ := complete(t, "obs", "ls", "-o", ""); strings.Join(got, ",") != "table\tone row a line,json\tthe API's JSON" {
		t.Errorf("-o completes to %q", got)
	}

	// Not logged in: nothing, and no error printed.
	if got, dir := complete(t, "obs", "ls", "obs://"); len(got) != 0 || dir != ":4" {
		t.Errorf("not logged in: %q %s", got, dir)
	}

	auth := &mock.AuthService{AuthenticateFn: func(context.Context, string) (*core.Principal, error) {
		return &core.Principal{UserID: "u1", TenantID: "t1", Role: core.RoleAdmin}, nil
	}}
	objects := &mock.ObjectService{
		ListBucketsFn: func(context.Context) ([]*core.Bucket, error) {
			return []*core.Bucket{{Name: "data"}, {Name: "demo"}, {Name: "logs"}}, nil
		},
		ListObjectsFn: func(_ context.Context, bucket string, q core.ListQuery) (*core.ObjectList, error) {
			if bucket != "demo" || q.Prefix != "in/" || q.Delimiter != "/" {
				t.Errorf("ListObjects(%q, %+v)", bucket, q)
			}
			return &core.ObjectList{Bucket: bucket, CommonPrefixes: []string{"in/imgs/"}, Objects: []*core.Object{{Key: "in/a.txt"}}}, nil
		},
	}
	training := &mock.TrainingService{ListJobsFn: func(context.Context, core.JobFilter) (*core.JobPage, error) {
		return &core.JobPage{Jobs: []*core.TrainingJob{{ID: "job-1", Name: "first", State: "RUNNING"}, {ID: "job-2", Name: "second", State: "FAILED"}}}, nil
	}}
	srv := httptest.NewServer(httpapi.New(httpapi.Options{Auth: auth, Objects: objects, Training: training}))
	t.Cleanup(srv.Close)
	t.Setenv(sdk.EnvEndpoint, srv.URL)
	t.Setenv(sdk.EnvToken, "tok")

	for _, tt := range []struct {
		args []string
		want string
		dir  string
	}{
		{[]string{"obs", "ls", ""}, "obs://data/,obs://demo/,obs://logs/", ":6"},
		{[]string{"obs", "stat", "obs://d"}, "obs://data/,obs://demo/", ":6"},
		{[]string{"obs", "list", "obs://d"}, "obs://data/,obs://demo/", ":6"},
		{[]string{"obs", "rb", "obs://l"}, "obs://logs", ":4"},
		{[]string{"obs", "ls", "obs://demo/in/"}, "obs://demo/in/imgs/,obs://demo/in/a.txt", ":6"},
		{[]string{"obs", "cp", "./local", "obs://de"}, "obs://demo/", ":6"},
		{[]string{"obs", "cp", "./loc"}, "", ":0"}, // the shell completes local files
		{[]string{"job", "show", "job-"}, "job-1\tfirst (RUNNING),job-2\tsecond (FAILED)", ":4"},
		{[]string{"job", "logs", "job-2"}, "job-2\tsecond (FAILED)", ":4"},
		{[]string{"job", "rm", ""}, "job-1\tfirst (RUNNING),job-2\tsecond (FAILED)", ":4"},
		{[]string{"job", "delete", "job-1"}, "job-1\tfirst (RUNNING)", ":4"},
	} {
		got, dir := complete(t, tt.args...)
		if strings.Join(got, ",") != tt.want || dir != tt.dir {
			t.Errorf("__complete %s = %q %s, want %q %s", strings.Join(tt.args, " "), got, dir, tt.want, tt.dir)
		}
	}

	// Profile names, for --profile and `profile use`.
	t.Setenv(sdk.EnvToken, "")
	t.Setenv(sdk.EnvEndpoint, "")
	if err := sdk.SaveCredentialsFile(&sdk.CredentialsFile{Current: "default", Profiles: map[string]*sdk.Credentials{
		"default": {Endpoint: "http://a.example"}, "prod": {Endpoint: "https://prod.example"}}}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"obs", "ls", "--profile", ""}, {"profile", "use", ""}, {"profile", "rm", ""}} {
		if got, _ := complete(t, args...); strings.Join(got, ",") != "default,prod" {
			t.Errorf("__complete %s = %q", strings.Join(args, " "), got)
		}
	}
}

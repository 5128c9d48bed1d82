package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// TestServingTrainRegisterDeployPredict is the example end to end,
// as a user runs it: the logistic regression of examples/distributed_logreg
// trains as a job (its output is a model package: train.py copies
// examples/serving/logreg_model beside model.json), the CLI registers the
// job's output, deploys it, predicts with JSON and over the Open Inference
// Protocol, and refuses what it must.
func TestServingTrainRegisterDeployPredict(t *testing.T) {
	mustIsolate(t)
	srv := MustStartProcess(t, t.TempDir(), trainingEnv(t)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "e2e"); err != nil {
		t.Fatal(err)
	}
	// The code directory is examples/, so train.py finds ../serving/logreg_model.
	if _, err := c.UploadDir(ctx, filepath.Join("..", "..", "examples"), "e2e", "", sdk.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	const out = "/home/ma-user/work/out/"
	job, _, err := c.SubmitJob(ctx, "logreg", "", core.JobSpec{
		CodeDir:       "obs://e2e/examples/",
		BootFile:      "distributed_logreg/train.py",
		Parameters:    []core.JobParam{{Name: "epoch_num", Value: strp("3")}, {Name: "output_dir", Value: strp(out)}},
		Outputs:       []core.JobOutput{{ObsPath: "obs://e2e/out/", LocalPath: out}},
		Flavor:        e2eFlavor,
		InstanceCount: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustFinal(t, c, job.ID); v.State != core.JobCompleted {
		t.Fatalf("training ended %s: %s\n%s", v.State, v.Reason, mustLog(t, c, job.ID, "worker-0"))
	}

	cli := e2eCLI{t: t}
	cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", srv.URL, "--email", testAdminEmail, "--password-stdin")
	var m core.Model
	cli.json(&m, "model", "register", "logreg", "0.0.1", "--job", job.ID, "--job-version", "1", "-o", "json")
	if m.Status != core.ModelPublished || m.Handler != "python" || m.SourceLocation != "obs://e2e/out/" || m.SourceJobID != job.ID {
		t.Fatalf("registered from the job: %+v", m)
	}
	cli.refused("ATL.MDL.0002", "model", "register", "logreg", "0.0.1", "--source", "obs://e2e/out/")
	cli.refused("ATL.MDL.0003", "model", "register", "logreg", "0.0.2", "--job", job.ID, "--job-version", "7")

	var svc core.InferenceService
	cli.json(&svc, "service", "deploy", "logreg", "--model", m.ID, "--flavor", e2eFlavor, "-o", "json")
	if svc.Status != core.ServiceRunning || len(svc.Instances) != 1 {
		t.Fatalf("deployed: %s %s, instances %+v", svc.Status, svc.Reason, svc.Instances)
	}
	stdout, _ := cli.run(exitOK, "", "service", "predict", svc.ID, "--data", `{"instances": [[0.5, -1, 2, 0], [1, 1, 1, 1]]}`)
	var ans struct {
		Probabilities []float64 `json:"probabilities"`
		Labels        []int     `json:"labels"`
	}
	if err := json.Unmarshal([]byte(stdout), &ans); err != nil || len(ans.Probabilities) != 2 || len(ans.Labels) != 2 {
		t.Fatalf("prediction %q: %v", stdout, err)
	}
	// The same model through the Open Inference Protocol, with the SDK's
	// token over plain HTTP.
	body := `{"id": "1", "inputs": [{"name": "instances", "shape": [1, 4], "datatype": "FP64", "data": [0.5, -1, 2, 0]}]}`
	resp, err := c.Predict(ctx, svc.ID, "", "application/json", strings.NewReader(`{"instances": [0.5, -1, 2, 0]}`), -1)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("SDK predict: %v", err)
	}
	resp.Body.Close()
	var v2 struct {
		ID      string `json:"id"`
		Outputs []struct {
			Name  string `json:"name"`
			Shape []int  `json:"shape"`
		} `json:"outputs"`
	}
	r := call(t, http.DefaultClient, "POST", srv.URL+"/v2/models/logreg/infer", c.Token(), strings.NewReader(body),
		map[string]string{"Content-Type": "application/json"}, &v2)
	mustStatus(t, r, 200)
	if v2.ID != "1" || len(v2.Outputs) != 2 || v2.Outputs[0].Name != "probabilities" {
		t.Fatalf("V2 infer: %+v", v2)
	}

	// The model in use cannot go; the monitor counted the requests.
	cli.refused("ATL.MDL.0004", "model", "rm", m.ID)
	var mon core.ServiceMonitor
	cli.json(&mon, "service", "monitor", svc.ID, "-o", "json")
	if len(mon.Configs) != 1 || mon.Configs[0].Requests != 3 || mon.Configs[0].Ready != 1 {
		t.Fatalf("monitor: %+v", mon)
	}
	logs, _ := cli.run(exitOK, "", "service", "logs", svc.ID)
	if !strings.Contains(logs, "loaded model.json") {
		t.Errorf("the instance log lacks the handler's line:\n%s", logs)
	}
	var list core.ModelPage
	cli.json(&list, "model", "ls", "--name", "LOG", "--status", "published", "-o", "json")
	if list.TotalCount != 1 || list.Count != 1 {
		t.Errorf("model ls: %+v", list)
	}
	cli.refused("ATL.MDL.0006", "model", "ls", "--limit", "280")
	// Deleting the service stops its instance before it answers.
	cli.run(exitOK, "", "service", "rm", svc.ID)
	if ps := processesMatching(svc.ID); len(ps) > 0 {
		t.Errorf("processes of the deleted service are alive: %v", ps)
	}
	cli.run(exitOK, "", "model", "rm", m.ID)
}

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
)

// servingPollInterval is how often --wait asks for a model's or service's
// state. A variable so tests can shorten it.
var servingPollInterval = time.Second

// newModelCommand returns `atelier model`: the model registry.
func newModelCommand() *cobra.Command {
	cmd := groupCommand("model", "Register models and list them")
	cmd.AddCommand(newModelRegisterCommand(), newModelListCommand(),
		idCommand("show MODEL_ID", "Describe a model", (*sdk.Client).GetModel, printModel),
		rmCommand("rm MODEL_ID", "Delete a model no service uses", "model", (*sdk.Client).DeleteModel))
	return cmd
}

func newModelRegisterCommand() *cobra.Command {
	var spec core.ModelSpec
	var wait bool
	cmd := &cobra.Command{
		Use:   "register NAME VERSION",
		Short: "Register a model version from an OBS directory (--source) or a training job's output (--job, --job-version)",
		Args:  exactArgs(2),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			spec.Name, spec.Version = args[0], args[1]
			if spec.SourceLocation != "" {
				p, err := obsDirArg("--source", spec.SourceLocation)
				if err != nil {
					return err
				}
				spec.SourceLocation = p
			}
			m, err := c.RegisterModel(ctxOf(cmd), spec)
			if err != nil {
				return err
			}
			if wait {
				if m, err = c.WaitModel(ctxOf(cmd), m.ID, servingPollInterval); err != nil {
					return err
				}
			}
			if err := printModel(cmd, m); err != nil {
				return err
			}
			if m.Status == core.ModelFailed {
				return fmt.Errorf("model %s failed its check: %s", m.ID, m.Reason)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&spec.SourceLocation, "source", "", "the package: an OBS directory obs://bucket/dir/ with config.json and customize_service.py (or a command)")
	fl.StringVar(&spec.SourceJobID, "job", "", "register the output of this training job (with --job-version)")
	fl.StringVar(&spec.SourceJobVersion, "job-version", "", "the training job's version (1, 2, …)")
	fl.StringVar(&spec.ModelType, "type", "Custom", "the model type (TensorFlow, PyTorch, Custom, …)")
	fl.StringVar(&spec.Runtime, "runtime", "", "the runtime name (informational)")
	fl.StringVar(&spec.Description, "description", "", "a description")
	fl.StringVar(&spec.WorkspaceID, "workspace", "", "the workspace id (default 0)")
	fl.BoolVar(&wait, "wait", true, "wait until the package is checked (published or failed)")
	return cmd
}

func printModel(cmd *cobra.Command, m *core.Model) error {
	if isJSON(cmd) {
		return printJSON(cmd, m)
	}
	return printFields(cmd, "Model", m.ID, "Name", m.Name, "Version", m.Version, "Status", m.Status,
		"Reason", orDash(m.Reason), "Type", m.ModelType, "Handler", orDash(m.Handler), "Source", m.SourceLocation,
		"Size", m.Size, "Digest", orDash(m.Digest), "Workspace", m.WorkspaceID, "Created", timeCell(m.CreatedAt))
}

func newModelListCommand() *cobra.Command {
	var f core.ModelFilter
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List models (name and description match substrings)",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			p, err := c.ListModels(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, p)
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tNAME\tVERSION\tSTATUS\tTYPE\tSIZE\tCREATED")
			for _, m := range p.Models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.Name, m.Version, m.Status, m.ModelType, m.Size, timeCell(m.CreatedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if p.TotalCount > p.Count {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d models; more with --offset %d\n", p.Count, p.TotalCount, f.Offset+p.Count)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Name, "name", "", "only models whose name contains this")
	fl.StringVar(&f.Version, "version", "", "only this version")
	fl.StringVar(&f.Status, "status", "", "only publishing, published or failed models")
	fl.StringVar(&f.Description, "description", "", "only models whose description contains this")
	fl.StringVar(&f.SortBy, "sort-by", "", "create_at (default), model_version or model_size")
	fl.StringVar(&f.Order, "order", "", "asc or desc (default)")
	fl.StringVar(&f.WorkspaceID, "workspace", "", "the workspace id (default 0)")
	fl.IntVar(&f.Offset, "offset", 0, "models to skip")
	fl.IntVar(&f.Limit, "limit", 0, "page size, 1–150 (default 150)")
	return cmd
}

// newServiceCommand returns `atelier service`: inference services.
func newServiceCommand() *cobra.Command {
	cmd := groupCommand("service", "Deploy models as services and send them requests")
	cmd.AddCommand(newServiceDeployCommand(), newServiceListCommand(),
		idCommand("show SERVICE_ID", "Describe a service and its instances", (*sdk.Client).GetService, printService),
		newServicePredictCommand(), newServiceLogsCommand(), newServiceMonitorCommand(), newServiceUpdateCommand(),
		idCommand("stop SERVICE_ID", "Stop a service (its instances end)", (*sdk.Client).StopService, printService),
		idCommand("start SERVICE_ID", "Start a stopped or failed service", (*sdk.Client).StartService, printService),
		rmCommand("rm SERVICE_ID", "Stop a service and delete it", "service", (*sdk.Client).DeleteService))
	return cmd
}

// parseConfigs reads --model MODEL_ID[:weight[:instances[:flavor]]] flags.
func parseConfigs(models, envs []string, flavor string) ([]core.ServiceConfig, error) {
	env := map[string]string{}
	for _, e := range envs {
		k, v, ok := strings.Cut(e, "=")
		if !ok || k == "" {
			return nil, usagef("--env %q is not NAME=value", e)
		}
		env[k] = v
	}
	var cfgs []core.ServiceConfig
	for _, m := range models {
		parts := strings.Split(m, ":")
		if len(parts) > 4 || parts[0] == "" {
			return nil, usagef("--model %q is not MODEL_ID[:weight[:instances[:flavor]]]", m)
		}
		c := core.ServiceConfig{ModelID: parts[0], Weight: 100 / len(models), InstanceCount: 1, Specification: flavor, Envs: env}
		if len(env) == 0 {
			c.Envs = nil
		}
		for i, dst := range []*int{&c.Weight, &c.InstanceCount} {
			if len(parts) > i+1 && parts[i+1] != "" {
				if _, err := fmt.Sscanf(parts[i+1], "%d", dst); err != nil {
					return nil, usagef("--model %q: %q is not a number", m, parts[i+1])
				}
			}
		}
		if len(parts) == 4 && parts[3] != "" {
			c.Specification = parts[3]
		}
		cfgs = append(cfgs, c)
	}
	if len(cfgs) == 0 {
		return nil, usagef("give at least one --model MODEL_ID[:weight[:instances[:flavor]]]")
	}
	return cfgs, nil
}

func newServiceDeployCommand() *cobra.Command {
	var models, envs []string
	var flavor, desc, ws string
	var wait bool
	cmd := &cobra.Command{
		Use:   "deploy NAME",
		Short: "Deploy one or more model versions as a service (--model id:weight:instances, e.g. 90/10 canary)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			cfgs, err := parseConfigs(models, envs, flavor)
			if err != nil {
				return err
			}
			s, err := c.DeployService(ctxOf(cmd), core.ServiceSpec{Name: args[0], Description: desc, WorkspaceID: ws, Configs: cfgs})
			if err != nil {
				return err
			}
			return waitAndPrintService(cmd, c, s, wait)
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&models, "model", nil, "MODEL_ID[:weight[:instances[:flavor]]] (repeatable; weights sum to 100)")
	fl.StringArrayVar(&envs, "env", nil, "an environment variable NAME=value of the instances (repeatable)")
	fl.StringVar(&flavor, "flavor", "modelarts.vm.cpu.2u", "the instances' flavor (see 'atelier job flavors')")
	fl.StringVar(&desc, "description", "", "a description")
	fl.StringVar(&ws, "workspace", "", "the workspace id (default 0)")
	fl.BoolVar(&wait, "wait", true, "wait until the service is running (or failed)")
	return cmd
}

func waitAndPrintService(cmd *cobra.Command, c *sdk.Client, s *core.InferenceService, wait bool) error {
	var err error
	if wait && s.Status == core.ServiceDeploying {
		if s, err = c.WaitService(ctxOf(cmd), s.ID, servingPollInterval); err != nil {
			return err
		}
	}
	if err := printService(cmd, s); err != nil {
		return err
	}
	if s.Status == core.ServiceFailed {
		return fmt.Errorf("service %s failed: %s", s.ID, s.Reason)
	}
	return nil
}

func printService(cmd *cobra.Command, s *core.InferenceService) error {
	if isJSON(cmd) {
		return printJSON(cmd, s)
	}
	if err := printFields(cmd, "Service", s.ID, "Name", s.Name, "Status", s.Status, "Reason", orDash(s.Reason),
		"Generation", s.Generation, "Predict", s.AccessAddress, "Created", timeCell(s.CreatedAt)); err != nil {
		return err
	}
	tw := table(cmd)
	fmt.Fprintln(tw, "CONFIG\tMODEL\tVERSION\tWEIGHT\tINSTANCES\tFLAVOR")
	for i, c := range s.Configs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", i, c.ModelID, c.ModelVersion, c.Weight, c.InstanceCount, c.Specification)
	}
	if len(s.Instances) > 0 {
		fmt.Fprintln(tw, "\nINSTANCE\tCONFIG\tSTATUS\tRESTARTS\tREASON")
		for _, in := range s.Instances {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\n", in.ID, in.Config, in.Status, in.Restarts, orDash(in.Reason))
		}
	}
	return tw.Flush()
}

func newServiceListCommand() *cobra.Command {
	var f core.ServiceFilter
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List services, newest first",
		Args:  exactArgs(0),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			p, err := c.ListServices(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, p)
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCONFIGS\tCREATED")
			for _, s := range p.Services {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.ID, s.Name, s.Status, len(s.Configs), timeCell(s.CreatedAt))
			}
			return tw.Flush()
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Name, "name", "", "only services whose name contains this")
	fl.StringVar(&f.Status, "status", "", "only services in this status")
	fl.IntVar(&f.Offset, "offset", 0, "services to skip")
	fl.IntVar(&f.Limit, "limit", 0, "page size, 1–1000")
	return cmd
}

func newServicePredictCommand() *cobra.Command {
	var data, file, path, contentType string
	cmd := &cobra.Command{
		Use:   "predict SERVICE_ID",
		Short: "Send a request to a service: --data JSON, or --file (sent as multipart 'images' or raw with --content-type)",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			var body io.Reader
			var size int64 = -1
			ct := contentType
			switch {
			case data != "" && file != "":
				return usagef("give --data or --file, not both")
			case data != "":
				if !json.Valid([]byte(data)) && ct == "" {
					return usagef("--data is not valid JSON (or set --content-type)")
				}
				body, size, ct = strings.NewReader(data), int64(len(data)), cmp.Or(ct, "application/json")
			case file != "":
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				if ct != "" {
					st, err := f.Stat()
					if err != nil {
						return err
					}
					body, size = f, st.Size()
				} else {
					body, ct = multipartFile("images", file, f)
				}
			default:
				return usagef("give --data JSON or --file PATH")
			}
			resp, err := c.Predict(ctxOf(cmd), args[0], path, ct, body, size)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(cmd.OutOrStdout(), resp.Body); err != nil {
				return err
			}
			if resp.StatusCode >= 300 {
				return fmt.Errorf("the instance answered %s", resp.Status)
			}
			return nil
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&data, "data", "", "a JSON request body")
	fl.StringVar(&file, "file", "", "a file to send (multipart field 'images', as ModelArts does)")
	fl.StringVar(&path, "path", "", "the instance's path (default /)")
	fl.StringVar(&contentType, "content-type", "", "send the body raw with this content type")
	return cmd
}

// multipartFile streams f as the one file of a multipart form field.
func multipartFile(field, name string, f io.Reader) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile(field, filepath.Base(name))
		if err == nil {
			_, err = io.Copy(part, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

func newServiceLogsCommand() *cobra.Command {
	var instance string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs SERVICE_ID",
		Short: "Print an instance's log",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			_, err := c.StreamServiceLog(ctxOf(cmd), args[0], instance, 0, follow, cmd.OutOrStdout())
			return err
		}),
	}
	cmd.Flags().StringVar(&instance, "instance", "", "the instance id (default: the first)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	return cmd
}

func newServiceMonitorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "monitor SERVICE_ID",
		Short: "Request counts, errors and latency percentiles per config",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			m, err := c.ServiceMonitor(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, m)
			}
			tw := table(cmd)
			fmt.Fprintln(tw, "CONFIG\tMODEL\tREQUESTS\tERRORS\tP50 MS\tP95 MS\tP99 MS\tREADY")
			for i, x := range m.Configs {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%d/%d\n", i, x.ModelID, x.Requests, x.Errors,
					x.LatencyP50Ms, x.LatencyP95Ms, x.LatencyP99Ms, x.Ready, x.Instances)
			}
			return tw.Flush()
		}),
	}
}

func newServiceUpdateCommand() *cobra.Command {
	var models, envs []string
	var flavor string
	var wait bool
	cmd := &cobra.Command{
		Use:   "update SERVICE_ID",
		Short: "Replace a service's configs (--model id:weight:instances); a new model version rolls out without dropping requests",
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			cfgs, err := parseConfigs(models, envs, flavor)
			if err != nil {
				return err
			}
			s, err := c.UpdateService(ctxOf(cmd), args[0], core.ServiceUpdate{Configs: cfgs})
			if err != nil {
				return err
			}
			return waitAndPrintService(cmd, c, s, wait)
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&models, "model", nil, "MODEL_ID[:weight[:instances[:flavor]]] (repeatable; weights sum to 100)")
	fl.StringArrayVar(&envs, "env", nil, "an environment variable NAME=value of the instances (repeatable)")
	fl.StringVar(&flavor, "flavor", "modelarts.vm.cpu.2u", "the instances' flavor")
	fl.BoolVar(&wait, "wait", false, "wait until the service is no longer deploying")
	return cmd
}

// idCommand is a command on one object named by its id: call does what it
// says and show prints the object it returns.
func idCommand[T any](use, short string, call func(*sdk.Client, context.Context, string) (T, error), show func(*cobra.Command, T) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			v, err := call(c, ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			return show(cmd, v)
		}),
	}
}

// rmCommand deletes one object named by its id.
func rmCommand(use, short, noun string, del func(*sdk.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(1),
		RunE: clientRun(func(cmd *cobra.Command, c *sdk.Client, args []string) error {
			if err := del(c, ctxOf(cmd), args[0]); err != nil {
				return err
			}
			if isJSON(cmd) {
				return printJSON(cmd, map[string]any{"deleted": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %s %s\n", noun, args[0])
			return nil
		}),
	}
}

package main

import (
	"os"
	"time"

	"github.com/atelier-dev/atelier/function/autoscale"
	"github.com/atelier-dev/atelier/function/sim"
	"github.com/spf13/cobra"
)

// newFnCommand returns `atelier fn`: serverless functions. Only the cost
// simulator exists so far; it needs no server and no login.
func newFnCommand() *cobra.Command {
	cmd := groupCommand("fn", "Serverless functions (so far: the cost simulator)")
	cmd.AddCommand(newFnSimulateCommand())
	return cmd
}

func newFnSimulateCommand() *cobra.Command {
	var (
		dir         string
		generate    bool
		gen         sim.GenerateConfig
		c           sim.Config
		concurrency int
	)
	cmd := &cobra.Command{
		Use:   "simulate --trace DIR | --generate",
		Short: "Replay an invocation trace (Azure Functions 2019 schema) against the autoscaler and keep-alive policies, offline",
		Long: `Replay one day of an invocation trace in the Azure Functions 2019 schema
(invocations_per_function_md.anon.d01.csv, function_durations_percentiles.anon.d01.csv,
app_memory_percentiles.anon.d01.csv in DIR) against the autoscaler with fixed
keep-alive of 30 s, 60 s, 10 min and 20 min and the hybrid histogram policy, and
print what each costs against an always-on deployment sized for the peak.
--generate writes a seeded synthetic trace (into DIR when --trace is given) and
replays it. Needs no server.`,
		Example: "  atelier fn simulate --generate --apps 50 --seed 1\n  atelier fn simulate --trace ./azure-d01 -o json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if dir == "" && !generate {
				return usagef("give --trace DIR, --generate, or both")
			}
			if gen.Apps < 0 || concurrency < 1 || c.GPUMemoryMB < 0 || c.ColdStart < 0 {
				return usagef("--apps, --gpu-memory and --cold-start must not be negative, --concurrency at least 1")
			}
			var tr *sim.Trace
			if generate {
				tr = sim.Generate(gen)
				if dir != "" {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						return err
					}
					if err := tr.WriteDir(dir); err != nil {
						return err
					}
				}
			} else if tr, err = sim.ReadDir(dir); err != nil {
				return err
			}
			c.Seed = gen.Seed
			c.Autoscale = autoscale.Settings{Concurrency: concurrency}
			rep, err := sim.NewReport(tr, c)
			if err != nil {
				return err
			}
			if out == outputJSON {
				for i := range rep.Results {
					rep.Results[i].PerApp = nil
				}
				return printJSON(cmd, rep)
			}
			return rep.WriteTable(cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "trace", "", "directory of the trace's CSV files (with --generate: where to write them)")
	f.BoolVar(&generate, "generate", false, "generate a seeded synthetic trace shaped like the Azure one")
	f.IntVar(&gen.Apps, "apps", 50, "apps in a generated trace")
	f.Uint64Var(&gen.Seed, "seed", 1, "seed of the generated trace and of the replay")
	f.IntVar(&c.GPUMemoryMB, "gpu-memory", 4096, "GPU memory of each instance in MB, for the GPU-memory GB-seconds")
	f.DurationVar(&c.ColdStart, "cold-start", 300*time.Millisecond, "time from starting an instance to its readiness")
	f.IntVar(&concurrency, "concurrency", 1, "requests one instance serves at once")
	_ = cmd.MarkFlagDirname("trace")
	return cmd
}

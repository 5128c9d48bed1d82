package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"runtime"
	"text/tabwriter"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// version is the CLI's version, set at build time with
// -ldflags "-X main.version=…".
var version = "dev"

// Output formats of -o.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// addClientCommands adds the client subcommands (login, logout, obs, apikey,
// version) and their global flags -o/--output and --endpoint. Every client
// command talks to the server through the Go SDK only.
func addClientCommands(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringP("output", "o", outputTable, "output format: table or json")
	pf.String("endpoint", "", "server URL (default $ATELIER_ENDPOINT, the credentials file's, or "+sdk.DefaultEndpoint+")")
	root.AddCommand(newLoginCommand(), newLogoutCommand(), newObsCommand(), newAPIKeyCommand(), newVersionCommand())
}

// usagef returns a usage error (exit status 2).
func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exactArgs is cobra.ExactArgs returning a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d; see '%s --help'", cmd.CommandPath(), n, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// rangeArgs is cobra.RangeArgs returning a usage error.
func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s takes %d to %d arguments, got %d; see '%s --help'", cmd.CommandPath(), lo, hi, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// groupCommand returns a command that only holds subcommands: run alone or
// with an unknown subcommand, it is a usage error.
func groupCommand(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("%s needs a subcommand; see '%s --help'", cmd.CommandPath(), cmd.CommandPath())
		},
	}
}

// runE adapts a command body: it checks -o first and renders domain errors
// as "message (code)".
func runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if _, err := outputFormat(cmd); err != nil {
			return err
		}
		return cliError(fn(cmd, args))
	}
}

// cliError makes a bare *atelier.Error print as "message (code)" like the
// API's errors do; usage errors and SDK errors pass unchanged.
func cliError(err error) error {
	if err == nil {
		return nil
	}
	var ue usageError
	var ae *sdk.APIError
	var ce *core.Error
	if errors.As(err, &ue) || errors.As(err, &ae) || !errors.As(err, &ce) {
		return err
	}
	return &sdk.APIError{Err: ce}
}

// outputFormat returns the -o value, or a usage error for an unknown one.
func outputFormat(cmd *cobra.Command) (string, error) {
	o, err := cmd.Flags().GetString("output")
	if err != nil {
		return outputTable, nil // a command without the flag: only tests build those
	}
	if o != outputTable && o != outputJSON {
		return "", usagef("-o must be %q or %q, not %q", outputTable, outputJSON, o)
	}
	return o, nil
}

func isJSON(cmd *cobra.Command) bool {
	o, _ := outputFormat(cmd)
	return o == outputJSON
}

// printJSON writes v as indented JSON to the command's standard output.
func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// report prints v as JSON with -o json, else the sentence format makes of
// args, on a line of its own.
func report(cmd *cobra.Command, v any, format string, args ...any) error {
	if isJSON(cmd) {
		return printJSON(cmd, v)
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), format+"\n", args...)
	return err
}

// table returns a tab writer on the command's standard output; flush it.
func table(cmd *cobra.Command) *tabwriter.Writer {
	return tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
}

// clientOptions returns the SDK settings from the environment and the
// credentials file, with --endpoint overriding the endpoint.
func clientOptions(cmd *cobra.Command) (sdk.Options, error) {
	opts, err := sdk.LoadConfig()
	if err != nil {
		return opts, err
	}
	if ep, _ := cmd.Flags().GetString("endpoint"); ep != "" {
		opts.Endpoint = ep
	}
	opts.UserAgent = "atelier-cli/" + version
	return opts, nil
}

// newClient returns an SDK client for the command.
func newClient(cmd *cobra.Command) (*sdk.Client, error) {
	opts, err := clientOptions(cmd)
	if err != nil {
		return nil, err
	}
	c, err := sdk.New(opts)
	if err != nil {
		return nil, usageError{cliError(err)}
	}
	return c, nil
}

// isTerminal reports whether r or w is a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the client's version",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			v := map[string]string{"version": version, "sdk": sdk.Version, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH}
			if isJSON(cmd) {
				return printJSON(cmd, v)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "atelier %s (sdk %s, %s %s/%s)\n", version, sdk.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}),
	}
}

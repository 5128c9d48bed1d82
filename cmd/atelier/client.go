package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// version and commit are the CLI's version and VCS revision, set at build
// time with -ldflags "-X main.version=… -X main.commit=…"; without them
// the build information's (debug.ReadBuildInfo) are used.
var (
	version = "dev"
	commit  = ""
)

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
	pf.String("endpoint", "", "server URL (default $ATELIER_ENDPOINT, else the profile's, else "+sdk.DefaultEndpoint+")")
	pf.String("profile", "", "credentials profile to use (default $ATELIER_PROFILE, else the current one; see 'atelier profile ls')")
	root.AddCommand(newLoginCommand(), newLogoutCommand(), newProfileCommand(), newObsCommand(), newAPIKeyCommand(), newVersionCommand())
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
	var nl notLoggedInError
	var ae *sdk.APIError
	var ce *core.Error
	if errors.As(err, &ue) || errors.As(err, &nl) || errors.As(err, &ae) || !errors.As(err, &ce) {
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

// selection returns the --profile and --endpoint flags.
func selection(cmd *cobra.Command) sdk.Selection {
	profile, _ := cmd.Flags().GetString("profile")
	endpoint, _ := cmd.Flags().GetString("endpoint")
	return sdk.Selection{Profile: profile, Endpoint: endpoint}
}

// clientConfig returns the SDK settings from the flags, the environment and
// the credentials file. A token is only taken for the server that issued
// it (sdk.ResolveConfig); a profile that does not exist or is for another
// server is a usage error.
func clientConfig(cmd *cobra.Command) (*sdk.Config, error) {
	cfg, err := sdk.ResolveConfig(selection(cmd))
	if err != nil {
		if core.IsKind(err, core.Invalid) {
			return nil, usageError{cliError(err)}
		}
		return nil, err
	}
	cfg.UserAgent = "atelier-cli/" + version
	return cfg, nil
}

// notLoggedInError is the error of a command with no credentials for its
// server; it prints as its message alone, which says how to log in.
type notLoggedInError struct{ err error }

func (e notLoggedInError) Error() string {
	var ce *core.Error
	if errors.As(e.err, &ce) {
		return ce.Message
	}
	return e.err.Error()
}
func (e notLoggedInError) Unwrap() error { return e.err }

// newClient returns an SDK client for the command. Without credentials for
// its server, each call that needs them answers "not logged in to <server>;
// run atelier login" and sends nothing; the command's own checks of its
// flags and arguments come first.
func newClient(cmd *cobra.Command) (*sdk.Client, error) {
	cfg, err := clientConfig(cmd)
	if err != nil {
		return nil, err
	}
	if !cfg.HasCredentials() {
		cfg.Options.NotLoggedIn = notLoggedInError{cfg.NotLoggedIn()}
	}
	c, err := sdk.New(cfg.Options)
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

// buildVersion is what `atelier version` reports.
type buildVersion struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`                // the VCS revision, "unknown" when not recorded
	CommitTime string `json:"commit_time,omitempty"` // RFC 3339
	Modified   bool   `json:"modified,omitempty"`    // built from a tree with uncommitted changes
	Go         string `json:"go"`
	SDK        string `json:"sdk"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
}

// readBuildVersion returns the version (-ldflags "-X main.version=…", else
// the module's when installed at a version), the commit and the Go version
// from the build information (runtime/debug.ReadBuildInfo).
func readBuildVersion() buildVersion {
	v := buildVersion{Version: version, Commit: "unknown", Go: runtime.Version(), SDK: sdk.Version, OS: runtime.GOOS, Arch: runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = &debug.BuildInfo{}
	}
	if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if commit != "" {
		v.Commit = commit
	}
	return v
}

// String is the one-line form: "atelier v (commit c, go1.x os/arch, sdk s)".
func (v buildVersion) String() string {
	commit := v.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if v.Modified {
		commit += "+dirty"
	}
	return fmt.Sprintf("atelier %s (commit %s, %s %s/%s, sdk %s)", v.Version, commit, v.Go, v.OS, v.Arch, v.SDK)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the client's version, commit and Go version (also atelier --version)",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			v := readBuildVersion()
			return report(cmd, v, "%s", v)
		}),
	}
}

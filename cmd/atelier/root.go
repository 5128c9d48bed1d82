package main

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"
)

// Exit statuses (CONTRACT §2).
const (
	exitOK      = 0
	exitRefused = 1 // the API refused the request; its message is on stderr
	exitUsage   = 2 // bad flags or arguments
)

// usageError marks an error as the user's misuse of the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run executes the command line and returns the exit status.
func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var status exitStatus
	if errors.As(err, &status) {
		return int(status) // the command said why on stderr
	}
	fmt.Fprintln(os.Stderr, "atelier:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRefused
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "atelier",
		Short:         "Atelier: a self-hosted AI development platform",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildVersion().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServerCommand())
	root.AddCommand(newAdminCommand())
	addClientCommands(root)
	addDirectoryCommands(root)
	root.AddCommand(newJobCommand())
	root.AddCommand(newDatasetCommand())
	root.AddCommand(newModelCommand(), newServiceCommand())
	root.AddCommand(newFnCommand())
	root.AddCommand(newTaskStageCommand())
	addVerbAliases(root)
	addCompletions(root)
	return root
}

// verbAliases are the other names of the verbs every noun shares: ls is
// also list, rm also delete.
var verbAliases = map[string]string{"ls": "list", "rm": "delete"}

// addVerbAliases gives every ls and rm subcommand its alias, so that each
// noun takes both spellings.
func addVerbAliases(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if alias, ok := verbAliases[sub.Name()]; ok && !slices.Contains(sub.Aliases, alias) {
			sub.Aliases = append(sub.Aliases, alias)
		}
		addVerbAliases(sub)
	}
}

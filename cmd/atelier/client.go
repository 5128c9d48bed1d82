package main

import "github.com/spf13/cobra"

// addClientCommands is replaced by the CLI: login, logout, obs, apikey, version.
func addClientCommands(root *cobra.Command) {}

package main

import "github.com/spf13/cobra"

// newServerCommand is replaced by the server wiring.
func newServerCommand() *cobra.Command {
	return &cobra.Command{Use: "server", Short: "Run the Atelier platform"}
}

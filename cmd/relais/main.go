// Command relais is the Relais hub and its agency-side tools in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/relais-hub/relais/adapters/agency"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		var he *agency.HubError
		if errors.As(err, &he) {
			fmt.Fprintf(os.Stderr, "relais: refusé par le hub / refused by the hub: %s\n", he)
		} else {
			fmt.Fprintf(os.Stderr, "relais: %v\n", err)
		}
		os.Exit(1)
	}
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "relais",
		Short:         "Relais: signed, consent-checked case-transfer messaging between child-protection services",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), agencyCmd(), sendCmd(), inboxCmd(), answerCmd(true), answerCmd(false), trailCmd(), demoCmd())
	root.AddCommand(transfersCmd())
	root.AddCommand(auditorWithKeyCmd(), auditCmd())
	root.AddCommand(policyCmd(), supervisorCmd(), approveCmd(), withdrawCmd())
	root.AddCommand(importCmd())
	root.AddCommand(backupCmd(), restoreCmd())
	root.AddCommand(hubCmd())
	root.AddCommand(benchCmd())
	root.AddCommand(statsCmd(), directoryCmd())
	root.AddCommand(agentCmd())
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

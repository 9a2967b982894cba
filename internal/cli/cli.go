// Package cli holds Strowger's subcommands. cmd/strowger hands it the
// arguments; it hands a parsed configuration to node.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/strowger/strowger/internal/config"
	"github.com/strowger/strowger/internal/node"
)

const usage = `usage: strowger <command> [flags]

commands:
  serve     run a node (all roles by default); 'strowger serve -h' lists flags
  version   print the version
`

// Main runs a subcommand and returns the process exit code.
func Main(args []string, env []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], env, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "strowger", node.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "strowger: unknown command %q\n%s", args[0], usage)
	return 2
}

func serve(args, env []string, stdout, stderr io.Writer) int {
	cfg, err := config.Parse("serve", args, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "strowger serve:", err)
		return 2
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("node", cfg.NodeName)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	n := node.New(cfg, log, stdout)
	err = n.Start(startCtx)
	cancel()
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	<-ctx.Done()
	stop()
	log.Info("shutting down")
	// A second signal during shutdown exits at once.
	hard := make(chan os.Signal, 1)
	signal.Notify(hard, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n.Stop(shutCtx)
		close(done)
	}()
	select {
	case <-done:
		log.Info("stopped")
		return 0
	case <-hard:
		log.Warn("second signal: exiting now")
		return 1
	}
}

// Command ferry moves big files through the web without losing a byte:
// resumable WebSocket uploads and RFC 9110 range downloads.
//
//	ferry [serve] [flags]     serve uploads and downloads (the default)
//	ferry upload FILE...      upload files with a progress bar, resuming where they stopped
//	ferry link ID...          print signed read-only links to files
//	ferry wait ID...          wait until uploads are complete
//	ferry download ID...      download files, checking their SHA-256
//	ferry smoke --server URL  check a live deployment end to end
//	ferry version             print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `ferry moves big files through the web without losing a byte.

Usage:
  ferry [serve] [flags]        serve uploads and downloads (default; see ferry serve --help)
  ferry upload [flags] FILE... upload files, resuming interrupted uploads (ferry upload --help)
  ferry link [flags] ID...     print signed, expiring read-only links to files (ferry link --help)
  ferry wait [flags] ID...     wait until uploads are complete; non-zero if one fails (ferry wait --help)
  ferry download [flags] ID... download files, checking their SHA-256 (ferry download --help)
  ferry smoke --server URL     check a live deployment end to end (ferry smoke --help)
  ferry version                print the version

Every flag can also be set from the environment (FERRY_<FLAG>, e.g. FERRY_ADDR).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "ferry:", err)
			os.Exit(1)
		}
	}
}

// run dispatches to a subcommand; with no subcommand (or only flags) it serves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help" && args[0] != "-help") {
		return runServe(ctx, args, stdout, stderr)
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "upload":
		return runUpload(ctx, args[1:], stdout, stderr)
	case "link":
		return runLink(ctx, args[1:], stdout, stderr)
	case "wait":
		return runWait(ctx, args[1:], stdout, stderr)
	case "download":
		return runDownload(ctx, args[1:], stdout, stderr)
	case "smoke":
		return runSmoke(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "ferry", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

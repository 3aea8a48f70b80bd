package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/probes/versions"
	"github.com/whisgee/whisgee/proxyctl/envoy"
)

const envoyUsage = `Usage:
  whisgee envoy render [-c whisgee.yaml] [--out DIR] [--self-signed]
      print Envoy's bootstrap for the stack, or write every file Envoy
      needs (bootstrap, EDS file, certificate) into DIR
  whisgee envoy validate [--binary ENVOY] FILE
      check an Envoy bootstrap or EDS file against Envoy's schema and
      whisgee's extra checks (and envoy --mode validate when installed)
  whisgee envoy latest [--binary ENVOY] [--api URL]
      show the installed Envoy and the newest stable release`

func runEnvoy(ctx context.Context, args []string) error {
	return envoyMain(ctx, args, os.Stdout, os.Stderr)
}

func envoyMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"want a subcommand: render, validate or latest; run `whisgee envoy help` for their flags"}
	}
	switch args[0] {
	case "render":
		return envoyRender(args[1:], stdout)
	case "validate":
		return envoyValidate(ctx, args[1:], stdout, stderr)
	case "latest":
		return envoyLatest(ctx, args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, envoyUsage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q; want render, validate or latest", args[0])}
}

func envoyRender(args []string, stdout io.Writer) error {
	fs := newFlags("envoy render", "[-c whisgee.yaml] [--out DIR] [--self-signed]")
	cfgPath := fs.String("c", "whisgee.yaml", "the stack's config `file`")
	out := fs.String("out", "", "write every file Envoy needs into `DIR` instead of printing the bootstrap")
	selfSigned := fs.Bool("self-signed", false, "make a self-signed certificate when the config names none")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("render: unexpected argument %q; the config comes with -c FILE", fs.Arg(0))}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	files, err := envoy.Render(cfg, envoy.RenderOptions{Dir: *out, SelfSigned: *selfSigned})
	if err != nil {
		return err
	}
	if *out == "" {
		_, err := stdout.Write(files.Bootstrap)
		return err
	}
	if err := files.Write(*out); err != nil {
		return err
	}
	// The certificate exists now: check everything, files included.
	if err := envoy.ValidateBootstrap(files.Bootstrap).Err(); err != nil {
		return fmt.Errorf("the rendered config is invalid (a whisgee bug; please report it): %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s\nwrote %s\n", files.BootstrapPath(), files.EDSPath())
	if files.CertPEM != nil {
		fmt.Fprintf(stdout, "certificate %s, key %s\n", files.CertPath, files.KeyPath)
	}
	fmt.Fprintf(stdout, "run: envoy -c %s\n", files.BootstrapPath())
	return nil
}

func envoyValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("envoy validate", "[--binary ENVOY] FILE")
	binary := fs.String("binary", "envoy", "the envoy `executable` for `envoy --mode validate`, used when found")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"validate: want one FILE, an Envoy bootstrap or EDS file"}
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %v", path, errors.Unwrap(err))
	}
	kind, r := "bootstrap", envoy.ValidateBootstrap(data)
	if looksLikeEDS(data) {
		kind, r = "EDS file", envoy.ValidateEDS(data)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", path, w)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(stderr, "%s: %s\n", path, p)
	}
	if len(r.Problems) > 0 {
		return fmt.Errorf("%s: %d problem(s) in this Envoy %s; fix them and run again", path, len(r.Problems), kind)
	}
	how := "Envoy's v3 schema and whisgee's checks"
	if bin, err := exec.LookPath(*binary); err == nil && kind == "bootstrap" {
		out, err := exec.CommandContext(ctx, bin, "--mode", "validate", "-c", path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: envoy --mode validate: %s", path, strings.TrimSpace(lastLine(string(out))))
		}
		how += " and envoy --mode validate"
	}
	fmt.Fprintf(stdout, "%s: valid Envoy %s (%s)\n", path, kind, how)
	return nil
}

// looksLikeEDS tells an EDS file (a DiscoveryResponse) from a bootstrap.
func looksLikeEDS(data []byte) bool {
	s := string(data)
	return strings.Contains(s, "ClusterLoadAssignment") && !strings.Contains(s, "static_resources") && !strings.Contains(s, "admin:")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func envoyLatest(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("envoy latest", "[--binary ENVOY] [--api URL]")
	binary := fs.String("binary", "envoy", "the installed envoy `executable`")
	api := fs.String("api", "", "GitHub API base `URL` (default https://api.github.com/)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	installed := "none"
	if bin, err := exec.LookPath(*binary); err == nil {
		if v := envoy.EnvoyVersion(ctx, bin, nil); v != "" {
			installed = v
		} else {
			installed = "unknown"
		}
	}
	latest, err := versions.Latest(ctx, versions.Options{BaseURL: *api})
	fmt.Fprintf(stdout, "installed %s, latest %s", installed, latest)
	if installed != "none" && latest != versions.Unknown && versions.CompareStrings(latest, installed) > 0 {
		fmt.Fprint(stdout, " (update available)")
	}
	fmt.Fprintln(stdout)
	if err != nil {
		// Not fatal: "unknown" is the answer; say why on stderr.
		fmt.Fprintf(os.Stderr, "whisgee envoy latest: %v\n", err)
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/internal/safefs"
	"github.com/whisgee/whisgee/supervisor/circus"
)

// runCircus is `whisgee circus render|import`: circus.ini from whisgee.yaml
// and back.
func runCircus(ctx context.Context, args []string) error {
	usage := "render -c whisgee.yaml [-o circus.ini] | import [-o whisgee.yaml] circus.ini"
	if len(args) == 0 {
		return usageError{"want a subcommand: " + usage}
	}
	switch args[0] {
	case "render":
		return runCircusRender(args[1:])
	case "import":
		return runCircusImport(args[1:])
	case "-h", "--help", "help":
		fmt.Println("Usage: whisgee circus " + usage + "\n\nRun `whisgee circus render -h` or `whisgee circus import -h` for flags.")
		return nil
	}
	return usageError{fmt.Sprintf("unknown subcommand %q; want render or import", args[0])}
}

func runCircusRender(args []string) error {
	fs := newFlags("circus render", "-c whisgee.yaml [flags]")
	cfgPath := fs.String("c", "whisgee.yaml", "the stack's config file")
	out := fs.String("o", "", "write circus.ini to this file (default: standard output)")
	force := fs.Bool("f", false, "overwrite the -o file if it exists")
	sockets := fs.String("sockets", "shared", "shared: one circus socket for all workers; per-worker: a socket and a watcher per worker, so the proxy can drain one")
	warmup := fs.Duration("warmup-delay", 0, "circus's pause between spawning two workers")
	runner := fs.String("runner", "", "path of whisgee_runner.py on the circusd host (default: written to the config's run_dir)")
	tcpBase := fs.Int("tcp-port", 8001, "first port of the workers' sockets when workers.socket is tcp")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("render: unexpected argument %q; the config is given with -c", fs.Arg(0))}
	}
	opts := []circus.RenderOption{circus.WithWarmupDelay(*warmup), circus.WithTCPBasePort(*tcpBase)}
	switch *sockets {
	case "shared":
	case "per-worker":
		opts = append(opts, circus.WithPerWorkerSockets())
	default:
		return usageError{fmt.Sprintf("render: -sockets %q: want shared or per-worker", *sockets)}
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if *runner != "" {
		opts = append(opts, circus.WithRunner(*runner))
	} else {
		// The rendered command runs the runner from run_dir: put it there,
		// in a directory nobody else may change.
		if err := safefs.EnsureDir(cfg.RunDir, safefs.Private); err != nil {
			return fmt.Errorf("run_dir: %w; or pass -runner PATH to use a runner already in place", err)
		}
		p, err := assets.WriteFile(cfg.RunDir, "whisgee_runner.py", assets.Runner(), 0o644)
		if err != nil {
			return fmt.Errorf("cannot write the worker runner to %s (%v); pass -runner PATH to use one already there", cfg.RunDir, err)
		}
		opts = append(opts, circus.WithRunner(p))
	}
	ini, err := circus.RenderINI(cfg, opts...)
	if err != nil {
		return err
	}
	return writeOutput(*out, ini, *force)
}

func runCircusImport(args []string) error {
	fs := newFlags("circus import", "[flags] circus.ini")
	out := fs.String("o", "", "write whisgee.yaml to this file (default: standard output)")
	force := fs.Bool("f", false, "overwrite the -o file if it exists")
	watcher := fs.String("watcher", "", "the watcher that runs the workers (default: the only one, or the one fed a circus socket)")
	engine := fs.String("engine", "builtin", "builtin: whisgee supervises, and answers circusctl on the old endpoint; circus: keep circusd and drive it")
	files, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usageError{"import: give one circus.ini file"}
	}
	if *engine != "builtin" && *engine != "circus" {
		return usageError{fmt.Sprintf("import: -engine %q: want builtin or circus", *engine)}
	}
	src := files[0]
	data, err := os.ReadFile(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such file; give the path of circusd's circus.ini", src)
		}
		return err
	}
	yml, err := circus.ImportINI(data, src, circus.ImportOptions{Watcher: *watcher, Engine: *engine})
	if err != nil {
		return err
	}
	return writeOutput(*out, yml, *force)
}

// renderCircusForInstall is the installer's circus hook: circus.ini next
// to whisgee.yaml, and the worker runner it names beside it (run_dir may be
// a tmpfs that a reboot empties).
func renderCircusForInstall(cfg *config.Config) ([]installer.EngineFile, error) {
	dir := filepath.Dir(cfg.Path)
	runner := filepath.Join(dir, "whisgee_runner.py")
	ini, err := circus.RenderINI(cfg, circus.WithRunner(runner))
	if err != nil {
		return nil, err
	}
	return []installer.EngineFile{
		{Path: filepath.Join(dir, "circus.ini"), Data: ini},
		{Path: runner, Data: assets.Runner()},
	}, nil
}

// writeOutput writes data to path, or to standard output when path is
// empty; it keeps an existing file unless force is set.
func writeOutput(path string, data []byte, force bool) error {
	if path == "" {
		_, err := os.Stdout.Write(data)
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; pass -f to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", filepath.Clean(path))
	return nil
}

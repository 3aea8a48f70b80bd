package installer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/whisgee/whisgee/assets"
	"github.com/whisgee/whisgee/config"
)

// DemoModule is the WSGI callable of the demo app whisgee ships, used when
// no app is named.
const DemoModule = "demoapp:application"

// circusEndpoint is circusd's control endpoint in generated configs
// (circus's default port, loopback only).
const circusEndpoint = "tcp://127.0.0.1:5555"

func configStep(h *Host, o *Options, p *Plan) *Step {
	module := o.AppModule
	if module == "" {
		module = DemoModule
	}
	cfgPath := o.ConfigPath
	demoPath := filepath.Join(filepath.Dir(cfgPath), "demoapp.py")
	s := &Step{
		Name:  StepConfig,
		Title: "write " + cfgPath + " (" + o.ProxyEngine + " proxy, " + o.SupervisorEngine + " supervisor, " + fmt.Sprint(o.Workers) + " workers)",
		DoneIf: []Check{{Desc: cfgPath + " exists and loads", Func: func(context.Context, *Runner) (bool, string, error) {
			_, err := loadExisting(o, cfgPath)
			if os.IsNotExist(err) {
				return false, "no " + cfgPath + " yet", nil
			}
			if err != nil {
				return false, err.Error(), nil
			}
			return true, "kept " + cfgPath + " (delete it to have it written again)", nil
		}}},
	}
	if module == DemoModule {
		s.DoneIf = append(s.DoneIf, Check{Desc: demoPath + " exists", Func: fileExists(o, demoPath)})
	}
	s.Writes, s.SudoWrites = configWrites(h, o, module, demoPath), true
	if o.Root != "" {
		s.Instead = "use an image root this user can write"
	}
	s.Actions = append(s.Actions, &Action{
		Desc: "write " + cfgPath,
		Do: func(ctx context.Context, r *Runner, out io.Writer) error {
			cfg, err := loadExisting(o, cfgPath)
			if err == nil {
				fmt.Fprintf(out, "keeping %s\n", cfgPath)
			} else if !os.IsNotExist(err) {
				return fmt.Errorf("%v; whisgee will not overwrite it: fix it, or move it aside to have a new one written", err)
			} else {
				data := RenderConfig(h, o, module)
				if cfg, err = config.Parse(data, cfgPath); err != nil {
					return fmt.Errorf("the generated config does not load (a whisgee bug): %w", err)
				}
				if err := o.writeTarget(ctx, r, cfgPath, data, 0o644, out); err != nil {
					return err
				}
			}
			return writeEngineConfigs(ctx, r, o, cfg, out)
		},
	})
	if module == DemoModule {
		s.Actions = append(s.Actions, &Action{
			Desc: "write the demo app " + demoPath,
			Do: func(ctx context.Context, r *Runner, out io.Writer) error {
				return o.writeTarget(ctx, r, demoPath, assets.DemoApp(), 0o644, out)
			},
			SkipIf: []Check{{Desc: demoPath + " exists", Func: fileExists(o, demoPath)}},
		})
	}
	if o.SupervisorEngine == "circus" && o.RenderCircus == nil {
		s.Notes = append(s.Notes, "circus.ini: no renderer is wired into this build; `whisgee up` writes it")
	}
	if o.ProxyEngine == "envoy" && o.RenderEnvoy == nil {
		s.Notes = append(s.Notes, "Envoy bootstrap: no renderer is wired into this build; `whisgee up` renders it into proxy.envoy.config_dir")
	}
	return s
}

// configWrites are the files the config step writes: whisgee.yaml, the
// demo app, and the Envoy bootstrap's directory when Envoy is the proxy.
func configWrites(h *Host, o *Options, module, demoPath string) []string {
	writes := []string{o.under(o.ConfigPath)}
	if module == DemoModule {
		writes = append(writes, o.under(demoPath))
	}
	if o.ProxyEngine == "envoy" && o.RenderEnvoy != nil {
		if cfg, err := config.Parse(RenderConfig(h, o, module), o.ConfigPath); err == nil {
			writes = append(writes, o.under(cfg.Proxy.Envoy.ConfigDir))
		}
	}
	return writes
}

// loadExisting loads the config at path on the target;
// os.IsNotExist(err) when there is none.
func loadExisting(o *Options, path string) (*config.Config, error) {
	data, err := o.readTarget(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(data, path)
}

// writeEngineConfigs runs the circus and Envoy renderer hooks for the
// engines the config chose.
func writeEngineConfigs(ctx context.Context, r *Runner, o *Options, cfg *config.Config, out io.Writer) error {
	hooks := []struct {
		what   string
		chosen bool
		render EngineConfigRenderer
	}{
		{"circus.ini", cfg.Supervisor.Engine == "circus", o.RenderCircus},
		{"the Envoy bootstrap", cfg.Proxy.Engine == "envoy", o.RenderEnvoy},
	}
	for _, hk := range hooks {
		if !hk.chosen {
			continue
		}
		if hk.render == nil {
			fmt.Fprintf(out, "%s: not written here (no renderer wired into this build); `whisgee up` writes it\n", hk.what)
			continue
		}
		files, err := hk.render(cfg)
		if err != nil {
			return fmt.Errorf("rendering %s: %w", hk.what, err)
		}
		for _, f := range files {
			if err := o.writeTarget(ctx, r, f.Path, f.Data, 0o644, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// RenderConfig is the whisgee.yaml the config step writes: the venv's
// interpreter, the worker count and the engines chosen. It holds no
// timestamp, so a second run writes the same bytes.
func RenderConfig(h *Host, o *Options, module string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# whisgee.yaml, written by `whisgee install` for %s.\n", h.PrettyName)
	b.WriteString("# Edit freely: `whisgee install` keeps an existing file. Every key and its\n# default is documented in whisgee's config package.\n")
	b.WriteString("app:\n")
	fmt.Fprintf(&b, "  module: %s\n", module)
	fmt.Fprintf(&b, "  python: %s\n", filepath.Join(o.Venv, "bin", "python"))
	b.WriteString("workers:\n")
	fmt.Fprintf(&b, "  count: %d\n", o.Workers)
	b.WriteString("proxy:\n")
	fmt.Fprintf(&b, "  engine: %s\n", o.ProxyEngine)
	if o.ProxyEngine == "envoy" {
		b.WriteString("  envoy:\n")
		fmt.Fprintf(&b, "    binary: %s\n", envoyBinaryFor(o))
	}
	b.WriteString("supervisor:\n")
	fmt.Fprintf(&b, "  engine: %s\n", o.SupervisorEngine)
	if o.SupervisorEngine == "circus" {
		fmt.Fprintf(&b, "  endpoint: %s\n", circusEndpoint)
	}
	return []byte(b.String())
}

// envoyBinaryFor is where the config says Envoy is: the release binary's
// path, or the mirror package's.
func envoyBinaryFor(o *Options) string {
	if o.EnvoySource == EnvoyRepo {
		for _, p := range mirrorEnvoyPaths {
			if o.existsOnTarget(p) {
				return p
			}
		}
		return mirrorEnvoyPaths[0]
	}
	if o.EnvoySource == EnvoySkip {
		return "envoy"
	}
	return o.EnvoyBinary
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/config"
)

func TestCircusRenderThenImport(t *testing.T) {
	dir, err := os.MkdirTemp("", "wg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfgPath := filepath.Join(dir, "whisgee.yaml")
	yml := "app:\n  module: demoapp:application\nworkers:\n  count: 2\ncontrol:\n  socket: " + filepath.Join(dir, "control.sock") + "\n"
	if err := os.WriteFile(cfgPath, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "circus.ini")
	if code := run([]string{"circus", "render", "-c", cfgPath, "-o", ini}); code != 0 {
		t.Fatalf("render exited %d", code)
	}
	// The runner the rendered command names was put in place.
	if _, err := os.Stat(filepath.Join(dir, "whisgee_runner.py")); err != nil {
		t.Errorf("render did not write the runner: %v", err)
	}
	if code := run([]string{"circus", "render", "-c", cfgPath, "-o", ini}); code != 1 {
		t.Errorf("render over an existing file exited %d, want 1 (it keeps the file without -f)", code)
	}
	out := filepath.Join(dir, "imported.yaml")
	// Flags may follow the file.
	if code := run([]string{"circus", "import", ini, "-engine", "circus", "-o", out}); code != 0 {
		t.Fatalf("import exited %d", code)
	}
	cfg, err := config.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.App.Module != "demoapp:application" || cfg.Workers.Count != 2 || cfg.Supervisor.Engine != "circus" {
		t.Errorf("imported %+v %+v %+v", cfg.App, cfg.Workers, cfg.Supervisor)
	}
}

func TestCircusUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"circus"}, {"circus", "frobnicate"}, {"circus", "render", "-nope"},
		{"circus", "render", "-sockets", "weird"}, {"circus", "import"}, {"circus", "import", "a.ini", "b.ini"},
		{"circus", "import", "-engine", "systemd", "a.ini"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("%s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	if code := run([]string{"circus", "import", filepath.Join(t.TempDir(), "missing.ini")}); code != 1 {
		t.Errorf("import of a missing file: exit %d, want 1", code)
	}
}

func TestInstallerGetsCircusIniAndRunner(t *testing.T) {
	cfg, err := config.Parse([]byte("app: {module: \"app:application\"}\nsupervisor: {engine: circus, endpoint: \"tcp://127.0.0.1:5555\"}\n"), "/etc/whisgee/whisgee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := renderCircusForInstall(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != "/etc/whisgee/circus.ini" || files[1].Path != "/etc/whisgee/whisgee_runner.py" {
		t.Fatalf("files %v", files)
	}
	if !strings.Contains(string(files[0].Data), "/etc/whisgee/whisgee_runner.py --fd $(circus.sockets.web)") {
		t.Errorf("circus.ini does not run the runner written beside it:\n%s", files[0].Data)
	}
}

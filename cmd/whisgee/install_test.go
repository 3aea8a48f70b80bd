package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whisgee/whisgee/config"
	"github.com/whisgee/whisgee/proxyctl/envoy"
)

const fedora40 = "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40 (Server Edition)\"\n"

func imageRoot(t *testing.T, osRelease string) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "etc/os-release"), []byte(osRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestInstallConfigStepTwice runs `whisgee install --yes --only config`
// into an image root, then again: the second run reports it satisfied
// and leaves the file as it was.
func TestInstallConfigStepTwice(t *testing.T) {
	root := imageRoot(t, fedora40)
	args := []string{"--yes", "--root", root, "--only", "config", "--workers", "3", "--envoy-source", "skip", "--log", filepath.Join(t.TempDir(), "install.log")}
	var out bytes.Buffer
	if err := install(context.Background(), args, nil, &out, false, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "==> finished: 1 done in ") || !strings.Contains(out.String(), "\n    config    done ") {
		t.Fatalf("first run:\n%s", out.String())
	}
	cfgPath := filepath.Join(root, "etc/whisgee/whisgee.yaml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workers.Count != 3 || cfg.Proxy.Engine != "builtin" || cfg.App.Module != "demoapp:application" {
		t.Errorf("config: %d workers, %s proxy, module %s", cfg.Workers.Count, cfg.Proxy.Engine, cfg.App.Module)
	}
	before, _ := os.Stat(cfgPath)
	out.Reset()
	if err := install(context.Background(), args, nil, &out, false, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "state: satisfied (kept /etc/whisgee/whisgee.yaml") || !strings.Contains(out.String(), "==> finished: 1 satisfied in ") {
		t.Fatalf("second run:\n%s", out.String())
	}
	if after, _ := os.Stat(cfgPath); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the second run rewrote the config")
	}
}

func TestInstallDryRunChangesNothing(t *testing.T) {
	root := imageRoot(t, fedora40)
	var out bytes.Buffer
	if err := install(context.Background(), []string{"--dry-run", "--root", root, "--only", "config,venv"}, nil, &out, false, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"host:    Fedora Linux 40 (Server Edition) (fedora 40)", "venv: create the virtualenv", "state: to do (no /etc/whisgee/whisgee.yaml yet)", "$ chroot " + root + " python3 -m venv /opt/whisgee/venv"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(root, "etc/whisgee")); err == nil {
		t.Error("--dry-run wrote files")
	}
}

func TestInstallRefusals(t *testing.T) {
	arch := imageRoot(t, "ID=arch\nNAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\n")
	fed := imageRoot(t, fedora40)
	cases := []struct {
		args  []string
		tty   bool
		usage bool
		want  string
	}{
		{[]string{"--root", fed}, false, true, "not a terminal: pass --yes"},
		{[]string{"--dry-run", "--only", "pakages", "--root", fed}, false, true, `no step "pakages"`},
		{[]string{"--dry-run", "--bogus"}, false, true, "flag provided but not defined"},
		{[]string{"--dry-run", "--envoy-repo", "https://getenvoy.io/linux/centos/tetrate-getenvoy.repo", "--root", fed}, false, true, "HTTP 402"},
		{[]string{"--dry-run", "--root", arch}, false, false, `unsupported host: "Arch Linux"`},
		{[]string{"--dry-run", "--wheelhouse", "/nonexistent/wheels"}, false, true, "not a directory"},
	}
	for _, c := range cases {
		err := install(context.Background(), c.args, nil, &bytes.Buffer{}, c.tty, false)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, &ue) != c.usage {
			t.Errorf("%q: got %v (usage error: %v), want %q (usage error: %v)", c.args, err, errors.As(err, &ue), c.want, c.usage)
		}
	}
}

// TestInstallAsksOnATerminal: without --yes, a terminal is asked and
// anything but "y" does nothing.
func TestInstallAsksOnATerminal(t *testing.T) {
	root := imageRoot(t, fedora40)
	var out bytes.Buffer
	err := install(context.Background(), []string{"--root", root, "--only", "config", "--log", filepath.Join(t.TempDir(), "l")}, strings.NewReader("\n"), &out, true, false)
	if err != nil || !strings.Contains(out.String(), "Run this plan? [y/N]") || !strings.Contains(out.String(), "nothing done") {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(root, "etc/whisgee/whisgee.yaml")); err == nil {
		t.Error("answering no still wrote the config")
	}
}

// TestInstallWritesEnvoysConfigWhenChosen: with --proxy envoy the config
// step also writes Envoy's bootstrap and EDS file, which pass Envoy's
// schema, and a second run changes nothing.
func TestInstallWritesEnvoysConfigWhenChosen(t *testing.T) {
	root := imageRoot(t, fedora40)
	args := []string{"--yes", "--root", root, "--only", "config", "--proxy", "envoy", "--envoy-source", "skip", "--log", filepath.Join(t.TempDir(), "install.log")}
	var out bytes.Buffer
	if err := install(context.Background(), args, nil, &out, false, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	cfg, err := config.Load(filepath.Join(root, "etc/whisgee/whisgee.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Proxy.Engine != "envoy" {
		t.Fatalf("proxy engine %q", cfg.Proxy.Engine)
	}
	bootstrap := filepath.Join(root, cfg.Proxy.Envoy.ConfigDir, envoy.BootstrapFile)
	data, err := os.ReadFile(bootstrap)
	if err != nil {
		t.Fatalf("no Envoy bootstrap written: %v\n%s", err, out.String())
	}
	// The schema check; certificate files are left to whisgee up.
	if r := envoy.ValidateBootstrap(data); r.Bootstrap == nil || len(r.Bootstrap.GetStaticResources().GetClusters()) == 0 {
		t.Fatalf("written bootstrap does not parse as Envoy's: %v", r.Err())
	}
	before, _ := os.Stat(bootstrap)
	out.Reset()
	if err := install(context.Background(), args, nil, &out, false, false); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(bootstrap); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("the second run rewrote the bootstrap:\n%s", out.String())
	}
}

package installer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// pm builds package-manager argv for a host: the command, the
// operator's extra options, and --installroot/--releasever for an image
// root (an empty root has no rpmdb to read the release from).
func pm(h *Host, o *Options, args ...string) []string {
	cmd := "dnf"
	if h.PackageManager() == Yum {
		cmd = "yum"
	}
	argv := append([]string{cmd}, o.DNFArgs...)
	if o.Root != "" {
		argv = append(argv, "--installroot="+o.Root, "--releasever="+h.VersionID)
	}
	return append(argv, args...)
}

// rpmQuery is a check that every name is provided by an installed package.
func rpmQuery(o *Options, names ...string) Check {
	argv := []string{"rpm"}
	if o.Root != "" {
		argv = append(argv, "--root", o.Root)
	}
	argv = append(argv, "-q", "--whatprovides")
	return Check{Desc: strings.Join(names, ", ") + " installed", Argv: append(argv, names...)}
}

// findable is a check that a package is installed or installable from the
// repos enabled now: `dnf list` exits 1 when it matches nothing.
func findable(h *Host, o *Options, name string) Check {
	return Check{Desc: name + " installed or installable from enabled repos", Argv: pm(h, o, "-q", "list", name)}
}

// rpmSteps are the repos and packages steps of a yum/dnf host.
func rpmSteps(h *Host, o *Options, p *Plan) []*Step {
	return []*Step{rpmReposStep(h, o, p), rpmPackagesStep(h, o)}
}

func rpmReposStep(h *Host, o *Options, p *Plan) *Step {
	s := &Step{Name: StepRepos, Root: true, Title: "make libev-devel installable"}
	libev := findable(h, o, "libev-devel")
	s.DoneIf = []Check{libev}
	repo, needsRepo := h.libevRepo(o.Arch)
	if getenvoy := deadGetEnvoyRepos(o); len(getenvoy) > 0 {
		for _, f := range getenvoy {
			s.Actions = append(s.Actions, moveAsideRepo(o, f))
		}
		s.Notes = append(s.Notes, "GetEnvoy was shut down in 2021: its repo answers HTTP 402 and makes every dnf command fail, so whisgee moves its .repo file aside")
	}
	switch {
	case h.Distro == CentOS:
		s.Title = "point yum at the CentOS 7 vault and the EPEL 7 archive (libev-devel is in EPEL)"
		s.Actions = append(s.Actions, centos7VaultActions(h, o, libev)...)
	case h.Distro == RHEL:
		s.Title = "enable " + repo.Name + " (libev-devel is there)"
		s.Actions = append(s.Actions, &Action{
			Desc: "enable " + repo.ID + " through subscription-manager",
			Argv: []string{"subscription-manager", "repos", "--enable", repo.ID}, Root: true,
			SkipIf: []Check{libev},
		})
	case needsRepo:
		s.Title = "enable " + repo.Name + " (libev-devel is there)"
		s.Actions = append(s.Actions,
			&Action{
				Desc: "install dnf-plugins-core (dnf config-manager)",
				Argv: pm(h, o, "install", "-y", "dnf-plugins-core"), Root: true,
				SkipIf: []Check{libev, rpmQuery(o, "dnf-plugins-core")},
			},
			&Action{
				Desc: "enable the " + repo.ID + " repository",
				Argv: pm(h, o, "config-manager", "--set-enabled", repo.ID), Root: true,
				SkipIf: []Check{libev},
			})
	}
	if o.EnvoySource == EnvoyRepo {
		if s.Title == "make libev-devel installable" {
			s.Title = "add your Envoy mirror"
		} else {
			s.Title += "; add your Envoy mirror"
		}
		s.Actions = append(s.Actions, mirrorRepoAction(o))
		s.DoneIf = append(s.DoneIf, findable(h, o, o.EnvoyPackage))
		if h.PackageManager() == DNF5 {
			s.Notes = append(s.Notes, "dnf5 rejects `dnf config-manager --add-repo`; its form is `dnf config-manager addrepo --from-repofile=URL`: whisgee writes the .repo file itself, which works with yum, dnf4 and dnf5")
		}
	}
	if len(s.Actions) == 0 {
		// Fedora: libev-devel is in the main repo; nothing to enable.
		return nil
	}
	return s
}

// centos7VaultActions point yum at vault.centos.org (the mirrorlist of an
// EOL release no longer resolves) and at the EPEL 7 archive.
func centos7VaultActions(h *Host, o *Options, libev Check) []*Action {
	vault := repoFile(o, "whisgee-centos7-vault.repo", centos7VaultRepo)
	epel := repoFile(o, "whisgee-epel7-archive.repo", epel7ArchiveRepo)
	return []*Action{
		vault,
		{
			Desc: "install yum-utils (yum-config-manager) from the vault",
			Argv: pm(h, o, "install", "-y", "--disablerepo=*", "--enablerepo=whisgee-vault-*", "yum-utils"), Root: true,
			SkipIf: []Check{libev, rpmQuery(o, "yum-utils")},
		},
		{
			Desc: "disable the dead mirrorlist repos base, updates and extras",
			Argv: append(yumConfigManager(o), "--disable", "base", "updates", "extras"), Root: true,
			SkipIf: []Check{libev},
		},
		{
			Desc: "install epel-release (EPEL's signing key) from the vault's extras",
			Argv: pm(h, o, "install", "-y", "epel-release"), Root: true,
			SkipIf: []Check{libev, rpmQuery(o, "epel-release")},
		},
		epel,
		{
			Desc: "disable epel (its metalink is retired; the archive replaces it)",
			Argv: append(yumConfigManager(o), "--disable", "epel"), Root: true,
			SkipIf: []Check{libev},
		},
	}
}

func yumConfigManager(o *Options) []string {
	argv := []string{"yum-config-manager"}
	if o.Root != "" {
		argv = append(argv, "--installroot="+o.Root)
	}
	return argv
}

const centos7VaultRepo = `# Written by whisgee install: CentOS 7 is end of life and its mirrorlist
# no longer resolves; these are the same repositories on vault.centos.org.
[whisgee-vault-os]
name=CentOS 7.9.2009 os (vault)
baseurl=https://vault.centos.org/7.9.2009/os/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7

[whisgee-vault-updates]
name=CentOS 7.9.2009 updates (vault)
baseurl=https://vault.centos.org/7.9.2009/updates/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7

[whisgee-vault-extras]
name=CentOS 7.9.2009 extras (vault)
baseurl=https://vault.centos.org/7.9.2009/extras/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-CentOS-7
`

const epel7ArchiveRepo = `# Written by whisgee install: EPEL 7 is archived; libev-devel is there.
[whisgee-epel7-archive]
name=EPEL 7 (archive)
baseurl=https://archives.fedoraproject.org/pub/archive/epel/7/$basearch/
gpgcheck=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-7
`

// repoFile is an action that writes a fixed .repo file, skipped when the
// file already holds exactly that.
func repoFile(o *Options, name, content string) *Action {
	path := "/etc/yum.repos.d/" + name
	return &Action{
		Desc: "write " + path,
		Root: true,
		Do: func(ctx context.Context, r *Runner, out io.Writer) error {
			return o.writeTarget(ctx, r, path, []byte(content), 0o644, out)
		},
		SkipIf: []Check{sameFile(o, path, []byte(content))},
	}
}

// sameFile is a check that path on the target holds exactly data.
func sameFile(o *Options, path string, data []byte) Check {
	return Check{Desc: o.under(path) + " is up to date", Func: func(context.Context, *Runner) (bool, string, error) {
		old, err := o.readTarget(path)
		return err == nil && string(old) == string(data), "", nil
	}}
}

// deadGetEnvoyRepos finds .repo files of the cancelled GetEnvoy service
// (paths on the target).
func deadGetEnvoyRepos(o *Options) []string {
	const dir = "/etc/yum.repos.d"
	var found []string
	names, _ := o.listTarget(dir)
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".repo") {
			continue
		}
		p := filepath.Join(dir, name)
		data, err := o.readTarget(p)
		if err == nil && (strings.Contains(string(data), "getenvoy.io") || strings.Contains(name, "getenvoy")) {
			found = append(found, p)
		}
	}
	return found
}

// moveAsideRepo renames the .repo file at path on the target.
func moveAsideRepo(o *Options, path string) *Action {
	target := path + ".whisgee-disabled"
	shown := o.under(path)
	return &Action{
		Desc: fmt.Sprintf("move %s aside to %s", shown, filepath.Base(target)),
		Root: true,
		Do: func(ctx context.Context, r *Runner, out io.Writer) error {
			return o.renameOnTarget(ctx, r, path, target, out)
		},
		SkipIf: []Check{{Desc: shown + " is gone", Func: func(context.Context, *Runner) (bool, string, error) {
			_, err := o.statTarget(path)
			return os.IsNotExist(err), "", nil
		}}},
	}
}

func rpmPackagesStep(h *Host, o *Options) *Step {
	names := []string{"gcc"}
	names = append(names, h.pythonPackages(o.Python)...)
	names = append(names, "libev-devel")
	if o.EnvoySource == EnvoyRepo {
		names = append(names, o.EnvoyPackage)
	}
	return &Step{
		Name: StepPackages, Root: true,
		Title:  "install " + strings.Join(names, " "),
		DoneIf: []Check{rpmQuery(o, names...)},
		Actions: []*Action{{
			Desc: "install the build tools, Python headers and libev-devel bjoern needs",
			Argv: pm(h, o, append([]string{"install", "-y"}, names...)...), Root: true,
		}},
	}
}

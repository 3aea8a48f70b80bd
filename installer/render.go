package installer

import (
	"fmt"
	"strings"
)

// Summary is the host facts a plan was made for, one per line.
func (p *Plan) Summary() []string {
	h, o := p.Host, p.Options
	py, _ := h.pythonVersionOf(o.Python)
	lines := []string{
		fmt.Sprintf("host:    %s", h),
		fmt.Sprintf("tools:   %s, %s, glibc %s", h.PackageManager(), o.Arch, h.Glibc()),
		fmt.Sprintf("python:  %s (%s) -> venv %s", o.Python, py, o.Venv),
		fmt.Sprintf("envoy:   %s", envoySummary(&o)),
		fmt.Sprintf("stack:   %s proxy, %s supervisor, %d workers -> %s", o.ProxyEngine, o.SupervisorEngine, o.Workers, o.ConfigPath),
	}
	if o.Root != "" {
		lines = append(lines, fmt.Sprintf("root:    %s (dnf --installroot; files under it)", o.Root))
	}
	if o.Wheelhouse != "" {
		lines = append(lines, fmt.Sprintf("pip:     offline from %s", o.Wheelhouse))
	}
	return lines
}

func envoySummary(o *Options) string {
	switch o.EnvoySource {
	case EnvoyRepo:
		return fmt.Sprintf("package %s from %s", o.EnvoyPackage, o.EnvoyRepo)
	case EnvoySkip:
		return "skipped"
	}
	if o.EnvoyVersion != "" {
		return "release " + o.EnvoyVersion + " binary from GitHub"
	}
	return "newest stable release binary from GitHub"
}

// Render is the plan as `whisgee install --dry-run` prints it: host facts,
// notes, then each step with its state (once probed), the checks that
// decide it, and the exact argv of each action.
func (p *Plan) Render() string {
	var b strings.Builder
	b.WriteString("whisgee install plan\n")
	for _, l := range p.Summary() {
		b.WriteString("  " + l + "\n")
	}
	if len(p.Notes) > 0 {
		b.WriteString("\nnotes:\n")
		for _, n := range p.Notes {
			b.WriteString("  ! " + n + "\n")
		}
	}
	if len(p.Steps) == 0 {
		b.WriteString("\nno steps selected\n")
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "\n%d. %s: %s\n", i+1, s.Name, s.Title)
		if state := s.State(); state != "" {
			fmt.Fprintf(&b, "   state: %s\n", state)
		}
		if line := s.rootLine(); line != "" {
			b.WriteString("   " + line + "\n")
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "   ! %s\n", n)
		}
		for _, c := range s.DoneIf {
			fmt.Fprintf(&b, "   done when %s\n", checkText(c))
		}
		for _, a := range s.Actions {
			mark := "-"
			if s.Probed && (a.Skipped || s.Satisfied) {
				mark = "="
			}
			fmt.Fprintf(&b, "   %s %s\n", mark, a.Desc)
			if a.Argv != nil {
				env := ""
				if len(a.Env) > 0 {
					env = strings.Join(a.Env, " ") + " "
				}
				fmt.Fprintf(&b, "       $ %s%s\n", env, QuoteArgv(a.Argv))
			} else {
				b.WriteString("       (done by whisgee itself)\n")
			}
			for _, c := range a.SkipIf {
				fmt.Fprintf(&b, "       skipped if %s\n", checkText(c))
			}
		}
	}
	if p.Steps != nil && p.Steps[0].Probed {
		b.WriteString("\n(= satisfied or skipped, - will run)\n")
	}
	return b.String()
}

// State is the step's probed state in a few words, or "" before Probe.
func (s *Step) State() string {
	switch {
	case s.Blocked != "":
		return "BLOCKED: " + s.Blocked
	case !s.Probed:
		return ""
	case s.Satisfied:
		return "satisfied (" + s.Detail + ")"
	case s.Detail != "":
		return "to do (" + s.Detail + ")"
	}
	return "to do"
}

// rootLine says whether the step needs root: before Probe, whether it
// changes the system; after, whether this user can run it, and if not,
// the fix. Satisfied steps need nothing.
func (s *Step) rootLine() string {
	switch {
	case s.NeedsRoot != "":
		return "needs root: " + s.NeedsRoot
	case s.Probed && s.Satisfied:
		return ""
	case s.ViaSudo:
		return "needs root: runs through `sudo -n`"
	case s.Root:
		return "needs root"
	}
	return ""
}

func checkText(c Check) string {
	if c.Argv != nil {
		return c.Desc + ": $ " + QuoteArgv(c.Argv)
	}
	return c.Desc
}

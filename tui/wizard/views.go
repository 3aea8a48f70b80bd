package wizard

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/installer"
)

// hostView is what was detected, before any choice.
func (m Model) hostView() string {
	h := m.cfg.Host
	py, pyv := h.DefaultPython()
	rows := [][2]string{
		{"Host", h.PrettyName},
		{"Family", fmt.Sprintf("%s %s, %s", h.Distro, h.VersionID, h.PackageManager())},
		{"glibc", h.Glibc().String() + glibcNote(h)},
		{"Default Python", fmt.Sprintf("%s (%s)", py, pyv)},
	}
	if m.cfg.Options.Root != "" {
		rows = append(rows, [2]string{"Image root", m.cfg.Options.Root})
	}
	var b strings.Builder
	b.WriteString(m.st.Title.Render("Detected") + "\n")
	for _, r := range rows {
		b.WriteString(m.st.Muted.Render(fmt.Sprintf("  %-16s", r[0])) + r[1] + "\n")
	}
	return b.String()
}

func glibcNote(h *installer.Host) string {
	if h.Glibc().Less(installer.EnvoyMinGlibc) {
		return " (too old for Envoy's release binary)"
	}
	return ""
}

// stateText is a step's probed state in a word or two, styled.
func (m Model) stateText(s *installer.Step) string {
	switch {
	case s.Blocked != "":
		return m.st.Error.Render("blocked")
	case s.NeedsRoot != "":
		return m.st.Warn.Render("needs root")
	case s.Satisfied:
		return m.st.OK.Render("satisfied")
	}
	return m.st.Warn.Render("to do")
}

// planView is the plan table and its notes. A step that cannot run has
// what stops it and the fix on lines of their own under it; compact
// leaves them out (the blocked confirm lists the fixes itself).
func (m Model) planView(compact bool) string {
	var b strings.Builder
	b.WriteString(m.st.Title.Render("Plan") + "\n")
	b.WriteString(m.st.TableHeader.Render(fmt.Sprintf("  %-9s %-10s %-4s %s", "STEP", "STATE", "ROOT", "WHAT")) + "\n")
	width := max(20, m.width-30)
	for _, s := range m.plan.Steps {
		root := ""
		if s.Root {
			root = "yes"
		}
		state := lipgloss.NewStyle().Width(10).Render(m.stateText(s))
		b.WriteString(fmt.Sprintf("  %-9s %s %-4s %s\n", s.Name, state, root, truncate(s.Title, width)))
		switch {
		case compact:
		case cannotRun(s):
			b.WriteString(m.detail(blockWhy(s), m.st.Faint))
			if fix := wizardFix(s); fix != "" {
				b.WriteString(m.detail("fix: "+fix, m.st.Warn))
			}
		case s.Satisfied && s.Detail != "":
			b.WriteString(m.st.Faint.Render("            "+truncate(s.Detail, width+16)) + "\n")
		}
	}
	if len(m.plan.Steps) == 0 {
		b.WriteString(m.st.Muted.Render("  no steps selected") + "\n")
	}
	for _, n := range m.plan.Notes {
		b.WriteString(m.st.Warn.Render("  ! "+n) + "\n")
	}
	return b.String()
}

// detail is a step's detail line under the table, wrapped to the screen
// and indented to the STATE column.
func (m Model) detail(text string, st lipgloss.Style) string {
	var b strings.Builder
	for _, l := range wrapWords(text, max(20, m.width-14)) {
		b.WriteString(st.Render("            "+l) + "\n")
	}
	return b.String()
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// confirmView asks before anything changes; "No" is focused first. When
// steps cannot run, it is the blocked confirm instead.
func (m Model) confirmView() string {
	if blocked := blockedSteps(m.plan); len(blocked) > 0 {
		return m.blockedConfirmView(blocked)
	}
	todo := 0
	for _, s := range m.plan.Steps {
		if !s.Satisfied {
			todo++
		}
	}
	q := fmt.Sprintf("Run the plan? %d of %d steps have work to do.", todo, len(m.plan.Steps))
	var viaSudo []string
	for _, s := range m.plan.Steps {
		if s.ViaSudo {
			viaSudo = append(viaSudo, s.Name)
		}
	}
	switch root := m.plan.RootSteps(); {
	case m.runner.IsRoot() && len(root) > 0:
		q += "\nChanging the system (as root): " + strings.Join(root, ", ") + "."
	case len(viaSudo) > 0:
		q += "\nNeeding root, run through `sudo -n`: " + strings.Join(viaSudo, ", ") + "."
	}
	no, yes := m.st.FocusedButton.Render("No"), m.st.Button.Render("Yes")
	if m.yes {
		no, yes = m.st.Button.Render("No"), m.st.FocusedButton.Render("Yes")
	}
	return m.st.Dialog.Render(q + "\n\n" + lipgloss.JoinHorizontal(lipgloss.Top, no, "  ", yes))
}

// runView is the steps with their state, a progress bar, the live tail,
// and on failure the error, the hint and the choices.
func (m Model) runView() string {
	var b strings.Builder
	finished := 0
	for i, s := range m.plan.Steps {
		st := m.status[i]
		var mark string
		switch st {
		case "running":
			mark = m.spinner.View()
		case string(installer.OutcomeDone):
			mark, finished = m.st.OK.Render("✓"), finished+1
		case string(installer.OutcomeSatisfied):
			mark, finished = m.st.OK.Render("="), finished+1
		case string(installer.OutcomeSkipped), "skipped by you", statusSkippedNeedsRoot, statusSkippedBlocked:
			mark, finished = m.st.Warn.Render("-"), finished+1
		case "failed", "interrupted":
			mark = m.st.Error.Render("✗")
		default:
			mark = m.st.Faint.Render("·")
		}
		// The title gives way to the outcome, which must stay on screen.
		outcome := ""
		if st != "" && st != "running" {
			outcome = "  " + st
		}
		line := fmt.Sprintf("%s %-9s %s", mark, s.Name, truncate(s.Title, max(20, m.width-14-len(outcome))))
		line += m.st.Muted.Render(outcome)
		b.WriteString(line + "\n")
		if st == string(installer.OutcomeSkipped) && s.Detail != "" {
			b.WriteString(m.st.Faint.Render("            "+s.Detail) + "\n")
		}
	}
	b.WriteString("\n" + m.bar.ViewAs(float64(finished)/float64(max(1, len(m.plan.Steps)))) + "\n")
	switch {
	case m.failure != nil && m.showLog:
		b.WriteString(m.st.Title.Render("Log "+m.cfg.LogPath) + "\n" + m.logView.View() + "\n")
	case m.failure != nil:
		b.WriteString(m.failureView())
	case m.phase == phaseRunning:
		b.WriteString(m.st.Muted.Render("output") + "\n")
		for _, l := range m.tail {
			b.WriteString(m.st.Faint.Render("  "+truncate(l, max(20, m.width-4))) + "\n")
		}
	default:
		b.WriteString(m.doneView())
	}
	return b.String()
}

func (m Model) failureView() string {
	f := m.failure
	var b strings.Builder
	b.WriteString(m.st.Error.Render(fmt.Sprintf("step %s failed: %s", f.Step, f.Action)) + "\n")
	b.WriteString("  " + truncate(f.Err.Error(), max(20, m.width*3)) + "\n")
	if f.Hint != "" {
		b.WriteString(m.st.Info.Render("  hint: "+f.Hint) + "\n")
	}
	for _, l := range lastN(f.Tail, m.cfg.TailLines) {
		b.WriteString(m.st.Faint.Render("  | "+truncate(l, max(20, m.width-6))) + "\n")
	}
	b.WriteString(fmt.Sprintf("\n%s retry  %s skip this step  %s abort  %s view log (%s)\n",
		m.st.Key.Render("[r]"), m.st.Key.Render("[s]"), m.st.Key.Render("[a]"), m.st.Key.Render("[v]"), m.cfg.LogPath))
	return b.String()
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// doneView is the summary: how the run ended, the steps skipped because
// they could not run with their fixes, and the log.
func (m Model) doneView() string {
	switch {
	case m.result.Aborted:
		return m.st.Error.Render("Aborted.") + " Full log: " + m.cfg.LogPath + "\n"
	case len(m.result.Failed) > 0:
		return m.st.Warn.Render("Finished, with skipped failures: "+strings.Join(m.result.Failed, ", ")) + ". Full log: " + m.cfg.LogPath + "\n" + m.skippedView()
	case len(m.result.SkippedBlocked) > 0:
		return m.st.Warn.Render("Finished the rest.") + " Full log: " + m.cfg.LogPath + "\n" + m.skippedView()
	}
	return m.st.OK.Render("Done.") + " Full log: " + m.cfg.LogPath + "\n"
}

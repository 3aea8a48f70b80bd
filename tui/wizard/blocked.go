package wizard

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/installer"
)

// Steps the probe found cannot run (this user lacks root or write access,
// or this host cannot run them at all) would fail the moment they start.
// The wizard says so before the run: the plan marks them with their fix,
// the choices say which choice clears them, and the confirm offers to go
// back to the choices, to run the rest with those steps skipped, or to
// quit; the summary lists what was skipped and how to finish it.

// Statuses of steps skipped because they could not run.
const (
	statusSkippedNeedsRoot = "skipped: needs root"
	statusSkippedBlocked   = "skipped: cannot run here"
)

// What the confirm offers when steps are blocked, in button order; the
// focus starts on the first, which changes nothing.
const (
	blockedBackToChoices = iota
	blockedSkipAndRun
	blockedQuit
	blockedChoiceCount
)

var blockedChoiceText = [blockedChoiceCount]string{"Back to the choices", "Skip them, run the rest", "Quit"}

// cannotRun reports whether the step would fail at once if started.
func cannotRun(s *installer.Step) bool { return s.Blocked != "" || s.NeedsRoot != "" }

// blockedSteps are the plan's steps that cannot run, in plan order.
func blockedSteps(p *installer.Plan) []*installer.Step {
	var out []*installer.Step
	if p == nil {
		return nil
	}
	for _, s := range p.Steps {
		if cannotRun(s) {
			out = append(out, s)
		}
	}
	return out
}

// blockWhy is what stops the step, without the fix.
func blockWhy(s *installer.Step) string {
	if s.Blocked != "" {
		return s.Blocked
	}
	return strings.TrimSuffix(s.NeedsRoot, ": "+s.RootFix)
}

// choiceField is the choice that can clear the step's block, or -1. The
// venv and config steps are blocked by paths this user cannot write
// (FixUserPaths), which a path of their own clears; Envoy, whether it
// needs root or this host cannot run the release binary, is not needed
// at all with the built-in proxy.
func choiceField(s *installer.Step) int {
	switch {
	case !cannotRun(s):
	case s.Name == installer.StepEnvoy:
		return fieldEnvoy
	case s.Name == installer.StepVenv && s.RootFix == installer.FixUserPaths:
		return fieldVenv
	case s.Name == installer.StepConfig && s.RootFix == installer.FixUserPaths:
		return fieldConfig
	}
	return -1
}

// wizardFix is the step's fix in the wizard's words: a choice on the
// choices screen where one clears it, else the installer's own fix ("" for
// a host-blocked step, whose reason says what to do).
func wizardFix(s *installer.Step) string {
	switch choiceField(s) {
	case fieldVenv:
		return "run as root, or choose a Virtualenv this user can write"
	case fieldConfig:
		return "run as root, or choose a Config file this user can write"
	case fieldEnvoy:
		if s.Blocked != "" {
			return "choose Envoy from: skip (built-in proxy) or your mirror"
		}
		return "run as root, or choose Envoy from: skip (built-in proxy)"
	}
	return s.RootFix
}

// choiceHint is what the choices screen says about a step a choice can
// clear.
func choiceHint(s *installer.Step) string {
	switch choiceField(s) {
	case fieldVenv:
		return fmt.Sprintf("venv: %s: choose a Virtualenv this user can write, e.g. ~/whisgee/venv", blockWhy(s))
	case fieldConfig:
		return fmt.Sprintf("config: %s: choose a Config file this user can write, e.g. ~/whisgee/whisgee.yaml", blockWhy(s))
	case fieldEnvoy:
		return fmt.Sprintf("envoy: %s: choose Envoy from: skip (the built-in proxy needs none)", blockWhy(s))
	}
	return ""
}

// wrapWords breaks text into lines of at most width cells at spaces only
// (paths and flags stay whole; a word longer than width gets a line of
// its own).
func wrapWords(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case lipgloss.Width(line)+1+lipgloss.Width(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	return append(lines, line)
}

// toChoices goes back to the choices, pointing at the first choice that
// clears a blocked step and saying what to pick.
func (m Model) toChoices() Model {
	m.phase = phaseChoices
	var hints []string
	focus := -1
	for _, s := range blockedSteps(m.plan) {
		if f := choiceField(s); f >= 0 {
			hints = append(hints, choiceHint(s))
			if focus < 0 || f < focus {
				focus = f
			}
		}
	}
	m.choices.hints = hints
	if focus >= 0 {
		m.choices.focusOn(focus)
	}
	return m
}

// updateBlockedConfirm is the confirm when steps cannot run: back to the
// choices (the focus at first), skip them and run the rest, or quit.
func (m Model) updateBlockedConfirm(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(k, m.keys.Left, m.keys.Prev):
		m.blockedAt = (m.blockedAt + blockedChoiceCount - 1) % blockedChoiceCount
	case key.Matches(k, m.keys.Right, m.keys.Next):
		m.blockedAt = (m.blockedAt + 1) % blockedChoiceCount
	case key.Matches(k, m.keys.Back):
		m.phase = phasePlan
	case key.Matches(k, m.keys.Confirm):
		switch m.blockedAt {
		case blockedBackToChoices:
			return m.toChoices(), nil
		case blockedSkipAndRun:
			return m.start(true)
		case blockedQuit:
			m.cancel()
			return m, tea.Quit
		}
	}
	return m, nil
}

// skipBlocked marks the steps that cannot run as skipped, for the run to
// pass over and the summary to list.
func (m Model) skipBlocked() Model {
	for i, s := range m.plan.Steps {
		if !cannotRun(s) {
			continue
		}
		m.status[i] = statusSkippedNeedsRoot
		skipped := SkippedStep{Name: s.Name, NeedsRoot: true, Why: "needs root: " + s.NeedsRoot}
		if s.Blocked != "" {
			m.status[i], skipped = statusSkippedBlocked, SkippedStep{Name: s.Name, Why: s.Blocked}
		}
		m.result.Outcomes[s.Name] = m.status[i]
		m.result.SkippedBlocked = append(m.result.SkippedBlocked, skipped)
	}
	return m
}

// blockedConfirmView says which steps cannot run and why, with the fix,
// over a compact plan, and offers the three ways on.
func (m Model) blockedConfirmView(blocked []*installer.Step) string {
	inner := max(30, m.width-8) // the dialog's border and padding
	var b strings.Builder
	b.WriteString(m.st.Warn.Render(fmt.Sprintf("%d of %d steps cannot run as this user or on this host:", len(blocked), len(m.plan.Steps))) + "\n")
	for _, s := range blocked {
		fix := wizardFix(s)
		if fix == "" {
			fix = blockWhy(s)
		}
		b.WriteString(fmt.Sprintf("  %-9s %s\n", s.Name, truncate(fix, inner-12)))
	}
	b.WriteString(truncate("Skipping them runs the rest; the summary says how to finish them.", inner) + "\n")
	var buttons []string
	for i, text := range blockedChoiceText {
		st := m.st.Button
		if i == m.blockedAt {
			st = m.st.FocusedButton
		}
		if i > 0 {
			buttons = append(buttons, " ")
		}
		buttons = append(buttons, st.Render(text))
	}
	b.WriteString(lipgloss.JoinHorizontal(lipgloss.Top, buttons...))
	return m.st.Dialog.Padding(0, 1).Render(b.String())
}

// skippedView lists the steps skipped because they could not run, each
// with what stops it and the fix, for the operator to finish later.
func (m Model) skippedView() string {
	if len(m.result.SkippedBlocked) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(m.st.Warn.Render("Not run, because they cannot run here; to finish them later:") + "\n")
	for _, skipped := range m.result.SkippedBlocked {
		for i, l := range wrapWords(skipped.String(), max(20, m.width-4)) {
			if i > 0 {
				l = "  " + l // continuation, under the step's text
			}
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}

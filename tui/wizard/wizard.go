// Package wizard is `whisgee bootstrap`: the install plan as an interactive
// Bubble Tea program. It shows the detected host, offers the choices that
// exist (Envoy source, interpreter, venv, workers), shows the probed plan,
// asks for confirmation with the focus on "No", then runs each step with a
// spinner and a live tail of its output; a failed step offers retry, skip,
// abort or the full log, with a hint for known failures.
//
// The steps are the installer engine's (installer.Runner.RunStep), run in
// tea.Cmds; this package only draws and routes.
//
// With Config.Unattended the same running view is `whisgee install --yes`
// on a terminal: the probed plan runs at once, the first failure ends it,
// and the caller prints Result().Steps with installer.RenderReport.
//
//	m := wizard.New(wizard.Config{Styles: st, Host: host, Options: opts, LogPath: path, Log: f})
//	final, err := tea.NewProgram(m).Run()
//	res := final.(wizard.Model).Result()
package wizard

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/installer"
	"github.com/whisgee/whisgee/tui/theme"
)

// Config is what the wizard starts from.
type Config struct {
	Styles theme.Styles
	// Host is the detected host (or image root).
	Host *installer.Host
	// Options are the command line's; the wizard's choices override the
	// fields it asks about.
	Options installer.Options
	// LogPath names the full log; Log receives it.
	LogPath string
	Log     io.Writer
	// Euid decides which steps run through sudo -n. If nil, os.Geteuid().
	Euid *int
	// BuildPlan makes a plan from options. If nil, installer.BuildPlan.
	BuildPlan func(*installer.Host, installer.Options) (*installer.Plan, error)
	// TailLines is how many output lines the live tail shows. If zero, 8.
	TailLines int

	// Unattended runs Plan (already probed) at once: no choices, no
	// confirm, and the first failure ends the run instead of offering
	// retry, skip or abort. The program quits when the run ends and
	// leaves an empty view, for the caller to print Result().Steps with
	// installer.RenderReport: `whisgee install --yes` on a terminal.
	Unattended bool
	// Plan is the plan an unattended run runs.
	Plan *installer.Plan
	// Title heads the screen. If empty, "whisgee bootstrap".
	Title string
	// Context, if set, bounds the steps: cancelling it interrupts the
	// running command (SIGINT). If nil, only ctrl+c does.
	Context context.Context
	// Now is the clock step durations are measured with. If nil, time.Now.
	Now func() time.Time
}

type phase int

const (
	phaseChoices phase = iota
	phasePlan
	phaseConfirm
	phaseRunning
	phaseDone
)

// Model is the wizard.
type Model struct {
	cfg    Config
	st     theme.Styles
	keys   KeyMap
	help   help.Model
	width  int
	height int

	phase   phase
	choices choices
	plan    *installer.Plan
	planErr string
	yes     bool // confirm dialog focus: false is "No"
	// blockedAt is the focused button of the confirm when steps cannot
	// run (blockedBackToChoices first).
	blockedAt int

	ctx     context.Context
	cancel  context.CancelFunc
	runner  *installer.Runner
	lines   chan string
	current int
	status  []string        // per step: "", "running", outcome, "failed", "skipped by you"
	started time.Time       // when the current step began
	took    []time.Duration // per step, once it ended
	errs    []error         // per step, its last failure
	tail    []string
	failure *installer.StepError
	spinner spinner.Model
	bar     progress.Model
	showLog bool
	logView viewport.Model

	result   Result
	quitting bool
}

// Msgs the wizard's Cmds return.
type (
	planMsg struct {
		plan *installer.Plan
		err  error
	}
	lineMsg     string
	stepDoneMsg struct {
		index   int
		outcome installer.Outcome
		err     error
	}
	logMsg string
)

// New makes the wizard.
func New(cfg Config) Model {
	if cfg.BuildPlan == nil {
		cfg.BuildPlan = installer.BuildPlan
	}
	if cfg.TailLines == 0 {
		cfg.TailLines = 8
	}
	if cfg.Title == "" {
		cfg.Title = "whisgee bootstrap"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	parent := cfg.Context
	if parent == nil {
		parent = context.Background()
	}
	euid := os.Geteuid()
	if cfg.Euid != nil {
		euid = *cfg.Euid
	}
	ctx, cancel := context.WithCancel(parent)
	m := Model{
		cfg: cfg, st: cfg.Styles, keys: DefaultKeyMap(), help: help.New(),
		width: 80, height: 24, ctx: ctx, cancel: cancel,
		lines:   make(chan string, 1024),
		spinner: spinner.New(spinner.WithSpinner(spinner.Line), spinner.WithStyle(cfg.Styles.Info)),
		// The bar draws with termenv itself: give it lipgloss's profile,
		// which honours NO_COLOR (termenv's default does not).
		bar: progress.New(progress.WithSolidFill(string(cfg.Styles.Theme.Primary.Dark)), progress.WithWidth(40),
			progress.WithColorProfile(lipgloss.ColorProfile())),
		logView: viewport.New(78, 12),
		result:  Result{Outcomes: map[string]string{}},
	}
	defPython, _ := cfg.Host.DefaultPython()
	m.choices = newChoices(cfg.Styles, m.keys, cfg.Options, defPython)
	lines := m.lines
	m.runner = installer.NewRunner(installer.RunnerOptions{
		Log: cfg.Log, Host: cfg.Host, Arch: cfg.Options.Arch, Euid: &euid,
		// Lines come from the step's goroutine; the channel hands them to
		// Update. A full channel drops lines for the tail (the log keeps all).
		Output: func(_, line string) {
			select {
			case lines <- line:
			default:
			}
		},
	})
	if cfg.Unattended && cfg.Plan != nil {
		m.plan = cfg.Plan
		m = m.startRun(false)
	}
	return m
}

// Init starts listening for output lines; an unattended run starts its
// first step.
func (m Model) Init() tea.Cmd {
	if !m.cfg.Unattended || m.plan == nil {
		return waitForLine(m.lines)
	}
	if m.phase == phaseDone {
		return tea.Quit // nothing to run
	}
	return tea.Batch(waitForLine(m.lines), m.runStep(m.current), m.spinner.Tick)
}

func waitForLine(ch <-chan string) tea.Cmd {
	return func() tea.Msg { return lineMsg(<-ch) }
}

// makePlan builds and probes the plan off the UI goroutine.
func (m Model) makePlan(opts installer.Options) tea.Cmd {
	build, host, runner, ctx := m.cfg.BuildPlan, m.cfg.Host, m.runner, m.ctx
	return func() tea.Msg {
		p, err := build(host, opts)
		if err == nil {
			runner.Probe(ctx, p)
		}
		return planMsg{p, err}
	}
}

// runStep runs one step of the plan in a Cmd.
func (m Model) runStep(i int) tea.Cmd {
	s, runner, ctx := m.plan.Steps[i], m.runner, m.ctx
	return func() tea.Msg {
		o, err := runner.RunStep(ctx, s)
		return stepDoneMsg{i, o, err}
	}
}

func readLog(path string) tea.Cmd {
	return func() tea.Msg {
		data, err := os.ReadFile(path)
		if err != nil {
			return logMsg("cannot read the log " + path + ": " + err.Error())
		}
		return logMsg(data)
	}
}

// Update routes: ctrl+c first, then the engine's Msgs, then keys to the
// phase that owns them.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if key.Matches(msg, m.keys.Quit) {
			return m.quit()
		}
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.logView.Width, m.logView.Height = msg.Width-2, max(5, msg.Height-12)
		m.help.Width = msg.Width
		m.choices.width = msg.Width
		return m, nil
	case lineMsg:
		m.tail = append(m.tail, string(msg))
		if len(m.tail) > m.cfg.TailLines {
			m.tail = m.tail[len(m.tail)-m.cfg.TailLines:]
		}
		return m, waitForLine(m.lines)
	case planMsg:
		return m.onPlan(msg)
	case stepDoneMsg:
		return m.onStepDone(msg)
	case logMsg:
		m.logView.SetContent(string(msg))
		m.logView.GotoBottom()
		return m, nil
	case spinner.TickMsg:
		if m.phase != phaseRunning || m.failure != nil {
			return m, nil // let the tick die; a new step restarts it
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	}
	switch m.phase {
	case phaseChoices:
		return m.updateChoices(msg)
	case phasePlan:
		return m.updatePlan(msg)
	case phaseConfirm:
		return m.updateConfirm(msg)
	case phaseRunning:
		return m.updateRunning(msg)
	case phaseDone:
		if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, m.keys.QuitDone) {
			return m, tea.Quit
		}
	}
	return m, nil
}

// quit stops at once, except while a step runs: then its command gets
// SIGINT (the context) and the wizard quits when it has ended.
func (m Model) quit() (tea.Model, tea.Cmd) {
	m.cancel()
	if m.phase == phaseRunning && m.failure == nil && m.status[m.current] == "running" {
		m.quitting = true
		return m, nil
	}
	if m.phase == phaseRunning {
		m.result.Aborted = true
	}
	return m, tea.Quit
}

func (m Model) updateChoices(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(submitted); ok {
		opts, err := m.choices.apply(m.cfg.Options)
		if err != nil {
			m.choices.err = err.Error()
			return m, nil
		}
		m.choices.err = ""
		return m, m.makePlan(opts)
	}
	var cmd tea.Cmd
	m.choices, cmd = m.choices.Update(msg)
	return m, cmd
}

func (m Model) onPlan(msg planMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.phase = phaseChoices
		m.choices.err = msg.err.Error()
		return m, nil
	}
	m.plan, m.phase = msg.plan, phasePlan
	m.choices.hints = nil // the new plan says what is still blocked
	return m, nil
}

func (m Model) updatePlan(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	switch {
	case !ok:
	case key.Matches(k, m.keys.Confirm):
		m.phase, m.yes, m.blockedAt = phaseConfirm, false, blockedBackToChoices
	case key.Matches(k, m.keys.Back):
		return m.toChoices(), nil
	}
	return m, nil
}

func (m Model) updateConfirm(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if ok && len(blockedSteps(m.plan)) > 0 {
		return m.updateBlockedConfirm(k)
	}
	switch {
	case !ok:
	case key.Matches(k, m.keys.Left, m.keys.Right, m.keys.Next, m.keys.Prev):
		m.yes = !m.yes
	case key.Matches(k, m.keys.Yes), key.Matches(k, m.keys.Confirm) && m.yes:
		return m.start(false)
	case key.Matches(k, m.keys.No, m.keys.Back), key.Matches(k, m.keys.Confirm):
		m.phase = phasePlan
	}
	return m, nil
}

// start runs the first step; with skipBlocked, the steps that cannot run
// are skipped, not started.
func (m Model) start(skipBlocked bool) (tea.Model, tea.Cmd) {
	m = m.startRun(skipBlocked)
	if m.phase == phaseDone {
		return m, nil
	}
	return m, tea.Batch(m.runStep(m.current), m.spinner.Tick)
}

// startRun moves to running the plan's first step to run; its Cmd is the
// caller's to return.
func (m Model) startRun(skipBlocked bool) Model {
	m.phase, m.result.Ran = phaseRunning, true
	n := len(m.plan.Steps)
	m.status, m.took, m.errs = make([]string, n), make([]time.Duration, n), make([]error, n)
	if skipBlocked {
		m = m.skipBlocked()
	}
	first := m.nextToRun(0)
	if first < 0 {
		m.phase = phaseDone
		return m
	}
	return m.mark(first)
}

// nextToRun is the first step from i on that has not run nor been
// skipped, or -1.
func (m Model) nextToRun(i int) int {
	for ; i < len(m.plan.Steps); i++ {
		if m.status[i] == "" {
			return i
		}
	}
	return -1
}

func (m Model) begin(i int) (tea.Model, tea.Cmd) {
	m = m.mark(i)
	return m, tea.Batch(m.runStep(i), m.spinner.Tick)
}

// mark makes step i the running one.
func (m Model) mark(i int) Model {
	m.current, m.failure, m.showLog, m.tail = i, nil, false, nil
	m.status[i], m.started = "running", m.cfg.Now()
	return m
}

func (m Model) onStepDone(msg stepDoneMsg) (tea.Model, tea.Cmd) {
	if m.phase != phaseRunning || msg.index != m.current {
		return m, nil
	}
	name := m.plan.Steps[msg.index].Name
	m.took[msg.index], m.errs[msg.index] = m.cfg.Now().Sub(m.started), msg.err
	if m.quitting {
		m.result.Aborted = true
		m.status[msg.index] = "interrupted"
		m.result.Outcomes[name] = "interrupted"
		return m, tea.Quit
	}
	if msg.err != nil {
		m.status[msg.index] = "failed"
		se, ok := msg.err.(*installer.StepError)
		if !ok {
			se = &installer.StepError{Step: name, Action: "run", Err: msg.err}
		}
		m.failure = se
		if m.cfg.Unattended {
			// No questions: the run ends here, and the report says why.
			m.result.Outcomes[name] = "failed"
			m.result.Failed = append(m.result.Failed, name)
			m.phase = phaseDone
			return m, tea.Quit
		}
		return m, nil
	}
	m.status[msg.index] = string(msg.outcome)
	m.result.Outcomes[name] = string(msg.outcome)
	return m.next()
}

// next moves past the current step, or finishes.
func (m Model) next() (tea.Model, tea.Cmd) {
	if i := m.nextToRun(m.current + 1); i >= 0 {
		return m.begin(i)
	}
	m.phase, m.failure = phaseDone, nil
	if m.cfg.Unattended {
		return m, tea.Quit
	}
	return m, nil
}

func (m Model) updateRunning(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok || m.failure == nil {
		return m, nil
	}
	name := m.plan.Steps[m.current].Name
	switch {
	case key.Matches(k, m.keys.Retry):
		return m.begin(m.current)
	case key.Matches(k, m.keys.Skip):
		m.status[m.current] = "skipped by you"
		m.result.Outcomes[name] = "skipped by you"
		m.result.Failed = append(m.result.Failed, name)
		m.failure = nil
		return m.next()
	case key.Matches(k, m.keys.Abort):
		m.result.Aborted = true
		m.result.Outcomes[name] = "failed"
		m.result.Failed = append(m.result.Failed, name)
		m.phase, m.failure = phaseDone, nil
		return m, nil
	case key.Matches(k, m.keys.ViewLog):
		m.showLog = !m.showLog
		if m.showLog {
			return m, readLog(m.cfg.LogPath)
		}
	case m.showLog && key.Matches(k, m.keys.Scroll):
		var cmd tea.Cmd
		m.logView, cmd = m.logView.Update(msg)
		return m, cmd
	}
	return m, nil
}

// View draws the phase. An unattended run that has ended draws nothing:
// the caller prints the plain report where the live view was.
func (m Model) View() string {
	if m.cfg.Unattended && m.phase == phaseDone {
		return ""
	}
	var b strings.Builder
	b.WriteString(m.st.Header.Render(m.cfg.Title) + m.st.Muted.Render("  "+m.cfg.Host.String()) + "\n\n")
	switch m.phase {
	case phaseChoices:
		// Back from a blocked plan, the room goes to what to change (the
		// header still names the host).
		if len(m.choices.hints) == 0 {
			b.WriteString(m.hostView() + "\n")
		}
		b.WriteString(m.choices.View())
	case phasePlan:
		b.WriteString(m.planView(false))
	case phaseConfirm:
		// A blocked confirm lists the fixes itself, under a compact plan.
		b.WriteString(m.planView(len(blockedSteps(m.plan)) > 0) + "\n" + m.confirmView())
	case phaseRunning, phaseDone:
		b.WriteString(m.runView())
	}
	b.WriteString("\n" + m.help.View(m))
	return b.String()
}

package dash

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/whisgee/whisgee/control"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/tuitest"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestStatusGivesRatesAndSchedulesNextPoll(t *testing.T) {
	m := New(Options{Client: &recorder{}, Refresh: 2 * time.Second})
	m = step(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m, cmd := stepCmd(t, m, statusMsg{poll: m.poll, at: t0, status: fixture(4, t0, 100)})
	if cmd == nil {
		t.Fatal("a status of the current poll chain scheduled no next poll")
	}
	if m.frame.Totals.Valid {
		t.Fatal("totals are valid after one snapshot; a rate needs two")
	}
	at := t0.Add(2 * time.Second)
	m = step(t, m, statusMsg{poll: m.poll, at: at, status: fixture(4, at, 120)})
	// Each worker i served 20*(i+1) requests in 2 s: 10*(i+1) req/s; 100 in all.
	if got := m.frame.Totals.ReqRate; !near(got, 100) {
		t.Errorf("total req/s = %v, want 100", got)
	}
	for i, r := range m.frame.Rows {
		if want := 10 * float64(i+1); !near(r.ReqRate, want) {
			t.Errorf("worker %d req/s = %v, want %v", i, r.ReqRate, want)
		}
		if r.Host == nil || r.Host.Address != r.Socket {
			t.Errorf("worker %d not joined with its proxy host on the socket", i)
		}
	}
	if n := len(m.tracker.History()); n != 1 {
		t.Errorf("history has %d points, want 1", n)
	}
}

func TestStalePollTicksAreDropped(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	if _, cmd := stepCmd(t, m, pollTickMsg{poll: m.poll - 1}); cmd != nil {
		t.Error("a tick of an old poll chain started a poll")
	}
	if _, cmd := stepCmd(t, m, pollTickMsg{poll: m.poll}); cmd == nil {
		t.Error("a tick of the current chain started no poll")
	}
	// A status answering an old chain updates the data but schedules nothing.
	if _, cmd := stepCmd(t, m, statusMsg{poll: m.poll - 1, at: t0.Add(time.Second), status: fixture(4, t0.Add(time.Second), 700)}); cmd != nil {
		t.Error("a status of an old poll chain scheduled a tick")
	}
}

func TestDaemonGoneShowsStaleBannerAndRecovers(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	at := t0.Add(time.Second)
	m, cmd := stepCmd(t, m, statusMsg{poll: m.poll, at: at, err: errors.New("no whisgee daemon on /tmp/x.sock")})
	if cmd == nil {
		t.Fatal("after a failed poll no retry was scheduled")
	}
	v := m.View()
	if !strings.Contains(v, "STALE") || !strings.Contains(v, "09:30:01") {
		t.Errorf("no stale banner with the time it went stale:\n%s", v)
	}
	if !strings.Contains(v, "workers 4/4 running") {
		t.Error("the last known data is gone while stale")
	}
	checkFrame(t, v, 80, 24)
	if !strings.Contains(v, "lost the daemon") {
		t.Error("no event line says the daemon was lost")
	}
	at = at.Add(time.Second)
	m = step(t, m, statusMsg{poll: m.poll, at: at, status: fixture(4, at, 800)})
	if v := m.View(); strings.Contains(v, "STALE") || !strings.Contains(v, "answers again") {
		t.Errorf("after recovery: banner still shown or no note:\n%s", v)
	}
}

func TestNewDaemonResubscribesFromStart(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	if m.lastSeq != 3 {
		t.Fatalf("lastSeq = %d, want 3", m.lastSeq)
	}
	gen := m.evGen
	st := fixture(4, t0.Add(time.Second), 1)
	st.Daemon.StartedAt = t0 // a new daemon
	m, cmd := stepCmd(t, m, statusMsg{poll: m.poll, at: t0.Add(time.Second), status: st})
	if m.lastSeq != 0 || m.evGen == gen {
		t.Errorf("after a daemon restart: lastSeq %d, gen %d→%d; want 0 and a new gen", m.lastSeq, gen, m.evGen)
	}
	started := await[eventsStartedMsg](t, cmd)
	if started.gen != m.evGen {
		t.Errorf("subscription gen %d, want %d", started.gen, m.evGen)
	}
}

func TestEventsStreamReconnects(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	m, cmd := stepCmd(t, m, eventsEndedMsg{gen: m.evGen, err: errors.New("EOF")})
	retry := await[eventsRetryMsg](t, cmd)
	m, cmd = stepCmd(t, m, retry)
	if cmd == nil {
		t.Fatal("a retry did not subscribe again")
	}
	if _, cmd := stepCmd(t, m, eventsEndedMsg{gen: m.evGen - 1}); cmd != nil {
		t.Error("the end of an old subscription started another retry")
	}
}

func TestStateEventShowsInRowAtOnce(t *testing.T) {
	m := loaded(t, &recorder{}, 160, 48, 4, false)
	ev := supervisor.Event{Seq: 10, Time: t0.Add(100 * time.Millisecond), Kind: supervisor.EventState, Worker: 2, State: "draining", Message: "worker-2 draining"}
	m = step(t, m, eventMsg{gen: m.evGen, ev: ev})
	if r := m.table.row(2); r.State != supervisor.StateDraining {
		t.Errorf("worker 2 state = %s, want draining", r.State)
	}
	var row string
	for _, l := range strings.Split(m.View(), "\n") {
		if strings.Contains(l, "w2.sock") {
			row = l
		}
	}
	if !strings.Contains(row, "draining") {
		t.Errorf("row does not show draining: %q", row)
	}
	// An exit empties the pid and shows how the process ended.
	exit := supervisor.Event{Seq: 12, Time: t0.Add(200 * time.Millisecond), Kind: supervisor.EventExit, Worker: 2,
		ExitCode: -9, Message: "worker-2 pid 1002 exited: signal 9 (killed)"}
	m = step(t, m, eventMsg{gen: m.evGen, ev: exit})
	if r := m.table.row(2); r.PID != 0 || r.LastExit != "signal 9 (killed)" {
		t.Errorf("after an exit event: pid %d, last exit %q", r.PID, r.LastExit)
	}
	// An event older than the status is shown but not applied: the status
	// is newer.
	old := supervisor.Event{Seq: 13, Time: t0.Add(-time.Minute), Kind: supervisor.EventState, Worker: 1, State: "stopped"}
	m = step(t, m, eventMsg{gen: m.evGen, ev: old})
	if r := m.table.row(1); r.State != supervisor.StateRunning {
		t.Errorf("an old event changed worker 1 to %s", r.State)
	}
	// A replayed event (Seq already seen) is ignored.
	m = step(t, m, eventMsg{gen: m.evGen, ev: ev})
	if n := strings.Count(m.View(), "worker-2 draining"); n != 1 {
		t.Errorf("event shown %d times, want once", n)
	}
}

func TestRestartAsksFirstWithFocusOnNo(t *testing.T) {
	rec := &recorder{}
	m := loaded(t, rec, 80, 24, 4, false)
	m = press(t, m, "j", "j", "r")
	if m.dialog == nil {
		t.Fatal("r opened no dialog")
	}
	if !strings.Contains(m.View(), "Restart worker-2 (pid 1002)?") {
		t.Errorf("dialog does not name worker 2:\n%s", m.View())
	}
	// enter takes the focused button, which starts on No.
	m, cmd := stepCmd(t, m, tuitest.Key("enter"))
	ans := await[confirmMsg](t, cmd)
	if ans.yes {
		t.Fatal("enter on a fresh dialog said yes")
	}
	m, cmd = stepCmd(t, m, ans)
	if m.dialog != nil || cmd != nil || len(rec.restarts) != 0 {
		t.Fatalf("after No: dialog %v, cmd %v, restarts %v", m.dialog != nil, cmd != nil, rec.restarts)
	}
	// esc cancels too.
	m = press(t, m, "r")
	m, cmd = stepCmd(t, m, tuitest.Key("esc"))
	if ans := await[confirmMsg](t, cmd); ans.yes {
		t.Fatal("esc said yes")
	}
	m = step(t, m, confirmMsg{act: m.dialog.act, yes: false})

	// y confirms: the restart runs, the row is marked, an audit line follows.
	m = press(t, m, "r")
	m, cmd = stepCmd(t, m, tuitest.Key("y"))
	ans = await[confirmMsg](t, cmd)
	m, cmd = stepCmd(t, m, ans)
	if !m.table.pending[2] {
		t.Error("worker 2 not marked as having an action under way")
	}
	if !strings.Contains(m.View(), "↻") {
		t.Error("the pending mark does not show in the row")
	}
	done := await[actionDoneMsg](t, cmd)
	if len(rec.restarts) != 1 || len(rec.restarts[0].IDs) != 1 || rec.restarts[0].IDs[0] != 2 {
		t.Fatalf("restart requests = %+v, want one for worker 2", rec.restarts)
	}
	m = step(t, m, done)
	if m.table.pending[2] {
		t.Error("worker 2 still marked pending after the action ended")
	}
	v := m.View()
	if !strings.Contains(v, "you") || !strings.Contains(v, "restart worker 2 → ok in 1s: restarted") {
		t.Errorf("no audit line for the restart:\n%s", v)
	}
}

func TestEnterOnYesConfirms(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	m = press(t, m, "R", "left")
	_, cmd := stepCmd(t, m, tuitest.Key("enter"))
	ans := await[confirmMsg](t, cmd)
	if !ans.yes || ans.act.kind != actRolling {
		t.Errorf("answer = %+v, want yes to a rolling restart", ans)
	}
}

func TestRollingRestartAndScale(t *testing.T) {
	rec := &recorder{}
	m := loaded(t, rec, 80, 24, 4, false)
	m = press(t, m, "R", "y")
	m, cmd := stepCmd(t, m, confirmMsg{act: m.dialog.act, yes: true})
	for id := 0; id < 4; id++ {
		if !m.table.pending[id] {
			t.Errorf("rolling restart: worker %d not marked", id)
		}
	}
	// While it runs, another stack-wide action is refused.
	if _, c := stepCmd(t, m, tuitest.Key("+")); c != nil {
		t.Error("+ during a rolling restart started an action")
	}
	m = step(t, m, await[actionDoneMsg](t, cmd))
	if rec.restarts[0].Rolling != true {
		t.Errorf("restart request %+v is not rolling", rec.restarts[0])
	}
	// + adds a worker at once, without asking.
	m, cmd = stepCmd(t, m, tuitest.Key("+"))
	if m.dialog != nil {
		t.Fatal("+ asked for confirmation")
	}
	await[actionDoneMsg](t, cmd)
	// - asks first.
	m = press(t, m, "-")
	if m.dialog == nil || m.dialog.act.count != 3 {
		t.Fatalf("- did not ask to scale to 3: %+v", m.dialog)
	}
	m = step(t, m, confirmMsg{act: m.dialog.act, yes: true})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.scales) != 1 || rec.scales[0] != 5 {
		t.Errorf("scale requests = %v, want [5] so far", rec.scales)
	}
}

func TestStopAsksStartDoesNot(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	m = press(t, m, "s")
	if m.dialog == nil || m.dialog.act.kind != actStop {
		t.Fatal("s on a running worker did not ask to stop it")
	}
	m = press(t, m, "n")
	m = step(t, m, confirmMsg{act: m.dialog.act})
	st := fixture(4, t0.Add(time.Second), 700)
	st.Workers[0].State, st.Workers[0].PID = supervisor.StateStopped, 0
	m = step(t, m, statusMsg{poll: m.poll, at: t0.Add(time.Second), status: st})
	m, cmd := stepCmd(t, m, tuitest.Key("s"))
	if m.dialog != nil {
		t.Fatal("s on a stopped worker asked first")
	}
	if done := await[actionDoneMsg](t, cmd); done.act.kind != actStart || done.act.worker != 0 {
		t.Errorf("action = %+v, want start of worker 0", done.act)
	}
}

func TestReadOnlyDisablesEveryAction(t *testing.T) {
	rec := &recorder{}
	m := loaded(t, rec, 80, 24, 4, true)
	for _, k := range []string{"r", "R", "+", "-", "s", "t", "[", "]"} {
		var cmd tea.Cmd
		m, cmd = stepCmd(t, m, tuitest.Key(k))
		if m.dialog != nil || cmd != nil {
			t.Errorf("read-only: %q opened a dialog or returned a Cmd", k)
		}
		if !strings.Contains(m.View(), "read-only") {
			t.Errorf("read-only: %q gave no note", k)
		}
	}
	if strings.Contains(m.View(), "restart worker") {
		t.Error("read-only help still lists restart")
	}
}

func TestTrafficKeys(t *testing.T) {
	rec := &recorder{}
	m := loaded(t, rec, 80, 24, 4, false)
	_, cmd := stepCmd(t, m, tuitest.Key("]"))
	tm := await[trafficMsg](t, cmd)
	if tm.traffic.Rate != 100 {
		t.Errorf("] from 50/s set %d/s, want 100", tm.traffic.Rate)
	}
	_, cmd = stepCmd(t, m, tuitest.Key("["))
	if tm := await[trafficMsg](t, cmd); tm.traffic.Rate != 20 {
		t.Errorf("[ from 50/s set %d/s, want 20", tm.traffic.Rate)
	}
	_, cmd = stepCmd(t, m, tuitest.Key("t"))
	tm = await[trafficMsg](t, cmd)
	if tm.traffic.Enabled {
		t.Error("t on a running generator did not turn it off")
	}
	m = step(t, m, tm)
	if !strings.Contains(m.View(), "traffic off") {
		t.Errorf("view does not show the generator off:\n%s", m.View())
	}
	// Without a generator the keys are off.
	st := fixture(4, t0.Add(time.Second), 700)
	st.Traffic = nil
	m = step(t, m, statusMsg{poll: m.poll, at: t0.Add(time.Second), status: st})
	if _, cmd := stepCmd(t, m, tuitest.Key("t")); cmd != nil {
		t.Error("t without a traffic generator returned a Cmd")
	}
}

func TestChartWindowKeys(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	for k, want := range map[string]string{"2": "last 5m", "3": "last 15m", "1": "last 1m"} {
		m = press(t, m, k)
		if !strings.Contains(m.View(), want) {
			t.Errorf("after %s the chart does not say %q", k, want)
		}
	}
}

func TestFilterNarrowsWorkersAndEvents(t *testing.T) {
	m := loaded(t, &recorder{}, 160, 48, 4, false)
	m = press(t, m, "/", "w", "3")
	if n := len(m.table.visible); n != 1 {
		t.Fatalf("filter w3 shows %d workers, want 1", n)
	}
	v := m.View()
	if strings.Contains(v, "w1.sock") || !strings.Contains(v, "w3.sock") {
		t.Errorf("filter did not narrow the table:\n%s", v)
	}
	m = press(t, m, "enter")
	if sel, _ := m.table.Selected(); sel.ID != 3 {
		t.Errorf("selection under the filter is worker %d, want 3", sel.ID)
	}
	m = press(t, m, "esc")
	if len(m.table.visible) != 4 {
		t.Error("esc did not clear the filter")
	}
}

func TestLogViewFollowsFiltersAndGoesBack(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	m = press(t, m, "j")
	m, cmd := stepCmd(t, m, tuitest.Key("l"))
	if m.logs == nil || m.logs.worker != 1 {
		t.Fatal("l did not open worker 1's log")
	}
	started := await[logsStartedMsg](t, cmd)
	if started.gen != m.logGen {
		t.Fatalf("log stream gen %d, want %d", started.gen, m.logGen)
	}
	for i, text := range []string{"alpha one", "beta two", "alpha three"} {
		m = step(t, m, logLineMsg{gen: m.logGen, line: supervisor.LogLine{Seq: uint64(i), Time: t0, Worker: 1, Text: text}})
	}
	// A line of an old stream is dropped.
	m = step(t, m, logLineMsg{gen: m.logGen - 1, line: supervisor.LogLine{Text: "stale line"}})
	v := m.View()
	if !strings.Contains(v, "beta two") || strings.Contains(v, "stale line") {
		t.Errorf("log view wrong:\n%s", v)
	}
	m = press(t, m, "/", "a", "l", "p", "h", "a")
	v = m.View()
	// The test's ASCII profile is NO_COLOR's: matches are marked » «.
	if strings.Contains(v, "beta two") || !strings.Contains(v, "»alpha« three") || !strings.Contains(v, "»alpha« one") {
		t.Errorf("filter alpha did not keep only alpha lines, marked:\n%s", v)
	}
	// esc inside the filter input clears it; esc again goes back.
	m = press(t, m, "esc")
	if m.logs == nil || m.logs.filter != "" {
		t.Fatal("esc in the filter closed the log view or kept the filter")
	}
	m = press(t, m, "esc")
	if m.logs != nil {
		t.Fatal("esc did not go back to the dashboard")
	}
	if !strings.Contains(m.View(), "workers 4/4") {
		t.Error("not back on the dashboard")
	}
}

func TestQuitKeys(t *testing.T) {
	m := loaded(t, &recorder{}, 80, 24, 4, false)
	_, cmd := stepCmd(t, m, tuitest.Key("q"))
	if _, ok := await[tea.QuitMsg](t, cmd), true; !ok {
		t.Fatal("q did not quit")
	}
	// ctrl+c quits even with a dialog open.
	m = press(t, m, "r")
	_, cmd = stepCmd(t, m, tuitest.Key("ctrl+c"))
	await[tea.QuitMsg](t, cmd)
	// q in a dialog answers no rather than quitting.
	_, cmd = stepCmd(t, m, tuitest.Key("q"))
	if ans := await[confirmMsg](t, cmd); ans.yes {
		t.Error("q in a dialog said yes")
	}
}

func TestActionFailureIsReported(t *testing.T) {
	rec := &recorder{err: &control.APIError{Status: 409, Message: "busy: worker 1 is restarting"}}
	m := loaded(t, rec, 80, 24, 4, false)
	m = press(t, m, "j", "r", "y")
	m, cmd := stepCmd(t, m, confirmMsg{act: m.dialog.act, yes: true})
	m = step(t, m, await[actionDoneMsg](t, cmd))
	v := m.View()
	if !strings.Contains(v, "restart worker 1 → failed after") {
		t.Errorf("failure not shown:\n%s", v)
	}
}

func TestPlainSummary(t *testing.T) {
	var tr Tracker
	tr.Add(fixture(2, t0, 100), t0)
	f := tr.Add(fixture(2, t0.Add(time.Second), 110), t0.Add(time.Second))
	out := PlainSummary(&f, t0.Add(time.Second))
	for _, want := range []string{"whisgee v0.1.0 on web1.example", "2/2 workers running", "30.0 req/s",
		"w0 worker-0 pid 1000 running", "w1 worker-1 pid 1001", "20.0", "demo traffic: on at 50 req/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("plain summary has escape codes")
	}
}

func TestOwnAuditEventsAreNotDoubled(t *testing.T) {
	m := New(Options{Client: &recorder{}, Actor: "dash-7"})
	m = step(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = step(t, m, statusMsg{poll: m.poll, at: t0, status: fixture(2, t0, 1)})
	for i, msg := range []string{"dash-7: restart of worker 1 requested", "ctl: scale to 3 workers requested"} {
		m = step(t, m, eventMsg{gen: m.evGen, ev: supervisor.Event{Seq: uint64(i + 1), Time: t0, Kind: supervisor.EventAction, Worker: -1, Message: msg}})
	}
	v := m.View()
	if strings.Contains(v, "dash-7: restart") || !strings.Contains(v, "ctl: scale to 3") {
		t.Errorf("own audit event shown, or another actor's hidden:\n%s", v)
	}
}

// TestNoAnswerCountsTheClustersFailures: requests no worker answered are
// counted on the cluster by both engines; the traffic line shows their
// rate, added to what listeners refused themselves.
func TestNoAnswerCountsTheClustersFailures(t *testing.T) {
	m := New(Options{Client: &recorder{}})
	m = step(t, m, tea.WindowSizeMsg{Width: 120, Height: 30})
	m = step(t, m, statusMsg{poll: m.poll, at: t0, status: fixture(4, t0, 100)})
	if strings.Contains(m.View(), "no answer") {
		t.Fatal("no answer shown before any failure")
	}
	at := t0.Add(2 * time.Second)
	next := fixture(4, at, 120)
	next.Proxy.Cluster.Errors = 6      // 3/s from the workers' side
	next.Proxy.Listeners[0].Errors = 2 // 1/s refused by the listener
	m = step(t, m, statusMsg{poll: m.poll, at: at, status: next})
	if got := m.frame.Totals.Errors; !near(got, 4) {
		t.Errorf("no-answer rate = %v, want 4 (3 cluster + 1 listener)", got)
	}
	if v := m.View(); !strings.Contains(v, "no answer 4") {
		t.Errorf("the traffic line does not show no answer 4/s:\n%s", v)
	}
}

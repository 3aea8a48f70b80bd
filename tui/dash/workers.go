package dash

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"

	"github.com/whisgee/whisgee/stats"
	"github.com/whisgee/whisgee/supervisor"
	"github.com/whisgee/whisgee/tui/theme"
)

// column is one column of the workers table. Columns with a lower prio
// drop out first when the terminal is narrow; flex takes the width left.
type column struct {
	title string
	width int
	right bool
	prio  int
	flex  bool
}

var workerColumns = []column{
	{title: "ID", width: 3, right: true, prio: 10},
	{title: "PID", width: 7, right: true, prio: 9},
	{title: "STATE", width: 9, prio: 10},
	{title: "UP", width: 6, right: true, prio: 6},
	{title: "RST", width: 3, right: true, prio: 5},
	{title: "CPU%", width: 5, right: true, prio: 5},
	{title: "RSS", width: 6, right: true, prio: 5},
	{title: "INFL", width: 4, right: true, prio: 7},
	{title: "REQ/S", width: 6, right: true, prio: 8},
	{title: "P99", width: 6, right: true, prio: 8},
	{title: "HEALTH", width: 9, prio: 7},
	{title: "LAST EXIT", width: 18, prio: 3},
	{title: "SOCKET", width: 12, prio: 2, flex: true},
}

// The columns whose cells are coloured.
const (
	colState  = 2
	colHealth = 10
)

// markerWidth is the cursor and pending-action gutter left of the table.
const markerWidth = 2

// workersTable is the workers pane: one row per worker, a cursor, and a
// text filter. It keeps the selection on the same worker id across
// refreshes.
type workersTable struct {
	styles   *theme.Styles
	rows     []Row
	visible  []int // indexes into rows that pass the filter
	cursor   int   // index into visible
	offset   int   // first visible row drawn
	selected int   // worker id under the cursor, -1 for none
	filter   string
	pending  map[int]bool // workers with an action under way
	width    int
	height   int // rows drawn, header excluded
	cols     []int
	widths   []int
	// cache of coloured state and health cells: the palette is fixed, and
	// styling is the costly part of a row.
	cells map[string]string
}

func newWorkersTable(st *theme.Styles) workersTable {
	return workersTable{styles: st, selected: -1, pending: map[int]bool{}, cells: map[string]string{}}
}

// SetRows replaces the rows, keeping the cursor on the same worker.
func (t *workersTable) SetRows(rows []Row) {
	t.rows = rows
	t.refilter()
}

// SetFilter shows only rows containing s (any case) in a text column.
func (t *workersTable) SetFilter(s string) {
	t.filter = strings.ToLower(s)
	t.refilter()
}

// SetSize sets the width and the number of rows drawn.
func (t *workersTable) SetSize(w, h int) {
	if w != t.width {
		t.width = w
		t.layout()
	}
	t.height = max(h, 1)
	t.scroll()
}

// Selected is the worker under the cursor.
func (t *workersTable) Selected() (Row, bool) {
	if t.cursor < 0 || t.cursor >= len(t.visible) {
		return Row{}, false
	}
	return t.rows[t.visible[t.cursor]], true
}

// Move moves the cursor by d rows, clamped.
func (t *workersTable) Move(d int) {
	if len(t.visible) == 0 {
		return
	}
	t.cursor = min(max(t.cursor+d, 0), len(t.visible)-1)
	t.selected = t.rows[t.visible[t.cursor]].ID
	t.scroll()
}

// row returns the row of worker id, or nil.
func (t *workersTable) row(id int) *Row {
	for i := range t.rows {
		if t.rows[i].ID == id {
			return &t.rows[i]
		}
	}
	return nil
}

func (t *workersTable) refilter() {
	t.visible = t.visible[:0]
	for i := range t.rows {
		if t.filter == "" || strings.Contains(rowText(&t.rows[i]), t.filter) {
			t.visible = append(t.visible, i)
		}
	}
	t.cursor = 0
	for vi, ri := range t.visible {
		if t.rows[ri].ID == t.selected {
			t.cursor = vi
		}
	}
	if len(t.visible) > 0 {
		t.selected = t.rows[t.visible[t.cursor]].ID
	}
	t.scroll()
}

func rowText(r *Row) string {
	return strings.ToLower(strings.Join([]string{r.Name, "w" + strconv.Itoa(r.ID), string(r.State),
		r.Health(), r.LastExit, r.Socket, strconv.Itoa(r.PID)}, " "))
}

func (t *workersTable) scroll() {
	if t.cursor < t.offset {
		t.offset = t.cursor
	}
	if t.cursor >= t.offset+t.height {
		t.offset = t.cursor - t.height + 1
	}
	t.offset = max(0, min(t.offset, len(t.visible)-t.height))
}

// layout picks the columns that fit the width, most important first.
func (t *workersTable) layout() {
	avail := t.width - markerWidth
	take := make([]bool, len(workerColumns))
	for prio := 10; prio >= 0; prio-- {
		for i, c := range workerColumns {
			if c.prio != prio {
				continue
			}
			if c.width+1 <= avail {
				take[i] = true
				avail -= c.width + 1
			}
		}
	}
	t.cols, t.widths = t.cols[:0], t.widths[:0]
	for i, c := range workerColumns {
		if !take[i] {
			continue
		}
		w := c.width
		if c.flex {
			w += avail
		}
		t.cols = append(t.cols, i)
		t.widths = append(t.widths, w)
	}
}

// View draws the header and the visible rows.
func (t *workersTable) View(now time.Time) string {
	var b strings.Builder
	b.Grow((t.height + 1) * (t.width + 16))
	hdr := strings.Repeat(" ", markerWidth)
	for k, ci := range t.cols {
		c := workerColumns[ci]
		if c.right {
			hdr += fitRight(c.title, t.widths[k])
		} else {
			hdr += fit(c.title, t.widths[k])
		}
		if k < len(t.cols)-1 {
			hdr += " "
		}
	}
	b.WriteString(t.styles.TableHeader.Render(fit(hdr, t.width)))
	if len(t.visible) == 0 {
		b.WriteString("\n")
		msg := "no workers"
		if t.filter != "" {
			msg = "no worker matches the filter " + strconv.Quote(t.filter)
		}
		b.WriteString(t.styles.Faint.Render(fit("  "+msg, t.width)))
		return b.String()
	}
	end := min(t.offset+t.height, len(t.visible))
	for vi := t.offset; vi < end; vi++ {
		b.WriteString("\n")
		b.WriteString(t.rowView(&t.rows[t.visible[vi]], vi == t.cursor, now))
	}
	return b.String()
}

func (t *workersTable) rowView(r *Row, selected bool, now time.Time) string {
	var line strings.Builder
	line.Grow(t.width + 32)
	mark := []rune("  ")
	if selected {
		mark[0] = '▸'
	}
	if t.pending[r.ID] {
		mark[1] = '↻'
	}
	line.WriteString(string(mark))
	for k, ci := range t.cols {
		c := workerColumns[ci]
		w := t.widths[k]
		text := cellText(r, ci, now, w)
		switch {
		case c.right:
			text = fitRight(text, w)
		default:
			text = fit(text, w)
		}
		if !selected && (ci == colState || ci == colHealth) {
			text = t.colour(text, ci == colState)
		}
		line.WriteString(text)
		if k < len(t.cols)-1 {
			line.WriteByte(' ')
		}
	}
	if selected {
		return t.styles.SelectedRow.Render(line.String())
	}
	return line.String()
}

// colour renders a padded state or health cell in its colour, cached.
func (t *workersTable) colour(text string, isState bool) string {
	if s, ok := t.cells[text]; ok {
		return s
	}
	word := strings.TrimSpace(text)
	st := t.styles.Muted
	if isState {
		st = stateStyle(t.styles, supervisor.State(word))
	} else {
		switch word {
		case stats.HealthHealthy:
			st = t.styles.OK
		case stats.HealthUnhealthy:
			st = t.styles.Error
		case stats.HealthDraining:
			st = t.styles.Warn
		}
	}
	s := st.Render(text)
	t.cells[text] = s
	return s
}

// stateStyle colours a worker state.
func stateStyle(st *theme.Styles, s supervisor.State) lipgloss.Style {
	switch s {
	case supervisor.StateRunning:
		return st.OK
	case supervisor.StateStarting, supervisor.StateDraining, supervisor.StateStopping:
		return st.Info
	case supervisor.StateBackoff:
		return st.Warn
	case supervisor.StateFailed:
		return st.Error
	}
	return st.Faint
}

func cellText(r *Row, col int, now time.Time, w int) string {
	switch workerColumns[col].title {
	case "ID":
		return strconv.Itoa(r.ID)
	case "PID":
		if r.PID == 0 {
			return "-"
		}
		return strconv.Itoa(r.PID)
	case "STATE":
		return string(r.State)
	case "UP":
		if r.PID != 0 && r.Uptime(now) <= 0 {
			return "0s" // spawned after the last poll
		}
		return fmtAge(r.Uptime(now))
	case "RST":
		return strconv.Itoa(r.Restarts)
	case "CPU%":
		if r.PID == 0 {
			return "-"
		}
		return strconv.FormatFloat(r.CPUPercent, 'f', 1, 64)
	case "RSS":
		if r.RSSBytes == 0 {
			return "-"
		}
		return fmtBytes(r.RSSBytes)
	case "INFL":
		return strconv.FormatInt(r.InFlight, 10)
	case "REQ/S":
		if r.Host == nil {
			return "-"
		}
		return fmtRate(r.ReqRate)
	case "P99":
		return fmtMs(r.P99)
	case "HEALTH":
		return r.Health()
	case "LAST EXIT":
		if r.LastExit == "" {
			return "-"
		}
		return r.LastExit
	case "SOCKET":
		return cutLeft(r.Socket, w)
	}
	return ""
}

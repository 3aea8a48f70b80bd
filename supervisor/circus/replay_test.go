package circus

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/whisgee/whisgee/internal/testenv"
)

// The transcripts of a real circusd 0.19 (a copy of the workplace's
// shared/fixtures/circus, see testdata/circusd-0.19/README.md);
// WHISGEE_CIRCUS_FIXTURES points at another recording.
func fixturePath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("WHISGEE_CIRCUS_FIXTURES")
	if dir == "" {
		dir = filepath.Join("testdata", "circusd-0.19")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		testenv.Missing(t, "circus fixture "+path, "set WHISGEE_CIRCUS_FIXTURES to a directory of circusd transcripts")
	}
	return path
}

type exchange struct {
	Request  request        `json:"request"`
	Response map[string]any `json:"response"`
}

func loadCommands(t *testing.T) []exchange {
	t.Helper()
	b, err := os.ReadFile(fixturePath(t, "commands.json"))
	if err != nil {
		t.Fatal(err)
	}
	var xs []exchange
	if err := json.Unmarshal(b, &xs); err != nil {
		t.Fatal(err)
	}
	return xs
}

// find returns the index of the n-th (from 0) exchange with this command
// and these properties.
func find(t *testing.T, xs []exchange, n int, command string, props map[string]any) int {
	t.Helper()
	for i, x := range xs {
		if x.Request.Command == command && sameProps(x.Request.Properties, props) {
			if n == 0 {
				return i
			}
			n--
		}
	}
	t.Fatalf("the transcript has no %s %v", command, props)
	return -1
}

func sameProps(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var na, nb any
	_ = json.Unmarshal(ja, &na)
	_ = json.Unmarshal(jb, &nb)
	if na == nil {
		na = map[string]any{}
	}
	if nb == nil {
		nb = map[string]any{}
	}
	return reflect.DeepEqual(na, nb)
}

// replayServer is a ROUTER socket that answers a client with circusd's
// recorded replies: each request must equal (command and properties) the
// next exchange of its script, and gets that exchange's recorded response
// with the request's id. Once the script is done, a request equal to one
// already answered gets the same answer again (clients poll). Anything
// else is an error reply and a test failure.
type replayServer struct {
	t        *testing.T
	endpoint string
	mu       sync.Mutex
	script   []exchange
	answered []exchange
	got      []request
}

func newReplayServer(t *testing.T, script ...exchange) *replayServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sock := zmq4.NewRouter(ctx)
	if err := sock.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	rs := &replayServer{t: t, endpoint: "tcp://" + sock.Addr().String(), script: script}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			var req request
			if err := json.Unmarshal(msg.Frames[len(msg.Frames)-1], &req); err != nil {
				t.Errorf("replay: request is not JSON: %q", msg.Frames[len(msg.Frames)-1])
				continue
			}
			resp := rs.reply(req)
			resp["id"] = req.ID
			b, _ := json.Marshal(resp)
			_ = sock.Send(zmq4.NewMsgFrom(msg.Frames[0], b))
		}
	}()
	t.Cleanup(func() { cancel(); sock.Close(); <-done })
	return rs
}

func (rs *replayServer) reply(req request) map[string]any {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.got = append(rs.got, req)
	copyOf := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	if len(rs.script) > 0 && rs.script[0].Request.Command == req.Command && sameProps(rs.script[0].Request.Properties, req.Properties) {
		x := rs.script[0]
		rs.script = rs.script[1:]
		rs.answered = append(rs.answered, x)
		return copyOf(x.Response)
	}
	for i := len(rs.answered) - 1; i >= 0; i-- {
		x := rs.answered[i]
		if x.Request.Command == req.Command && sameProps(x.Request.Properties, req.Properties) {
			return copyOf(x.Response)
		}
	}
	next := "nothing"
	if len(rs.script) > 0 {
		b, _ := json.Marshal(rs.script[0].Request)
		next = string(b)
	}
	b, _ := json.Marshal(req)
	rs.t.Errorf("replay: unexpected request %s; the script expects %s", b, next)
	return map[string]any{"status": "error", "reason": "not in the transcript", "errno": 0}
}

// done fails the test if the script was not played to its end.
func (rs *replayServer) done() {
	rs.t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.script) > 0 {
		b, _ := json.Marshal(rs.script[0].Request)
		rs.t.Errorf("replay: the client never sent %s (%d exchanges left)", b, len(rs.script))
	}
}

func newTestClient(t *testing.T, endpoint string, mod ...func(*Options)) *Client {
	t.Helper()
	opts := Options{Endpoint: endpoint, ConnectTimeout: 2 * time.Second, ActionTimeout: 10 * time.Second, PollInterval: 10 * time.Millisecond}
	for _, m := range mod {
		m(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

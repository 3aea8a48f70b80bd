package inventory

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/whisgee/whisgee/internal/testenv"
)

// iniValues are INI values worth reading as Python would: numbers of
// every base, strings of every quote and escape, containers, and text
// that only looks like a literal.
var iniValues = []string{
	"5", "-7", "+3", "- 4", "0", "00", "0777", "0o17", "0x1F", "0X1f", "0b101", "1_000", "1__0", "1_", "_1",
	"0x_ff", "1.5", "1.", ".5", "1e3", "1E-2", "1.5e+3", "1_0.5", "1e1_0", "1_e5", "1.2.3", "10.0.0.1", `'''a'b'''`,
	"'a'", `"b"`, `'it''s'`, `'a' "b"`, `r'\n'`, `b'x'`, `u'x'`, `f'x'`, `'\x41\101\u00e9'`, `'\q'`, `'tab\there'`,
	"'unclosed", `"""triple"""`, "True", "False", "None", "true", "yes", "none", "[1, 2, 'three']", "[]", "[1,]",
	"(1, 2)", "(1)", "()", "(1,)", "{'k': (1, 2)}", "{}", "{1: 'a', 'b': None}", "{'a': [1, {'b': 2}]}",
	"[1, [2, [3]]]", "[1 2]", "{'a' 1}", "5 # a comment", "  5", "5  ", "x=5", "a b", "", "-", "--5", "-True",
	"1+2j", "2j", "inf", "nan", "1e300", "[-1, +2.5]", "{'x': -0x10}", "'é'", "é", "\\", "/etc/hosts",
	"~/.ssh/id", "ssh -o X=1", "[", "]", "{", "'a' + 'b'", "[1, 2][0]", "abc123", "_private",
}

// pythonParseValue is Ansible's _parse_value (ini.py) run by Python,
// with tuples and sets as lists (JSON has neither); a complex number
// comes back as the string "<complex>".
const pythonParseValue = `
import ast, json, sys
def conv(v):
    if isinstance(v, (tuple, list, set)): return [conv(x) for x in v]
    if isinstance(v, dict): return {json.dumps(k) if not isinstance(k, str) else k: conv(x) for k, x in v.items()}
    if isinstance(v, complex): return "<complex>"
    if isinstance(v, bytes): return v.decode()
    return v
out = []
for s in json.load(sys.stdin):
    try:
        v = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        v = s
    out.append(conv(v))
json.dump(out, sys.stdout)
`

func TestINIValuesReadAsPythonLiteralsAsAnsibleReadsThem(t *testing.T) {
	py := testenv.Tool(t, "python3", "apt-get install python3")
	in, _ := json.Marshal(iniValues)
	cmd := exec.Command(py, "-c", pythonParseValue)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var want []any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	for i, s := range iniValues {
		w := want[i]
		if w == "<complex>" {
			w = s // kept as text here, documented
		}
		if d := diffValue(iniValue(s), w); d != "" {
			t.Errorf("%q: got %#v, Python gives %#v (%s)", s, iniValue(s), want[i], d)
		}
	}
}

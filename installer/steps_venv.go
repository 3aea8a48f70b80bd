package installer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// recipeGroups are the founding recipe's pip installs, in order. circus
// must be at least 0.19 on Python 3.13.
func recipeGroups(py Version, known bool) [][]string {
	circus := "circus"
	if known && !py.Less(Version{3, 13}) {
		circus = "circus>=0.19"
	}
	return [][]string{{"--upgrade", "pip"}, {"wheel", "six"}, {circus, "chaussette", "bjoern"}}
}

func venvStep(h *Host, o *Options, p *Plan) *Step {
	groups := o.PipGroups
	if groups == nil {
		v, known := h.pythonVersionOf(o.Python)
		groups = recipeGroups(v, known)
	}
	// Inside an image root the venv is made by the root's own interpreter,
	// through chroot, so its paths are the root's.
	inRoot := func(argv ...string) []string {
		if o.Root == "" {
			return argv
		}
		return append([]string{"chroot", o.Root}, argv...)
	}
	venvPython := filepath.Join(o.Venv, "bin", "python")
	// pip in a chroot cannot see a wheelhouse outside the root: it gets a
	// copy inside, at a path of the root's.
	wheelhouse := o.Wheelhouse
	if o.Root != "" && wheelhouse != "" {
		wheelhouse = rootWheelhouse
	}
	pip := func(group []string) []string {
		argv := inRoot(venvPython, "-m", "pip", "install")
		if wheelhouse != "" {
			argv = append(argv, "--no-index", "--find-links", wheelhouse)
		}
		return append(argv, group...)
	}
	var wanted []string
	for _, g := range groups {
		for _, req := range g {
			if !strings.HasPrefix(req, "-") && req != "pip" {
				wanted = append(wanted, req)
			}
		}
	}
	s := &Step{
		Name: StepVenv, Root: o.Root != "",
		Title: fmt.Sprintf("create the virtualenv %s with %s and pip install %s", o.Venv, o.Python, strings.Join(wanted, " ")),
		DoneIf: []Check{
			{Desc: venvPython + " exists", Func: fileExists(o, venvPython)},
			{
				Desc:   "pip shows " + strings.Join(wanted, ", "),
				Argv:   inRoot(append([]string{venvPython, "-m", "pip", "show"}, requirementNames(wanted)...)...),
				Accept: pipShowSatisfies(wanted),
			},
		},
	}
	if o.Root == "" {
		// Inside an image root every action is a root one (chroot).
		s.Writes = []string{o.Venv}
	}
	env := []string{"PIP_DISABLE_PIP_VERSION_CHECK=1"}
	create := &Action{
		Desc:   "create the virtualenv",
		Argv:   inRoot(o.Python, "-m", "venv", o.Venv),
		Root:   o.Root != "",
		SkipIf: []Check{{Desc: venvPython + " exists", Func: fileExists(o, venvPython)}},
	}
	if o.Root != "" {
		s.Notes = append(s.Notes, "the venv is made inside the image root with its own interpreter (chroot); without one the step says so and is skipped")
		s.Actions = append(s.Actions, &Action{
			Desc: "check the image root has " + o.Python,
			Do: func(ctx context.Context, r *Runner, out io.Writer) error {
				candidates := []string{o.Python}
				if !filepath.IsAbs(o.Python) {
					candidates = []string{"/usr/bin/" + o.Python, "/usr/local/bin/" + o.Python, "/bin/" + o.Python}
				}
				for _, c := range candidates {
					if o.existsOnTarget(c) {
						fmt.Fprintf(out, "%s found in %s\n", c, o.Root)
						return nil
					}
				}
				return NotApplicable(fmt.Sprintf("%s has no %s, so the venv cannot be made inside it; run `whisgee install --only venv` on the booted image", o.Root, o.Python))
			},
		})
	}
	s.Actions = append(s.Actions, create)
	if wheelhouse != o.Wheelhouse {
		s.Actions = append(s.Actions, &Action{
			Desc: fmt.Sprintf("copy the wheelhouse %s into the image root at %s", o.Wheelhouse, wheelhouse),
			Root: true,
			Do: func(ctx context.Context, r *Runner, out io.Writer) error {
				n, err := copyWheels(ctx, r, o, wheelhouse, out)
				fmt.Fprintf(out, "%d wheels copied to %s\n", n, o.under(wheelhouse))
				return err
			},
		})
	}
	for _, g := range groups {
		s.Actions = append(s.Actions, &Action{
			Desc: "pip install " + strings.Join(g, " "),
			Argv: pip(g), Env: env, Root: o.Root != "",
		})
	}
	return s
}

// rootWheelhouse is where --wheelhouse is copied inside an image root.
const rootWheelhouse = "/var/cache/whisgee/wheelhouse"

// copyWheels copies the package files of the wheelhouse o.Wheelhouse to
// dst on the target (inside the image root), skipping those already there
// with the same size, and says how many it copied.
func copyWheels(ctx context.Context, r *Runner, o *Options, dst string, out io.Writer) (int, error) {
	entries, err := os.ReadDir(o.Wheelhouse)
	if err != nil {
		return 0, fmt.Errorf("wheelhouse: %w", err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".whl") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip")) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return n, err
		}
		to := filepath.Join(dst, name)
		if old, err := o.statTarget(to); err == nil && old.Size() == fi.Size() {
			continue
		}
		if err := o.installTarget(ctx, r, filepath.Join(o.Wheelhouse, name), to, 0o644, io.Discard); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// fileExists is a check that path exists on the target.
func fileExists(o *Options, path string) func(context.Context, *Runner) (bool, string, error) {
	return func(context.Context, *Runner) (bool, string, error) {
		return o.existsOnTarget(path), "", nil
	}
}

// requirementNames strips version specifiers: "circus>=0.19" -> "circus".
func requirementNames(reqs []string) []string {
	names := make([]string, len(reqs))
	for i, r := range reqs {
		names[i] = requirementName(r)
	}
	return names
}

func requirementName(req string) string {
	if i := strings.IndexAny(req, "<>=!~ ["); i >= 0 {
		return req[:i]
	}
	return req
}

// pipShowSatisfies accepts `pip show` output listing every requirement, at
// a version meeting any ">=" bound.
func pipShowSatisfies(reqs []string) func(string) bool {
	return func(out string) bool {
		installed := map[string]string{}
		var name string
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ": ")
			switch {
			case !ok:
			case k == "Name":
				name = normalizeDist(v)
			case k == "Version" && name != "":
				installed[name] = strings.TrimSpace(v)
			}
		}
		for _, r := range reqs {
			got, ok := installed[normalizeDist(requirementName(r))]
			if !ok {
				return false
			}
			if _, min, has := strings.Cut(r, ">="); has {
				want, ok1 := ParseVersion(min + ".0")
				have, ok2 := ParseVersion(got + ".0")
				if !ok1 || !ok2 || have.Less(want) {
					return false
				}
			}
		}
		return true
	}
}

// normalizeDist compares distribution names as pip does (PEP 503).
func normalizeDist(n string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(strings.TrimSpace(n)))
}

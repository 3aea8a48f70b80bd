package installer

import (
	"strings"
)

// aptEnv keeps apt from asking questions.
var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive"}

// aptSteps are the repos and packages steps of a Debian or Ubuntu host:
// libev-dev is in Debian's main and Ubuntu's universe.
func aptSteps(h *Host, o *Options, p *Plan) []*Step {
	names := []string{"gcc", "libev-dev"}
	names = append(names, h.pythonPackages(o.Python)...)
	var steps []*Step
	known := Check{Desc: "libev-dev is known to apt", Argv: []string{"apt-cache", "show", "libev-dev"}}
	if h.Distro == Ubuntu {
		steps = append(steps, &Step{
			Name: StepRepos, Root: true, Title: "enable universe (libev-dev is there)",
			DoneIf: []Check{known},
			Actions: []*Action{
				{Desc: "enable the universe component", Argv: []string{"add-apt-repository", "-y", "universe"}, Root: true, Env: aptEnv},
				{Desc: "refresh the package lists", Argv: []string{"apt-get", "update"}, Root: true, Env: aptEnv},
			},
		})
	}
	steps = append(steps, &Step{
		Name: StepPackages, Root: true,
		Title: "install " + strings.Join(names, " "),
		DoneIf: []Check{{
			Desc:   strings.Join(names, ", ") + " installed",
			Argv:   append([]string{"dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"}, names...),
			Accept: allInstalled(len(names)),
		}},
		Actions: []*Action{
			{Desc: "refresh the package lists", Argv: []string{"apt-get", "update"}, Root: true, Env: aptEnv},
			{
				Desc: "install the build tools, Python venv and headers, and libev-dev bjoern needs",
				Argv: append([]string{"apt-get", "install", "-y", "--no-install-recommends"}, names...),
				Root: true, Env: aptEnv,
			},
		},
	})
	return steps
}

// allInstalled accepts dpkg-query output whose n status lines all say "ii".
func allInstalled(n int) func(string) bool {
	return func(out string) bool {
		lines := strings.Fields(out)
		count := 0
		for _, l := range lines {
			if l != "ii" {
				return false
			}
			count++
		}
		return count == n
	}
}

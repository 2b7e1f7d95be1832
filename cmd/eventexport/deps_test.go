package main

import (
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// The module's architecture, checked on what each package links, directly or through other
// packages (as `go list -deps` reports it), not only on what it imports itself. Only the
// non-test files count: a test may use anything.

const modulePath = "github.com/eventexport/eventexport"

// depRule says that the module packages matching from, except those matching fromExcept,
// must not depend on a module package matching to, except those matching toExcept.
//
// Patterns name module packages by their path within the module:
//
//	"events"       that package alone
//	"delivery/..." that package and every package below it
//	"..."          every package of the module
//	".../*test"    every package whose last element ends in "test" (sftptest, pgtest, …)
type depRule struct {
	from       string
	fromExcept []string
	to         string
	toExcept   []string
	why        string
}

const (
	whyDelivery = "delivery moves bytes named by its caller: it knows nothing of what is exported, from where, or by whom"
	whyTestOnly = "test fixtures (throw-away keys, fixed passwords, seeded events) must not reach a program; only test binaries link them"
)

var depRules = []depRule{
	{from: "delivery/...", to: "export/...", why: whyDelivery},
	{from: "delivery/...", to: "events", why: whyDelivery},
	{from: "delivery/...", to: "migrations/...", why: whyDelivery},
	{from: "delivery/...", to: "cmd/...", why: whyDelivery},

	{from: "events", to: "...",
		why: "events is the platform's contract, shared by every other package: it builds on nothing of ours"},

	{from: "export/file", to: "...", toExcept: []string{"events"},
		why: "file formats turn events into bytes: they know neither storage nor transports"},

	{from: "export/schedule", to: "...", toExcept: []string{"events"},
		why: "a schedule is arithmetic on the calendar: it knows neither storage nor files"},

	{from: "export/store", to: "...", toExcept: []string{"delivery", "events", "export/file", "export/schedule"},
		why: "storage knows no protocol: it may share delivery's error vocabulary, never a transport"},

	{from: "export", to: "delivery/...", toExcept: []string{"delivery"},
		why: "the engine delivers through delivery's transport registry; which transports exist is the program's choice"},

	{from: "...", fromExcept: []string{".../*test", "cmd/eventexport-bench"}, to: ".../*test", why: whyTestOnly + " " +
		"(cmd/eventexport-bench, the benchmark harness, seeds its events with them on purpose and is not shipped)"},

	{from: "migrations/...", to: "...", toExcept: []string{"migrations/..."},
		why: "migrations are the schema's history, applied by every later version: they must not change when the code does"},
}

// TestImportRules checks depRules on every package of the module.
func TestImportRules(t *testing.T) {
	t.Parallel()
	g := listDeps(t, modulePath+"/...")
	var pkgs []string
	for p := range g {
		if rel, ok := moduleRel(p); ok {
			pkgs = append(pkgs, rel)
		}
	}
	slices.Sort(pkgs)

	for _, r := range depRules {
		name := r.from + " must not use " + r.to
		if len(r.toExcept) > 0 {
			name += " (but " + strings.Join(r.toExcept, ", ") + ")"
		}
		t.Run(name, func(t *testing.T) {
			matched := false
			for _, from := range pkgs {
				if !matchPkg(r.from, from) || matchAny(r.fromExcept, from) {
					continue
				}
				matched = true
				for _, dep := range g.deps(modulePath + "/" + from) {
					rel, ok := moduleRel(dep)
					if !ok || !matchPkg(r.to, rel) || matchAny(r.toExcept, rel) {
						continue
					}
					t.Errorf("%s depends on %s (%s): %s", from, rel, g.chain(modulePath+"/"+from, dep), r.why)
				}
			}
			if !matched {
				t.Errorf("no package matches %q: the rule checks nothing; fix its pattern", r.from)
			}
		})
	}
}

// TestDepsProductionBinaryLinksNoTesting keeps package testing, and every test helper built on
// it, out of the program that ships: eventexport demo starts its SFTP server from
// delivery/sftpserver, not from delivery/sftptest.
func TestDepsProductionBinaryLinksNoTesting(t *testing.T) {
	t.Parallel()
	bin := modulePath + "/cmd/eventexport"
	g := listDeps(t, bin)
	for _, dep := range g.deps(bin) {
		if dep == "testing" || strings.HasPrefix(dep, "testing/") {
			t.Errorf("cmd/eventexport links %s (%s): a test helper reached the production binary", dep, g.chain(bin, dep))
		}
	}
}

// importGraph maps each package to the packages it imports directly.
type importGraph map[string][]string

// listDeps runs go list -deps on pattern: the packages matching it and everything they
// import, with their imports.
func listDeps(t *testing.T, pattern string) importGraph {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", pattern)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pattern, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pattern, err)
	}
	g := importGraph{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	return g
}

// deps returns every package pkg depends on, directly or not, sorted.
func (g importGraph) deps(pkg string) []string {
	seen := map[string]bool{pkg: true}
	queue := []string{pkg}
	var all []string
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p] {
			if !seen[imp] {
				seen[imp] = true
				all = append(all, imp)
				queue = append(queue, imp)
			}
		}
	}
	slices.Sort(all)
	return all
}

// chain returns a shortest import path from one package to another, "a → b → c", with the
// module's packages named within the module.
func (g importGraph) chain(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 && prev[to] == "" {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p] {
			if _, ok := prev[imp]; !ok {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	var path []string
	for p := to; p != ""; p = prev[p] {
		name := p
		if rel, ok := moduleRel(p); ok {
			name = rel
		}
		path = append(path, name)
	}
	slices.Reverse(path)
	return strings.Join(path, " → ")
}

// moduleRel returns a module package's path within the module.
func moduleRel(pkg string) (string, bool) {
	return strings.CutPrefix(pkg, modulePath+"/")
}

// matchPkg reports whether the package rel (a path within the module) matches pattern; see
// depRule.
func matchPkg(pattern, rel string) bool {
	switch {
	case pattern == "...":
		return true
	case strings.HasPrefix(pattern, ".../"):
		ok, err := path.Match(strings.TrimPrefix(pattern, ".../"), path.Base(rel))
		return ok && err == nil
	case strings.HasSuffix(pattern, "/..."):
		dir := strings.TrimSuffix(pattern, "/...")
		return rel == dir || strings.HasPrefix(rel, dir+"/")
	}
	return rel == pattern
}

func matchAny(patterns []string, rel string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matchPkg(p, rel) })
}

// TestImportRulePatterns pins the pattern language of depRules.
func TestImportRulePatterns(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"events", "events", true},
		{"events", "events/eventstest", false},
		{"delivery/...", "delivery", true},
		{"delivery/...", "delivery/sftp", true},
		{"delivery/...", "deliveryx", false},
		{"...", "cmd/eventexport", true},
		{".../*test", "delivery/sftptest", true},
		{".../*test", "migrations/pgtest", true},
		{".../*test", "delivery/sftpserver", false},
	} {
		if got := matchPkg(c.pattern, c.pkg); got != c.want {
			t.Errorf("matchPkg(%q, %q) = %v, want %v", c.pattern, c.pkg, got, c.want)
		}
	}
}

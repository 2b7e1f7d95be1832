// Package deploy_test checks the deployment files against the code: docker-compose.yml, the
// Dockerfile, the systemd unit and its environment file, and the documentation of the
// configuration. No container engine is needed.
package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// configVars are the environment variables the service reads, found in its source.
func configVars(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../cmd/eventexport/*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`"((?:EVENTEXPORT_[A-Z_]+)|DATABASE_URL)"`)
	seen := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			seen[m[1]] = true
		}
	}
	var out []string
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	if len(out) < 10 {
		t.Fatalf("found only %d configuration variables in the source: %v", len(out), out)
	}
	return out
}

// node is a YAML block mapping or sequence item, as far as docker-compose.yml uses YAML:
// block mappings, block sequences of scalars, and scalars (flow sequences stay scalars).
type node struct {
	value string
	keys  []string
	m     map[string]*node
	list  []string
}

func (n *node) get(path ...string) *node {
	for _, p := range path {
		if n == nil || n.m == nil {
			return nil
		}
		n = n.m[p]
	}
	return n
}

type line struct {
	no     int
	indent int
	text   string
}

// parseBlock reads the lines at one indentation into a mapping or a sequence.
func parseBlock(lines []line, indent int) (*node, []line, error) {
	n := &node{}
	for len(lines) > 0 {
		l := lines[0]
		if l.indent < indent {
			return n, lines, nil
		}
		if l.indent > indent {
			return nil, nil, fmt.Errorf("line %d: indented %d, want %d", l.no, l.indent, indent)
		}
		lines = lines[1:]
		if item, ok := strings.CutPrefix(l.text, "- "); ok {
			if n.m != nil {
				return nil, nil, fmt.Errorf("line %d: a sequence item in a mapping", l.no)
			}
			n.list = append(n.list, unquote(item))
			continue
		}
		key, rest, ok := strings.Cut(l.text, ":")
		if !ok || (rest != "" && rest[0] != ' ') {
			return nil, nil, fmt.Errorf("line %d: %q is neither key: value nor - item", l.no, l.text)
		}
		if n.list != nil {
			return nil, nil, fmt.Errorf("line %d: a key in a sequence", l.no)
		}
		if n.m == nil {
			n.m = map[string]*node{}
		}
		if _, dup := n.m[key]; dup {
			return nil, nil, fmt.Errorf("line %d: duplicate key %q", l.no, key)
		}
		n.keys = append(n.keys, key)
		rest = strings.TrimSpace(rest)
		if rest != "" {
			n.m[key] = &node{value: unquote(rest)}
			continue
		}
		if len(lines) == 0 || lines[0].indent <= indent {
			n.m[key] = &node{}
			continue
		}
		child, remaining, err := parseBlock(lines, lines[0].indent)
		if err != nil {
			return nil, nil, err
		}
		n.m[key], lines = child, remaining
	}
	return n, lines, nil
}

func unquote(s string) string {
	if i := strings.Index(s, " #"); i >= 0 && !strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func parseCompose(t *testing.T) *node {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var lines []line
	for i, raw := range strings.Split(string(b), "\n") {
		if strings.Contains(raw, "\t") {
			t.Fatalf("docker-compose.yml line %d has a tab: YAML indents with spaces", i+1)
		}
		text := strings.TrimRight(raw, " ")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		lines = append(lines, line{no: i + 1, indent: len(text) - len(trimmed), text: trimmed})
	}
	root, rest, err := parseBlock(lines, 0)
	if err != nil || len(rest) > 0 {
		t.Fatalf("docker-compose.yml: %v (%d lines left)", err, len(rest))
	}
	return root
}

// The compose file brings up PostgreSQL (health-checked), a demo SFTP server and the service,
// which waits for a healthy database and gets every variable it needs, and only ones it knows.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	c := parseCompose(t)
	services := c.get("services")
	if services == nil {
		t.Fatal("no services")
	}
	for _, s := range []string{"postgres", "sftp", "eventexport"} {
		if services.get(s) == nil {
			t.Errorf("no %s service", s)
		}
	}
	if hc := services.get("postgres", "healthcheck", "test"); hc == nil || !strings.Contains(hc.value, "pg_isready") {
		t.Error("postgres has no pg_isready health check")
	}
	if img := services.get("sftp", "image"); img == nil || !strings.HasPrefix(img.value, "atmoz/sftp") {
		t.Error("the demo SFTP server is not atmoz/sftp")
	}
	svc := services.get("eventexport")
	if cond := svc.get("depends_on", "postgres", "condition"); cond == nil || cond.value != "service_healthy" {
		t.Error("eventexport does not wait for a healthy postgres")
	}
	if svc.get("build") == nil {
		t.Error("eventexport is not built from the Dockerfile")
	}
	envNode := svc.get("environment")
	if envNode == nil || envNode.m == nil {
		t.Fatal("eventexport has no environment mapping")
	}
	known := configVars(t)
	for _, k := range envNode.keys {
		if !slices.Contains(known, k) {
			t.Errorf("environment names %s, which the service does not read", k)
		}
	}
	for _, need := range []string{"DATABASE_URL", "EVENTEXPORT_SECRET_KEY", "EVENTEXPORT_ADMIN_ADDR", "EVENTEXPORT_ADMIN_TOKEN", "EVENTEXPORT_TIMEZONE"} {
		if envNode.m[need] == nil || envNode.m[need].value == "" {
			t.Errorf("eventexport's environment lacks %s", need)
		}
	}
	if u := envNode.m["DATABASE_URL"]; u != nil && !strings.Contains(u.value, "@postgres:5432/") {
		t.Errorf("DATABASE_URL %q does not point at the postgres service", u.value)
	}
	if addr := envNode.m["EVENTEXPORT_ADMIN_ADDR"]; addr != nil {
		var published bool
		port := addr.value[strings.LastIndex(addr.value, ":")+1:]
		for _, p := range svc.get("ports").list {
			published = published || strings.HasSuffix(p, ":"+port)
		}
		if !published {
			t.Errorf("the admin port %s is not published", port)
		}
	}
	for _, p := range append(slices.Clone(svc.get("ports").list), services.get("postgres", "ports").list...) {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("port %q is published beyond the host's loopback", p)
		}
	}
	if g := svc.get("stop_grace_period"); g == nil {
		t.Error("no stop_grace_period: docker stops after 10s, before the shutdown grace of 30s")
	} else if d, err := time.ParseDuration(g.value); err != nil || d <= 30*time.Second {
		t.Errorf("stop_grace_period %q, want more than the 30s shutdown grace", g.value)
	}
}

// The image is built in stages into a static binary that runs as a non-root user.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	froms := regexp.MustCompile(`(?m)^FROM `).FindAllStringIndex(s, -1)
	for _, want := range []string{"CGO_ENABLED=0", "AS build", "COPY --from=build", "./cmd/eventexport", `CMD ["serve"]`} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d stages, want a build stage and a runtime stage", len(froms))
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(s, -1)
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1][1], "root") || strings.HasPrefix(users[len(users)-1][1], "0") {
		t.Errorf("the image runs as %v, want a non-root user", users)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	if goVersion == nil || !strings.Contains(s, "golang:"+goVersion[1]) {
		t.Errorf("the build stage's Go is not go.mod's %v", goVersion)
	}
}

// The systemd unit runs serve as its own user, reads its configuration from a file, and gives
// a stop time longer than the shutdown grace; the example file names only known variables.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("eventexport.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	section := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "["):
			section = l
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				t.Errorf("unit line %q is not key=value", l)
			}
			keys[section+k] = v
		}
	}
	for _, k := range []string{"[Unit]Description", "[Service]ExecStart", "[Service]User", "[Service]EnvironmentFile", "[Install]WantedBy"} {
		if keys[k] == "" {
			t.Errorf("unit lacks %s", k)
		}
	}
	if !strings.HasSuffix(keys["[Service]ExecStart"], "eventexport serve") || keys["[Service]User"] == "root" {
		t.Errorf("ExecStart %q as %q; want serve as its own user", keys["[Service]ExecStart"], keys["[Service]User"])
	}
	if d, err := time.ParseDuration(keys["[Service]TimeoutStopSec"]); err != nil || d <= 30*time.Second {
		t.Errorf("TimeoutStopSec %q, want more than the 30s shutdown grace", keys["[Service]TimeoutStopSec"])
	}
	ex, err := os.ReadFile("eventexport.env.example")
	if err != nil {
		t.Fatal(err)
	}
	known := configVars(t)
	for _, l := range strings.Split(string(ex), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, _, _ := strings.Cut(l, "=")
		if !slices.Contains(known, k) {
			t.Errorf("eventexport.env.example names %s, which the service does not read", k)
		}
	}
}

// Every variable the service reads is documented in README.md's configuration table.
func TestConfigurationDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range configVars(t) {
		if !strings.Contains(string(readme), "| `"+v+"` |") {
			t.Errorf("README.md's configuration table lacks %s", v)
		}
	}
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rotate-key", "EVENTEXPORT_SECRET_KEY_OLD", "/metrics", "/readyz", "replica", "back"} {
		if !strings.Contains(string(ops), want) {
			t.Errorf("docs/operations.md does not mention %q", want)
		}
	}
}

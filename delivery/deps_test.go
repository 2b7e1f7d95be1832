package delivery_test

import (
	"go/build"
	"strings"
	"testing"
)

// delivery moves bytes named by its caller: it must not depend on the
// packages that decide what to export.
func TestImports(t *testing.T) {
	const module = "github.com/eventexport/eventexport/"
	allowed := map[string][]string{
		".":        nil,
		"sftp":     {module + "delivery"},
		"sftptest": {module + "delivery", module + "delivery/sftp"},
	}
	for dir, ok := range allowed {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatal(err)
		}
	imports:
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			for _, a := range ok {
				if imp == a {
					continue imports
				}
			}
			t.Errorf("package %s imports %s; delivery must not depend on the rest of the service", pkg.ImportPath, imp)
		}
	}
}
